"""The Something-Else box format (Materzynska et al., CVPR 2020): its codes and its parser.

One video's entry in a ``bounding_box_smthsmth_part*.json`` file is a list of per-frame objects;
list position k is annotation frame k (the image ``<id>/{k+1:04d}.jpg``, 12 fps). Each label is a
hand or one of the video's placeholder objects ("0000", "0001", ...). :func:`from_something_else`
turns that list into a :class:`stgcn.graphs.VideoGraph` skeleton; :mod:`stgcn.data.boxes` stores
it in a SQLite index and serves it to readers as a :class:`stgcn.data.box_source.BoxSource`.

This module is the only place that knows the format's codes: :data:`CATEGORY` and
:data:`HAND_TRACK` (the graphs layer treats ``category`` and ``track`` as plain integers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from stgcn.graphs.video_graph import VideoGraph

CATEGORY: dict[str, int] = {"none": 0, "hand": 1, "object": 2}
"""Node category codes, as in Something-Else (a hand, an object, or unknown)."""

HAND_TRACK = -1
"""``track`` id of hand boxes; objects get their placeholder index 0, 1, 2, ..."""


def _box_of(label: Any, where: str) -> list[float]:
    if not isinstance(label, Mapping):
        raise ValueError(f"{where}: a label must be an object, got {type(label).__name__}")
    box2d = label.get("box2d")
    if not isinstance(box2d, Mapping):
        raise ValueError(f"{where}: missing or malformed 'box2d' (got {box2d!r})")
    coords = []
    for k in ("x1", "y1", "x2", "y2"):
        v = box2d.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: box2d['{k}'] must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{where}: box2d['{k}'] is not finite ({v!r})")
        coords.append(float(v))
    return coords


def _identity_of(label: Mapping[str, Any], where: str) -> tuple[int, int]:
    """(category code, track id) from ``standard_category`` ("hand" | "0000" | ...), else from
    ``gt_annotation`` ("object hand" | "object 0" | ...)."""
    std = label.get("standard_category")
    if std is None:
        gt = label.get("gt_annotation")
        if not isinstance(gt, str) or not gt.startswith("object "):
            raise ValueError(
                f'{where}: needs \'standard_category\' ("hand" or "0000", "0001", ...) or '
                f'\'gt_annotation\' ("object hand" or "object 0", ...), got neither'
            )
        std = gt[len("object ") :]
    if not isinstance(std, str):
        raise ValueError(f"{where}: 'standard_category' must be a string, got {std!r}")
    if std == "hand":
        return CATEGORY["hand"], HAND_TRACK
    if std.isdigit():
        return CATEGORY["object"], int(std)
    raise ValueError(f'{where}: unknown standard_category {std!r} (expected "hand" or digits)')


def from_something_else(
    frames_json_entry: Sequence[Mapping[str, Any]],
    video_id: str | None = None,
    frame_indices: Sequence[int] | Tensor | None = None,
) -> VideoGraph:
    """One video's Something-Else box annotations as a :class:`VideoGraph` skeleton (``x`` None).

    Args:
        frames_json_entry: the list stored under the video id in a Something-Else box file
            (``bounding_box_smthsmth_part*.json``). Each entry is
            ``{"name": "<id>/0001.jpg", "labels": [{"box2d": {"x1","y1","x2","y2"},
            "standard_category": "hand"|"0000"|..., "gt_annotation": "object hand"|"object 0"|...,
            "category": str}, ...], ...}``. **List position k is annotation frame k, 0-based**
            (the image ``<id>/{k+1:04d}.jpg``, i.e. frame k of the 12 fps video); the ``name`` is
            not parsed.
        video_id: stored as ``video_id``.
        frame_indices: optional ``[T]`` annotation-frame indices that make up a clip (what a
            sampler picked). Then node ``frame`` is the *clip* position ``t`` of its annotation
            frame ``frame_indices[t]`` (repeated indices repeat the boxes), and ``num_frames`` = T.
            Without it, every annotation frame is kept, ``frame`` = k and ``num_frames`` = the
            list length. An index outside ``0..len-1`` is an error.

    Returns:
        ``VideoGraph`` with ``box`` [N, 4] (original-frame pixels, geometry not checked here:
        ``stgcn.data`` clips, drops and counts degenerate boxes), ``frame`` [N], ``category`` [N]
        (hand 1 / object 2 of :data:`CATEGORY`), ``track`` [N] (object placeholder index,
        :data:`HAND_TRACK` = -1 for hands),
        ``num_frames``, ``video_id``.

    Raises:
        ValueError: naming the video, list position and label of any malformed entry.
    """
    prefix = (
        f"Something-Else video {video_id!r}" if video_id is not None else "Something-Else entry"
    )
    if isinstance(frames_json_entry, str | bytes | Mapping) or not isinstance(
        frames_json_entry, Sequence
    ):
        raise ValueError(
            f"{prefix}: expected a list of per-frame entries, got {type(frames_json_entry).__name__}"
        )
    boxes: list[list[float]] = []
    frames: list[int] = []
    cats: list[int] = []
    tracks: list[int] = []
    for k, entry in enumerate(frames_json_entry):
        where = f"{prefix}, frame entry {k}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
        labels = entry.get("labels")
        if not isinstance(labels, list):
            raise ValueError(f"{where}: missing or malformed 'labels' list (got {labels!r})")
        for m, label in enumerate(labels):
            lwhere = f"{where}, label {m}"
            boxes.append(_box_of(label, lwhere))
            cat, track = _identity_of(label, lwhere)
            cats.append(cat)
            tracks.append(track)
            frames.append(k)
    box = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    frame = torch.tensor(frames, dtype=torch.long)
    category = torch.tensor(cats, dtype=torch.long)
    track = torch.tensor(tracks, dtype=torch.long)
    num_frames = len(frames_json_entry)
    if frame_indices is not None:
        idx = torch.as_tensor(frame_indices).long().reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_frames):
            raise ValueError(
                f"{prefix}: frame_indices must lie in 0..{num_frames - 1} (the annotated frames), "
                f"got min {int(idx.min())}, max {int(idx.max())}"
            )
        # node n is taken once for every clip position t whose annotation frame is frame[n]
        hit = frame[None, :] == idx[:, None]  # [T, N]
        t, n = hit.nonzero(as_tuple=True)
        box, category, track, frame = box[n], category[n], track[n], t
        num_frames = idx.numel()
    return VideoGraph(
        box=box,
        frame=frame,
        category=category,
        track=track,
        video_id=video_id,
        num_frames=num_frames,
    )
