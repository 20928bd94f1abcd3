"""The five video architectures of Carreira & Zisserman (*Quo Vadis, Action Recognition?*, CVPR
2017, Sec. 2 and Table 2) trained and evaluated side by side on SSv2-format data, in one run.

=====================  ==================================================================
``cnn_lstm``           ConvNet+LSTM: a 2D ResNet per frame, an LSTM, the last step at test
``c3d``                C3D (BN version), trained from scratch
``two_stream``         two-stream TSN: an RGB and a flow TSN trained apart, softmax fused 1 : 1.5
``fused_two_stream``   RGB and flow 2D ResNets fused after the last conv by a 3x3x3 conv
``two_stream_i3d``     an RGB I3D and a flow I3D trained apart, softmax averaged
=====================  ==================================================================

The two late-fused architectures are trained as two separate runs (``tsn`` and ``tsn_flow``,
``i3d`` and ``i3d_flow``), as in the paper; their combined row is the registered
``two_stream`` / ``two_stream_i3d`` model with both trained streams loaded, evaluated by the
same :func:`stgcn.engine.evaluate`. The table has, like the paper's Table 2, an RGB, a flow and
an RGB + flow top-1 per architecture, plus the top-5 of the architecture's final prediction,
parameters, GMACs per clip and training time.

Data: the synthetic SSv2-format set of ``benchmarks/ssv2.py`` (generated once into the cache
folder, decoded once into a clip cache; its helpers are reused). Every model reads the same T
frames of each video (TSN sampling): the 2D models take each as one segment. The optical flow is
extracted once per video into the cache folder by ``stgcn.data.flow`` (``--flow-method``, DIS by
default for its speed, see ``benchmarks/two_stream.py``; cached and resumable) and read by the
SSv2 reader beside the RGB (``modality=("rgb", "flow")``): ``Sample.flow`` ``[2L, T, H, W]``, the
L = ``--new-length`` flow fields from each sampled frame on (1 by default: the flow I3D's two
channels; every flow model of a run reads the same L, ``i3d_flow`` then 2L channels).

Without ``--weights`` every 2D network starts from random weights (nothing is downloaded), so
their BatchNorm layers train (frozen BN only makes sense over ImageNet statistics); with
``--weights IMAGENET1K_V1`` they load torchvision's ImageNet weights (downloaded by torchvision
when not cached) and freeze BN as the papers do (partial BN for TSN, all BN for ConvNet+LSTM).

Examples::

    python benchmarks/architectures.py                            # the CPU benchmark
    python benchmarks/architectures.py --smoke --out /tmp/arch    # CI-sized, about a minute
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/architectures.py    # a CPU without AVX-512
    python benchmarks/architectures.py --arch c3d --arch cnn_lstm --epochs 2
"""

from __future__ import annotations

import argparse
import json
import math
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

import ssv2  # noqa: E402  (benchmarks/ssv2.py: the synthetic set and the clip cache)
from _machine import machine  # noqa: E402

from stgcn.data.flow import METHODS  # noqa: E402
from stgcn.data.ssv2 import collate  # noqa: E402
from stgcn.engine import (  # noqa: E402
    DistInfo,
    EvalResult,
    OptimConfig,
    TrainConfig,
    evaluate,
    fit,
    model_inputs,
    seed_everything,
)
from stgcn.models import build_model, count_gmacs, count_parameters  # noqa: E402

ARCHITECTURES = ("cnn_lstm", "c3d", "two_stream", "fused_two_stream", "two_stream_i3d")
STREAMS = {"two_stream": ("tsn", "tsn_flow"), "two_stream_i3d": ("i3d", "i3d_flow")}
"""The late-fused architectures: their (rgb, flow) models, trained apart."""


@dataclass(frozen=True)
class Budget:
    """What every architecture gets: clip, model sizes, schedule. Flags override fields."""

    frames: int
    new_length: int
    size: int
    width_3d: int
    depth: int
    epochs: int
    batch_size: int
    lr: float
    synthetic_videos: int
    synthetic_size: tuple[int, int]


# The default: 7 trainings (5 architectures, two of them two streams) within 20 minutes on 2 CPU
# cores. The 2D ResNets are torchvision's at full width (TSN, ConvNet+LSTM, fused), so the clip is
# small. Measured at 64 px, batch 8, on a 2-core AMD EPYC under a load of 4 (one training step):
# cnn_lstm 2.9 s, fused_two_stream 3.3 s, tsn_flow 1.5 s, tsn 1.1 s, c3d 0.5 s, i3d(_flow) 0.4 s,
# i.e. ~125 min for 4 epochs of 1,500 clips; 48 px (x0.56) and 2 epochs make that ~35 min there,
# about half of it on an idle machine. Those 2D two-stream figures were for 4 segments of 2 frames;
# the 2D models now take each of the 8 frames as a segment (the reader's flow layout), which about
# doubles tsn, tsn_flow and fused_two_stream: ~1.4x the total, an estimate to re-measure.
CPU = Budget(
    frames=8,
    new_length=1,
    size=48,
    width_3d=16,
    depth=18,
    epochs=2,
    batch_size=8,
    lr=0.02,
    synthetic_videos=1875,
    synthetic_size=(96, 128),
)
SMOKE = replace(
    CPU,
    frames=4,
    size=32,
    width_3d=4,
    epochs=1,
    synthetic_videos=64,
    synthetic_size=(32, 48),
)


# ---------------------------------------------------------------------------------------------
# runs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/architectures.py",
        description=__doc__.split("\n\n")[0],
        epilog="examples:" + __doc__.split("Examples::")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--arch",
        action="append",
        choices=ARCHITECTURES,
        help="architecture to run (repeatable; default: all five)",
    )
    p.add_argument("--smoke", action="store_true", help="tiny configuration for CI")
    p.add_argument("--out", type=Path, default=Path("architectures-results"), help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--epochs", type=int, help="epochs per run (cpu 2, smoke 1)")
    p.add_argument("-b", "--batch-size", type=int, help="mini-batch size (default 8)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 0.02)")
    p.add_argument("--frames", type=int, help="frames per clip T (cpu 8, smoke 4)")
    p.add_argument(
        "--new-length", type=int, help="L, flow fields stacked per sampled frame (default 1)"
    )
    p.add_argument("--size", type=int, help="crop size (cpu 48, smoke 32)")
    p.add_argument("--width-3d", type=int, help="stem width of C3D and the I3Ds (cpu 16)")
    p.add_argument("--synthetic-videos", type=int, help="size of the generated set (1875)")
    p.add_argument(
        "--flow-method",
        choices=METHODS,
        default="dis",
        help="optical flow method of the cached extraction (default dis)",
    )
    p.add_argument(
        "--flow-workers", type=int, default=2, help="processes extracting the flow (default 2)"
    )
    p.add_argument(
        "--weights",
        help="torchvision ResNet weights for the 2D networks (e.g. IMAGENET1K_V1; downloaded by "
        "torchvision when not cached); default: random, nothing downloaded",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("STGCN_CACHE", Path.home() / ".cache" / "stgcn")),
        help="where the synthetic set and the decoded clips live ($STGCN_CACHE, ~/.cache/stgcn)",
    )
    p.add_argument("--workers", type=int, default=2, help="workers that decode the set once")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p


def resolve(args: argparse.Namespace) -> Budget:
    """The preset with the given flags on top."""
    budget = SMOKE if args.smoke else CPU
    given = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "frames", "new_length", "size", "width_3d")
        if getattr(args, k) is not None
    }
    if args.synthetic_videos is not None:
        given["synthetic_videos"] = args.synthetic_videos
    budget = replace(budget, **given)
    if budget.frames % 2 or budget.new_length < 1:
        raise SystemExit(
            f"--frames {budget.frames} must be even (I3D's temporal stride) and --new-length "
            f"{budget.new_length} >= 1"
        )
    return budget


def build_data(args: argparse.Namespace, budget: Budget, dist: DistInfo) -> ssv2.Data:
    """The synthetic set through ``benchmarks/ssv2.py`` (generated, its flow extracted and both
    decoded once, cached): samples with ``clip`` and ``flow``."""
    preset = ssv2.with_fields(
        ssv2.CPU,
        {
            "model.frames": budget.frames,
            "data.size": budget.size,
            "data.synthetic_videos": budget.synthetic_videos,
            "data.synthetic_size": budget.synthetic_size,
            "data.views": (1, 1),
            "data.cache_clips": True,
        },
    )
    ns = argparse.Namespace(
        data_root=None, boxes=None, cache_dir=args.cache_dir, workers=args.workers
    )
    flow = ssv2.FlowData(args.flow_method, budget.new_length, args.flow_workers)
    return ssv2.build_data(ns, preset, dist, flow)


def model_config(name: str, budget: Budget, weights: str | None) -> dict[str, Any]:
    """``build_model`` keywords of one model under ``budget``."""
    cfg: dict[str, Any] = {"depth": budget.depth, "frames": budget.frames}
    if name in ("c3d", "i3d", "i3d_flow", "two_stream_i3d"):
        cfg["width"] = budget.width_3d
    if name in ("tsn_flow", "i3d_flow", "two_stream", "fused_two_stream", "two_stream_i3d"):
        cfg["new_length"] = budget.new_length  # the flow stream's 2L input channels
    if name in ("cnn_lstm", "tsn", "tsn_flow", "two_stream", "fused_two_stream"):
        cfg["weights"] = weights
        cfg["partial_bn"] = weights is not None  # frozen BN only over ImageNet statistics
    if name in ("i3d", "i3d_flow", "two_stream_i3d") and weights is not None:
        cfg["weights"] = weights  # inflated
    return cfg


def train_one(
    name: str, args: argparse.Namespace, budget: Budget, data: ssv2.Data, dist: DistInfo
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one model (resuming its own checkpoint when there is one); returns it and a row."""
    seed_everything(args.seed)
    model = build_model(name, len(data.classes), **model_config(name, budget, args.weights))
    params = count_parameters(model)
    gmacs = count_gmacs(model, *model_inputs(model, collate([data.val[0]]), dist.device))
    print(f"== {name}: {params / 1e6:.2f} M parameters, {gmacs:.3g} GMACs/clip", flush=True)
    run_dir = args.out / "runs" / name
    ckpt = run_dir / "checkpoint.pt"
    res = fit(
        model,
        data.train,
        data.val,
        TrainConfig(
            epochs=budget.epochs,
            batch_size=budget.batch_size,
            seed=args.seed,
            out_dir=str(run_dir),
            progress=False,
        ),
        OptimConfig(
            lr=budget.lr,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="cosine",
            warmup_epochs=min(0.5, budget.epochs / 4),
            clip_grad_norm=10.0,
        ),
        dist=dist,
        resume=ckpt if ckpt.is_file() else None,
        extra_state={  # what python -m stgcn.predict needs to rebuild the model
            "model_name": name,
            "model_config": model_config(name, budget, args.weights),
            "classes": list(data.classes),
        },
    )
    return model, _row(name, res.eval, params, gmacs, res.train_time)


def _row(name: str, ev: EvalResult, params: int, gmacs: float, train_time: float) -> dict:
    return {
        "model": name,
        "top1": ev.report["top1"],
        "top5": ev.report["top5"],
        "params": params,
        "gmacs": gmacs,
        "train_time_s": train_time,
        "video_ids": ev.video_ids,
    }


def combine(
    arch: str,
    streams: dict[str, tuple[nn.Module, dict]],
    data: ssv2.Data,
    budget: Budget,
    args: Any,
) -> dict[str, Any]:
    """The registered late-fusion model with both trained streams loaded, evaluated."""
    rgb_name, flow_name = STREAMS[arch]
    model = build_model(arch, len(data.classes), **model_config(arch, budget, args.weights))
    model.rgb.load_state_dict(streams[rgb_name][0].state_dict())
    model.flow.load_state_dict(streams[flow_name][0].state_dict())
    ev = evaluate(model, data.val, budget.batch_size)
    gmacs = count_gmacs(model, *model_inputs(model, collate([data.val[0]]), DistInfo().device))
    train_time = sum(streams[n][1]["train_time_s"] for n in STREAMS[arch])
    return _row(arch, ev, count_parameters(model), gmacs, train_time)


def run(args: argparse.Namespace, budget: Budget, data: ssv2.Data, dist: DistInfo) -> list[dict]:
    """Every asked architecture: its row, with ``rgb_top1`` / ``flow_top1`` for two streams."""
    rows = []
    for arch in args.arch or ARCHITECTURES:
        if arch in STREAMS:
            streams = {n: train_one(n, args, budget, data, dist) for n in STREAMS[arch]}
            row = combine(arch, streams, data, budget, args)
            rgb, flow = (streams[n][1] for n in STREAMS[arch])
            if rgb["video_ids"] != flow["video_ids"] or rgb["video_ids"] != row["video_ids"]:
                raise RuntimeError(f"{arch}: the streams were scored on different videos")
            row.update(rgb_top1=rgb["top1"], flow_top1=flow["top1"], combined_top1=row["top1"])
            row["streams"] = [rgb, flow]
        else:
            row = train_one(arch, args, budget, data, dist)[1]
            if arch == "fused_two_stream":
                row["combined_top1"] = row["top1"]
            else:
                row["rgb_top1"] = row["top1"]
        rows.append(row)
    return rows


PAPER_TABLE2 = {
    "cnn_lstm": ((81.0, None, None), (36.0, None, None)),
    "c3d": ((51.6, None, None), (24.3, None, None)),
    "two_stream": ((83.6, 85.6, 91.2), (43.2, 56.3, 58.3)),
    "fused_two_stream": ((83.2, 85.8, 89.3), (49.2, 55.5, 56.8)),
    "two_stream_i3d": ((84.5, 90.6, 93.4), (49.8, 61.9, 66.4)),
}
"""Carreira & Zisserman, CVPR 2017 (arXiv:1705.07750), Table 2, "Architecture comparison":
top-1 (%) on split 1 of UCF-101 and of HMDB-51, as (RGB, flow, RGB + flow); None where the
paper has "-". Rows (a) LSTM, (b) 3D-ConvNet, (c) Two-Stream, (d) 3D-Fused, (e) Two-Stream I3D:
Inception-v1 from ImageNet except the 3D-ConvNet (from scratch). Printed beside ours for the
ordering only: other data, other backbones, other budgets."""


def _cell(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def table(rows: list[dict]) -> str:
    """The results as a markdown table, the columns of the paper's Table 2 first."""
    head = [
        "architecture",
        "RGB top-1",
        "flow top-1",
        "RGB+flow top-1",
        "top-5",
        "params (M)",
        "GMACs/clip",
        "train time (s)",
        "paper UCF-101 RGB / flow / both",
        "paper HMDB-51 RGB / flow / both",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["model"],
            _cell(r.get("rgb_top1")),
            _cell(r.get("flow_top1")),
            _cell(r.get("combined_top1")),
            _cell(r["top5"]),
            f"{r['params'] / 1e6:.2f}",
            f"{r['gmacs']:.3g}",
            _cell(r["train_time_s"], 0),
        ]
        paper = PAPER_TABLE2.get(r["model"])
        cells += [" / ".join(map(_cell, d)) for d in paper] if paper else ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    budget = resolve(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    dist = DistInfo()
    wall = time.perf_counter()
    data = build_data(args, budget, dist)
    data_time = time.perf_counter() - wall
    rows = run(args, budget, data, dist)
    wall = time.perf_counter() - wall
    info = machine()
    header = (
        f"synthetic SSv2-format set at {data.root}: {len(data.train)} train clips, "
        f"{len(data.val)} validation clips, {len(data.classes)} classes; {budget.frames} frames "
        f"(TSN sampling; each a segment of the 2D models) at {budget.size} px, flow: "
        f"{args.flow_method}, L = {budget.new_length} fields per frame, 2D weights: "
        f"{args.weights or 'random'}, {budget.epochs} epochs, batch {budget.batch_size}, "
        f"lr {budget.lr}, seed {args.seed}\n"
        f"machine: {info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, "
        f"{info['threads']} threads, ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}; "
        f"data preparation {data_time:.0f} s, total {wall:.0f} s"
    )
    text = f"{header}\n\n{table(rows)}\n"
    print("\n" + text, flush=True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(
        f"# Architectures benchmark\n\n```\n{' '.join(sys.argv)}\n```\n\n{text}"
    )
    for r in rows:  # the per-video ids were for the alignment check only
        for s in [r, *r.get("streams", [])]:
            s.pop("video_ids", None)
    result = {
        "command": sys.argv,
        "dataset": str(data.root),
        "budget": asdict(budget),
        "flow_method": args.flow_method,
        "weights": args.weights,
        "machine": info,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "data_time_s": data_time,
        "wall_time_s": wall,
        "runs": rows,
    }
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=1, default=float))
    tmp.replace(out / "results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
