"""The command line: ``python -m stgcn.data.synthetic --out DIR --videos N --seed S``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stgcn.data.synthetic.writer import generate

__all__ = ["main"]

DESCRIPTION = "A synthetic Something-Something v2 dataset, written in the official layout."


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m stgcn.data.synthetic --out DIR --videos N --seed S``."""
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--out", required=True, help="output folder (empty, or a previous dataset)")
    p.add_argument("--videos", type=int, required=True, help="number of videos, all splits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--min-frames", type=int, default=24)
    p.add_argument("--max-frames", type=int, default=60)
    p.add_argument(
        "--splits", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST")
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPUs, max 8)")
    a = p.parse_args(argv)
    generate(
        a.out,
        a.videos,
        seed=a.seed,
        size=(a.height, a.width),
        frames=(a.min_frames, a.max_frames),
        splits=tuple(a.splits),
        workers=a.workers,
        verbose=True,
    )
