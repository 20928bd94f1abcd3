"""Optical flow throughput: frames per second of each method of ``stgcn.data.flow`` on this machine.

    python benchmarks/flow.py [--size 256] [--frames 20] [--methods tvl1 farneback dis]
        [--threads 1] [--video PATH] [--json OUT]

Each method computes the flow of ``--frames`` consecutive frame pairs through
:func:`stgcn.data.flow.video_flow` (grey conversion and, for a video, the ``--size`` scaling
included; decoding excluded), after one warm-up pair. The frames are a video's (``--video``, scaled
so the short side is ``--size``) or, by default, a textured square moving over a textured
background at ``size x 4/3 size`` (SSv2's aspect). ``--threads`` is OpenCV's thread count (the CLI
runs one thread per worker process, so 1 is what a worker gets; frames/s of W workers on W idle
cores is ~W times this). The table gives the median of ``--repeats`` runs, with the machine,
OpenCV version and thread count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _machine import machine

from stgcn.data.flow import DEFAULT_PARAMS, METHODS, video_flow


def synthetic_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``[n, H, W, 3]`` uint8: a textured square (1/3 of the height) moving 2 px right and 1 px
    down a frame over a static textured background."""
    rng = np.random.default_rng(seed)

    def texture(h: int, w: int) -> np.ndarray:
        t = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
        return ((t - t.min()) / (t.max() - t.min() + 1e-9) * 200 + 25).astype(np.uint8)

    side = max(4, height // 3)
    grey = np.repeat(texture(height, width)[None], n, axis=0)
    square = texture(side, side)
    for k in range(n):
        x, y = (4 + 2 * k) % max(1, width - side), (4 + k) % max(1, height - side)
        grey[k, y : y + side, x : x + side] = square
    return np.repeat(grey[..., None], 3, axis=-1)


def video_frames(path: Path, n: int) -> np.ndarray:
    """The first ``n`` frames of a video, ``[n, H, W, 3]`` uint8."""
    from stgcn.data.video import VideoReader

    with VideoReader(path) as r:
        frames, _ = r.read(np.arange(min(n, r.count_frames())))
    return frames.numpy()


def time_method(frames: np.ndarray, method: str, size: int | None, repeats: int) -> float:
    """Median frames/s of ``video_flow`` over ``repeats`` runs (after a one-pair warm-up)."""
    video_flow(frames[:2], method, size=size)  # warm-up: allocations, OpenCV's lazy set-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        flow, _ = video_flow(frames, method, size=size)
        rates.append(len(flow) / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; print the table; return its rows."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="short side of the frames (px)")
    p.add_argument("--frames", type=int, default=20, help="flow pairs per run")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--video", type=Path, help="time on this video's frames instead")
    p.add_argument("--json", type=Path, help="also write the rows and the machine here")
    a = p.parse_args(argv)
    cv2.setNumThreads(a.threads)
    if a.video is not None:
        frames, size = video_frames(a.video, a.frames + 1), a.size
    else:
        frames, size = synthetic_frames(a.frames + 1, a.size, round(a.size * 4 / 3)), None
    env = {**machine(), "opencv": cv2.__version__, "opencv_threads": cv2.getNumThreads()}
    h, w = frames.shape[1:3]
    rows = []
    for method in a.methods:
        fps = time_method(frames, method, size, a.repeats)
        rows.append(
            {
                "method": method,
                "size": a.size,
                "frames": len(frames) - 1,
                "frames_per_s": fps,
                "ms_per_frame": 1000 / fps,
                "params": DEFAULT_PARAMS[method],
            }
        )
    print(
        f"# {env['cpu']} ({env['cpu_count']} cores), OpenCV {env['opencv']} with "
        f"{env['opencv_threads']} thread(s), torch {env['torch']}, python {env['python']}"
    )
    source = a.video.name if a.video is not None else f"synthetic {h}x{w}"
    print(
        f"# {source}, flow at short side {a.size}, {len(frames) - 1} pairs, median of {a.repeats}"
    )
    print(f"{'method':<10} {'frames/s':>9} {'ms/frame':>9}")
    for r in rows:
        print(f"{r['method']:<10} {r['frames_per_s']:>9.1f} {r['ms_per_frame']:>9.1f}")
    if a.json is not None:
        a.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
