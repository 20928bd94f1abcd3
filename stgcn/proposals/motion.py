"""Motion boxes: connected regions of frame difference or optical-flow magnitude.

A weight-free :class:`~stgcn.proposals.Proposer` for videos where what matters moves (a hand
and the object it handles, the actors of Something-Something). For each frame ``t`` it builds a
motion magnitude map ``M_t`` at a reduced size, thresholds it at a few levels, closes small gaps,
and boxes every 8-connected region.

``source="diff"``: the three-frame difference (Kameda & Minoh 1996)
``M_t = min(|I_t - I_{t-1}|, |I_{t+1} - I_t|)`` of grey levels, which lights up where the object is
at ``t`` and not the trail it leaves (a two-frame difference covers the union of both
positions); the first and last frames use their one neighbour.

``source="flow"``: ``M_t = |F_t - median(F_t)|``, the magnitude of the dense optical flow from
frame ``t`` to ``t + 1`` (DIS, Kroeger et al. ECCV 2016, or Farneback 2003, from OpenCV; the last
frame uses the flow back to ``t - 1``) after subtracting the frame's median flow, which removes a
camera pan or jitter that moves the whole frame alike.

Regions are found at thresholds ``threshold * level`` for each of ``levels``: one low threshold
merges a hand and the object it holds into one blob, higher ones split them, so the levels give
boxes at several granularities; near-duplicates across levels are suppressed by NMS.

The grey conversion, resizing, differences, blur, thresholds and morphological closing run on
the whole clip at once as tensor ops; OpenCV does the per-frame parts that have no tensor form
(optical flow and connected components).

A region's score is ``m / (m + threshold)`` where ``m`` is its mean motion magnitude: unit-free, in
``(0, 1)``, at least 0.5 for a region found at the first level.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import batched_nms
from torchvision.transforms.functional import gaussian_blur

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY
from stgcn.proposals._common import import_cv2, shrunk_size

cv2 = import_cv2(__name__)

_GREY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY


def grey_clip(frames: Tensor, max_side: int | None) -> Tensor:
    """frames ``[T, H, W, 3]`` uint8 -> grey ``[T, 1, h, w]`` float in 0..255, area-shrunk so the
    longer side is at most ``max_side``."""
    grey = (frames.float() @ _GREY).unsqueeze(1)
    size = shrunk_size(frames.shape[1], frames.shape[2], max_side)
    if size is not None:
        grey = F.interpolate(grey, size=size, mode="area")
    return grey


CONTRAST = 48.0
"""Grey-level standard deviation every frame is brought to by :func:`match_brightness`."""


def match_brightness(grey: Tensor) -> Tensor:
    """Give every frame the same mean brightness (128) and contrast (:data:`CONTRAST`):
    ``(I_t - mu_t) / sigma_t * CONTRAST + 128``, so an exposure or gain change (the whole frame
    brighter) is not motion. Each frame on its own, so a clip cut in pieces gets the same values.
    grey ``[T, 1, h, w]`` -> same shape."""
    mu = grey.mean(dim=(1, 2, 3), keepdim=True)
    sigma = grey.std(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)  # a flat frame stays flat
    return (grey - mu) / sigma * CONTRAST + 128.0


def frame_difference(grey: Tensor) -> Tensor:
    """Three-frame difference: grey ``[T, 1, h, w]`` -> ``[T, 1, h, w]``
    ``min(|I_t - I_{t-1}|, |I_{t+1} - I_t|)`` (ends: their one difference; T = 1: zeros)."""
    if grey.shape[0] < 2:
        return torch.zeros_like(grey)
    d = (grey[1:] - grey[:-1]).abs()  # d[t] = |I_{t+1} - I_t|
    before = torch.cat([d[:1], d])  # |I_t - I_{t-1}|, frame 0 borrows |I_1 - I_0|
    after = torch.cat([d, d[-1:]])  # |I_{t+1} - I_t|, the last frame borrows its one difference
    return torch.minimum(before, after)


def camera_shifts(grey: Tensor) -> Tensor:
    """Global translation between consecutive frames by phase correlation (Kuglin & Hines 1975,
    ``cv2.phaseCorrelate`` with a Hann window): grey ``[T, 1, h, w]`` -> ``[T-1, 2]`` ``(dx, dy)``
    with ``I_{t+1}(p) ~ I_t(p - d_t)``."""
    images = grey[:, 0].numpy().astype(np.float64)
    h, w = images.shape[1:]
    window = cv2.createHanningWindow((w, h), cv2.CV_64F)
    shifts = [
        cv2.phaseCorrelate(images[t], images[t + 1], window)[0] for t in range(len(images) - 1)
    ]
    return torch.tensor(shifts, dtype=grey.dtype).reshape(-1, 2)


def shift_images(x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """``out_b(p) = x_b(p + d_b)`` by bilinear resampling: x ``[B, 1, h, w]``, d ``[B, 2]``
    ``(dx, dy)`` pixels -> the shifted images and ``[B, 1, h, w]`` masks of the pixels that came
    from inside the image."""
    b, _, h, w = x.shape
    theta = torch.zeros(b, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 2 * d[:, 0] / w  # normalised coordinates span 2 over the image
    theta[:, 1, 2] = 2 * d[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = F.grid_sample(torch.ones_like(x), grid, mode="bilinear", align_corners=False) > 0.999
    return out, inside


def stabilised_difference(grey: Tensor) -> Tensor:
    """The three-frame difference of :func:`frame_difference` after aligning each neighbour to
    frame ``t`` by the camera's translation (:func:`camera_shifts`): a shaking or panning camera
    no longer lights up every edge of the background. Pixels a shift brings in from outside the
    frame count as no motion. grey ``[T, 1, h, w]`` -> ``[T, 1, h, w]``."""
    if grey.shape[0] < 2:
        return torch.zeros_like(grey)
    d = camera_shifts(grey)  # I_{t+1}(p) ~ I_t(p - d_t)
    nxt, nxt_ok = shift_images(grey[1:], d)  # I_{t+1}(p + d_t) ~ I_t(p)
    prv, prv_ok = shift_images(grey[:-1], -d)  # I_t(p - d_t) ~ I_{t+1}(p)
    after = (grey[:-1] - nxt).abs() * nxt_ok  # for frames 0..T-2
    before = (grey[1:] - prv).abs() * prv_ok  # for frames 1..T-1
    before = torch.cat([after[:1], before])  # frame 0 borrows its one difference
    after = torch.cat([after, before[-1:]])  # so does the last frame
    return torch.minimum(before, after)


def flow_magnitude(grey: Tensor, method: Literal["dis", "farneback"] = "dis") -> Tensor:
    """Camera-compensated optical-flow magnitude: grey ``[T, 1, h, w]`` -> ``[T, 1, h, w]``
    ``|F_t - median(F_t)|`` in pixels (of the given size), ``F_t`` the flow ``t -> t + 1``
    (``t -> t - 1`` for the last frame; T = 1: zeros)."""
    t_len = grey.shape[0]
    if t_len < 2:
        return torch.zeros_like(grey)
    images = grey[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    if method not in ("dis", "farneback"):
        raise ValueError(f"flow_magnitude: method must be 'dis' or 'farneback', got {method!r}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if method == "dis" else None

    def flow_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if dis is not None:
            return dis.calc(a, b, None)
        # pyramid scale 0.5, 3 levels, 7 px window (less smoothing across borders than 15),
        # 3 iterations, polynomial of 5 px with sigma 1.2
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 7, 3, 5, 1.2, 0)

    pairs = [(t, t + 1) for t in range(t_len - 1)] + [(t_len - 1, t_len - 2)]
    flow = torch.from_numpy(np.stack([flow_of(images[a], images[b]) for a, b in pairs]))
    flow = flow - flow.flatten(1, 2).median(dim=1).values[:, None, None, :]  # [T, h, w, 2]
    return flow.norm(dim=-1).unsqueeze(1)


def close_masks(mask: Tensor, size: int) -> Tensor:
    """Morphological closing (dilate, then erode) of boolean masks ``[B, 1, h, w]`` with a
    ``size`` x ``size`` square, as max-pools; ``size`` < 2 returns the masks unchanged."""
    if size < 2:
        return mask
    pad = (size // 2, size - 1 - size // 2, size // 2, size - 1 - size // 2)
    x = mask.float()
    x = F.max_pool2d(F.pad(x, pad, value=0.0), size, stride=1)
    x = -F.max_pool2d(F.pad(-x, pad, value=-1.0), size, stride=1)
    return x > 0.5


class MotionBoxes:
    """Boxes of moving regions, see the module docstring.

    Args:
        source: ``"diff"`` (three-frame grey difference) or ``"flow"`` (optical flow).
        flow: ``"dis"`` or ``"farneback"`` when ``source="flow"``.
        threshold: motion magnitude of the first level: grey levels (0..255) for ``diff``,
            pixels of the reduced frame for ``flow``. None: 8 grey levels or 0.6 px (the
            difference's chosen on 10 videos of the synthetic set's train split).
        levels: the thresholds are ``threshold * level`` for each level.
        top_k: boxes kept per frame, highest score first; None keeps all.
        max_side: motion is computed on frames shrunk so the longer side is at most this.
        min_area: regions smaller than this fraction of the frame are dropped (noise, and
            compression artefacts in the difference).
        blur_sigma: Gaussian blur of the magnitude map, in reduced pixels (0: none).
        close: side of the square that closes gaps inside a region, in reduced pixels.
        nms_iou: boxes of different levels overlapping more than this are one box.
        stabilise: for ``diff``, align the neighbours to each frame by the camera's translation
            first (:func:`stabilised_difference`). It removes a camera pan (tested), but on the
            synthetic set, whose camera jitters by whole pixels, its sub-pixel estimates leave
            edges behind and halve the recall, so it is off by default.
        normalise: bring every frame to one brightness and contrast first
            (:func:`match_brightness`); ``threshold`` is then in grey levels of a frame of
            contrast :data:`CONTRAST`.

    ``proposer(frames)``: frames ``[T, H, W, 3]`` uint8 RGB -> :class:`FrameBoxes` in the frames'
    pixels, ``category`` ``CATEGORY["none"]``, ``track`` -1. A frame without motion has no box;
    a clip of one frame has none. Frame ``t``'s boxes depend on frames ``t - 1`` and ``t + 1``
    (``context = 1``): a caller that cuts a long video into pieces gives each piece one frame
    of overlap on each side and drops the boxes of those frames.
    """

    name = "motion"
    context = 1

    def __init__(
        self,
        *,
        source: Literal["diff", "flow"] = "diff",
        flow: Literal["dis", "farneback"] = "dis",
        threshold: float | None = None,
        levels: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0),
        top_k: int | None = 50,
        max_side: int | None = 160,
        min_area: float = 0.002,
        blur_sigma: float = 1.0,
        close: int = 3,
        nms_iou: float = 0.8,
        stabilise: bool = False,
        normalise: bool = True,
    ) -> None:
        if source not in ("diff", "flow"):
            raise ValueError(f"MotionBoxes: source must be 'diff' or 'flow', got {source!r}")
        if flow not in ("dis", "farneback"):
            raise ValueError(f"MotionBoxes: flow must be 'dis' or 'farneback', got {flow!r}")
        if not levels or min(levels) <= 0:
            raise ValueError(f"MotionBoxes: levels must be positive numbers, got {levels!r}")
        self.source, self.flow = source, flow
        self.threshold = threshold if threshold is not None else (8.0 if source == "diff" else 0.6)
        self.levels, self.top_k, self.max_side = tuple(levels), top_k, max_side
        self.min_area, self.blur_sigma, self.close, self.nms_iou = (
            min_area,
            blur_sigma,
            close,
            nms_iou,
        )
        self.stabilise, self.normalise = stabilise, normalise
        self.name = "motion" if source == "diff" else f"motion_{flow}"

    def magnitude(self, frames: Tensor) -> Tensor:
        """frames ``[T, H, W, 3]`` uint8 -> motion magnitude ``[T, 1, h, w]`` (reduced size)."""
        grey = grey_clip(frames, self.max_side)
        if self.normalise:
            grey = match_brightness(grey)
        if self.source == "flow":
            m = flow_magnitude(grey, self.flow)
        elif self.stabilise:
            m = stabilised_difference(grey)
        else:
            m = frame_difference(grey)
        if self.blur_sigma > 0:
            k = 2 * int(np.ceil(2 * self.blur_sigma)) + 1
            m = gaussian_blur(m, [k, k], [self.blur_sigma, self.blur_sigma])
        return m

    def __call__(self, frames: Tensor) -> FrameBoxes:
        """frames ``[T, H, W, 3]`` uint8 -> :class:`FrameBoxes` of all T frames."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"MotionBoxes: frames must be [T, H, W, 3] uint8, got "
                f"{tuple(frames.shape)} {frames.dtype}"
            )
        t_len, height, width = frames.shape[:3]
        if t_len == 0:
            return FrameBoxes.empty()
        m = self.magnitude(frames)  # [T, 1, h, w]
        h, w = m.shape[-2:]
        thresholds = torch.tensor(self.levels, dtype=m.dtype) * self.threshold  # [L]
        masks = close_masks(
            (m[None] > thresholds[:, None, None, None, None]).flatten(0, 1), self.close
        )
        masks_np = masks[:, 0].numpy().astype(np.uint8)  # [L*T, h, w], level-major
        mag = m[:, 0].numpy().astype(np.float64)  # [T, h, w]
        min_pixels = self.min_area * h * w
        boxes, frame_of, scores = [], [], []
        for i, mask in enumerate(masks_np):
            t = i % t_len
            n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            if n <= 1:
                continue
            area = stats[1:, cv2.CC_STAT_AREA]
            total = np.bincount(labels.ravel(), weights=mag[t].ravel(), minlength=n)[1:]
            keep = area >= min_pixels
            x, y = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
            bw, bh = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
            boxes.append(np.stack([x, y, x + bw, y + bh], axis=1)[keep])
            mean = total[keep] / area[keep]
            scores.append(mean / (mean + self.threshold))
            frame_of.append(np.full(int(keep.sum()), t, dtype=np.int64))
        if not boxes or sum(len(b) for b in boxes) == 0:
            return FrameBoxes.empty()
        box = torch.from_numpy(np.concatenate(boxes).astype(np.float32))
        box *= torch.tensor([width / w, height / h, width / w, height / h])
        score = torch.from_numpy(np.concatenate(scores).astype(np.float32))
        frame = torch.from_numpy(np.concatenate(frame_of))
        keep = batched_nms(box, score, frame, self.nms_iou)  # by score within each frame
        keep = keep[torch.argsort(frame[keep], stable=True)]  # frame-major, score order within
        box, score, frame = box[keep], score[keep], frame[keep]
        if self.top_k is not None:
            first = torch.searchsorted(frame, frame, side="left")  # first row of each frame
            rank = torch.arange(len(frame)) - first
            ok = rank < self.top_k
            box, score, frame = box[ok], score[ok], frame[ok]
        n = len(frame)
        return FrameBoxes(
            frame=frame.numpy().astype(np.int64),
            box=box.numpy(),
            score=score.numpy(),
            category=np.full(n, CATEGORY["none"], dtype=np.int64),
            track=np.full(n, -1, dtype=np.int64),
        )

    def __repr__(self) -> str:
        flow = f", flow={self.flow!r}" if self.source == "flow" else ""
        return (
            f"MotionBoxes(source={self.source!r}{flow}, threshold={self.threshold}, "
            f"levels={self.levels}, top_k={self.top_k}, max_side={self.max_side})"
        )
