"""Region proposals on the synthetic SSv2 set: train the CPU detector, then AP / AR / speed per method.

1. Trains the CPU-default Faster R-CNN (:data:`stgcn.proposals.detector.CPU_CONFIG`, from
   scratch; ``--config mobilenet``: the earlier MobileNet default) on the train split's
   Something-Else boxes with :func:`stgcn.proposals.train.train_detector` and writes its
   checkpoint (``--out``); ``--weights PATH`` skips training and loads one.
   The training time is printed, load included, next to the 10-minute target.
   Only the methods of :data:`NEEDS_CHECKPOINT` need it; the weight-free ones alone train nothing.
2. Runs every method of :data:`METHODS` on the validation split and scores it with
   :func:`stgcn.proposals.metrics.evaluate`: AP@0.5 (class-agnostic), COCO average recall with at
   most 10 and 50 boxes per frame, and frames/s of the method alone. A method that names hand and
   object boxes also gets its hand/object AP@0.5.

A method is one entry of :data:`METHODS`, a builder ``(args, checkpoint) -> Proposer``. Each
method sees the frames ``--val-every`` keeps as one clip: the motion methods compare those frames,
so score them with ``--val-every 1`` (neighbouring 12-fps frames, as the CLI's default gives them).

Example::

    python benchmarks/proposals.py --threads 2 --json proposals.json

The synthetic set is the one ``benchmarks/ssv2.py`` uses (made here when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from stgcn.proposals.base import Proposer
from stgcn.proposals.detector import CPU_CONFIG, MOBILENET_CPU_CONFIG, load_proposer
from stgcn.proposals.metrics import annotated_videos, evaluate
from stgcn.proposals.train import TrainConfig, train_detector

CACHE = Path(os.environ.get("STGCN_CACHE", Path.home() / ".cache" / "stgcn"))
DEFAULT_ROOT = CACHE / "ssv2-synthetic-n1875-96x128-seed0"
TARGET_S = 600.0  # the CPU default must train within 10 minutes on 2 idle cores

Builder = Callable[[argparse.Namespace, Path], Proposer]


def _selective_search(mode: str) -> Builder:
    def build(a: argparse.Namespace, ckpt: Path | None) -> Proposer:
        from stgcn.proposals.selective_search import SelectiveSearch

        return SelectiveSearch(mode=mode, top_k=a.top_k)  # type: ignore[arg-type]

    return build


def _motion(source: str, flow: str = "dis") -> Builder:
    def build(a: argparse.Namespace, ckpt: Path | None) -> Proposer:
        from stgcn.proposals.motion import MotionBoxes

        return MotionBoxes(source=source, flow=flow, top_k=a.top_k)  # type: ignore[arg-type]

    return build


METHODS: dict[str, Builder] = {
    "rpn": lambda a, ckpt: load_proposer(ckpt, "rpn", top_k=a.top_k),
    "detector": lambda a, ckpt: load_proposer(
        ckpt, "detector", top_k=a.top_k, score_threshold=a.score_threshold
    ),
    # weight-free (no checkpoint): OpenCV selective search, and motion boxes
    "selective_search": _selective_search("fast"),
    "selective_search_quality": _selective_search("quality"),
    "motion": _motion("diff"),
    "motion_dis": _motion("flow", "dis"),
}
"""Method name -> builder of its proposer from the parsed arguments and the detector checkpoint."""

CONFIGS = {"cpu": CPU_CONFIG, "mobilenet": MOBILENET_CPU_CONFIG}
"""``--config`` choices: the detector configurations this script trains."""

NEEDS_CHECKPOINT = {"rpn", "detector"}
"""Methods that use the trained detector (the others run without training one)."""

CLASSED = {"detector"}
"""Methods whose boxes carry hand / object categories (scored per class too)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT, help="SSv2-layout set")
    p.add_argument("--out", type=Path, default=Path("proposals-results/detector_cpu.pt"))
    p.add_argument("--weights", type=Path, default=None, help="skip training, load this checkpoint")
    p.add_argument(
        "--methods",
        nargs="+",
        default=["rpn", "detector", "selective_search", "motion"],
        choices=list(METHODS),
    )
    g = p.add_argument_group("training (defaults: stgcn.proposals.train.TrainConfig)")
    g.add_argument(
        "--config",
        default="cpu",
        choices=list(CONFIGS),
        help="detector to train: cpu (CPU_CONFIG, ResNet-18 FPN) or mobilenet (the earlier default)",
    )
    d = TrainConfig()
    g.add_argument("--steps", type=int, default=d.steps)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--frames-per-video", type=int, default=d.frames_per_video)
    g.add_argument("--max-videos", type=int, default=None, help="training videos (default: all)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--time-limit", type=float, default=None, help="stop training after S seconds")
    g.add_argument(
        "--weights-backbone",
        default=None,
        help="start from this torchvision backbone enum (e.g. MobileNet_V3_Large_Weights."
        "IMAGENET1K_V1, downloaded by torchvision) instead of from scratch",
    )
    g = p.add_argument_group("evaluation")
    g.add_argument(
        "--split",
        default="validation",
        choices=("validation", "train"),
        help="split to score (train: to tell under- from over-fitting)",
    )
    g.add_argument("--val-every", type=int, default=4, help="every N-th validation frame")
    g.add_argument("--val-videos", type=int, default=None, help="validation videos (default: all)")
    g.add_argument("--top-k", type=int, default=50, help="boxes per frame (the paper's 50)")
    g.add_argument("--score-threshold", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def ensure_data(root: Path) -> None:
    if (root / "synthetic_manifest.json").is_file() or (root / "labels").is_dir():
        return
    if root != DEFAULT_ROOT:
        raise SystemExit(f"proposals: no dataset at {root}")
    from stgcn.data.synthetic import generate

    print(f"generating the synthetic set in {root} ...", flush=True)
    generate(root, 1875, seed=0, size=(96, 128), splits=(0.8, 0.16, 0.04))


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (AP / AR in %)."""
    lines = [
        "| method | AP@0.5 | AR@10 | AR@50 | R@50 IoU 0.5 | AP@0.5 hand/object | frames/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {_fmt(r['ap50'])} | {_fmt(r['ar10'])} | {_fmt(r['ar50'])} | "
            f"{_fmt(r['recall50_iou50'])} | {_fmt(r.get('ap50_classes'))} | "
            f"{r['frames_per_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} CPUs)".strip()
    print(f"machine: {machine}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    ensure_data(args.data_root)
    result: dict[str, Any] = {
        "machine": machine,
        "torch": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "data_root": str(args.data_root),
    }
    ckpt = args.weights
    if ckpt is None and NEEDS_CHECKPOINT & set(args.methods):
        tic = time.perf_counter()
        train = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            frames_per_video=args.frames_per_video,
            max_videos=args.max_videos,
            seed=args.seed,
            time_limit_s=args.time_limit,
        )
        info = train_detector(
            args.data_root,
            args.out,
            config=CONFIGS[args.config],
            train=train,
            weights_backbone=args.weights_backbone,
        )
        total = time.perf_counter() - tic
        verdict = "within" if total <= TARGET_S else "OVER"
        print(
            f"training: {total:.1f} s in all ({info['load_seconds']:.1f} s loading frames, "
            f"{info['train_seconds']:.1f} s for {info['steps']} steps); {verdict} the "
            f"{TARGET_S:.0f} s target; checkpoint {args.out}"
        )
        cpu = info["load_cpu_seconds"] + info["train_cpu_seconds"]
        print(
            f"training CPU time: {cpu:.1f} s over {info['threads']} threads (wall time on idle "
            f"cores: between {cpu / info['threads']:.1f} and {cpu:.1f} s)"
        )
        result["training"] = {**info, "total_seconds": round(total, 2), "checkpoint": str(args.out)}
        ckpt = args.out

    tic = time.perf_counter()
    videos = list(
        annotated_videos(
            args.data_root, args.split, every=args.val_every, max_videos=args.val_videos
        )
    )
    frames = sum(int(v.frames.shape[0]) for v in videos)
    boxes = sum(v.boxes.num_boxes for v in videos)
    print(
        f"{args.split}: {len(videos)} videos, {frames} frames (every {args.val_every}-th), "
        f"{boxes} ground-truth boxes ({time.perf_counter() - tic:.1f} s to decode)"
    )
    result["validation"] = {"videos": len(videos), "frames": frames, "boxes": boxes}
    rows = []
    for name in args.methods:
        proposer = METHODS[name](args, ckpt)
        row = {"method": name, **evaluate(proposer, videos, classes=name in CLASSED)}
        rows.append(row)
        print(
            f"{name}: AP@0.5 {_fmt(row['ap50'])}  AR@10 {_fmt(row['ar10'])}  "
            f"AR@50 {_fmt(row['ar50'])}  {row['frames_per_s']:.1f} frames/s",
            flush=True,
        )
    result["methods"] = rows
    print()
    print(table(rows))
    print(
        f"\nAP / AR in %, synthetic {args.split} split ({frames} frames), top {args.top_k} "
        f"boxes per frame; {machine}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, args.json)
    return result


if __name__ == "__main__":
    main()
