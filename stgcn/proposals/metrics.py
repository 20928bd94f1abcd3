"""Ground-truth frames of an SSv2 split with Something-Else boxes, and box AP / AR of a proposer.

:func:`annotated_videos` decodes the videos of a split (official SSv2 layout, read by
:class:`~stgcn.data.ssv2.SomethingSomethingV2`) and pairs each decoded frame with the
Something-Else boxes of its annotation frame (the frame nearest its timestamp at 12 fps, as the
dataset does). :func:`evaluate` runs a :class:`~stgcn.proposals.base.Proposer` on them and scores
the boxes with torchmetrics' :class:`~torchmetrics.detection.MeanAveragePrecision` (COCO's
evaluation through pycocotools), every frame an image:

* ``ap50``: AP at IoU 0.5 (COCO's ``AP50``), with at most ``max(max_detections)`` boxes per frame;
* ``ar10``, ``ar50``: COCO's average recall (over IoU 0.5:0.95) with at most 10 / 50 boxes per
  frame, the boxes a region graph would take as nodes;
* ``recall10_iou50``, ``recall50_iou50``: the same recall at IoU 0.5 alone (a node that covers
  half of an object still reads it; the 0.5:0.95 average also asks for tight boxes).

Class-agnostic (a proposal is a hit on any ground-truth box, hand or object); with
``classes=True`` the hand and object categories are also scored separately and averaged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stgcn.data.box_source import FrameBoxes
from stgcn.data.ssv2 import SomethingSomethingV2
from stgcn.data.video import VideoReader, annotation_frames
from stgcn.proposals.base import Proposer


@dataclass
class AnnotatedVideo:
    """Decoded frames of one video and their ground-truth boxes.

    Attributes:
        video_id: the SSv2 id.
        frames: ``[T, H, W, 3]`` uint8 decoded frames (the chosen ones, in order).
        boxes: the ground truth: ``frame`` in ``0..T-1``, ``box`` clipped to the frame,
            ``category`` hand 1 / object 2, ``track`` placeholder index (-1 hand), ``score`` 1.
        dropped: ground-truth boxes left out because nothing of them lies inside the frame.
    """

    video_id: str
    frames: Tensor
    boxes: FrameBoxes
    dropped: int = 0


def _frame_indices(n: int, every: int, per_video: int | None) -> np.ndarray:
    if per_video is not None and per_video > 0:
        # evenly over the video, centred in equal segments (TSN-style, deterministic)
        return np.unique(((np.arange(per_video) + 0.5) * n / per_video).astype(np.int64))
    return np.arange(0, n, max(1, every), dtype=np.int64)


def annotated_videos(
    root: str | Path,
    split: str = "validation",
    *,
    every: int = 1,
    frames_per_video: int | None = None,
    max_videos: int | None = None,
    **dataset_kwargs: Any,
) -> Iterator[AnnotatedVideo]:
    """Yield the annotated frames of a split's videos, in the split file's order.

    Args:
        root: dataset root in the official SSv2 + Something-Else layout (the synthetic set's too).
        split: ``"train"`` or ``"validation"``.
        every: keep every ``every``-th decoded frame (ignored when ``frames_per_video`` is set).
        frames_per_video: keep this many frames spread evenly over each video instead.
        max_videos: stop after this many videos.
        **dataset_kwargs: passed to :class:`~stgcn.data.ssv2.SomethingSomethingV2` (``boxes``,
            ``box_index``, ``videos_dir``, ``labels_dir``, ``video_ext``).

    A frame past the last annotated frame is left out (its boxes are unknown); a frame with no
    box is kept (a negative). Raises ``MissingBoxesError``-style ``KeyError`` for a video the box
    annotation lacks, and the decoder's errors for unreadable videos.
    """
    data = SomethingSomethingV2(root, split, train=False, **dataset_kwargs)
    if data.box_index is None:
        raise FileNotFoundError(f"{root}: no Something-Else box files, so no ground truth")
    records = data.records if max_videos is None else data.records[:max_videos]
    for video_id, _ in records:
        gt = data.box_index.get(video_id)
        if gt is None:
            raise KeyError(f"video {video_id}: no entry in the box index {data.box_index.path}")
        with VideoReader(data.videos_dir / f"{video_id}{data.video_ext}") as reader:
            n = reader.count_frames()
            frames, times = reader.read(_frame_indices(n, every, frames_per_video))
        ann = annotation_frames(times, data.annotation_fps)
        keep = ann < gt.num_annotated
        frames, ann = frames[torch.from_numpy(keep)], ann[keep]
        t, m = np.nonzero(gt.frame[None, :] == ann[:, None])  # clip frame t holds box m
        h, w = frames.shape[1:3]
        box = gt.box[m].copy()
        box[:, 0::2] = box[:, 0::2].clip(0, w)
        box[:, 1::2] = box[:, 1::2].clip(0, h)
        ok = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
        yield AnnotatedVideo(
            video_id,
            frames,
            FrameBoxes(
                frame=t[ok].astype(np.int64),
                box=box[ok].astype(np.float32),
                score=np.ones(int(ok.sum()), np.float32),
                category=gt.category[m][ok],
                track=gt.track[m][ok],
            ),
            dropped=int((~ok).sum()),
        )


def per_frame(boxes: FrameBoxes, num_frames: int, *, labels: bool) -> list[dict[str, Tensor]]:
    """Split :class:`FrameBoxes` into torchmetrics' per-image dicts (``boxes``, ``scores``,
    ``labels``: category codes, or all 0 when ``labels`` is False)."""
    order = np.argsort(boxes.frame, kind="stable")
    cuts = np.searchsorted(boxes.frame[order], np.arange(num_frames + 1))
    box = torch.from_numpy(boxes.box[order]).float()
    score = torch.from_numpy(boxes.score[order]).float()
    cat = torch.from_numpy(boxes.category[order]).long()
    if not labels:
        cat = torch.zeros_like(cat)
    return [
        {"boxes": box[a:b], "scores": score[a:b], "labels": cat[a:b]}
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def _metric(max_detections: Sequence[int], iou: float | None = None) -> Any:
    from torchmetrics.detection import MeanAveragePrecision

    return MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=None if iou is None else [iou],
        max_detection_thresholds=sorted(int(k) for k in max_detections),
        backend="pycocotools",
    )


def evaluate(
    proposer: Proposer,
    videos: Sequence[AnnotatedVideo],
    *,
    classes: bool = False,
    max_detections: Sequence[int] = (1, 10, 50),
) -> dict[str, float]:
    """AP@0.5 and AR@k of ``proposer`` on ``videos``, and its speed.

    Args:
        proposer: what finds the boxes; run once on each video's frames.
        videos: ground truth (:func:`annotated_videos`).
        classes: also score the boxes per category (hand, object), for a detector that names them.
        max_detections: the k of the ``ar{k}`` figures; AP is at the largest.

    Returns:
        class-agnostic ``{"ap50", "ar10", "ar50"}`` (``ar{k}`` for each k of ``max_detections``)
        and ``"recall10_iou50"``, ``"recall50_iou50"`` (recall at IoU 0.5 alone, with k boxes per
        frame) in [0, 1] (-1 where COCO's evaluation has no ground truth to score); with ``classes``,
        ``"ap50_classes"`` (mean over hand and object) too; ``"frames"``, ``"seconds"`` (time in
        the proposer only) and ``"frames_per_s"``.
    """
    agnostic = _metric(max_detections)
    at_half = _metric(max_detections, iou=0.5)
    per_class = _metric(max_detections) if classes else None
    frames, seconds = 0, 0.0
    for v in videos:
        t = int(v.frames.shape[0])
        tic = time.perf_counter()
        found = proposer(v.frames)
        seconds += time.perf_counter() - tic
        frames += t
        preds, gt = per_frame(found, t, labels=False), per_frame(v.boxes, t, labels=False)
        agnostic.update(preds, gt)
        at_half.update(preds, gt)
        if per_class is not None:
            per_class.update(per_frame(found, t, labels=True), per_frame(v.boxes, t, labels=True))
    res = agnostic.compute()
    out = {"ap50": float(res["map_50"])}
    out.update({f"ar{k}": float(res[f"mar_{k}"]) for k in sorted(max_detections)})
    half = at_half.compute()
    out.update({f"recall{k}_iou50": float(half[f"mar_{k}"]) for k in sorted(max_detections)})
    if per_class is not None:
        out["ap50_classes"] = float(per_class.compute()["map_50"])
    out.update(frames=frames, seconds=seconds, frames_per_s=frames / max(seconds, 1e-9))
    return out
