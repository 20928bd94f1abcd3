"""Clip transforms that carry the boxes along with the frames.

A :class:`ClipBoxes` holds the frames ``[T, 3, H, W]`` of one clip and the boxes ``[N, 4]``
(``x1, y1, x2, y2`` in pixels of those frames, continuous coordinates: pixel ``i`` covers
``[i, i + 1)``). Every transform maps both at once, on the whole clip (``interpolate`` over the
``T`` frames as a batch, slicing for crops), so a box keeps covering the same content. After a crop
the boxes are clipped to it; boxes whose width or height falls under ``min_size`` pixels are
dropped and counted in ``ClipBoxes.dropped``, and ``ClipBoxes.keep`` says which of the input boxes
are left, so callers can take their frame indices and categories along.

The frame and box operations are torchvision's ``transforms.v2`` kernels for ``tv_tensors.Video``
and ``tv_tensors.BoundingBoxes`` (resize, crop, clamp, sanitize, flip, normalize), called on the
plain tensors directly (what v2's dispatcher would call for those types, without its per-call
wrapping); what they return is bit for bit what the hand-written versions this module had before
returned (``tests/data/test_transforms.py`` checks it against the formulas). The random parameters (scale,
crop position, flip) are drawn here from the explicit ``np.random.Generator`` the dataset derives
per sample, not by v2's random transforms, which draw from torch's global generator: a sample's
augmentation must depend on (seed, epoch, index) alone for an exact mid-epoch resume.
:class:`MultiScaleCrop` (TSN), :class:`UniformCrop` (PySlowFast's 3-crop) and the left/right-aware
:class:`HorizontalFlip` have no v2 counterpart. ``ClipBoxes`` holds plain tensors (a tv_tensor
subclass would travel into the graph and the cache); :meth:`ClipBoxes.to_tv_tensors` gives the
``(Video, BoundingBoxes)`` pair for any other v2 transform.

A clip may carry its optical flow (``ClipBoxes.flow``, ``[T, C, H, W]`` with ``C = 2L``: x, y of
L stacked flows, in pixels of the frames); every transform moves it with the frames, on the same
random draw: a resize scales its x and y by the factors of the width and height (the flow stays in
pixels of the output), a crop cuts the same window, a horizontal flip mirrors it and negates every
x, and :class:`Normalize` divides it by the storage bound (20 px -> 1), as mmaction2's
``(q - 128) / 128`` does with uint8 flow.

Horizontal flip is off by default: Something-Something labels say left and right
("Pushing something from left to right"), so a flip must swap those labels
(:func:`flip_label_map`), and a clip whose template says left or right without a mirrored partner
is not flipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ClipBoxes:
    """One clip and its boxes.

    Attributes:
        frames: ``[T, 3, H, W]`` uint8 or float (0..255 until :class:`Normalize`).
        box: ``[N, 4]`` float ``x1, y1, x2, y2`` in pixels of ``frames``.
        keep: ``[N]`` long, the index of each remaining box in the original box list.
        label: class index, or -1 when unknown (test split).
        dropped: number of boxes dropped so far because they became degenerate.
        flow: ``[T, 2L, H, W]`` float optical flow (channels ``x_1, y_1, ..., x_L, y_L`` in
            pixels of ``frames``), or None.
    """

    frames: Tensor
    box: Tensor
    keep: Tensor
    label: int = -1
    dropped: int = 0
    flow: Tensor | None = None

    @classmethod
    def from_frames(
        cls,
        frames: Tensor,
        box: Tensor | None = None,
        label: int = -1,
        flow: Tensor | None = None,
    ) -> ClipBoxes:
        """Wrap decoded frames ``[T, H, W, 3]`` uint8 (channels last, as decoded), boxes
        ``[N, 4]`` and optionally the flow ``[T, 2L, H, W]`` of the same frames."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames [T, H, W, 3], got {tuple(frames.shape)}")
        if flow is not None and (
            flow.ndim != 4
            or flow.shape[1] % 2
            or flow.shape[0] != frames.shape[0]
            or flow.shape[2:] != frames.shape[1:3]
        ):
            raise ValueError(
                f"expected flow [T, 2L, H, W] = [{frames.shape[0]}, 2L, {frames.shape[1]}, "
                f"{frames.shape[2]}] for frames {tuple(frames.shape)}, got {tuple(flow.shape)}"
            )
        box = torch.zeros(0, 4) if box is None else box.to(torch.float32).reshape(-1, 4)
        keep = torch.arange(box.shape[0])
        return cls(frames.permute(0, 3, 1, 2), box, keep, label, flow=flow)

    @property
    def height(self) -> int:
        return self.frames.shape[-2]

    @property
    def width(self) -> int:
        return self.frames.shape[-1]

    def to_tv_tensors(self) -> tuple[tv_tensors.Video, tv_tensors.BoundingBoxes]:
        """The frames ``[T, 3, H, W]`` as a ``tv_tensors.Video`` and the boxes ``[N, 4]`` as
        ``tv_tensors.BoundingBoxes`` (XYXY, canvas ``H x W``), sharing memory with this clip."""
        return tv_tensors.Video(self.frames), _boxes(self)


_XYXY = tv_tensors.BoundingBoxFormat.XYXY


def _boxes(x: ClipBoxes) -> tv_tensors.BoundingBoxes:
    return tv_tensors.BoundingBoxes(x.box, format="XYXY", canvas_size=(x.height, x.width))


def _plain(t: Tensor) -> Tensor:
    """A tv_tensor back to a plain tensor (no copy)."""
    return t.as_subclass(Tensor)


def _check_min_size(min_size: float) -> None:
    # v2's sanitize_bounding_boxes also drops boxes under min_area (1 px^2 by default, a keyword
    # only recent torchvision has), which width and height of at least 1 px imply
    if not min_size >= 1:
        raise ValueError(f"min_size must be at least 1 pixel, got {min_size}")


Transform = Callable[[ClipBoxes, np.random.Generator], ClipBoxes]


def resize(x: ClipBoxes, height: int, width: int) -> ClipBoxes:
    """Resize every frame to ``height x width`` (bilinear, antialiased) and scale the boxes.

    Returns frames ``[T, 3, height, width]`` float32 in the input's value range.
    """
    if (height, width) == (x.height, x.width):
        return x
    size = [height, width]
    # float first: v2 resizes uint8 frames with its own kernel and rounds them back to integers
    frames = TF.resize_video(x.frames.float(), size, antialias=True)
    box, _ = TF.resize_bounding_boxes(x.box, canvas_size=(x.height, x.width), size=size)
    flow = x.flow
    if flow is not None:
        # displacements scale with the image: x by the width's factor, y by the height's
        scale = torch.tensor([width / x.width, height / x.height]).repeat(flow.shape[1] // 2)
        flow = TF.resize_video(flow.float(), size, antialias=True) * scale.view(1, -1, 1, 1)
    return replace(x, frames=frames, box=box, flow=flow)


def crop(
    x: ClipBoxes, top: int, left: int, height: int, width: int, min_size: float = 1.0
) -> ClipBoxes:
    """Crop ``[top, top + height) x [left, left + width)`` from every frame; boxes are shifted,
    clipped to the crop, and dropped (counted) when narrower or lower than ``min_size`` pixels."""
    _check_min_size(min_size)
    if not (0 <= top and top + height <= x.height and 0 <= left and left + width <= x.width):
        raise ValueError(
            f"crop {height}x{width} at ({top}, {left}) outside a {x.height}x{x.width} frame"
        )
    frames = TF.crop_video(x.frames, top, left, height, width)
    box, _ = TF.crop_bounding_boxes(x.box, _XYXY, top, left, height, width)  # shifted, clamped
    flow = x.flow if x.flow is None else TF.crop_video(x.flow, top, left, height, width)
    return _sanitize(replace(x, frames=frames, box=box, flow=flow), min_size)


def _sanitize(x: ClipBoxes, min_size: float) -> ClipBoxes:
    """``x`` less the boxes under ``min_size`` pixels wide or high, counted in ``dropped``."""
    box, ok = TF.sanitize_bounding_boxes(
        x.box, format=_XYXY, canvas_size=(x.height, x.width), min_size=min_size
    )
    return replace(x, box=box, keep=x.keep[ok], dropped=x.dropped + int((~ok).sum()))


def hflip(x: ClipBoxes) -> ClipBoxes:
    """Mirror every frame left-right; ``x1' = W - x2``, ``x2' = W - x1``; the flow is mirrored
    and its x components negated (what moved right now moves left)."""
    box = TF.horizontal_flip_bounding_boxes(x.box, _XYXY, canvas_size=(x.height, x.width))
    flow = x.flow
    if flow is not None:
        sign = torch.tensor([-1.0, 1.0]).repeat(flow.shape[1] // 2).view(1, -1, 1, 1)
        flow = TF.horizontal_flip_video(flow) * sign
    return replace(x, frames=TF.horizontal_flip_video(x.frames), box=box, flow=flow)


def _short_side(height: int, width: int, size: int) -> tuple[int, int]:
    if height <= width:
        return size, max(1, round(width * size / height))
    return max(1, round(height * size / width)), size


class ShortSideScale:
    """Scale so the short side is ``size`` (a random integer in ``[size, max_size]`` if given:
    PySlowFast's scale jitter)."""

    def __init__(self, size: int, max_size: int | None = None) -> None:
        self.size, self.max_size = size, max_size

    def __call__(self, x: ClipBoxes, rng: np.random.Generator) -> ClipBoxes:
        size = (
            self.size if self.max_size is None else int(rng.integers(self.size, self.max_size + 1))
        )
        return resize(x, *_short_side(x.height, x.width, size))

    def __repr__(self) -> str:
        return f"ShortSideScale({self.size}, max_size={self.max_size})"


class RandomCrop:
    """Crop ``size x size`` at a random position."""

    def __init__(self, size: int, min_size: float = 1.0) -> None:
        _check_min_size(min_size)
        self.size, self.min_size = size, min_size

    def __call__(self, x: ClipBoxes, rng: np.random.Generator) -> ClipBoxes:
        s = self.size
        top = int(rng.integers(x.height - s + 1))
        left = int(rng.integers(x.width - s + 1))
        return crop(x, top, left, s, s, self.min_size)

    def __repr__(self) -> str:
        return f"RandomCrop({self.size})"


class UniformCrop:
    """Crop ``size x size`` at position ``index`` of ``num_crops`` along the long side
    (PySlowFast's ``uniform_crop``: with 3 crops, 0 = left/top, 1 = centre, 2 = right/bottom).
    ``UniformCrop(size)`` is the centre crop."""

    def __init__(
        self, size: int, index: int = 1, num_crops: int = 3, min_size: float = 1.0
    ) -> None:
        if not 0 <= index < num_crops:
            raise ValueError(f"crop index must be in [0, {num_crops}), got {index}")
        _check_min_size(min_size)
        self.size, self.index, self.num_crops, self.min_size = size, index, num_crops, min_size

    def __call__(self, x: ClipBoxes, rng: np.random.Generator | None = None) -> ClipBoxes:
        s = self.size
        top, left = (x.height - s) // 2, (x.width - s) // 2
        frac = 0.5 if self.num_crops == 1 else self.index / (self.num_crops - 1)
        if x.height > x.width:
            top = round((x.height - s) * frac)
        else:
            left = round((x.width - s) * frac)
        return crop(x, top, left, s, s, self.min_size)

    def __repr__(self) -> str:
        return f"UniformCrop({self.size}, index={self.index}, num_crops={self.num_crops})"


class MultiScaleCrop:
    """TSN's multi-scale crop: crop width and height are each ``short_side * scale`` for scales
    at most ``max_distort`` steps apart, at a random position, then resized to ``size x size``."""

    def __init__(
        self,
        size: int,
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        max_distort: int = 1,
        min_size: float = 1.0,
    ) -> None:
        _check_min_size(min_size)
        self.size, self.scales, self.max_distort, self.min_size = (
            size,
            tuple(scales),
            max_distort,
            min_size,
        )
        self.pairs = [
            (i, j)
            for i in range(len(self.scales))
            for j in range(len(self.scales))
            if abs(i - j) <= max_distort
        ]

    def __call__(self, x: ClipBoxes, rng: np.random.Generator) -> ClipBoxes:
        base = min(x.height, x.width)
        i, j = self.pairs[int(rng.integers(len(self.pairs)))]
        w = max(1, int(base * self.scales[i]))
        h = max(1, int(base * self.scales[j]))
        top = int(rng.integers(x.height - h + 1))
        left = int(rng.integers(x.width - w + 1))
        x = resize(crop(x, top, left, h, w, self.min_size), self.size, self.size)
        # scaling can put an edge a rounding error past the frame: clamp before the size test
        box = _plain(TF.clamp_bounding_boxes(_boxes(x)))
        return _sanitize(replace(x, box=box), self.min_size)

    def __repr__(self) -> str:
        return f"MultiScaleCrop({self.size}, scales={self.scales}, max_distort={self.max_distort})"


_LEFT_RIGHT = re.compile(r"\b(left|right)\b")


def flip_label_map(labels: Mapping[str, int]) -> dict[int, int | None]:
    """For templates that say left or right: the label of the mirrored template, or None when the
    labels have no mirrored partner (such a clip must not be flipped). Templates without left/right
    are absent (a flip keeps their label)."""
    out: dict[int, int | None] = {}
    for template, label in labels.items():
        mirrored = _LEFT_RIGHT.sub(lambda m: "right" if m.group(1) == "left" else "left", template)
        if mirrored != template:
            out[label] = labels.get(mirrored)
    return out


class HorizontalFlip:
    """Flip with probability ``p``, swapping left/right labels through ``label_map``
    (from :func:`flip_label_map`). A clip whose label maps to None is left unflipped."""

    def __init__(self, label_map: Mapping[int, int | None], p: float = 0.5) -> None:
        self.label_map, self.p = dict(label_map), p

    def __call__(self, x: ClipBoxes, rng: np.random.Generator) -> ClipBoxes:
        if rng.random() >= self.p:
            return x
        label = self.label_map.get(x.label, x.label)
        if label is None:
            return x
        return replace(hflip(x), label=label)

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p}, {len(self.label_map)} left/right labels)"


class Normalize:
    """Scale to [0, 1], subtract ``mean`` and divide by ``std`` per channel (ImageNet by default).
    Frames stay ``[T, 3, H, W]`` float32; :func:`to_clip` gives the ``[3, T, H, W]`` model input.
    The flow, if any, is divided by ``flow_bound`` (the storage bound: 20 px -> 1)."""

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        flow_bound: float = 20.0,
    ) -> None:
        # in 0..255 units: the frames are not divided by 255 first (one pass over them less)
        self.mean = (torch.tensor(mean) * 255).tolist()
        self.std = (torch.tensor(std) * 255).tolist()
        self.flow_bound = flow_bound

    def __call__(self, x: ClipBoxes, rng: np.random.Generator | None = None) -> ClipBoxes:
        flow = x.flow if x.flow is None else x.flow.float() / self.flow_bound
        return replace(
            x, frames=TF.normalize_video(x.frames.float(), self.mean, self.std), flow=flow
        )

    def __repr__(self) -> str:
        return "Normalize()"


class Compose:
    """Apply transforms in order, passing the same ``rng`` to each."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: ClipBoxes, rng: np.random.Generator) -> ClipBoxes:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


def to_clip(x: ClipBoxes) -> Tensor:
    """The model input ``[3, T, H, W]`` from frames ``[T, 3, H, W]``."""
    return x.frames.permute(1, 0, 2, 3).contiguous()


def to_flow_clip(x: ClipBoxes) -> Tensor:
    """The flow model input ``[2L, T, H, W]`` from the flow ``[T, 2L, H, W]``."""
    if x.flow is None:
        raise ValueError("this clip carries no flow")
    return x.flow.permute(1, 0, 2, 3).contiguous()


def train_transform(
    size: int = 112,
    crop: str = "random",
    scale: tuple[int, int] | None = None,
    flip_labels: Mapping[int, int | None] | None = None,
    min_size: float = 1.0,
) -> Compose:
    """Training pipeline.

    ``crop="random"``: short side to a random size in ``scale`` (default ``[8/7, 10/7] * size``,
    PySlowFast's 256-320 for 224), random ``size x size`` crop. ``crop="multiscale"``: short side to
    ``8/7 * size``, TSN multi-scale crop. Then an optional left/right-aware flip (when
    ``flip_labels`` is given) and normalisation.
    """
    lo, hi = scale or (round(size * 8 / 7), round(size * 10 / 7))
    if crop == "random":
        ops: list[Transform] = [ShortSideScale(lo, hi), RandomCrop(size, min_size)]
    elif crop == "multiscale":
        ops = [ShortSideScale(lo), MultiScaleCrop(size, min_size=min_size)]
    else:
        raise ValueError(f"unknown crop {crop!r}; expected 'random' or 'multiscale'")
    if flip_labels is not None:
        ops.append(HorizontalFlip(flip_labels))
    return Compose([*ops, Normalize()])


def eval_transform(
    size: int = 112, crop_index: int = 1, num_crops: int = 1, min_size: float = 1.0
) -> Compose:
    """Testing pipeline: short side to ``size``, crop ``crop_index`` of ``num_crops``
    (1 = centre crop, 3 = left/centre/right), normalisation."""
    index = crop_index if num_crops > 1 else 0
    return Compose(
        [ShortSideScale(size), UniformCrop(size, index, num_crops, min_size), Normalize()]
    )
