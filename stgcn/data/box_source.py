"""Where a video's boxes come from: one interface for annotation files, detectors and proposals.

A region graph's nodes are boxes. They can come from an annotation index (Something-Else's
ground truth, :class:`stgcn.data.boxes.BoxIndex`), from a detector or region-proposal network run
on the decoded frames, or from weight-free proposals (motion, selective search). Every such
source implements :class:`BoxSource`: given a video's id, its decoded clip frames and their
timestamps, it returns :class:`FrameBoxes`, the boxes of each clip frame in that frame's pixels.
Readers (``SomethingSomethingV2(boxes=...)``, ``video_to_graph``) take any ``BoxSource``.

Boxes are returned as found: a source does not drop inverted, zero-area or out-of-frame boxes;
the reader counts and handles them by its ``on_error`` policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
from torch import Tensor


class FrameBoxes(NamedTuple):
    """The boxes of one clip (N boxes over T clip frames), as numpy arrays.

    Attributes:
        frame: ``[N]`` int64 clip-frame index ``0..T-1`` of each box (position in the ``frames``
            the source was given, not the frame number in the file).
        box: ``[N, 4]`` float32 ``x1, y1, x2, y2`` in pixels of the given frames.
        score: ``[N]`` float32 confidence (1.0 for annotated boxes).
        category: ``[N]`` int64 codes >= 0 in the source's vocabulary (Something-Else:
            :data:`stgcn.data.something_else.CATEGORY`; a detector: its class indices).
        track: ``[N]`` int64 identity across frames (placeholder index for Something-Else,
            ``HAND_TRACK`` for hands, a tracker's id for detections, -1 when unknown).
        source_frame: optional ``[N]`` int64 frame of each box in the source's own numbering
            (the annotation frame of a Something-Else box), so that an error about a bad box
            can point into the source; None when it is the clip frame.
    """

    frame: np.ndarray
    box: np.ndarray
    score: np.ndarray
    category: np.ndarray
    track: np.ndarray
    source_frame: np.ndarray | None = None

    @classmethod
    def empty(cls) -> FrameBoxes:
        """No boxes (a frame or a clip with nothing detected is not an error)."""
        i = np.zeros(0, dtype=np.int64)
        return cls(i, np.zeros((0, 4), np.float32), np.zeros(0, np.float32), i.copy(), i.copy())

    @property
    def num_boxes(self) -> int:
        return int(self.box.shape[0])

    def select(self, index: np.ndarray) -> FrameBoxes:
        """The boxes at ``index`` (a boolean mask or integer indices over the N boxes), every
        field indexed alike (``source_frame`` stays None when it is None)."""
        return FrameBoxes(*(None if a is None else a[index] for a in self))

    @classmethod
    def concat(cls, parts: Sequence[FrameBoxes]) -> FrameBoxes:
        """The boxes of ``parts`` one after the other (``frame`` is not offset); ``source_frame``
        is kept only when every part has it."""
        if not parts:
            return cls.empty()
        fields = list(zip(*parts, strict=True))
        return cls(*(None if any(a is None for a in f) else np.concatenate(f) for f in fields))


@runtime_checkable
class BoxSource(Protocol):
    """Anything that gives a clip's boxes.

    ``boxes(video_id, frames, times)``:
        video_id: the video's id (file stem) in the dataset.
        frames: ``[T, H, W, 3]`` uint8 decoded clip frames (what was sampled, at the file's
            resolution, before any transform).
        times: ``[T]`` float64 presentation time of each frame, in seconds.

    Returns the clip's :class:`FrameBoxes`, or ``None`` when the source has no entry for this
    video at all (an annotation file that lacks it), which readers report as missing boxes; a
    source that ran and found nothing returns :meth:`FrameBoxes.empty`.
    """

    def boxes(self, video_id: str, frames: Tensor, times: np.ndarray) -> FrameBoxes | None: ...
