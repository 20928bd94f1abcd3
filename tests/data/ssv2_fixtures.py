"""A tiny SSv2 in the official layout, written with PyAV, for the reader's tests.

Each video shows a white square (the "hand") moving right by ``STEP`` pixels per frame and a red
square (object 0) standing still, on a dark background; the Something-Else boxes say exactly where
they are, so a test can check that a sample's boxes sit on the right pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

HEIGHT, WIDTH = 96, 128
HAND, OBJECT = 12, 16  # square sides
STEP = 3
TEMPLATES = [
    "Moving [something] down",
    "Moving [something] up",
    "Pushing [something] from left to right",
    "Pushing [something] from right to left",
    "Putting [something] on a surface",
]


def labels_json() -> dict[str, str]:
    """The labels file: templates without brackets, indices alphabetical, as strings."""
    keys = sorted(t.replace("[", "").replace("]", "") for t in TEMPLATES)
    return {k: str(i) for i, k in enumerate(keys)}


def hand_box(k: int) -> list[float]:
    x = 4 + STEP * k
    return [float(x), 10.0, float(x + HAND), float(10 + HAND)]


def object_box() -> list[float]:
    return [60.0, 60.0, 60.0 + OBJECT, 60.0 + OBJECT]


def render(num_frames: int) -> np.ndarray:
    """Frames ``[T, H, W, 3]`` uint8 drawn from :func:`hand_box` and :func:`object_box`."""
    frames = np.full((num_frames, HEIGHT, WIDTH, 3), 20, dtype=np.uint8)
    ox1, oy1, ox2, oy2 = map(int, object_box())
    frames[:, oy1:oy2, ox1:ox2] = (220, 30, 30)
    for k in range(num_frames):
        x1, y1, x2, y2 = map(int, hand_box(k))
        frames[k, y1:y2, x1:x2] = 255
    return frames


def write_webm(path: Path, frames: np.ndarray, fps: int = 12) -> None:
    """VP9 webm through PyAV, bit-exact."""
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as c:
        s = c.add_stream("libvpx-vp9", rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        s.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "crf": "20"}
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def box_entries(video_id: str, num_frames: int) -> list[dict]:
    """Something-Else per-frame entries for one video."""
    out = []
    for k in range(num_frames):
        labels = [
            {
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), hand_box(k), strict=True)),
                "category": "hand",
                "standard_category": "hand",
                "gt_annotation": "object hand",
            },
            {
                "box2d": dict(zip(("x1", "y1", "x2", "y2"), object_box(), strict=True)),
                "category": "cup",
                "standard_category": "0000",
                "gt_annotation": "object 0",
            },
        ]
        out.append(
            {
                "name": f"{video_id}/{k + 1:04d}.jpg",
                "labels": labels,
                "gt_placeholders": ["cup"],
                "nr_instances": 2,
            }
        )
    return out


def make_ssv2(root: Path, lengths: dict[str, int] | None = None, parts: int = 2) -> Path:
    """Write the official layout under ``root``: labels, train/validation/test lists, webm videos
    and the boxes split over ``parts`` part files. Returns ``root``."""
    lengths = lengths or {"101": 24, "102": 30, "103": 20, "104": 36}
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "20bn-something-something-v2").mkdir(exist_ok=True)
    ids = list(lengths)
    entries = [
        {
            "id": vid,
            "label": TEMPLATES[i % len(TEMPLATES)].replace("[", "").replace("]", ""),
            "template": TEMPLATES[i % len(TEMPLATES)],
            "placeholders": ["cup"],
        }
        for i, vid in enumerate(ids)
    ]
    (root / "labels" / "something-something-v2-labels.json").write_text(json.dumps(labels_json()))
    for split in ("train", "validation"):
        (root / "labels" / f"something-something-v2-{split}.json").write_text(json.dumps(entries))
    (root / "labels" / "something-something-v2-test.json").write_text(
        json.dumps([{"id": v} for v in ids])
    )
    for vid, n in lengths.items():
        write_webm(root / "20bn-something-something-v2" / f"{vid}.webm", render(n))
    for p in range(parts):
        chunk = {vid: box_entries(vid, lengths[vid]) for vid in ids[p::parts]}
        (root / f"bounding_box_smthsmth_part{p + 1}.json").write_text(json.dumps(chunk, indent=1))
    return root
