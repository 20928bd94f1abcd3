"""Train a Faster R-CNN on Something-Else-schema boxes (hand and object), with torchvision's API.

The training set is frames of an SSv2 split with their Something-Else boxes
(:func:`stgcn.proposals.metrics.annotated_videos`): the synthetic set's train split here, the real
Something-Else boxes on a machine that has them. Labels are the categories of
:data:`stgcn.data.something_else.CATEGORY` (hand 1, object 2; 0 is the background), so the trained
detector's classes are the graph's node categories.

A step is torchvision's detection training step: ``model(images, targets)`` in train mode returns
the RPN's and the box head's losses (``loss_objectness``, ``loss_rpn_box_reg``,
``loss_classifier``, ``loss_box_reg``), whose sum is minimised (AdamW, one-cycle schedule:
linear warm-up then cosine decay). Frames are flipped left/right at random with their boxes. The
result is a checkpoint of :func:`stgcn.proposals.detector.save_detector` that
:func:`~stgcn.proposals.detector.load_detector` and the proposals CLI read.

The CPU default (:data:`~stgcn.proposals.detector.CPU_CONFIG`, from scratch, 4 frames of each
train video) is sized to finish within 10 minutes on 2 idle cores; ``benchmarks/proposals.py``
runs it and reports AP / AR on the validation split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stgcn.proposals.detector import CPU_CONFIG, DetectorConfig, build_detector, save_detector
from stgcn.proposals.metrics import AnnotatedVideo, annotated_videos


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Args:
        steps: optimiser steps.
        batch_size: frames per step.
        lr: peak AdamW learning rate (reached after ``warmup`` of the steps, then cosine to 0).
        warmup: fraction of the steps spent warming up.
        weight_decay: AdamW weight decay.
        frames_per_video: frames taken from each training video, spread evenly.
        max_videos: use at most this many training videos (None: all).
        hflip: flip frames and boxes left/right with probability 1/2.
        seed: seeds the weights, the frame order and the flips.
        time_limit_s: stop early (and say so) after this many seconds of training (None: never).
    """

    steps: int = 500
    batch_size: int = 8
    lr: float = 2e-3
    warmup: float = 0.05
    weight_decay: float = 1e-4
    frames_per_video: int = 4
    max_videos: int | None = None
    hflip: bool = True
    seed: int = 0
    time_limit_s: float | None = None


def targets_of(v: AnnotatedVideo) -> list[dict[str, Tensor]]:
    """torchvision detection targets (``boxes`` ``[n, 4]`` float, ``labels`` ``[n]`` int64
    category codes) for each frame of ``v``."""
    out = []
    for t in range(int(v.frames.shape[0])):
        sel = v.boxes.frame == t
        out.append(
            {
                "boxes": torch.from_numpy(v.boxes.box[sel]).float().reshape(-1, 4),
                "labels": torch.from_numpy(v.boxes.category[sel]).long(),
            }
        )
    return out


def load_frames(
    root: str | Path, split: str, frames_per_video: int, max_videos: int | None = None
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """All chosen frames of a split as one ``[N, H, W, 3]`` uint8 tensor and their N targets."""
    frames, targets = [], []
    for v in annotated_videos(
        root, split, frames_per_video=frames_per_video, max_videos=max_videos
    ):
        frames.append(v.frames)
        targets.extend(targets_of(v))
    if not frames:
        raise ValueError(f"{root}: the {split} split has no annotated frames")
    return torch.cat(frames), targets


def _flip(image: Tensor, target: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    w = image.shape[-1]
    box = target["boxes"].clone()
    box[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": box}


def train_detector(
    root: str | Path,
    out: str | Path,
    *,
    config: DetectorConfig = CPU_CONFIG,
    train: TrainConfig = TrainConfig(),
    weights_backbone: Any = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = print,
    data: tuple[Tensor, Sequence[dict[str, Tensor]]] | None = None,
) -> dict[str, Any]:
    """Train a detector on the train split of ``root`` and write its checkpoint to ``out``.

    Args:
        root: SSv2 + Something-Else layout (e.g. ``python -m stgcn.data.synthetic --out ROOT``).
        out: checkpoint path (written atomically when training ends).
        config: the architecture and sizes (:class:`~stgcn.proposals.detector.DetectorConfig`;
            ``num_classes`` must be 3).
        train: optimisation settings.
        weights_backbone: torchvision weights enum (or name) of an ImageNet backbone to start
            from; None trains from scratch.
        device: where to train.
        log: called with a progress line now and then (None: silent).
        data: ``(frames [N, H, W, 3] uint8, N targets)`` to train on instead of reading ``root``.

    Returns:
        a summary (plain types, also stored as the checkpoint's ``info``): steps done, frames,
        seconds for loading and training, the last losses, and the settings.
    """
    if config.num_classes != 3:
        raise ValueError(
            f"training on Something-Else boxes needs num_classes=3 (background, hand, object), "
            f"got {config.num_classes}"
        )
    say = log or (lambda _: None)
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    tic, cpu = time.perf_counter(), time.process_time()
    if data is None:
        data = load_frames(root, "train", train.frames_per_video, train.max_videos)
    frames, targets = data
    load_s, load_cpu = time.perf_counter() - tic, time.process_time() - cpu
    n = int(frames.shape[0])
    say(
        f"train: {n} frames, {sum(len(t['labels']) for t in targets)} boxes ({load_s:.1f} s to load)"
    )

    model = build_detector(config, weights_backbone=weights_backbone).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    warm = max(1, int(train.warmup * train.steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, train.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    order = rng.permutation(n)
    pos, step, losses = 0, 0, {}
    tic, cpu = time.perf_counter(), time.process_time()
    stopped_early = False
    while step < train.steps:
        if pos + train.batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos : pos + train.batch_size]
        pos += train.batch_size
        images, tgts = [], []
        for i in idx.tolist():
            img = frames[i].to(device).permute(2, 0, 1).float().div_(255)
            tgt = {k: v.to(device) for k, v in targets[i].items()}
            if train.hflip and rng.random() < 0.5:
                img, tgt = _flip(img, tgt)
            images.append(img)
            tgts.append(tgt)
        loss_dict = model(images, tgts)
        loss = sum(loss_dict.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"step {step}: loss {loss.item()} ({ {k: v.item() for k, v in loss_dict.items()} }); "
                "lower the learning rate"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses = {k: round(v.item(), 4) for k, v in loss_dict.items()}
        elapsed = time.perf_counter() - tic
        if step % 50 == 0 or step == train.steps:
            say(
                f"step {step}/{train.steps}  loss {loss.item():.3f}  "
                f"({', '.join(f'{k[5:]} {v:.3f}' for k, v in losses.items())})  {elapsed:.0f} s"
            )
        if train.time_limit_s is not None and elapsed > train.time_limit_s and step < train.steps:
            stopped_early = True
            say(
                f"time limit {train.time_limit_s:.0f} s reached after {step} of {train.steps} steps"
            )
            break
    train_s, train_cpu = time.perf_counter() - tic, time.process_time() - cpu
    info = {
        "steps": step,
        "stopped_early": stopped_early,
        "frames": n,
        "load_seconds": round(load_s, 2),
        "train_seconds": round(train_s, 2),
        # CPU time of all threads: on an idle machine with k threads the wall time lies between
        # cpu / k and cpu, whatever else ran beside this one
        "load_cpu_seconds": round(load_cpu, 2),
        "train_cpu_seconds": round(train_cpu, 2),
        "last_losses": losses,
        "train_config": asdict(train),
        "weights_backbone": None if weights_backbone is None else str(weights_backbone),
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
    }
    save_detector(model.eval(), config, out, info)
    return info
