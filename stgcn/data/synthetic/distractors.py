"""The distractor boxes of a generated set, which its annotation files do not hold.

The Something-Else files of a synthetic set annotate the hand and the template's objects only
(:func:`.layout.frame_entries`); the static clutter and the moving distractors are drawn but not
annotated. Rendering is deterministic from ``(seed, index)``, so they are recovered by rendering
the video again from the set's manifest: :func:`distractor_boxes` for one video, and
:class:`WithDistractors`, a :class:`~stgcn.data.box_source.BoxSource` that adds them to another
source's boxes (to check that an explanation prefers the hand and objects over distractors).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from stgcn.data.box_source import BoxSource, FrameBoxes
from stgcn.data.boxes import annotation_frames
from stgcn.data.something_else import CATEGORY
from stgcn.data.synthetic.layout import MANIFEST, video_specs
from stgcn.data.synthetic.render import VideoSpec, render_video
from stgcn.data.synthetic.webm import FPS

__all__ = ["DISTRACTOR_TRACK", "WithDistractors", "distractor_boxes", "is_distractor"]

DISTRACTOR_TRACK = 1000
"""``track`` of distractor k is ``DISTRACTOR_TRACK + k``: far above any placeholder index."""


def is_distractor(track: np.ndarray) -> np.ndarray:
    """Boolean mask ``[N]`` of the boxes :class:`WithDistractors` added, from their ``track``."""
    return np.asarray(track) >= DISTRACTOR_TRACK


@lru_cache(maxsize=8)
def _specs(root: str) -> tuple[dict[str, VideoSpec], tuple[int, int], int]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a generated synthetic set (no manifest)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not manifest.get("complete"):
        raise ValueError(f"{path}: the set is incomplete (generation did not finish)")
    p = manifest["params"]
    specs = video_specs(p["num_videos"], p["seed"], tuple(p["frames"]), p["splits"])
    return {s.video_id: s for s in specs}, tuple(p["size"]), int(p["seed"])


def distractor_boxes(root: str | os.PathLike, video_id: str) -> np.ndarray:
    """The distractor boxes of one video of a generated set, by rendering it again.

    Args:
        root: the set's folder (with ``synthetic_manifest.json``).
        video_id: the video's id.

    Returns:
        ``[K, T, 4]`` float ``(x1, y1, x2, y2)`` in the video's pixels for its K distractors over
        its T frames, NaN where a distractor is off-screen.
    """
    specs, size, seed = _specs(str(Path(root).resolve()))
    if video_id not in specs:
        raise ValueError(f"{root}: no video {video_id!r} in this set ({len(specs)} videos)")
    video = render_video(specs[video_id], size, seed)
    t = video.frames.shape[0]
    boxes = [video.distractors[f"distractor {k}"] for k in range(len(video.distractors))]
    return np.stack(boxes) if boxes else np.zeros((0, t, 4))


class WithDistractors:
    """A :class:`~stgcn.data.box_source.BoxSource`: another source's boxes of a clip plus the
    synthetic set's distractors on the same frames, with category ``"none"`` and track
    ``DISTRACTOR_TRACK + k`` (see :func:`is_distractor`).

    Args:
        root: the generated set.
        inner: the source of the annotated boxes (e.g. the set's :class:`~stgcn.data.boxes.BoxIndex`).
    """

    def __init__(self, root: str | os.PathLike, inner: BoxSource) -> None:
        self.root = Path(root)
        self.inner = inner
        _specs(str(self.root.resolve()))  # fail now on a folder that is not a set

    def boxes(self, video_id: str, frames: object, times: np.ndarray) -> FrameBoxes | None:
        """``inner``'s boxes, then the distractors' at the frame nearest each time (12 fps)."""
        annotated = self.inner.boxes(video_id, frames, times)
        if annotated is None:
            return None
        extra = distractor_boxes(self.root, video_id)  # [K, T_video, 4]
        source = annotation_frames(times, FPS, extra.shape[1])  # [T_clip]
        box = extra[:, source]  # [K, T_clip, 4]
        k, t = np.nonzero(~np.isnan(box[..., 0]))
        n = len(k)
        added = FrameBoxes(
            frame=t.astype(np.int64),
            box=box[k, t].astype(np.float32),
            score=np.ones(n, dtype=np.float32),
            category=np.full(n, CATEGORY["none"], dtype=np.int64),
            track=(DISTRACTOR_TRACK + k).astype(np.int64),
            source_frame=None if annotated.source_frame is None else source[t].astype(np.int64),
        )
        return FrameBoxes.concat([annotated, added])

    def __repr__(self) -> str:
        return f"WithDistractors({str(self.root)!r}, {self.inner!r})"
