"""What a synthetic scene is made of: textured shapes, their colours and names, and the geometry
that every class's motion script shares (frame size, unit length, the hand's entry point, grips
and resting places).

The functions here draw from the video's random stream in a fixed order; the motion scripts
(:mod:`.motion`) call them, so moving a draw changes every video (and the source digest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_RECT_NOUNS = ("box", "book", "phone", "wallet", "remote", "card", "block", "notebook")
_ROUND_NOUNS = ("ball", "apple", "plate", "lid", "orange", "coin", "bowl", "cap")


@dataclass
class Shape:
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


def colour_name(rgb: np.ndarray) -> str:
    """A plain colour word for an RGB colour (3,) in 0..255, by hue, or grey level when unsaturated."""
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


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour (3,) in 0..255: hue uniform, saturation 0.35-1, value 0.4-1."""
    h = rng.uniform(0, 6)
    s = rng.uniform(0.35, 1.0)
    v = rng.uniform(0.4, 1.0)
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return (np.array(rgb) + (v - c)) * 255.0


def make_object(rng: np.random.Generator, size: np.ndarray, centre: np.ndarray) -> Shape:
    """An object of ``size`` (w, h) following ``centre`` [T, 2]: rectangle or ellipse, random
    colour and texture, named after its colour and a noun that fits its shape ("red box")."""
    kind = "rect" if rng.random() < 0.5 else "ellipse"
    colour = random_colour(rng)
    noun = rng.choice(_RECT_NOUNS if kind == "rect" else _ROUND_NOUNS)
    return Shape(
        kind=kind,
        size=np.asarray(size, dtype=np.float64),
        centre=centre,
        colour=colour,
        pattern=str(rng.choice(["flat", "stripes", "checker"])),
        period=float(rng.uniform(3.0, 8.0)),
        angle=float(rng.uniform(0, np.pi)),
        contrast=float(rng.uniform(0.1, 0.35)),
        name=f"{colour_name(colour)} {noun}",
    )


class Scene:
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
        """A small gap between two objects: 3-12% of the frame's short side."""
        return self.rng.uniform(0.03, 0.12) * self.u
