"""The webm writer: frames to VP9 in WebM, byte for byte reproducible (with the same libvpx build).

Kept in this package rather than beside :class:`stgcn.data.video.VideoReader`: the generator is its
only user, and the encoder settings are part of what a generated set is (they enter the source
digest with the rest of the rendering).
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

__all__ = ["FPS", "encode_webm"]

FPS = 12


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
