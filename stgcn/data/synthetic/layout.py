"""The official layout's content: which video gets which id, split, class and length, and the
Something-Else box entries and label entries of a rendered video.

The names of the files are here too. :mod:`.writer` only writes what these functions return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stgcn.data.synthetic.classes import CLASSES
from stgcn.data.synthetic.render import RenderedVideo, VideoSpec

LABELS_DIR = "labels"
VIDEOS_DIR = "20bn-something-something-v2"
BOX_FILES = tuple(f"bounding_box_smthsmth_part{k}.json" for k in range(1, 5))
MANIFEST = "synthetic_manifest.json"
SPLITS = ("train", "validation", "test")


def video_specs(
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


def box_parts(num_videos: int) -> np.ndarray:
    """The box file (0..3) of each video [num_videos]: the four parts take the videos in id
    order, in near-equal runs."""
    return np.repeat(np.arange(4), [len(c) for c in np.array_split(np.arange(num_videos), 4)])


def frame_entries(video: RenderedVideo, video_id: str) -> list[dict[str, Any]]:
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


def label_entry(spec: VideoSpec, placeholders: Sequence[str]) -> dict[str, Any]:
    """The entry of a video in ``something-something-v2-{train,validation}.json``: ``label`` is the
    template filled with the placeholders, first letter in lower case, as in the real files."""
    words = spec.template
    for p in placeholders:
        words = words.replace("[something]", p, 1)
    return {
        "id": spec.video_id,
        "label": words[0].lower() + words[1:],
        "template": spec.template,
        "placeholders": list(placeholders),
    }
