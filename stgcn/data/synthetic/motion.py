"""The motion scripts: where the hand and the placeholder objects are in every frame, per class.

:func:`scenario` lays out one forward class (a reversed class is its partner's script played
backwards, see :data:`.classes.REVERSED`): it draws a timeline of phases (idle, approach, grip,
act, release, retreat, idle), resting places that keep the objects in the frame (by rejection
sampling), and eased keyframe paths through them. Mirrored phases are drawn from the same
distribution and the easing is symmetric in time, so a script played backwards is distributed
like a forward one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stgcn.data.synthetic.scene import Scene, Shape, make_object


def _smoothstep(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)


def path(num_frames: int, keys: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
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


def timeline(rng: np.random.Generator, num_frames: int, acts: int) -> list[float]:
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


def _contact(direction: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Centre distance along ``direction`` at which boxes of sizes ``a`` and ``b`` touch."""
    return float(np.min((a + b) / 2 / np.maximum(np.abs(direction), 1e-9)))


def _carry(
    T: int, b: list[float], anchor: np.ndarray, start: np.ndarray, end: np.ndarray, grip: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hand and object paths [T, 2] of one carry on timeline ``b``: the hand comes from
    ``anchor``, grips the object at ``start``, carries it to ``end``, lets go and goes back."""
    grips = [(b[k], p + grip) for k, p in zip((2, 3, 4, 5), (start, start, end, end), strict=True)]
    hand = path(T, [(b[1], anchor), *grips, (b[6], anchor)])
    return hand, path(T, [(b[3], start), (b[4], end)])


def scenario(scene: Scene, template: str) -> tuple[np.ndarray, list[Shape], list[str]]:
    """Lay out a forward class: returns the hand path [T, 2], the placeholder objects (object 0,
    object 1) and the order in which to draw their roles (back to front)."""
    rng, T, A = scene.rng, scene.t, scene.anchor
    for _ in range(100):  # rejection sampling of a layout that stays inside the frame
        b = timeline(rng, T, 2 if template.endswith("closer to each other") else 1)
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
                obj = path(T, [(0, start)])  # the hand rises alone
            elif template == "Picking [something] up":  # the hand keeps the object up
                t = np.arange(T)
                phase = 2 * np.pi * t / rng.uniform(8, 16) + rng.uniform(0, 2 * np.pi)
                sway = rng.uniform(0.5, 1.5) * np.sin(phase) * np.clip((t - b[4]) / 4, 0, 1)
                obj[:, 0] += sway
                hand = np.where((t >= b[3])[:, None], obj + g, hand)
            return hand, [make_object(rng, size, obj)], ["object 0"]

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
                o0 = path(T, [(0, p0)])
                objs = [make_object(rng, s0, o0), make_object(rng, s1, o1)]
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
                o1 = path(T, [(0, p1)])
            else:
                frac = rng.uniform(0.4, 0.6)
                start1 = fixed
                start0 = start1 + d * (near + travel)
                end1 = start1 + d * (1 - frac) * travel
                mid0 = start0 - d * frac * travel
                if not all(scene.inside(p, s) for p, s in ((start0, s0), (start1, s1))):
                    continue
                g0, g1 = scene.grip(s0), scene.grip(s1)
                o0 = path(T, [(b[3], start0), (b[4], mid0)])
                o1 = path(T, [(b[7], start1), (b[8], end1)])
                hand = path(
                    T,
                    [(b[1], A), (b[2], start0 + g0), (b[3], start0 + g0), (b[4], mid0 + g0),
                     (b[5], mid0 + g0), (b[6], start1 + g1), (b[7], start1 + g1),
                     (b[8], end1 + g1), (b[9], end1 + g1), (b[10], A)],
                )  # fmt: skip
            objs = [make_object(rng, s0, o0), make_object(rng, s1, o1)]
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
        hand = path(T, [(b[1], A), (b[4], end0 + g), (b[5], end0 + g), (b[6], A)])
        o0 = np.where((np.arange(T) <= b[4])[:, None], hand - g, end0)
        o1 = path(T, [(0, p1)])
        return hand, [make_object(rng, s0, o0), make_object(rng, s1, o1)], order
    raise RuntimeError(f"could not lay out {template!r} in a {scene.w:.0f}x{scene.h:.0f} frame")
