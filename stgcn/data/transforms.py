"""Clip transforms that carry the boxes along with the frames.

A :class:`ClipBoxes` holds the frames ``[T, 3, H, W]`` of one clip and the boxes ``[N, 4]``
(``x1, y1, x2, y2`` in pixels of those frames, continuous coordinates: pixel ``i`` covers
``[i, i + 1)``). Every transform maps both at once, on the whole clip (``interpolate`` over the
``T`` frames as a batch, slicing for crops), so a box keeps covering the same content. After a crop
the boxes are clipped to it; boxes whose width or height falls under ``min_size`` pixels are
dropped and counted in ``ClipBoxes.dropped``, and ``ClipBoxes.keep`` says which of the input boxes
are left, so callers can take their frame indices and categories along.

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
import torch.nn.functional as F
from torch import Tensor

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
    """

    frames: Tensor
    box: Tensor
    keep: Tensor
    label: int = -1
    dropped: int = 0

    @classmethod
    def from_frames(cls, frames: Tensor, box: Tensor | None = None, label: int = -1) -> ClipBoxes:
        """Wrap decoded frames ``[T, H, W, 3]`` uint8 (channels last, as decoded) and boxes ``[N, 4]``."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames [T, H, W, 3], got {tuple(frames.shape)}")
        box = torch.zeros(0, 4) if box is None else box.to(torch.float32).reshape(-1, 4)
        keep = torch.arange(box.shape[0])
        return cls(frames.permute(0, 3, 1, 2), box, keep, label)

    @property
    def height(self) -> int:
        return self.frames.shape[-2]

    @property
    def width(self) -> int:
        return self.frames.shape[-1]


Transform = Callable[[ClipBoxes, np.random.Generator], ClipBoxes]


def resize(x: ClipBoxes, height: int, width: int) -> ClipBoxes:
    """Resize every frame to ``height x width`` (bilinear, antialiased) and scale the boxes.

    Returns frames ``[T, 3, height, width]`` float32 in the input's value range.
    """
    if (height, width) == (x.height, x.width):
        return x
    scale = torch.tensor(
        [width / x.width, height / x.height, width / x.width, height / x.height],
        dtype=x.box.dtype,
    )
    frames = F.interpolate(
        x.frames.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return replace(x, frames=frames, box=x.box * scale)


def crop(
    x: ClipBoxes, top: int, left: int, height: int, width: int, min_size: float = 1.0
) -> ClipBoxes:
    """Crop ``[top, top + height) x [left, left + width)`` from every frame; boxes are shifted,
    clipped to the crop, and dropped (counted) when narrower or lower than ``min_size`` pixels."""
    if not (0 <= top and top + height <= x.height and 0 <= left and left + width <= x.width):
        raise ValueError(
            f"crop {height}x{width} at ({top}, {left}) outside a {x.height}x{x.width} frame"
        )
    frames = x.frames[..., top : top + height, left : left + width]
    return _clip_boxes(
        replace(x, frames=frames, box=x.box - x.box.new_tensor([left, top] * 2)), min_size
    )


def _clip_boxes(x: ClipBoxes, min_size: float) -> ClipBoxes:
    box = torch.stack(
        (
            x.box[:, 0].clamp(0, x.width),
            x.box[:, 1].clamp(0, x.height),
            x.box[:, 2].clamp(0, x.width),
            x.box[:, 3].clamp(0, x.height),
        ),
        dim=1,
    )
    ok = ((box[:, 2] - box[:, 0]) >= min_size) & ((box[:, 3] - box[:, 1]) >= min_size)
    return replace(x, box=box[ok], keep=x.keep[ok], dropped=x.dropped + int((~ok).sum()))


def hflip(x: ClipBoxes) -> ClipBoxes:
    """Mirror every frame left-right; ``x1' = W - x2``, ``x2' = W - x1``."""
    w = x.width
    box = torch.stack((w - x.box[:, 2], x.box[:, 1], w - x.box[:, 0], x.box[:, 3]), dim=1)
    return replace(x, frames=x.frames.flip(-1), box=box)


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
        x = crop(x, top, left, h, w, self.min_size)
        return _clip_boxes(resize(x, self.size, self.size), self.min_size)

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
    Frames stay ``[T, 3, H, W]`` float32; :func:`to_clip` gives the ``[3, T, H, W]`` model input."""

    def __init__(
        self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255

    def __call__(self, x: ClipBoxes, rng: np.random.Generator | None = None) -> ClipBoxes:
        return replace(x, frames=(x.frames.float() - self.mean) / self.std)

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
