"""Helpers for the proposal tests: real and generated frames, bad video files, box checks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torchvision.utils import draw_bounding_boxes, make_grid

from stgcn.data.box_source import FrameBoxes
from stgcn.data.video import VideoReader

REAL_VIDEOS = ("bigbuckbunny.mp4", "carphone_pristine.mp4")  # 1280x720 h264, 176x144


def read_frames(path: Path, indices: list[int]) -> torch.Tensor:
    """Decoded frames ``[T, H, W, 3]`` uint8 of a video."""
    with VideoReader(path) as r:
        frames, _ = r.read(np.asarray(indices))
    return frames


def assert_inside(boxes: FrameBoxes, num_frames: int, height: int, width: int) -> None:
    """Every box lies in the frame, has area, and belongs to one of the frames."""
    b = boxes.box
    assert b.dtype == np.float32 and b.shape == (boxes.num_boxes, 4)
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all(), b.min(0)
    assert (b[:, 2] <= width).all() and (b[:, 3] <= height).all(), b.max(0)
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert ((boxes.frame >= 0) & (boxes.frame < num_frames)).all()
    for a in (boxes.frame, boxes.score, boxes.category, boxes.track):
        assert a.shape == (boxes.num_boxes,)


def draw(frames: torch.Tensor, boxes: FrameBoxes, path: Path, frames_shown: int = 3) -> Path:
    """Draw the boxes of the first frames into one PNG (to look at), and check it reads back."""
    t_len, h, w = frames.shape[:3]
    images = []
    for t in range(min(frames_shown, t_len)):
        sel = boxes.frame == t
        images.append(
            draw_bounding_boxes(
                frames[t].permute(2, 0, 1),
                torch.from_numpy(boxes.box[sel]),
                colors="red",
                width=max(1, w // 320),
            )
        )
    grid = make_grid(images, nrow=len(images), padding=2)
    assert cv2.imwrite(str(path), grid.permute(1, 2, 0).numpy()[..., ::-1])
    back = cv2.imread(str(path))
    assert back is not None and back.shape == (grid.shape[1], grid.shape[2], 3)
    return path


def moving_square_clip(
    t_len: int = 6, size: tuple[int, int] = (96, 128), side: int = 24, step: int = 4, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray]:
    """A textured square moving right over a static textured background.

    Returns frames ``[T, H, W, 3]`` uint8 and the square's box ``[T, 4]`` in each frame.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    # smooth background texture (upsampled noise), a sharp high-contrast texture on the square
    bg = rng.integers(60, 120, size=(h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    tex = rng.integers(0, 256, size=(side // 4, side // 4, 3)).repeat(4, 0).repeat(4, 1)
    frames = np.empty((t_len, h, w, 3), np.uint8)
    boxes = np.empty((t_len, 4), np.float32)
    y0 = (h - side) // 2
    for t in range(t_len):
        x0 = 16 + step * t
        frames[t] = bg
        frames[t, y0 : y0 + side, x0 : x0 + side] = tex
        boxes[t] = (x0, y0, x0 + side, y0 + side)
    return torch.from_numpy(frames), boxes


def write_video(path: Path, frames: np.ndarray, fps: int = 12, codec: str = "libx264") -> Path:
    """Encode ``[T, H, W, 3]`` uint8 frames (mp4/h264 by default)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        for k, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


def write_zero_frame_video(path: Path) -> Path:
    """An mp4 container with a header and a video stream declared, and no frame."""
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=12)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    c.start_encoding()
    c.close()
    assert path.is_file() and path.stat().st_size > 0
    return path
