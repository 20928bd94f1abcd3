"""The proposal interface: decoded frames in, per-frame boxes out.

A :class:`Proposer` looks at a clip's frames and returns :class:`~stgcn.data.box_source.FrameBoxes`
(boxes in the given frames' pixels, a score, a category, and ``track = -1`` until a tracker links
them). :class:`ProposalSource` turns any proposer, with an optional tracker, into a
:class:`~stgcn.data.box_source.BoxSource`, so a dataset or ``video_to_graph`` can take boxes from a
detector as it takes them from an annotation file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor

from stgcn.data.box_source import FrameBoxes


@runtime_checkable
class Proposer(Protocol):
    """Boxes for each frame of a clip.

    ``proposer(frames)``: frames ``[T, H, W, 3]`` uint8 (RGB, as decoded) -> :class:`FrameBoxes`
    with ``frame`` in ``0..T-1`` and boxes in those frames' pixels. A frame with nothing found
    simply has no rows. ``name`` says which method made the boxes (it is written into outputs).
    """

    name: str

    def __call__(self, frames: Tensor) -> FrameBoxes: ...


class ProposalSource:
    """A :class:`Proposer` (plus an optional tracker) as a :class:`~stgcn.data.box_source.BoxSource`.

    Args:
        proposer: what finds the boxes.
        tracker: ``FrameBoxes -> FrameBoxes`` that fills ``track``; ``None`` leaves it at -1.
    """

    def __init__(
        self, proposer: Proposer, tracker: Callable[[FrameBoxes], FrameBoxes] | None = None
    ) -> None:
        self.proposer = proposer
        self.tracker = tracker

    def boxes(self, video_id: str, frames: Tensor, times: np.ndarray) -> FrameBoxes:
        found = self.proposer(frames)
        return self.tracker(found) if self.tracker is not None else found

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.proposer.name}, tracker={self.tracker is not None})"
