"""A synthetic Something-Something v2 dataset, written in the official layout.

``generate(out_dir, num_videos, seed)`` renders short videos of a skin-coloured hand moving
coloured, textured objects over textured backgrounds, with distractor objects, camera jitter,
appearance jitter and noise, and writes them exactly as the real SSv2 + Something-Else release lays
them out::

    out_dir/labels/something-something-v2-labels.json          {"Moving something up": "5", ...}
    out_dir/labels/something-something-v2-{train,validation}.json
    out_dir/labels/something-something-v2-test.json             [{"id": ...}]
    out_dir/20bn-something-something-v2/<id>.webm                VP9, 12 fps
    out_dir/bounding_box_smthsmth_part{1..4}.json                 Something-Else boxes
    out_dir/README.md                                             classes and how each is rendered
    out_dir/synthetic_manifest.json                               written last: the "complete" mark

The class of a video is carried only by the motion of the hand and the placeholder objects and by
their relations over time. Object colours, shapes, names and sizes, the background, the video
length, the distractors and the jitter are drawn from the same distributions for every class. The
second class of each temporal-reversal pair is rendered as the first class's video played backwards
(the same random draws, the frame order and the boxes reversed), so no single frame tells the two
apart.

Run it from the command line with ``python -m stgcn.data.synthetic --out DIR --videos N --seed S``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "RenderedVideo",
    "SyntheticClass",
    "VideoSpec",
    "encode_webm",
    "generate",
    "label_index",
    "render_video",
]

GENERATOR_VERSION = "1.0"


def _source_digest() -> str:
    """SHA-256 of this module's source: a reused dataset must come from this very generator. A
    version string alone let a set rendered by an earlier revision of the same version pass as
    current (it happened during development); any edit here now regenerates."""
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:  # no source file (frozen install): fall back to the version alone
        return GENERATOR_VERSION


GENERATOR_SOURCE = _source_digest()
FPS = 12
LABELS_DIR = "labels"
VIDEOS_DIR = "20bn-something-something-v2"
BOX_FILES = tuple(f"bounding_box_smthsmth_part{k}.json" for k in range(1, 5))
MANIFEST = "synthetic_manifest.json"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SyntheticClass:
    """One action class: a real SSv2 template, its group and, for reversal pairs, its partner.

    ``group`` is ``"temporal_reversal"`` (the class is its ``partner`` played backwards),
    ``"relational"`` (what tells it apart is which object moves relative to which, or whether the
    object follows the hand) or ``"other"``. ``rendering`` says how a video of the class is drawn.
    """

    template: str
    group: str
    partner: str | None
    rendering: str

    @property
    def num_placeholders(self) -> int:
        """How many ``[something]`` the template has (the cover of "Uncovering" is not one)."""
        return self.template.count("[something]")

    @property
    def name(self) -> str:
        """The template without brackets: the key of ``something-something-v2-labels.json``."""
        return self.template.replace("[", "").replace("]", "")


# Templates are spelled exactly as in the real something-something-v2 label list. The issue's
# "Putting something on top of something" is not an SSv2 class; the real one is "...onto...".
CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass(
        "Pushing [something] from left to right",
        "temporal_reversal",
        "Pushing [something] from right to left",
        "The hand comes in from its entry edge, grips object 0 from above and slides it "
        "horizontally to the right by 30-50% of the frame width, lets go and leaves the way it "
        "came.",
    ),
    SyntheticClass(
        "Pushing [something] from right to left",
        "temporal_reversal",
        "Pushing [something] from left to right",
        "A 'Pushing [something] from left to right' video played backwards.",
    ),
    SyntheticClass(
        "Moving [something] up",
        "temporal_reversal",
        "Moving [something] down",
        "The hand grips object 0 and raises it by 30-45% of the frame height (with a small "
        "sideways drift), lets go, leaves; the object stays up.",
    ),
    SyntheticClass(
        "Moving [something] down",
        "temporal_reversal",
        "Moving [something] up",
        "A 'Moving [something] up' video played backwards.",
    ),
    SyntheticClass(
        "Moving [something] closer to [something]",
        "temporal_reversal",
        "Moving [something] away from [something]",
        "Object 1 stays put; the hand carries object 0 towards it, along a direction within 30 "
        "degrees of horizontal, over 30-45% of the frame width, to a small gap (3-12% of the "
        "frame's short side) from object 1.",
    ),
    SyntheticClass(
        "Moving [something] away from [something]",
        "temporal_reversal",
        "Moving [something] closer to [something]",
        "A 'Moving [something] closer to [something]' video played backwards.",
    ),
    SyntheticClass(
        "Covering [something] with [something]",
        "temporal_reversal",
        "Uncovering [something]",
        "Object 1 (the larger of the two, 1.3-1.6x) is carried from 30-45% of the frame width away "
        "onto object 0 and left there, drawn in front: object 0 is hidden, its box stays.",
    ),
    SyntheticClass(
        "Uncovering [something]",
        "temporal_reversal",
        "Covering [something] with [something]",
        "A 'Covering [something] with [something]' video played backwards. The cover is not a "
        "placeholder of this template but keeps its box as 'object 1', so that both classes of "
        "the pair have the same boxes.",
    ),
    SyntheticClass(
        "Putting [something] next to [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down beside "
        "object 1 (left or right, bottoms aligned, small gap), lets go and leaves.",
    ),
    SyntheticClass(
        "Putting [something] onto [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down resting "
        "on the top edge of object 1, drawn in front of it, lets go and leaves.",
    ),
    SyntheticClass(
        "Putting [something] behind [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down behind "
        "object 1: drawn behind it and higher, its lower part (30-60% of the smaller object's "
        "height) hidden by object 1.",
    ),
    SyntheticClass(
        "Moving [something] and [something] closer to each other",
        "relational",
        None,
        "The hand moves object 0 part of the way (40-60%) towards object 1, lets go, moves over to "
        "object 1 and moves it the rest of the way towards object 0; both end a small gap apart.",
    ),
    SyntheticClass(
        "Pretending to pick [something] up",
        "relational",
        None,
        "The hand comes in, grips object 0, rises by 30-45% of the frame height without it (the "
        "object does not move) and leaves.",
    ),
    SyntheticClass(
        "Picking [something] up",
        "other",
        None,
        "The hand comes in, grips object 0 and lifts it by 30-45% of the frame height; hand and "
        "object stay up together, swaying slightly, to the end of the video.",
    ),
)

_BY_TEMPLATE = {c.template: c for c in CLASSES}
# the second class of each reversal pair is rendered as the first one played backwards
_REVERSED = {
    "Pushing [something] from right to left": "Pushing [something] from left to right",
    "Moving [something] down": "Moving [something] up",
    "Moving [something] away from [something]": "Moving [something] closer to [something]",
    "Uncovering [something]": "Covering [something] with [something]",
}


def label_index(classes: Sequence[SyntheticClass] = CLASSES) -> dict[str, str]:
    """The content of ``something-something-v2-labels.json``: bracket-free template -> index.

    Indices are strings, assigned in alphabetical order of the bracket-free templates, as in the
    real file.
    """
    names = sorted(c.name for c in classes)
    return {name: str(i) for i, name in enumerate(names)}


# --------------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------------

_RECT_NOUNS = ("box", "book", "phone", "wallet", "remote", "card", "block", "notebook")
_ROUND_NOUNS = ("ball", "apple", "plate", "lid", "orange", "coin", "bowl", "cap")
_SKIN = np.array(
    [[224, 172, 105], [198, 134, 66], [141, 85, 36], [255, 219, 172], [241, 194, 125]],
    dtype=np.float64,
)


@dataclass
class _Shape:
    """A textured rectangle or ellipse whose centre follows ``centre`` [T, 2] (world x, y)."""

    kind: str  # "rect" | "ellipse"
    size: np.ndarray  # (2,) width, height in pixels
    centre: np.ndarray  # [T, 2]
    colour: np.ndarray  # (3,) RGB in 0..255
    pattern: str  # "flat" | "stripes" | "checker"
    period: float
    angle: float
    contrast: float
    name: str = ""


@dataclass(frozen=True)
class VideoSpec:
    """What to render for one video: its index (for the random stream), id, class and length."""

    index: int
    video_id: str
    template: str
    split: str
    num_frames: int


@dataclass
class RenderedVideo:
    """A rendered video before encoding.

    ``frames`` [T, H, W, 3] uint8 RGB; ``boxes`` maps a role (``"object hand"``, ``"object 0"``,
    ``"object 1"``) to [T, 4] float boxes (x1, y1, x2, y2) in pixels, NaN where the box is not
    annotated (off-screen); ``names`` maps the role to its category name; ``colours`` maps the
    role to its base RGB colour; ``placeholders`` are the template's fillers.
    """

    frames: np.ndarray
    boxes: dict[str, np.ndarray]
    names: dict[str, str]
    colours: dict[str, np.ndarray]
    placeholders: list[str]


def _colour_name(rgb: np.ndarray) -> str:
    r, g, b = rgb / 255.0
    mx, mn = max(r, g, b), min(r, g, b)
    if mx - mn < 0.12:
        return "white" if mx > 0.8 else "black" if mx < 0.25 else "grey"
    if mx == r:
        hue = ((g - b) / (mx - mn)) % 6
    elif mx == g:
        hue = (b - r) / (mx - mn) + 2
    else:
        hue = (r - g) / (mx - mn) + 4
    hue *= 60
    for limit, name in ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "cyan")):
        if hue < limit:
            return name
    return "blue" if hue < 255 else "purple" if hue < 290 else "pink" if hue < 340 else "red"


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    h = rng.uniform(0, 6)
    s = rng.uniform(0.35, 1.0)
    v = rng.uniform(0.4, 1.0)
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return (np.array(rgb) + (v - c)) * 255.0


def _object(rng: np.random.Generator, size: np.ndarray, centre: np.ndarray) -> _Shape:
    kind = "rect" if rng.random() < 0.5 else "ellipse"
    colour = _random_colour(rng)
    noun = rng.choice(_RECT_NOUNS if kind == "rect" else _ROUND_NOUNS)
    return _Shape(
        kind=kind,
        size=np.asarray(size, dtype=np.float64),
        centre=centre,
        colour=colour,
        pattern=str(rng.choice(["flat", "stripes", "checker"])),
        period=float(rng.uniform(3.0, 8.0)),
        angle=float(rng.uniform(0, np.pi)),
        contrast=float(rng.uniform(0.1, 0.35)),
        name=f"{_colour_name(colour)} {noun}",
    )


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)


def _path(num_frames: int, keys: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """Positions [T, 2] through keyframes (time in frames, position), eased between keys.

    Before the first key and after the last the position holds. Smoothstep easing is symmetric
    under time reversal, which keeps reversed classes in distribution.
    """
    times = np.array([k[0] for k in keys], dtype=np.float64)
    points = np.stack([np.asarray(k[1], dtype=np.float64) for k in keys])
    if len(keys) == 1:
        return np.repeat(points, num_frames, axis=0)
    t = np.arange(num_frames, dtype=np.float64)
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[seg], times[seg + 1]
    u = _smoothstep(np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0))
    return points[seg] + u[:, None] * (points[seg + 1] - points[seg])


def _timeline(rng: np.random.Generator, num_frames: int, acts: int) -> list[float]:
    """Phase boundaries (in frames) for: idle, approach, grip, act (, move over, grip, act)...,
    release, retreat, idle. Mirrored phases are drawn from the same distribution, so the
    timeline reversed is distributed like the timeline."""
    d = [rng.uniform(0.0, 0.12), rng.uniform(0.12, 0.2), rng.uniform(0.03, 0.06)]
    for k in range(acts):
        if k:
            d += [rng.uniform(0.03, 0.06), rng.uniform(0.08, 0.12), rng.uniform(0.03, 0.06)]
        d.append(rng.uniform(0.25, 0.4) / acts)
    d += [rng.uniform(0.03, 0.06), rng.uniform(0.12, 0.2), rng.uniform(0.0, 0.12)]
    d = np.asarray(d) * (num_frames - 1) / np.sum(d)
    return [0.0, *np.cumsum(d).tolist()]


class _Scene:
    """Geometry shared by the class scenarios: frame size, unit length, hand anchor and grips."""

    def __init__(self, rng: np.random.Generator, height: int, width: int, num_frames: int):
        self.rng, self.h, self.w, self.t = rng, float(height), float(width), num_frames
        self.u = float(min(height, width))
        u = self.u
        self.hand_size = np.array([rng.uniform(0.17, 0.22) * u, rng.uniform(0.15, 0.2) * u])
        edge = rng.choice(["bottom", "bottom", "left", "right"])
        out = 0.4 * u
        if edge == "bottom":
            self.anchor = np.array([rng.uniform(0.15, 0.85) * self.w, self.h + out])
            self.outward = np.array([0.0, 1.0])
        elif edge == "left":
            self.anchor = np.array([-out, rng.uniform(0.35, 0.95) * self.h])
            self.outward = np.array([-1.0, 0.0])
        else:
            self.anchor = np.array([self.w + out, rng.uniform(0.35, 0.95) * self.h])
            self.outward = np.array([1.0, 0.0])

    def size(self) -> np.ndarray:
        """A single object's (w, h)."""
        return self.rng.uniform(0.13, 0.24, size=2) * self.u

    def pair_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """(big, small) sizes of a two-object scene, the small one 1.3-1.6x smaller."""
        big = self.rng.uniform(0.18, 0.27, size=2) * self.u
        return big, big / self.rng.uniform(1.3, 1.6)

    def grip(self, obj_size: np.ndarray) -> np.ndarray:
        """Offset of the hand centre from a gripped object's centre: above it, overlapping."""
        dx = self.rng.uniform(-0.25, 0.25) * obj_size[0]
        return np.array([dx, -obj_size[1] / 2 - 0.1 * self.hand_size[1]])

    def inside(self, centre: np.ndarray, size: np.ndarray, margin: float = 2.0) -> bool:
        """Whether an object of ``size`` at ``centre`` lies in the frame, ``margin`` px inside."""
        lo, hi = centre - size / 2, centre + size / 2
        return bool(np.all(lo >= margin) and np.all(hi <= np.array([self.w, self.h]) - margin))

    def place(self, size: np.ndarray, top: float = 0.3) -> np.ndarray:
        """A resting position (centre) for an object of ``size``: fully visible, below ``top``."""
        lo = np.array([size[0] / 2 + 2, top * self.h + size[1] / 2])
        hi = np.array([self.w - size[0] / 2 - 2, self.h - size[1] / 2 - 2])
        return self.rng.uniform(lo, np.maximum(hi, lo + 1))

    def direction(self) -> np.ndarray:
        """A unit direction within 30 degrees of horizontal, left or right with equal odds."""
        a = self.rng.uniform(-np.pi / 6, np.pi / 6) + (np.pi if self.rng.random() < 0.5 else 0.0)
        return np.array([np.cos(a), np.sin(a)])

    def gap(self) -> float:
        return self.rng.uniform(0.03, 0.12) * self.u


def _contact(direction: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Centre distance along ``direction`` at which boxes of sizes ``a`` and ``b`` touch."""
    return float(np.min((a + b) / 2 / np.maximum(np.abs(direction), 1e-9)))


def _carry(
    T: int, b: list[float], anchor: np.ndarray, start: np.ndarray, end: np.ndarray, grip: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hand and object paths [T, 2] of one carry on timeline ``b``: the hand comes from
    ``anchor``, grips the object at ``start``, carries it to ``end``, lets go and goes back."""
    grips = [(b[k], p + grip) for k, p in zip((2, 3, 4, 5), (start, start, end, end), strict=True)]
    hand = _path(T, [(b[1], anchor), *grips, (b[6], anchor)])
    return hand, _path(T, [(b[3], start), (b[4], end)])


def _scenario(scene: _Scene, template: str) -> tuple[np.ndarray, list[_Shape], list[str]]:
    """Lay out a forward class: returns the hand path [T, 2], the placeholder objects (object 0,
    object 1) and the order in which to draw their roles (back to front)."""
    rng, T, A = scene.rng, scene.t, scene.anchor
    for _ in range(100):  # rejection sampling of a layout that stays inside the frame
        b = _timeline(rng, T, 2 if template.endswith("closer to each other") else 1)
        if template in (
            "Pushing [something] from left to right",
            "Moving [something] up",
            "Picking [something] up",
            "Pretending to pick [something] up",
        ):
            size = scene.size()
            if template.startswith("Pushing"):
                start = scene.place(size)
                end = start + np.array([rng.uniform(0.3, 0.5) * scene.w, 0.0])
            else:
                end = scene.place(size, top=0.0)
                start = end + np.array(
                    [rng.uniform(-0.05, 0.05) * scene.w, rng.uniform(0.3, 0.45) * scene.h]
                )
            if not (scene.inside(start, size) and scene.inside(end, size)):
                continue
            g = scene.grip(size)
            hand, obj = _carry(T, b, A, start, end, g)
            if template == "Pretending to pick [something] up":
                obj = _path(T, [(0, start)])  # the hand rises alone
            elif template == "Picking [something] up":  # the hand keeps the object up
                t = np.arange(T)
                phase = 2 * np.pi * t / rng.uniform(8, 16) + rng.uniform(0, 2 * np.pi)
                sway = rng.uniform(0.5, 1.5) * np.sin(phase) * np.clip((t - b[4]) / 4, 0, 1)
                obj[:, 0] += sway
                hand = np.where((t >= b[3])[:, None], obj + g, hand)
            return hand, [_object(rng, size, obj)], ["object 0"]

        big, small = scene.pair_sizes()
        if template == "Covering [something] with [something]":
            s0, s1 = small, big  # the cover (object 1) is the larger one
        else:
            s0, s1 = (big, small) if rng.random() < 0.5 else (small, big)

        if template in (
            "Moving [something] closer to [something]",
            "Covering [something] with [something]",
            "Moving [something] and [something] closer to each other",
        ):
            d = scene.direction()
            travel = rng.uniform(0.3, 0.45) * scene.w
            fixed = scene.place(s1 if template.startswith("Moving") else s0)
            if template == "Covering [something] with [something]":
                room = (s1 - s0) / 2
                p0 = fixed
                end1 = p0 + rng.uniform(-room, room)
                start1 = end1 + d * travel
                if not all(scene.inside(p, s) for p, s in ((p0, s0), (end1, s1), (start1, s1))):
                    continue
                hand, o1 = _carry(T, b, A, start1, end1, scene.grip(s1))
                o0 = _path(T, [(0, p0)])
                objs = [_object(rng, s0, o0), _object(rng, s1, o1)]
                return hand, objs, ["object 0", "object 1"]
            near = _contact(d, s0, s1) + scene.gap()
            if template == "Moving [something] closer to [something]":
                p1 = fixed
                end0, start0 = p1 + d * near, p1 + d * (near + travel)
                if not (
                    scene.inside(p1, s1) and scene.inside(end0, s0) and scene.inside(start0, s0)
                ):
                    continue
                hand, o0 = _carry(T, b, A, start0, end0, scene.grip(s0))
                o1 = _path(T, [(0, p1)])
            else:
                frac = rng.uniform(0.4, 0.6)
                start1 = fixed
                start0 = start1 + d * (near + travel)
                end1 = start1 + d * (1 - frac) * travel
                mid0 = start0 - d * frac * travel
                if not all(scene.inside(p, s) for p, s in ((start0, s0), (start1, s1))):
                    continue
                g0, g1 = scene.grip(s0), scene.grip(s1)
                o0 = _path(T, [(b[3], start0), (b[4], mid0)])
                o1 = _path(T, [(b[7], start1), (b[8], end1)])
                hand = _path(
                    T,
                    [(b[1], A), (b[2], start0 + g0), (b[3], start0 + g0), (b[4], mid0 + g0),
                     (b[5], mid0 + g0), (b[6], start1 + g1), (b[7], start1 + g1),
                     (b[8], end1 + g1), (b[9], end1 + g1), (b[10], A)],
                )  # fmt: skip
            objs = [_object(rng, s0, o0), _object(rng, s1, o1)]
            return hand, objs, ["object 1", "object 0"]

        # Putting [something] next to / onto / behind [something]: object 0 comes in with the hand
        p1 = scene.place(s1, top=0.45)
        top1, bottom1 = p1[1] - s1[1] / 2, p1[1] + s1[1] / 2
        if template == "Putting [something] next to [something]":
            side = 1.0 if rng.random() < 0.5 else -1.0
            end0 = np.array(
                [p1[0] + side * ((s0[0] + s1[0]) / 2 + scene.gap()), bottom1 - s0[1] / 2]
            )
            order = ["object 1", "object 0"]
        elif template == "Putting [something] onto [something]":
            end0 = np.array([p1[0] + rng.uniform(-0.2, 0.2) * s1[0], top1 - s0[1] / 2])
            order = ["object 1", "object 0"]
        elif template == "Putting [something] behind [something]":
            overlap = rng.uniform(0.3, 0.6) * min(s0[1], s1[1])
            end0 = np.array([p1[0] + rng.uniform(-0.25, 0.25) * s1[0], top1 + overlap - s0[1] / 2])
            order = ["object 0", "object 1"]
        else:
            raise ValueError(f"no scenario for template {template!r}")
        if not (scene.inside(p1, s1) and scene.inside(end0, s0)):
            continue
        g = scene.grip(s0)
        # the carry starts where the hand starts (off-screen at the anchor) and takes the approach
        hand = _path(T, [(b[1], A), (b[4], end0 + g), (b[5], end0 + g), (b[6], A)])
        o0 = np.where((np.arange(T) <= b[4])[:, None], hand - g, end0)
        o1 = _path(T, [(0, p1)])
        return hand, [_object(rng, s0, o0), _object(rng, s1, o1)], order
    raise RuntimeError(f"could not lay out {template!r} in a {scene.w:.0f}x{scene.h:.0f} frame")


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _upsample(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a small [h, w, C] array to [height, width, C]."""
    ys = np.linspace(0, a.shape[0] - 1, height)
    xs = np.linspace(0, a.shape[1] - 1, width)
    y0 = np.minimum(ys.astype(int), a.shape[0] - 2)
    x0 = np.minimum(xs.astype(int), a.shape[1] - 2)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x0 + 1] * fx
    bottom = a[y0 + 1][:, x0] * (1 - fx) + a[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured background [height, width, 3] float32: gradient, pattern and blotches."""
    c0, c1 = _random_colour(rng), _random_colour(rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    a = rng.uniform(0, 2 * np.pi)
    g = xx * np.cos(a) + yy * np.sin(a)
    g = (g - g.min()) / max(np.ptp(g), 1e-9)
    bg = c0 * (1 - g[..., None]) + c1 * g[..., None]
    kind = rng.integers(3)
    period = rng.uniform(6, 24)
    b = rng.uniform(0, np.pi)
    if kind == 0:
        pat = np.sin(2 * np.pi * (xx * np.cos(b) + yy * np.sin(b)) / period)
    elif kind == 1:
        pat = np.sign(np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period))
    else:
        pat = np.zeros_like(xx)
    bg *= 1 + rng.uniform(0.05, 0.2) * pat[..., None]
    blot = _upsample(rng.uniform(-1, 1, size=(height // 12 + 2, width // 12 + 2, 3)), height, width)
    bg += rng.uniform(10, 35) * blot
    return bg.astype(np.float32)


def _draw(canvas: np.ndarray, shape: _Shape, offset: np.ndarray) -> None:
    """Paint ``shape`` into ``canvas`` [T, H, W, 3] in place, the camera at ``offset`` [T, 2].

    Only a window around the shape is evaluated in each frame: [T, wy, wx] pixel coordinates are
    built by broadcasting and scattered into the canvas with one fancy-indexed assignment.
    """
    T, H, W, _ = canvas.shape
    c = shape.centre - offset  # image coordinates
    half = np.ceil(shape.size / 2).astype(int) + 1
    base = np.floor(c).astype(int)  # [T, 2]
    ys = base[:, 1, None] + np.arange(-half[1], half[1] + 1)  # [T, wy]
    xs = base[:, 0, None] + np.arange(-half[0], half[0] + 1)  # [T, wx]
    ly = (ys + 0.5 - c[:, 1, None])[:, :, None]  # pixel centres, relative to the shape centre
    lx = (xs + 0.5 - c[:, 0, None])[:, None, :]
    hw, hh = shape.size / 2
    if shape.kind == "rect":
        mask = (np.abs(lx) <= hw) & (np.abs(ly) <= hh)
    else:
        mask = (lx / hw) ** 2 + (ly / hh) ** 2 <= 1.0
    mask &= ((ys >= 0) & (ys < H))[:, :, None] & ((xs >= 0) & (xs < W))[:, None, :]
    t, iy, ix = np.nonzero(mask)
    if len(t) == 0:
        return
    px, py = lx[t, 0, ix], ly[t, iy, 0]  # only the covered pixels get a texture
    if shape.pattern == "stripes":
        u = px * np.cos(shape.angle) + py * np.sin(shape.angle)
        tex = np.sign(np.sin(2 * np.pi * u / shape.period))
    elif shape.pattern == "checker":
        tex = np.sign(np.sin(2 * np.pi * px / shape.period) * np.sin(2 * np.pi * py / shape.period))
    else:
        tex = 0.0
    shade = 1.0 + shape.contrast * tex - 0.25 * (py / shape.size[1])  # lit from above
    canvas[t, ys[t, iy], xs[t, ix]] = (shade[:, None] * shape.colour).astype(np.float32)


def _capsule_rows(
    start: np.ndarray, end: np.ndarray, radius: float, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and row, the x-interval [left, right] of the pixel centres within ``radius`` of
    the segment ``start`` [T, 2] -> ``end`` [T, 2]; [T, height] each, left > right where empty.

    The capsule is convex, so each row meets it in one interval: the union of the intervals of its
    two end discs and of its straight band, each solved in closed form.
    """
    y = np.arange(height, dtype=np.float64)[None, :] + 0.5  # [1, H]
    left = np.full((len(start), height), np.inf)
    right = np.full((len(start), height), -np.inf)
    for c in (start, end):  # the two discs
        dy = y - c[:, 1, None]
        half = np.sqrt(np.maximum(radius**2 - dy**2, 0.0))
        inside = np.abs(dy) <= radius
        left = np.where(inside, np.minimum(left, c[:, 0, None] - half), left)
        right = np.where(inside, np.maximum(right, c[:, 0, None] + half), right)
    v = end - start
    length = np.maximum(np.linalg.norm(v, axis=1), 1e-9)[:, None]
    d = v / length
    dx, dy = d[:, 0, None], d[:, 1, None]
    ry = y - start[:, 1, None]
    # band: 0 <= (x - sx) dx + ry dy <= length  and  |-(x - sx) dy + ry dx| <= radius
    lo, hi = np.full_like(left, -np.inf), np.full_like(left, np.inf)
    for a, b, bmin, bmax in ((dx, ry * dy, 0.0, length), (-dy, ry * dx, -radius, radius)):
        a = np.broadcast_to(a, lo.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            p, q = (bmin - b) / a, (bmax - b) / a
        flat = np.abs(a) < 1e-9  # the constraint does not depend on x: all or nothing
        ok = (b >= bmin) & (b <= bmax)
        lo = np.where(flat, np.where(ok, lo, np.inf), np.maximum(lo, np.minimum(p, q)))
        hi = np.where(flat, np.where(ok, hi, -np.inf), np.minimum(hi, np.maximum(p, q)))
    band = (lo <= hi) & (length > 1e-6)  # a point segment is just its discs
    left = np.where(band, np.minimum(left, lo + start[:, 0, None]), left)
    right = np.where(band, np.maximum(right, hi + start[:, 0, None]), right)
    return left, right


def _draw_arm(
    canvas: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float, colour: np.ndarray
) -> None:
    """Paint a capsule from ``start`` [T, 2] to ``end`` [T, 2] (image coordinates) per frame."""
    T, H, W, _ = canvas.shape
    left, right = _capsule_rows(start, end, radius, H)
    px = np.arange(W, dtype=np.float64) + 0.5
    mask = (px >= left[:, :, None]) & (px <= right[:, :, None])
    canvas[mask] = colour.astype(np.float32)


def _box(shape: _Shape, offset: np.ndarray, height: int, width: int) -> np.ndarray:
    """The shape's box [T, 4] in image pixels, clipped to the frame, NaN where under 4 px^2."""
    c = shape.centre - offset
    box = np.concatenate([c - shape.size / 2, c + shape.size / 2], axis=1)
    box = np.clip(box, 0, [width, height, width, height])
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    box[area < 4.0] = np.nan
    return box


def _jitter(
    rng: np.random.Generator, num_frames: int, amplitude: float, noise: float
) -> np.ndarray:
    """A slow sinusoid with a random phase plus i.i.d. noise, [T]; reversal-symmetric."""
    t = np.arange(num_frames)
    wave = np.sin(2 * np.pi * t / rng.uniform(10, 30) + rng.uniform(0, 2 * np.pi))
    return amplitude * wave + noise * rng.standard_normal(num_frames)


def _bounce(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fold positions into [lo, hi] as a ball bouncing off the walls would."""
    span = np.maximum(hi - lo, 1e-6)
    q = np.mod(p - lo, 2 * span)
    return lo + np.where(q > span, 2 * span - q, q)


def render_video(spec: VideoSpec, size: tuple[int, int], seed: int) -> RenderedVideo:
    """Render one video: frames [T, H, W, 3] uint8 plus its boxes, names and colours.

    The random stream is ``np.random.default_rng([seed, spec.index])``, so a video depends only on
    (seed, index, template, num_frames, size). A class that is the reversal of another is the
    other's video, drawn from the same stream, with frames and boxes in reverse order.
    """
    height, width = size
    cls = _BY_TEMPLATE[spec.template]
    forward = _REVERSED.get(cls.template, cls.template)
    rng = np.random.default_rng([seed, spec.index])
    T = spec.num_frames
    scene = _Scene(rng, height, width, T)
    hand, objects, order = _scenario(scene, forward)
    u = scene.u

    # things that are not placeholders: static clutter and independently moving distractors
    others: list[_Shape] = []
    for _ in range(rng.integers(0, 2)):
        s = scene.size()
        others.append(_object(rng, s, _path(T, [(0, scene.place(s, top=0.0))])))
    for _ in range(rng.integers(1, 3)):
        s = scene.size()
        start = scene.place(s, top=0.0)
        a = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(0.002, 0.012) * u * np.array([np.cos(a), np.sin(a)])
        p = start + np.arange(T)[:, None] * velocity
        p = _bounce(p, s / 2, np.array([width, height]) - s / 2)
        others.append(_object(rng, s, p))

    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.85, 1.1) + rng.uniform(-12, 12, 3)
    hand_shape = _Shape(
        "ellipse", scene.hand_size, hand, np.clip(skin, 0, 255), "flat", 1.0, 0.0, 0.0, "hand"
    )

    # camera: integer translation per frame; the background is cut from a larger canvas
    margin = 6
    offset = np.stack(
        [_jitter(rng, T, rng.uniform(0, 3), 0.4), _jitter(rng, T, rng.uniform(0, 2), 0.4)], 1
    )
    offset = np.clip(np.round(offset), -margin, margin).astype(np.int64)
    bg = _background(rng, height + 2 * margin, width + 2 * margin)
    windows = np.lib.stride_tricks.sliding_window_view(bg, (height, width), axis=(0, 1))
    canvas = windows[offset[:, 1] + margin, offset[:, 0] + margin].transpose(0, 2, 3, 1).copy()

    for shape in others:
        _draw(canvas, shape, offset)
    roles = {f"object {k}": o for k, o in enumerate(objects)}
    for role in order:
        _draw(canvas, roles[role], offset)
    arm_root = scene.anchor + scene.outward * u
    arm_radius = rng.uniform(0.045, 0.06) * u
    _draw_arm(canvas, arm_root - offset, hand - offset, arm_radius, hand_shape.colour * 0.9)
    _draw(canvas, hand_shape, offset)

    # appearance jitter (gain per channel and frame) and pixel noise
    gain = 1.0 + _jitter(rng, T, rng.uniform(0, 0.08), 0.015)[:, None] + rng.uniform(-0.06, 0.06, 3)
    bias = _jitter(rng, T, rng.uniform(0, 6), 1.0)[:, None] + rng.uniform(-8, 8, 3)
    # uniform noise in -level..level grey levels from random bytes through a lookup table
    level = int(rng.integers(2, 7))
    table = (np.arange(256) % (2 * level + 1) - level).astype(np.float32)
    noise = table[np.frombuffer(rng.bytes(canvas.size), dtype=np.uint8).reshape(canvas.shape)]
    canvas *= gain[:, None, None, :].astype(np.float32)
    canvas += bias[:, None, None, :].astype(np.float32)
    canvas += noise
    frames = np.clip(canvas, 0, 255, out=canvas).astype(np.uint8)

    boxes = {"object hand": _box(hand_shape, offset, height, width)}
    boxes.update({r: _box(o, offset, height, width) for r, o in roles.items()})
    names = {"object hand": "hand", **{r: o.name for r, o in roles.items()}}
    colours = {"object hand": hand_shape.colour, **{r: o.colour for r, o in roles.items()}}
    placeholders = [roles[f"object {k}"].name for k in range(cls.num_placeholders)]
    if forward != cls.template:
        frames = frames[::-1].copy()
        boxes = {r: b[::-1].copy() for r, b in boxes.items()}
    return RenderedVideo(frames, boxes, names, colours, placeholders)


# --------------------------------------------------------------------------------------------
# Encoding and the official layout
# --------------------------------------------------------------------------------------------


def encode_webm(frames: np.ndarray, fps: int = FPS) -> bytes:
    """Encode frames [T, H, W, 3] uint8 RGB (H, W even) as VP9 in WebM; same frames, same bytes.

    ``fflags=+bitexact`` stops the muxer writing a random segment UID and version strings; the
    encoder runs single-threaded in libvpx's realtime mode (cpu-used 8) at constant quality.
    """
    import av

    T, H, W, _ = frames.shape
    if H % 2 or W % 2:
        raise ValueError(f"VP9 yuv420p needs an even frame size, got {H}x{W}")
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(
            "libvpx-vp9",
            rate=fps,
            options={"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"},
        )
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for k in range(T):
            frame = av.VideoFrame.from_ndarray(frames[k], format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()


def _frame_entries(video: RenderedVideo, video_id: str) -> list[dict[str, Any]]:
    """Something-Else per-frame entries (one per frame) for a rendered video."""
    roles = [r for r in ("object 0", "object 1", "object hand") if r in video.boxes]
    entries = []
    T = video.frames.shape[0]
    for k in range(T):
        labels = []
        for role in roles:
            b = video.boxes[role][k]
            if np.isnan(b[0]):
                continue
            labels.append(
                {
                    "box2d": {
                        "x1": round(float(b[0]), 2),
                        "y1": round(float(b[1]), 2),
                        "x2": round(float(b[2]), 2),
                        "y2": round(float(b[3]), 2),
                    },
                    "category": video.names[role],
                    "standard_category": "hand" if role == "object hand" else f"{role[-1]:0>4}",
                    "gt_annotation": role,
                }
            )
        entries.append(
            {
                "name": f"{video_id}/{k + 1:04d}.jpg",
                "labels": labels,
                "gt_placeholders": list(video.placeholders),
                "nr_instances": len(labels),
            }
        )
    return entries


def _make_one(args: tuple[VideoSpec, tuple[int, int], int, str]) -> tuple[str, list, list, int]:
    spec, size, seed, video_dir = args
    video = render_video(spec, size, seed)
    data = encode_webm(video.frames)
    path = Path(video_dir) / f"{spec.video_id}.webm"
    tmp = path.with_suffix(".webm.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return spec.video_id, _frame_entries(video, spec.video_id), video.placeholders, len(data)


@contextmanager
def _results(jobs: list, workers: int) -> Iterator[Iterator[tuple[str, list, list, int]]]:
    """Results of ``_make_one`` over ``jobs``, in order, from this process or a worker pool."""
    if workers <= 1 or len(jobs) < 4 * workers:
        yield map(_make_one, jobs)
        return
    # fork where the platform has it: workers need no re-import of the caller's __main__
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool.map(_make_one, jobs, chunksize=8)


def _tmp(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(path.name + ".tmp")


def _write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=indent) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _specs(
    num_videos: int, seed: int, frames: tuple[int, int], splits: Sequence[float]
) -> list[VideoSpec]:
    """Ids, splits, classes (balanced within each split) and lengths of all videos."""
    rng = np.random.default_rng([seed, 2**31])
    counts = [int(round(f * num_videos)) for f in splits[:2]]
    counts.append(num_videos - sum(counts))
    split_of = np.repeat(np.arange(3), counts)
    rng.shuffle(split_of)
    templates = [c.template for c in CLASSES]
    cls_of = np.empty(num_videos, dtype=np.int64)
    for s in range(3):
        where = np.flatnonzero(split_of == s)
        cls_of[where] = rng.permutation(np.arange(len(where)) % len(templates))
    lengths = rng.integers(frames[0], frames[1] + 1, size=num_videos)
    return [
        VideoSpec(i, str(i + 1), templates[cls_of[i]], SPLITS[split_of[i]], int(lengths[i]))
        for i in range(num_videos)
    ]


def _readme(
    params: dict[str, Any], counts: dict[str, dict[str, int]], labels: dict[str, str]
) -> str:
    rows = "\n".join(
        f"| {labels[c.name]} | {c.template} | {c.group} | {c.partner or ''} | "
        f"{counts['train'].get(c.template, 0)}/{counts['validation'].get(c.template, 0)}/"
        f"{counts['test'].get(c.template, 0)} | {c.rendering} |"
        for c in sorted(CLASSES, key=lambda c: int(labels[c.name]))
    )
    seed, num_videos = params["seed"], params["num_videos"]
    size = "{}x{}".format(*params["size"])
    frames = "{}-{}".format(*params["frames"])
    splits = tuple(params["splits"])
    return f"""# Synthetic Something-Something v2 (stgcn generator {GENERATOR_VERSION})

Made by `stgcn.data.synthetic.generate` with seed {seed}: {num_videos} videos of {size} pixels
(height x width) and {frames} frames at {FPS} fps, split fractions (train, validation, test) =
{splits}. The same seed, parameters and generator version give the same bytes (with the same
libvpx build).

## Layout (as the real release)

- `labels/something-something-v2-labels.json`: template without brackets -> index (a string),
  indices alphabetical.
- `labels/something-something-v2-{{train,validation}}.json`: `{{"id", "label", "template",
  "placeholders"}}`; `label` is the template filled with the placeholders, first letter in lower
  case, like the real files. `labels/something-something-v2-test.json`: ids only (the test
  classes are in `{MANIFEST}`).
- `20bn-something-something-v2/<id>.webm`: VP9 (yuv420p) in WebM at {FPS} fps.
- `bounding_box_smthsmth_part{{1..4}}.json`: Something-Else boxes,
  `{{video_id: [entry per frame]}}`, list position k = frame k+1; each entry has `name`
  ("<id>/0001.jpg"), `labels` (`box2d` x1, y1, x2, y2 float pixels, `category`,
  `standard_category` "0000"/"0001"/"hand", `gt_annotation` "object 0"/"object 1"/"object hand"),
  `gt_placeholders` and `nr_instances` (= number of labels in the entry).
  Videos are spread over the four parts by id order.

## Classes

| index | template | group | reversal partner | videos train/val/test | how it is rendered |
| --- | --- | --- | --- | --- | --- |
{rows}

Groups: `temporal_reversal` classes are their partner played backwards: the same random draws with
frames and boxes in reverse order, so every single frame of one class is distributed exactly like a
frame of the other. `relational` classes differ in which object moves relative to which, or in
whether the object follows the hand. Classes are balanced within each split.

## How every video is drawn

- Background: a two-colour linear gradient in a random direction, times a low-contrast pattern
  (sine stripes, a checkerboard or none), plus smooth colour blotches.
- Hand: a skin-coloured ellipse (the palm, boxed as `hand`) with an arm (a capsule of a slightly
  darker skin colour, not boxed) reaching off-screen to an entry point on the bottom (1/2), left
  (1/4) or right (1/4) edge. The hand starts and ends off-screen at that entry point (except
  "Picking [something] up", where it stays up with the object). It grips an object from above, its
  lower part over the object's top. Phases: idle, approach, grip, action, release, retreat, idle,
  with random durations; mirrored phases have the same distribution.
- Placeholder objects ("object 0", "object 1"): rectangles or ellipses, random colour (hue uniform),
  flat, striped or checkered texture that moves with the object, shaded from above; 13-24% of the
  frame's short side for a single object; in two-object classes one object is 1.3-1.6x larger than
  the other and which one is random (except the cover in covering, always the larger). Names
  (`category`) are the colour and a noun, e.g. "red box", "green ball". Boxes are amodal: an
  occluded object (covered, or behind another) keeps its full box.
- Other objects (not boxed, as in Something-Else): 0-1 static clutter object and 1-2 distractors
  that move in a straight line at 0.2-1.2% of the short side per frame and bounce off the frame
  edges. Together with the placeholders a video shows one to three objects plus the distractors.
- Camera jitter: an integer translation per frame (a slow sinusoid of random amplitude up to 3 px
  plus noise), applied to the background and to everything on it (boxes included).
- Appearance jitter: per-frame, per-channel gain and offset (slow sinusoid plus flicker), then
  uniform pixel noise of +-2..6 grey levels.
- Boxes are in pixels of the stored frames, clipped to the frame; a box with less than 4 px^2 inside
  the frame (e.g. the hand off-screen) is left out of that frame's entry.
- Encoding: libvpx-vp9 through PyAV, realtime deadline, cpu-used 8, crf 30, one thread per video,
  muxer flag `+bitexact` (no random segment UID), so the output is byte-for-byte reproducible.

## Known properties

- The number of boxed objects is the template's number of placeholders (1 or 2), as in
  Something-Else, except "Uncovering [something]", whose cover is boxed as "object 1" so that the
  reversal pair has the same boxes. The box count therefore separates one-object from two-object
  classes, but never the two classes of a reversal pair.
- The boxes are ground truth and their trajectories determine the class. `benchmarks/box_oracle.py`
  (a two-layer MLP on the box coordinates of the 8 frames the default benchmark samples, no pixels)
  gives 96.0 +- 0.9% validation top-1 over 3 seeds on the default set of 1,875 videos (chance 7%).
  An earlier one-off check (an earlier revision of generator 1.0, 1,400 videos, a script not kept)
  gave 99.3% from 8 frames, 34% from the boxes of one random frame, and 44% between the two classes
  of a reversal pair (chance 50%). A model fed these boxes gets oracle object tracks, which the
  pixels alone do not give (the distractors are not boxed).
- The templates are real SSv2 templates. "Putting [something] on top of [something]" is not one;
  "Putting [something] onto [something]" is used instead.
"""


def _same_dataset(out: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of a complete dataset in ``out`` made with ``params``, else None."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if not manifest.get("complete") or manifest.get("generator_version") != GENERATOR_VERSION:
        return None
    if manifest.get("generator_source") != GENERATOR_SOURCE:
        return None
    if manifest.get("params") != params:
        return None
    for rel, nbytes in manifest["files"].items():
        f = out / rel
        if not f.is_file() or f.stat().st_size != nbytes:
            return None
    return manifest


def _clear(out: Path) -> None:
    """Remove what a previous (possibly partial) run of the generator left in ``out``."""
    ours = [LABELS_DIR, VIDEOS_DIR, *BOX_FILES, "README.md", MANIFEST, ".synthetic-in-progress"]
    ours += [_tmp(Path(name)).name for name in (*BOX_FILES, MANIFEST)]
    # files a reader derived from the boxes (e.g. an index) may stay: readers check their sources
    foreign = [
        p.name
        for p in out.iterdir()
        if p.name not in ours and not p.name.startswith("bounding_box_smthsmth")
    ]
    marked = (out / MANIFEST).exists() or (out / ".synthetic-in-progress").exists()
    if not marked or foreign:
        raise FileExistsError(
            f"{out} is not empty and does not hold a dataset of this generator "
            f"(found {sorted(p.name for p in out.iterdir())[:5]}); choose an empty folder"
        )
    for name in ours:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def generate(
    out_dir: str | os.PathLike,
    num_videos: int,
    seed: int = 0,
    size: tuple[int, int] = (96, 128),
    frames: tuple[int, int] = (24, 60),
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    workers: int | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Write a synthetic SSv2 + Something-Else dataset of ``num_videos`` videos to ``out_dir``.

    Args:
        out_dir: target folder; created if missing. If it already holds a complete dataset made
            with the same parameters and generator version, that dataset is reused as is. A folder
            left by an interrupted run is cleared and regenerated; any other non-empty folder is an
            error.
        num_videos: total number of videos over the three splits.
        seed: the random seed; same seed and parameters give the same bytes in every file.
        size: (height, width) of the frames, both even.
        frames: (min, max) number of frames, drawn uniformly per video.
        splits: fractions (train, validation, test); the test split gets the remainder.
        workers: processes rendering and encoding in parallel (None: one per available CPU, at most
            8; 0 or 1: in this process). The output does not depend on it.
        verbose: print progress.

    Returns:
        The manifest (also written to ``out_dir/synthetic_manifest.json``, last): generator
        version, parameters, class table, counts per split and class, test-split classes and file
        sizes. The returned dict adds ``workers``, ``seconds`` and ``videos_per_s`` of this run
        (absent when an existing dataset was reused: then ``reused`` is True).
    """
    height, width = int(size[0]), int(size[1])
    if height % 2 or width % 2 or height < 32 or width < 32:
        raise ValueError(f"size must be even and at least 32x32, got {size}")
    if not (8 <= frames[0] <= frames[1]):
        raise ValueError(f"frames must be (min, max) with 8 <= min <= max, got {frames}")
    if len(splits) != 3 or min(splits) < 0 or abs(sum(splits) - 1) > 1e-6:
        raise ValueError(f"splits must be three non-negative fractions summing to 1, got {splits}")
    if num_videos < 1:
        raise ValueError(f"num_videos must be positive, got {num_videos}")
    params = {
        "num_videos": int(num_videos),
        "seed": int(seed),
        "size": [height, width],
        "frames": [int(frames[0]), int(frames[1])],
        "splits": [float(s) for s in splits],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reused = _same_dataset(out, params)
    if reused is not None:
        reused["reused"] = True
        return reused
    if any(out.iterdir()):
        _clear(out)
    (out / ".synthetic-in-progress").write_text("generation started\n", encoding="utf-8")
    (out / LABELS_DIR).mkdir()
    (out / VIDEOS_DIR).mkdir()

    specs = _specs(num_videos, seed, (int(frames[0]), int(frames[1])), splits)
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        workers = min(cpus or 1, 8)
    jobs = [(s, (height, width), int(seed), str(out / VIDEOS_DIR)) for s in specs]
    labels = label_index()
    entries: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    files: dict[str, int] = {}
    # the four box files take the videos in id order; results arrive in that order and are
    # streamed out, so the parent never holds all box entries at once
    part_of = np.repeat(np.arange(4), [len(c) for c in np.array_split(np.arange(num_videos), 4)])
    written = [0, 0, 0, 0]
    start = time.perf_counter()
    with ExitStack() as stack:
        parts = [stack.enter_context(_tmp(out / name).open("w")) for name in BOX_FILES]
        results = stack.enter_context(_results(jobs, workers))
        for spec, (vid, frame_entries, placeholders, nbytes) in zip(specs, results, strict=True):
            k = part_of[spec.index]
            parts[k].write(", " if written[k] else "{")
            parts[k].write(f"{json.dumps(vid)}: {json.dumps(frame_entries)}")
            written[k] += 1
            words = spec.template
            for p in placeholders:
                words = words.replace("[something]", p, 1)
            item = {
                "id": vid,
                "label": words[0].lower() + words[1:],
                "template": spec.template,
                "placeholders": placeholders,
            }
            entries[spec.split].append(item if spec.split != "test" else {"id": vid})
            counts[spec.split][spec.template] = counts[spec.split].get(spec.template, 0) + 1
            files[f"{VIDEOS_DIR}/{vid}.webm"] = nbytes
        for k, f in enumerate(parts):
            f.write(("}" if written[k] else "{}") + "\n")
    elapsed = time.perf_counter() - start
    for name in BOX_FILES:
        os.replace(_tmp(out / name), out / name)
        files[name] = (out / name).stat().st_size
    test_labels = {s.video_id: s.template for s in specs if s.split == "test"}

    _write_json(out / LABELS_DIR / "something-something-v2-labels.json", labels, indent=4)
    for name in ["labels", *SPLITS]:
        rel = f"{LABELS_DIR}/something-something-v2-{name}.json"
        if name != "labels":
            _write_json(out / rel, entries[name])
        files[rel] = (out / rel).stat().st_size
    (out / "README.md").write_text(_readme(params, counts, labels), encoding="utf-8")
    files["README.md"] = (out / "README.md").stat().st_size

    import av

    manifest = {
        "complete": True,
        "generator_version": GENERATOR_VERSION,
        "generator_source": GENERATOR_SOURCE,
        "params": params,
        "classes": [
            {
                "template": c.template,
                "index": int(labels[c.name]),
                "group": c.group,
                "partner": c.partner,
            }
            for c in CLASSES
        ],
        "counts": counts,
        "test_labels": test_labels,
        "files": files,
        "software": {"av": av.__version__, "numpy": np.__version__},
    }
    _write_json(out / MANIFEST, manifest, indent=1)  # last: marks the dataset complete
    (out / ".synthetic-in-progress").unlink()
    # timings are returned, not written, so that every file is reproducible byte for byte
    manifest.update(
        workers=int(workers),
        seconds=round(elapsed, 3),
        videos_per_s=round(num_videos / max(elapsed, 1e-9), 2),
    )
    if verbose:
        print(
            f"wrote {num_videos} videos to {out} in {elapsed:.1f} s "
            f"({manifest['videos_per_s']} videos/s, {workers} workers)"
        )
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m stgcn.data.synthetic --out DIR --videos N --seed S``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder (empty, or a previous dataset)")
    p.add_argument("--videos", type=int, required=True, help="number of videos, all splits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--min-frames", type=int, default=24)
    p.add_argument("--max-frames", type=int, default=60)
    p.add_argument(
        "--splits", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST")
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPUs, max 8)")
    a = p.parse_args(argv)
    generate(
        a.out,
        a.videos,
        seed=a.seed,
        size=(a.height, a.width),
        frames=(a.min_frames, a.max_frames),
        splits=tuple(a.splits),
        workers=a.workers,
        verbose=True,
    )


if __name__ == "__main__":
    main()
