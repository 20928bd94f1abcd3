"""Proposals written in the Something-Else box schema, so ``SomethingSomethingV2(boxes=...)`` reads
them as it reads the released annotation.

A Something-Else box file is one JSON object ``{video_id: [frame entry, ...]}``; list position
``k`` is annotation frame ``k`` (time ``k / 12`` s, image ``<id>/{k+1:04d}.jpg``), and each entry is::

    {"name": "<id>/0001.jpg",
     "labels": [{"box2d": {"x1": .., "y1": .., "x2": .., "y2": ..},
                 "category": "hand",            # a name; the reader ignores it
                 "standard_category": "hand",   # "hand", or the object's index "0000", "0001", ...
                 "gt_annotation": "object hand",  # "object hand" or "object 0", ...
                 "score": 0.93}, ...],          # ours: the proposer's score (ignored by readers)
     "nr_instances": 2}

The schema carries a box's identity in ``standard_category``: ``"hand"`` or the digits of an
object index. :func:`stgcn.data.something_else.from_something_else` reads ``"hand"`` as category
hand with track ``HAND_TRACK`` and digits ``d`` as category object with track ``int(d)``. So a
proposal's track id becomes its object index (a tracker must have run: ids are >= 0), a hand
detection is written as ``"hand"`` (its track id is not representable and is lost, as in the
real annotation), and a class-agnostic proposal (category ``none``) reads back as an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY

_NAMES = {code: name for name, code in CATEGORY.items()}


def frame_name(video_id: str, k: int) -> str:
    """The image name of annotation frame ``k`` (0-based): ``"<id>/{k+1:04d}.jpg"``."""
    return f"{video_id}/{k + 1:04d}.jpg"


def to_something_else(
    boxes: FrameBoxes,
    video_id: str,
    num_frames: int,
    *,
    names: Mapping[int, str] | None = None,
    decimals: int = 2,
) -> list[dict[str, Any]]:
    """One video's boxes as its list of Something-Else frame entries.

    Args:
        boxes: N boxes; ``frame`` ``[N]`` is the annotation frame ``0..num_frames-1`` (12 fps for
            Something-Else), ``box`` ``[N, 4]`` in the original video's pixels, ``track`` ``[N]``
            >= 0 for every box that is not a hand.
        video_id: the key of the video (its file stem); used in each entry's ``name``.
        num_frames: the length of the list; a frame without boxes gets ``"labels": []``.
        names: ``category`` name written for each category code (default: the
            :data:`~stgcn.data.something_else.CATEGORY` names ``none``/``hand``/``object``).
        decimals: coordinates are rounded to this many decimals (scores to 4).

    Returns:
        ``num_frames`` entries; the labels of a frame in the order of the rows of ``boxes``.

    Raises:
        ValueError: a frame index outside ``0..num_frames-1``, an unknown category code, or a
            non-hand box without a track id.
    """
    names = dict(_NAMES) if names is None else dict(names)
    n = boxes.num_boxes
    if n and (boxes.frame.min() < 0 or boxes.frame.max() >= num_frames):
        raise ValueError(
            f"video {video_id!r}: box frames must lie in 0..{num_frames - 1}, got "
            f"{int(boxes.frame.min())}..{int(boxes.frame.max())}"
        )
    unknown = sorted(set(boxes.category.tolist()) - set(names))
    if unknown:
        raise ValueError(f"video {video_id!r}: unknown category code(s) {unknown} (known {names})")
    hand = boxes.category == CATEGORY["hand"]
    untracked = ~hand & (boxes.track < 0)
    if untracked.any():
        raise ValueError(
            f"video {video_id!r}: {int(untracked.sum())} non-hand box(es) without a track id; the "
            "Something-Else schema carries a box's identity in standard_category, so run a "
            "tracker (stgcn.proposals.IoUTracker) first"
        )
    coords = np.round(boxes.box.astype(np.float64), decimals).tolist()
    scores = np.round(boxes.score.astype(np.float64), 4).tolist()
    labels: list[list[dict[str, Any]]] = [[] for _ in range(num_frames)]
    for k, xyxy, score, cat, track, is_hand in zip(
        boxes.frame.tolist(),
        coords,
        scores,
        boxes.category.tolist(),
        boxes.track.tolist(),
        hand.tolist(),
        strict=True,
    ):
        std = "hand" if is_hand else f"{track:04d}"
        labels[k].append(
            {
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), xyxy, strict=True)),
                "category": names[cat],
                "standard_category": std,
                "gt_annotation": f"object {'hand' if is_hand else track}",
                "score": score,
            }
        )
    return [
        {"name": frame_name(video_id, k), "labels": frame_labels, "nr_instances": len(frame_labels)}
        for k, frame_labels in enumerate(labels)
    ]
