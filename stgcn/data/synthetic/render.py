"""Rendering: one video's frames ``[T, H, W, 3]`` uint8 and its amodal boxes, from its spec.

:func:`render_video` runs a class's motion script (:mod:`.motion`), adds clutter and moving
distractors, draws background, objects, arm and hand back to front on a camera that jitters, then
appearance jitter and pixel noise. Drawing is vectorised over frames: each shape is evaluated in a
window around it for all ``T`` frames at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stgcn.data.synthetic.classes import BY_TEMPLATE, REVERSED
from stgcn.data.synthetic.motion import path, scenario
from stgcn.data.synthetic.scene import Scene, Shape, make_object, random_colour

__all__ = ["RenderedVideo", "VideoSpec", "render_video"]

_SKIN = np.array(
    [[224, 172, 105], [198, 134, 66], [141, 85, 36], [255, 219, 172], [241, 194, 125]],
    dtype=np.float64,
)


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
    role to its base RGB colour; ``placeholders`` are the template's fillers. ``distractors``
    maps ``"distractor k"`` to the [T, 4] boxes of the k-th object that is not a placeholder
    (static clutter, then moving distractors), NaN where off-screen: drawn, never annotated (the
    Something-Else files hold only ``boxes``), known so that an explanation can be checked
    against them.
    """

    frames: np.ndarray
    boxes: dict[str, np.ndarray]
    names: dict[str, str]
    colours: dict[str, np.ndarray]
    placeholders: list[str]
    distractors: dict[str, np.ndarray] = field(default_factory=dict)


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
    c0, c1 = random_colour(rng), random_colour(rng)
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


def _draw(canvas: np.ndarray, shape: Shape, offset: np.ndarray) -> None:
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


def _box(shape: Shape, offset: np.ndarray, height: int, width: int) -> np.ndarray:
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
    cls = BY_TEMPLATE[spec.template]
    forward = REVERSED.get(cls.template, cls.template)
    rng = np.random.default_rng([seed, spec.index])
    T = spec.num_frames
    scene = Scene(rng, height, width, T)
    hand, objects, order = scenario(scene, forward)
    u = scene.u

    # things that are not placeholders: static clutter and independently moving distractors
    others: list[Shape] = []
    for _ in range(rng.integers(0, 2)):
        s = scene.size()
        others.append(make_object(rng, s, path(T, [(0, scene.place(s, top=0.0))])))
    for _ in range(rng.integers(1, 3)):
        s = scene.size()
        start = scene.place(s, top=0.0)
        a = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(0.002, 0.012) * u * np.array([np.cos(a), np.sin(a)])
        p = start + np.arange(T)[:, None] * velocity
        p = _bounce(p, s / 2, np.array([width, height]) - s / 2)
        others.append(make_object(rng, s, p))

    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.85, 1.1) + rng.uniform(-12, 12, 3)
    hand_shape = Shape(
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
    distractors = {f"distractor {k}": _box(s, offset, height, width) for k, s in enumerate(others)}
    if forward != cls.template:
        frames = frames[::-1].copy()
        boxes = {r: b[::-1].copy() for r, b in boxes.items()}
        distractors = {r: b[::-1].copy() for r, b in distractors.items()}
    return RenderedVideo(frames, boxes, names, colours, placeholders, distractors)
