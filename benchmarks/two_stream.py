"""Two-stream networks on SSv2-format data: an RGB and an optical-flow stream, trained apart through
``stgcn.engine``, fused late (Simonyan & Zisserman, NIPS 2014; weighted RGB : flow = 1 : 1.5 as in
TSN, Wang et al., ECCV 2016).

With no arguments it generates (or reuses) the synthetic Something-Something v2 set of
``benchmarks/ssv2.py`` (1,875 videos, 14 classes that differ only in motion), extracts the optical
flow of every video once into the cache folder (``stgcn.data.flow``; cached, a killed run resumes),
decodes the clips and their flow once (the clip cache of ``benchmarks/ssv2.py``), trains the RGB
TSN (``tsn``) and the flow TSN (``tsn_flow``, stacks of L = 5 flow fields per segment), fuses their
softmax scores (:func:`stgcn.models.fuse_scores`) and writes ``results.json`` and ``results.md``:
RGB, flow and fusion top-1/top-5, per class group, per direction pair ("... left to right" against
"... right to left", up against down), time per stage, and the machine.

``--model i3d`` runs the I3D pair instead (``i3d`` and ``i3d_flow`` on single flow fields, the
backbone of ``benchmarks/ssv2.py``'s CPU preset at its 96 px, so its RGB row can be set beside
that script's ``i3d`` and ``i3d_gcn``). ``--stream rgb`` or ``--stream flow`` trains one stream
only; ``fusion`` (the default) trains both and fuses them.

**Flow method.** TV-L1 (what TSN and I3D use) runs at ~32 frames/s on one busy core at the set's
96 x 128; the 1,875 videos of ~30-48 frames (~75,000 frame pairs) would take ~40 min on 2 cores,
beyond the 15 minutes the default run is given. DIS (~4,300 frames/s) takes seconds and Farneback
(~530 frames/s) about two minutes, so the default is ``--flow-method dis``; ``tvl1`` is one flag
away (it is cached apart, per method).

**Defaults** are the seed's two-stream script's (``--batch-size 25``, ``--lr 5e-4``, SGD with
momentum 0.9) on a CPU-sized clip. The seed's 5e-4 fine-tunes ImageNet-initialised streams; from
random weights it leaves both streams at chance after 3 epochs (measured: RGB 7.3, flow 6.0, fusion
7.7 % top-1 after one epoch; flow still at chance after 3 epochs on a 300-video set), so without
``--weights`` the default is ``--lr 0.02`` (flow: 16.7 % top-1 after 3 epochs), and 5e-4 is kept
for ``--weights``. K = 3 segments (TSN's) at 48 px (the 2D ResNet-18 of TSN runs
at its full width), 3 epochs, random initial weights (``--weights IMAGENET1K_V1`` for torchvision's). The
whole default run is meant to fit in 15 minutes on 2 idle cores; see the README for the measured
time.

Examples::

    python benchmarks/two_stream.py                                # the default: TSN, both streams
    python benchmarks/two_stream.py --smoke --out /tmp/ts           # CI-sized, well under a minute
    python benchmarks/two_stream.py --model i3d                     # the flow I3D beside the RGB one
    python benchmarks/two_stream.py --stream flow --epochs 6        # one stream
    python benchmarks/two_stream.py --flow-method tvl1              # TSN's flow (slow on a CPU)
    python benchmarks/two_stream.py --evaluate --resume auto        # re-evaluate trained streams
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

import ssv2  # noqa: E402  (benchmarks/ssv2.py: the synthetic set, flow and clip caches)
from _machine import machine  # noqa: E402

from stgcn.data.flow import METHODS  # noqa: E402
from stgcn.engine import (  # noqa: E402
    DistInfo,
    EvalResult,
    OptimConfig,
    TrainConfig,
    classification_report,
    evaluate,
    fit,
    load_checkpoint,
    seed_everything,
)
from stgcn.models import (  # noqa: E402
    TSN_FUSION_WEIGHTS,
    build_model,
    count_parameters,
    fuse_scores,
)

STREAM_MODELS = {"tsn": ("tsn", "tsn_flow"), "i3d": ("i3d", "i3d_flow")}
"""``--model``: its (RGB, flow) models of ``build_model``."""


@dataclass(frozen=True)
class Budget:
    """Clip, model and schedule of a run; flags override fields."""

    frames: int
    new_length: int
    size: int
    width_3d: int
    epochs: int
    batch_size: int
    lr: float
    synthetic_videos: int
    synthetic_size: tuple[int, int]


# The default must fit 15 minutes on 2 idle cores. Measured once with --epochs 1 on a 2-core AMD
# EPYC under a load of ~6 (other jobs: this run had ~1/3 of the machine): generation 111 s, DIS
# flow 114 s, decoding 40 s, one epoch (60 steps of 25 + evaluation) 236 s for tsn and 291 s for
# tsn_flow. 3 epochs: ~31 min there; ~1/3 of that, ~10 min, is the estimate for an idle machine
# (to be measured). i3d and i3d_flow (width 16) at 96 px take ~0.8 s a step each under a load of
# 4 (a microbenchmark), about half of the TSN pair's.
PRESETS = {
    "tsn": Budget(
        frames=3,
        new_length=5,
        size=48,
        width_3d=16,
        epochs=3,
        batch_size=25,
        lr=5e-4,
        synthetic_videos=1875,
        synthetic_size=(96, 128),
    ),
    "i3d": Budget(
        frames=8,
        new_length=1,
        size=96,
        width_3d=16,
        epochs=4,
        batch_size=25,
        lr=5e-4,
        synthetic_videos=1875,
        synthetic_size=(96, 128),
    ),
}
SCRATCH_LR = 0.02
"""The default lr without ``--weights``: the seed's 5e-4 (the presets') fine-tunes ImageNet-initialised
streams and leaves random ones at chance in this budget (see the module docstring)."""
SMOKE = {"frames": 4, "size": 32, "width_3d": 4, "epochs": 1, "batch_size": 8}
SMOKE_SET = {"synthetic_videos": 64, "synthetic_size": (32, 48)}

DIRECTION_PAIRS = (("left to right", "right to left"), (" up", " down"))
"""Class-name endings of the direction pairs: a class ending in the first and one ending in the
second, with the same beginning, are a pair."""


# ---------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/two_stream.py",
        description=__doc__.split("\n\n")[0],
        epilog="examples:" + __doc__.split("Examples::")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("what to run")
    g.add_argument(
        "--stream",
        choices=("rgb", "flow", "fusion"),
        default="fusion",
        help="train (or evaluate) the rgb stream, the flow stream, or both and their late fusion "
        "(default)",
    )
    g.add_argument(
        "--model",
        choices=tuple(STREAM_MODELS),
        default="tsn",
        help="tsn: tsn + tsn_flow (default); i3d: i3d + i3d_flow",
    )
    g.add_argument("--smoke", action="store_true", help="tiny configuration for CI")
    g.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    g.add_argument("--out", type=Path, default=Path("two-stream-results"), help="output folder")

    g = p.add_argument_group("training (the seed's two-stream script's flags)")
    g.add_argument("--epochs", type=int, help="epochs per stream (tsn 3, i3d 4, smoke 1)")
    g.add_argument("-b", "--batch-size", type=int, help="mini-batch size (default 25)")
    g.add_argument(
        "--lr",
        "--learning-rate",
        type=float,
        dest="lr",
        help="lr (default: 5e-4, the seed's, with --weights; 0.02 from random weights)",
    )
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (0.9)")
    g.add_argument("--weight-decay", type=float, default=5e-4, help="weight decay (5e-4, TSN's)")
    g.add_argument(
        "-e",
        "--evaluate",
        action="store_true",
        help="only evaluate trained streams (their --resume checkpoints) and fuse them",
    )
    g.add_argument(
        "--resume",
        default="",
        metavar="PATH",
        help="'auto': each stream continues from <out>/runs/<model>/checkpoint.pt when there; "
        "a PATH: the checkpoint of the one stream of --stream rgb or flow",
    )
    g.add_argument(
        "--start-epoch",
        type=int,
        default=0,
        help="manual epoch to start at (ignored with --resume)",
    )
    g.add_argument(
        "--weights",
        help="torchvision ResNet weights for the 2D networks (e.g. IMAGENET1K_V1; downloaded by "
        "torchvision when not cached) or inflated into the I3Ds; default: random",
    )

    g = p.add_argument_group("data")
    g.add_argument(
        "--frames", type=int, help="K, segments (sampled frames) per clip (tsn 3, i3d 8)"
    )
    g.add_argument(
        "--new-length", type=int, help="L, flow fields stacked per segment (tsn 5, i3d 1)"
    )
    g.add_argument("--size", type=int, help="crop size (tsn 48, i3d 96, smoke 32)")
    g.add_argument("--width-3d", type=int, help="stem width of the I3Ds (16)")
    g.add_argument(
        "--flow-method",
        choices=METHODS,
        default="dis",
        help="optical flow method (default dis; see the docstring for why not tvl1)",
    )
    g.add_argument(
        "--flow-workers", type=int, default=2, help="processes extracting the flow (default 2)"
    )
    g.add_argument(
        "--flow-dir", type=Path, help="extracted flow of --data-root (default: in --cache-dir)"
    )
    g.add_argument("--data-root", type=Path, help="real SSv2 in the official layout")
    g.add_argument("--synthetic-videos", type=int, help="size of the generated set (1875)")
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("STGCN_CACHE", Path.home() / ".cache" / "stgcn")),
        help="where the synthetic set, its flow and the decoded clips live ($STGCN_CACHE, "
        "~/.cache/stgcn)",
    )
    g.add_argument("--workers", type=int, default=2, help="workers that decode the set once")
    g.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p


def resolve(args: argparse.Namespace) -> Budget:
    """The model's preset (smoke-sized with ``--smoke``) with the given flags on top."""
    budget = PRESETS[args.model]
    if args.smoke:
        budget = replace(budget, **SMOKE, **SMOKE_SET)
        if args.model == "tsn":
            budget = replace(budget, new_length=2)
    given = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "frames", "new_length", "size", "width_3d")
        if getattr(args, k) is not None
    }
    if args.synthetic_videos is not None:
        given["synthetic_videos"] = args.synthetic_videos
    if args.lr is None and args.weights is None:
        given["lr"] = SCRATCH_LR  # the seed's 5e-4 fine-tunes ImageNet weights
    budget = replace(budget, **given)
    if args.model == "i3d" and budget.frames % 2:
        raise SystemExit(f"--frames {budget.frames} must be even (I3D's temporal stride)")
    if args.resume not in ("", "auto") and args.stream == "fusion":
        raise SystemExit("--resume PATH continues one stream: give --stream rgb or flow")
    return budget


# ---------------------------------------------------------------------------------------------
# runs


def model_config(name: str, budget: Budget, weights: str | None) -> dict[str, Any]:
    """``build_model`` keywords of one stream under ``budget``."""
    cfg: dict[str, Any] = {"depth": 18, "frames": budget.frames}
    if name.startswith("tsn"):
        cfg.update(weights=weights, partial_bn=weights is not None)  # frozen BN needs ImageNet's
    else:
        cfg.update(width=budget.width_3d, res5_stride=1, weights=weights)
    if name.endswith("_flow"):
        cfg["new_length"] = budget.new_length
    return cfg


def run_stream(
    name: str, args: argparse.Namespace, budget: Budget, data: ssv2.Data, dist: DistInfo
) -> tuple[EvalResult, dict[str, Any]]:
    """Train (or only evaluate) one stream; returns its evaluation and its row."""
    seed_everything(args.seed)
    model = build_model(name, len(data.classes), **model_config(name, budget, args.weights))
    model = model.to(dist.device)
    workers = 0 if args.data_root is None else args.workers  # cached clips need no workers
    run_dir = args.out / "runs" / name
    resume = None
    if args.resume == "auto":
        resume = run_dir / "checkpoint.pt" if (run_dir / "checkpoint.pt").is_file() else None
    elif args.resume:
        resume = Path(args.resume)
    if args.evaluate:
        if resume is None:
            raise SystemExit(f"--evaluate: no checkpoint for {name} (--resume auto or PATH)")
        model.load_state_dict(load_checkpoint(resume)["model"])
        tic = time.perf_counter()
        ev = evaluate(
            model, data.val, budget.batch_size, dist, workers=workers, class_groups=data.groups
        )
        train_time, eval_time, history = None, time.perf_counter() - tic, []
    else:
        print(f"== {name}: {count_parameters(model) / 1e6:.2f} M parameters", flush=True)
        res = fit(
            model,
            data.train,
            data.val,
            TrainConfig(
                epochs=budget.epochs,
                batch_size=budget.batch_size,
                workers=workers,
                seed=args.seed,
                out_dir=str(run_dir),
                progress=False,
            ),
            OptimConfig(
                lr=budget.lr,
                momentum=args.momentum,
                weight_decay=args.weight_decay,
                schedule="cosine",
                clip_grad_norm=20.0,  # TSN's
            ),
            dist=dist,
            class_groups=data.groups,
            resume=resume,
            start_epoch=args.start_epoch,
            extra_state={
                "model_name": name,
                "model_config": model_config(name, budget, args.weights),
                "classes": list(data.classes),
            },
        )
        ev, train_time, eval_time, history = res.eval, res.train_time, None, res.history
    return ev, _row(name, ev.report, model, train_time, eval_time, history)


def _row(
    name: str,
    report: dict,
    model: nn.Module | None,
    train_time: float | None,
    eval_time: float | None,
    history: list,
) -> dict[str, Any]:
    return {
        "model": name,
        "top1": report["top1"],
        "top5": report["top5"],
        "groups": {k: v["top1"] for k, v in report.get("groups", {}).items()},
        "num_videos": report["num_videos"],
        "params": count_parameters(model) if model is not None else None,
        "train_time_s": train_time,
        "eval_time_s": eval_time,
        "history": history,
    }


def direction_pairs(classes: list[str]) -> list[tuple[int, int]]:
    """Class ids of the direction pairs among ``classes`` (see :data:`DIRECTION_PAIRS`)."""
    pairs = []
    for i, name in enumerate(classes):
        for a, b in DIRECTION_PAIRS:
            if name.endswith(a) and name.removesuffix(a) + b in classes:
                pairs.append((i, classes.index(name.removesuffix(a) + b)))
    return pairs


def pair_accuracy(probs: torch.Tensor, labels: torch.Tensor, pair: tuple[int, int]) -> dict:
    """Top-1 (%) over the videos of the two classes of ``pair``, and how many of them went to the
    other class of the pair (the direction confused)."""
    mask = (labels == pair[0]) | (labels == pair[1])
    pred, true = probs[mask].argmax(1), labels[mask]
    n = int(mask.sum())
    other = torch.where(true == pair[0], pair[1], pair[0])
    return {
        "num_videos": n,
        "top1": 100.0 * float((pred == true).sum()) / n if n else None,
        "swapped": 100.0 * float((pred == other).sum()) / n if n else None,
    }


def fuse(
    evals: dict[str, EvalResult], classes: list[str], groups: dict[str, list[int]]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The fusion row (TSN's 1 : 1.5) and each stream's (and the fusion's) probabilities."""
    rgb, flow = evals["rgb"], evals["flow"]
    if rgb.video_ids != flow.video_ids:
        raise RuntimeError("the rgb and flow streams were scored on different videos")
    fused = fuse_scores([rgb.probs, flow.probs], TSN_FUSION_WEIGHTS, from_logits=False)
    report = classification_report(fused, rgb.labels, groups)
    row = _row("fusion", report, None, None, None, [])
    return row, {"rgb": rgb.probs, "flow": flow.probs, "fusion": fused}


def pair_table(
    probs: dict[str, torch.Tensor], labels: torch.Tensor, classes: list[str]
) -> list[dict[str, Any]]:
    """Per direction pair and stream: top-1 and the share swapped with the pair's other class."""
    rows = []
    for pair in direction_pairs(classes):
        row: dict[str, Any] = {"pair": [classes[pair[0]], classes[pair[1]]]}
        for stream, p in probs.items():
            row[stream] = pair_accuracy(p, labels, pair)
        rows.append(row)
    return rows


def _cell(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def tables(rows: list[dict], pairs: list[dict], groups: list[str]) -> str:
    """The stream table and, with both streams, the direction-pair table, as Markdown."""
    head = ["stream", "model", "top-1 (%)", "top-5 (%)"] + [f"{g} top-1" for g in groups]
    head += ["train time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["stream"], r["model"], _cell(r["top1"]), _cell(r["top5"])]
        cells += [_cell(r["groups"].get(g)) for g in groups] + [_cell(r["train_time_s"], 0)]
        lines.append("| " + " | ".join(cells) + " |")
    if not pairs:
        return "\n".join(lines)
    streams = [s for s in ("rgb", "flow", "fusion") if s in pairs[0]]
    head = ["direction pair", "videos"] + [f"{s} top-1 (swapped)" for s in streams]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in pairs:
        first = p[streams[0]]
        cells = [" / ".join(p["pair"]), str(first["num_videos"])]
        cells += [f"{_cell(p[s]['top1'])} ({_cell(p[s]['swapped'])})" for s in streams]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def expectations(rows: dict[str, dict], pairs: list[dict]) -> dict[str, Any]:
    """The issue's expectations, checked: flow beats RGB on every direction pair; fusion >= the
    best single stream (top-1)."""
    out: dict[str, Any] = {}
    if pairs and "rgb" in pairs[0] and "flow" in pairs[0]:
        out["flow_beats_rgb_on_pairs"] = {
            " / ".join(p["pair"]): (p["flow"]["top1"] or 0) > (p["rgb"]["top1"] or 0) for p in pairs
        }
    if "fusion" in rows:
        best = max(rows["rgb"]["top1"], rows["flow"]["top1"])
        out["fusion_top1_minus_best_stream"] = rows["fusion"]["top1"] - best
        out["fusion_at_least_best_stream"] = rows["fusion"]["top1"] >= best
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    budget = resolve(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    dist = DistInfo()
    preset = ssv2.with_fields(
        ssv2.CPU,
        {
            "model.frames": budget.frames,
            "data.size": budget.size,
            "data.synthetic_videos": budget.synthetic_videos,
            "data.synthetic_size": budget.synthetic_size,
            "data.views": (1, 1),
            "data.cache_clips": args.data_root is None,  # real SSv2 is read from its videos
        },
    )
    ns = argparse.Namespace(
        data_root=args.data_root,
        boxes=None,
        cache_dir=args.cache_dir,
        workers=args.workers,
        flow_dir=args.flow_dir,
    )
    flow = ssv2.FlowData(args.flow_method, budget.new_length, args.flow_workers)
    wall = time.perf_counter()
    stages: dict[str, float] = {}
    tic = time.perf_counter()
    root = args.data_root or ssv2.prepare_synthetic(ns, preset, dist)
    stages["generate"] = time.perf_counter() - tic
    tic = time.perf_counter()
    ssv2.prepare_flow(Path(root), flow, ns, dist)
    stages["flow_extraction"] = time.perf_counter() - tic
    tic = time.perf_counter()
    data = ssv2.build_data(ns, preset, dist, flow)  # the set and its flow: cached, reused here
    stages["decode_and_cache"] = time.perf_counter() - tic

    names = dict(zip(("rgb", "flow"), STREAM_MODELS[args.model], strict=True))
    streams = ("rgb", "flow") if args.stream == "fusion" else (args.stream,)
    evals: dict[str, EvalResult] = {}
    rows: dict[str, dict] = {}
    for stream in streams:
        tic = time.perf_counter()
        evals[stream], rows[stream] = run_stream(names[stream], args, budget, data, dist)
        rows[stream]["stream"] = stream
        stages[f"{stream}_stream"] = time.perf_counter() - tic
    probs = {s: e.probs for s, e in evals.items()}
    if args.stream == "fusion":
        tic = time.perf_counter()
        rows["fusion"], probs = fuse(evals, data.classes, data.groups)
        rows["fusion"].update(stream="fusion", model=f"{names['rgb']} + {names['flow']}")
        stages["fusion"] = time.perf_counter() - tic
    labels = next(iter(evals.values())).labels
    pairs = pair_table(probs, labels, data.classes)
    stages["total"] = time.perf_counter() - wall
    write_results(args, budget, data, rows, pairs, stages)
    return 0


def write_results(
    args: argparse.Namespace,
    budget: Budget,
    data: ssv2.Data,
    rows: dict[str, dict],
    pairs: list[dict],
    stages: dict[str, float],
) -> None:
    info = machine()
    groups = list(next(iter(rows.values()))["groups"])
    header = (
        f"{'real SSv2' if args.data_root else 'synthetic SSv2-format set'} at {data.root}: "
        f"{len(data.train)} train clips, {next(iter(rows.values()))['num_videos']} validation "
        f"videos, {len(data.classes)} classes; {args.model}: {budget.frames} segments (TSN "
        f"sampling) at {budget.size} px, flow {args.flow_method} with L = {budget.new_length} "
        f"fields per segment; {budget.epochs} epochs, batch {budget.batch_size}, lr {budget.lr}, "
        f"2D weights {args.weights or 'random'}, seed {args.seed}; fusion RGB : flow = "
        f"{TSN_FUSION_WEIGHTS[0]:g} : {TSN_FUSION_WEIGHTS[1]:g}\n"
        f"machine: {info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, "
        f"{info['threads']} threads\n"
        "time per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
    )
    checks = expectations(rows, pairs)
    notes = []
    if "flow_beats_rgb_on_pairs" in checks:
        for pair, met in checks["flow_beats_rgb_on_pairs"].items():
            notes.append(f"flow > rgb on {pair}: {'yes' if met else 'NO'}")
    if "fusion_at_least_best_stream" in checks:
        notes.append(
            f"fusion >= best single stream: "
            f"{'yes' if checks['fusion_at_least_best_stream'] else 'NO'} "
            f"({checks['fusion_top1_minus_best_stream']:+.1f} top-1 points)"
        )
    text = f"{header}\n\n{tables(list(rows.values()), pairs, groups)}\n\n" + "\n".join(notes) + "\n"
    print("\n" + text, flush=True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    prefix = "eval-" if args.evaluate else ""
    md = f"# Two-stream benchmark\n\n```\n{' '.join(sys.argv)}\n```\n\n{text}"
    (out / f"{prefix}results.md").write_text(md)
    result = {
        "command": sys.argv,
        "dataset": str(data.root),
        "classes": data.classes,
        "class_groups": data.groups,
        "budget": asdict(budget),
        "model": args.model,
        "flow_method": args.flow_method,
        "weights": args.weights,
        "fusion_weights": list(TSN_FUSION_WEIGHTS),
        "machine": info,
        "stages_s": stages,
        "streams": rows,
        "direction_pairs": pairs,
        "expectations": checks,
    }
    tmp = out / f"{prefix}results.json.tmp"
    tmp.write_text(json.dumps(ssv2._no_nan(result), indent=1, default=float, allow_nan=False))
    tmp.replace(out / f"{prefix}results.json")


if __name__ == "__main__":
    sys.exit(main())
