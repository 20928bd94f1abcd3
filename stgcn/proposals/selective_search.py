"""Selective search (Uijlings et al., IJCV 2013) as a weight-free :class:`~stgcn.proposals.Proposer`.

OpenCV's implementation (``cv2.ximgproc.segmentation``, from ``opencv-contrib-python-headless``)
over-segments each frame with Felzenszwalb's graph segmentation in several colour spaces and
thresholds ``k``, then greedily merges neighbouring regions by colour, texture, size and fill
similarity; every region of every merge hierarchy is a proposal. ``fast`` uses 2 colour spaces x 3
``k`` x 2 strategies, ``quality`` 5 x 5 x 4 (about 3-4 times more boxes and time).

OpenCV orders the boxes by the paper's pseudo-random rank ``rand() * level`` (small regions of low
hierarchy levels first, shuffled), drawn from the C library's ``rand()``. We seed that generator
before each frame (``srand(seed)`` through ``ctypes``), so the same frame always gives the same
ranked list; where the C library cannot be reached (no ``srand`` symbol) the order is still a
valid ranking but not reproducible across runs, and a warning says so.

The score of a box is its rank ``1 - r / n`` (1 for the first of ``n`` boxes): an order, not a
confidence. Boxes come back in the given frames' pixels whatever ``max_side`` the search ran at.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import nms

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY
from stgcn.proposals._common import import_cv2, shrunk_size

cv2 = import_cv2(__name__, contrib=True)


def _c_srand() -> Callable[[int], object] | None:
    """``srand`` of the C library OpenCV's ``rand()`` draws from (None where not reachable)."""
    try:
        return ctypes.CDLL(None).srand
    except (OSError, AttributeError, TypeError):
        return None


_SRAND = _c_srand()


def resize_to_max_side(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Shrink ``image`` ``[H, W, C]`` (area interpolation) so its longer side is ``max_side``.

    Returns the image and the factor ``s`` by which its coordinates must be multiplied to reach
    the original pixels (1.0 when the image was already small enough or ``max_side`` is None).
    """
    h, w = image.shape[:2]
    size = shrunk_size(h, w, max_side)
    if size is None:
        return image, 1.0
    small = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)  # cv2 takes (w, h)
    return small, max(h, w) / max(small.shape[:2])


def clip_boxes(box: np.ndarray, height: int, width: int, min_side: float) -> np.ndarray:
    """Clip ``box`` ``[N, 4]`` (x1, y1, x2, y2) to the frame; return the mask ``[N]`` of boxes
    whose sides are both at least ``min_side`` pixels after clipping (done in place)."""
    np.clip(box[:, 0::2], 0, width, out=box[:, 0::2])
    np.clip(box[:, 1::2], 0, height, out=box[:, 1::2])
    return ((box[:, 2] - box[:, 0]) >= min_side) & ((box[:, 3] - box[:, 1]) >= min_side)


class SelectiveSearch:
    """Selective search proposals for every frame.

    Args:
        mode: ``"fast"`` or ``"quality"`` (OpenCV's two presets, see the module docstring).
        top_k: boxes kept per frame, best ranked first (after ``nms_iou``); None keeps all.
        max_side: the search runs on the frame shrunk so that its longer side is at most this
            many pixels (its cost grows faster than the pixel count: a 1280x720 frame takes
            tens of seconds, the same frame at 320 px about 0.2 s); None = full size.
        min_side: boxes with a side shorter than this, in original pixels, are dropped.
        nms_iou: non-maximum suppression over the rank score at this IoU (near-duplicates of a
            better-ranked box go, so ``top_k`` spans more objects); None disables it.
        seed: seed of the C ``rand()`` that OpenCV ranks boxes with.
        base_k, inc_k, sigma: Felzenszwalb segmentation parameters, OpenCV's defaults.

    ``proposer(frames)``: frames ``[T, H, W, 3]`` uint8 RGB -> :class:`FrameBoxes` with boxes in
    ``[0, W] x [0, H]``, ``score`` the rank score, ``category`` ``CATEGORY["none"]``, ``track``
    -1.
    """

    name = "selective_search"

    def __init__(
        self,
        *,
        mode: Literal["fast", "quality"] = "fast",
        top_k: int | None = 50,
        max_side: int | None = 320,
        min_side: float = 4.0,
        nms_iou: float | None = 0.7,
        seed: int = 0,
        base_k: int = 150,
        inc_k: int = 150,
        sigma: float = 0.8,
    ) -> None:
        if mode not in ("fast", "quality"):
            raise ValueError(f"SelectiveSearch: mode must be 'fast' or 'quality', got {mode!r}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"SelectiveSearch: top_k must be >= 1 or None, got {top_k}")
        self.mode, self.top_k, self.max_side = mode, top_k, max_side
        self.min_side, self.nms_iou, self.seed = min_side, nms_iou, seed
        self.base_k, self.inc_k, self.sigma = base_k, inc_k, sigma
        if _SRAND is None:
            warnings.warn(
                "SelectiveSearch: the C library's srand is not reachable, so OpenCV's box order "
                "(and the top-k) can differ between runs",
                RuntimeWarning,
                stacklevel=2,
            )

    def frame_boxes(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ``[H, W, 3]`` uint8 RGB -> boxes ``[K, 4]`` float32 and rank scores ``[K]``."""
        h, w = frame.shape[:2]
        small, s = resize_to_max_side(np.ascontiguousarray(frame[..., ::-1]), self.max_side)
        search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        search.setBaseImage(small)
        if self.mode == "fast":
            search.switchToSelectiveSearchFast(self.base_k, self.inc_k, self.sigma)
        else:
            search.switchToSelectiveSearchQuality(self.base_k, self.inc_k, self.sigma)
        if _SRAND is not None:
            _SRAND(self.seed)
        rects = np.asarray(search.process(), dtype=np.float32).reshape(-1, 4)  # x, y, w, h
        n = len(rects)
        box = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) * s
        score = 1.0 - np.arange(n, dtype=np.float32) / max(n, 1)
        keep = clip_boxes(box, h, w, self.min_side)
        box, score = box[keep], score[keep]
        if self.nms_iou is not None and len(box):
            order = nms(torch.from_numpy(box), torch.from_numpy(score), self.nms_iou).numpy()
            box, score = box[order], score[order]
        if self.top_k is not None:
            box, score = box[: self.top_k], score[: self.top_k]
        return box.astype(np.float32), score.astype(np.float32)

    def __call__(self, frames: Tensor) -> FrameBoxes:
        """frames ``[T, H, W, 3]`` uint8 -> :class:`FrameBoxes` of all T frames."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"SelectiveSearch: frames must be [T, H, W, 3] uint8, got "
                f"{tuple(frames.shape)} {frames.dtype}"
            )
        per_frame = [self.frame_boxes(f) for f in frames.numpy()]
        if not per_frame:
            return FrameBoxes.empty()
        counts = np.array([len(b) for b, _ in per_frame], dtype=np.int64)
        n = int(counts.sum())
        return FrameBoxes(
            frame=np.repeat(np.arange(len(per_frame), dtype=np.int64), counts),
            box=np.concatenate([b for b, _ in per_frame]).reshape(-1, 4),
            score=np.concatenate([s for _, s in per_frame]),
            category=np.full(n, CATEGORY["none"], dtype=np.int64),
            track=np.full(n, -1, dtype=np.int64),
        )

    def __repr__(self) -> str:
        return (
            f"SelectiveSearch(mode={self.mode!r}, top_k={self.top_k}, max_side={self.max_side}, "
            f"nms_iou={self.nms_iou})"
        )
