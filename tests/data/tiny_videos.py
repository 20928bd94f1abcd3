"""Tiny action videos written with PyAV, for the readers' fixtures (UCF101, HMDB51, Kinetics).

Each video is a flat grey frame, its brightness chosen per class so a test can see that a
sample's label matches its pixels, with a white square moving right.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

FRAMES, HEIGHT, WIDTH = 12, 48, 64


def frames(gray: int, num_frames: int = FRAMES) -> np.ndarray:
    """``[T, HEIGHT, WIDTH, 3]`` uint8: grey ``gray`` with a white square moving 3 px a frame."""
    out = np.full((num_frames, HEIGHT, WIDTH, 3), gray, dtype=np.uint8)
    for k in range(num_frames):
        out[k, 8:16, 4 + 3 * k : 12 + 3 * k] = 255
    return out


def mp4_codec() -> str:
    """``libx264`` when this PyAV's FFmpeg has it (Kinetics' own codec), else ``mpeg4``."""
    try:
        av.codec.Codec("libx264", "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for an absent encoder
        return "mpeg4"
    return "libx264"


def write_video(path: Path, gray: int, codec: str = "mpeg4", fps: int = 25) -> Path:
    """Write :func:`frames` of ``gray`` to ``path`` (container from the suffix: .avi, .mp4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width, s.pix_fmt = HEIGHT, WIDTH, "yuv420p"
        s.options = {"qscale": "2"} if codec == "mpeg4" else {"crf": "18", "preset": "ultrafast"}
        for img in frames(gray):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
