"""How much do the boxes alone tell? A small MLP on box coordinates only, no pixels.

The STRG rows of ``benchmarks/ssv2.py`` read their nodes inside the annotated boxes. On the generated
set those boxes are ground-truth tracks, so this script measures the ceiling that the box geometry
alone gives: each video becomes a fixed vector of, for every sampled frame, one slot for the hand and
one per object track (x1, y1, x2, y2 divided by the crop size, plus a presence flag), and a two-layer
MLP is trained on it. The clips are sampled exactly as the default benchmark samples its validation
clips (TSN centres, 8 frames, 96 px crop), for the training split too.

Example::

    python benchmarks/ssv2.py                      # makes the synthetic set in ~/.cache/stgcn
    python benchmarks/box_oracle.py --seeds 3      # then this, on the same set
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _machine import cpu_name
from torch import Tensor, nn

from stgcn.data.something_else import CATEGORY
from stgcn.data.ssv2 import Sample, SomethingSomethingV2

DEFAULT_ROOT = (
    Path(os.environ.get("STGCN_CACHE", Path.home() / ".cache" / "stgcn"))
    / "ssv2-synthetic-n1875-96x128-seed0"
)
HAND = CATEGORY["hand"]


def box_vector(sample: Sample, frames: int, objects: int, size: int) -> Tensor:
    """``[frames * (1 + objects) * 5]``: per frame, the hand's slot then one slot per object
    track, each (x1, y1, x2, y2) / size and a presence flag; empty slots are zeros."""
    g = sample.graph
    track = getattr(g, "track", None)
    if track is None:
        track = torch.full_like(g.frame, -1)
    slot = torch.where(g.category == HAND, 0, track + 1)  # hand 0, object track k at k + 1
    keep = (g.category == HAND) | ((track >= 0) & (track < objects))
    out = torch.zeros(frames, 1 + objects, 5)
    out[g.frame[keep], slot[keep]] = torch.cat(
        [g.box[keep] / size, torch.ones(int(keep.sum()), 1)], dim=1
    )
    return out.flatten()


def load(root: Path, split: str, frames: int, size: int, objects: int) -> tuple[Tensor, Tensor]:
    data = SomethingSomethingV2(
        root, split, train=False, num_frames=frames, sampling="tsn", size=size, on_error="skip"
    )
    xs, ys = [], []
    for i in range(len(data)):
        s = data[i]
        if isinstance(s, Sample):
            xs.append(box_vector(s, frames, objects, size))
            ys.append(int(s.label))
    if not xs:
        raise SystemExit(f"box_oracle: no readable videos in the {split} split of {root}")
    return torch.stack(xs), torch.tensor(ys)


def train_mlp(
    x: Tensor, y: Tensor, xv: Tensor, yv: Tensor, classes: int, seed: int, epochs: int
) -> float:
    """Validation top-1 (%) after ``epochs`` of Adam on mini-batches of 64."""
    torch.manual_seed(seed)
    mlp = nn.Sequential(
        nn.Linear(x.size(1), 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, classes)
    )
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        mlp.train()
        for idx in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(mlp(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    mlp.eval()
    with torch.no_grad():
        return 100.0 * (mlp(xv).argmax(1) == yv).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT, help="SSv2-format set")
    p.add_argument("--frames", type=int, default=8, help="sampled frames (default 8)")
    p.add_argument("--size", type=int, default=96, help="crop size in pixels (default 96)")
    p.add_argument("--objects", type=int, default=3, help="object track slots (default 3)")
    p.add_argument("--epochs", type=int, default=100, help="MLP epochs (default 100)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    a = p.parse_args(argv)
    if not (a.data_root / "labels").is_dir():
        raise SystemExit(
            f"box_oracle: no SSv2-format set at {a.data_root}; run `python benchmarks/ssv2.py` "
            "first (it generates the default set) or pass --data-root"
        )
    tic = time.perf_counter()
    x, y = load(a.data_root, "train", a.frames, a.size, a.objects)
    xv, yv = load(a.data_root, "validation", a.frames, a.size, a.objects)
    classes = int(max(y.max(), yv.max())) + 1
    read = time.perf_counter() - tic
    tops = [train_mlp(x, y, xv, yv, classes, s, a.epochs) for s in range(a.seeds)]
    print(f"machine: {cpu_name()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {a.data_root}")  # fmt: skip
    print(f"{len(y)} train / {len(yv)} validation videos, {classes} classes, "
          f"{x.size(1)} box features per video (read in {read:.1f} s)")  # fmt: skip
    std = statistics.stdev(tops) if len(tops) > 1 else 0.0
    print(f"box-coordinates MLP, validation top-1: {statistics.fmean(tops):.1f} ± {std:.1f} % "
          f"over {len(tops)} seed(s) {[round(t, 1) for t in tops]}; chance {100 / classes:.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
