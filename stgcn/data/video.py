"""Video decoding with PyAV: only as far as the sampled frames need, with frame timestamps.

Something-Something v2 videos are VP9 webm at 12 fps. Their Matroska header has no frame count, so
the number of frames is estimated from the duration and the frame rate (``round(duration * fps)``)
before decoding; the sampler picks indices in ``[0, n)`` and :meth:`VideoReader.read` decodes
frames in order, with FFmpeg's frame and slice threads (``thread_type = "AUTO"``), and stops after
the last index it needs. It does not seek: these videos are a few seconds long and one keyframe
starts them, so a seek would land at frame 0 anyway.

Each decoded frame keeps its presentation time ``pts * time_base`` (seconds from the stream's first
frame); :func:`annotation_frames` maps those times to the frames of a 12-fps annotation
(Something-Else boxes), so boxes follow the frames actually decoded whatever the video's rate.

A stream that ends more than ``tolerance`` frames before the header's estimate, while a sampled
frame lies beyond its end, is a truncated file and raises :class:`VideoDecodeError`. A truncation
after the last sampled frame is not seen here, because decoding stops there;
``python -m stgcn.data.verify`` decodes every file to the end and lists those.

Every way a file can fail, whatever PyAV or FFmpeg raise for it (an FFmpeg error, stream metadata
that is not UTF-8, a nonsense rate or duration in a damaged header), while opening, setting up
the stream, decoding or converting a frame, is a :class:`VideoDecodeError` naming the file, the
step and the library's error (kept as ``__cause__``). Metadata is decoded with
``metadata_errors="replace"``: a tag with bad bytes is not a reason to refuse the frames. Only a
missing file is a ``FileNotFoundError``. The dataset's ``on_error`` policy relies on this.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from stgcn.data.boxes import annotation_frames

try:
    import av
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("stgcn.data.video needs PyAV: pip install 'stgcn[video]'") from e


__all__ = ["VideoDecodeError", "VideoReader", "annotation_frames", "open_video"]


class VideoDecodeError(RuntimeError):
    """A video that cannot be opened or decoded (corrupt, truncated, no video stream)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason

    def __reduce__(self) -> tuple:
        # rebuilt from (path, reason) when a DataLoader worker sends it to the main process
        return (type(self), (self.path, self.reason))


# What PyAV and FFmpeg raise on a damaged file. FFmpeg's errors are av.FFmpegError (some also
# ValueError or OSError); PyAV itself raises UnicodeDecodeError on undecodable metadata (when not
# replaced), and arithmetic or lookup errors on values it derives from a damaged header (a zero
# time base, an absurd duration). Programming errors (TypeError, AttributeError) are not caught.
_LIBRARY_ERRORS = (
    av.FFmpegError,
    UnicodeError,
    ValueError,
    ArithmeticError,
    LookupError,
    OSError,
    EOFError,
    RuntimeError,
)


@contextmanager
def _as_decode_error(path: Path, step: str) -> Iterator[None]:
    """Turn a library exception during ``step`` into a :class:`VideoDecodeError` for ``path``."""
    try:
        yield
    except VideoDecodeError:
        raise
    except FileNotFoundError as e:
        if Path(path).is_file():  # the file exists: FFmpeg's ENOENT means something inside it
            raise VideoDecodeError(path, f"{step}: {type(e).__name__}: {e}") from e
        raise
    except _LIBRARY_ERRORS as e:
        raise VideoDecodeError(path, f"{step}: {type(e).__name__}: {e}") from e


def open_video(path: str | Path) -> av.container.InputContainer:
    """``av.open`` for reading, with every failure a :class:`VideoDecodeError` (missing file:
    ``FileNotFoundError``) and undecodable metadata replaced rather than fatal."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video file not found")
    with _as_decode_error(path, "cannot open"):
        return av.open(str(path), metadata_errors="replace")


class VideoReader:
    """Open a video for sampled decoding.

    Args:
        path: the video file.
        threads: FFmpeg decoding threads (0 = FFmpeg's choice).
        tolerance: how many frames the stream may end short of the header's estimate before it
            counts as truncated (durations are rounded in containers).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, threads: int = 0, tolerance: int = 1) -> None:
        self.path = Path(path)
        self.tolerance = tolerance
        self._threads = threads
        self._container = open_video(self.path)
        try:
            with _as_decode_error(self.path, "stream setup"):
                self._stream = self._video_stream()
                rate = self._stream.average_rate or self._stream.guessed_rate
                self.fps: float | None = float(rate) if rate and rate > 0 else None
                tb = self._stream.time_base
                start = self._stream.start_time
                self._start = float(start * tb) if start and tb else 0.0
                self.num_frames = self._estimate_num_frames()
        except BaseException:
            self.close()
            raise
        self._kept: dict[int, av.VideoFrame] = {}  # decoded frames that a read asked for
        self._times: list[float] = []  # times of every decoded frame
        self._tail: av.VideoFrame | None = None  # the last frame decoded
        self._t0 = 0.0  # presentation time of the first frame
        self._decoder = None
        self._ended = False

    def _video_stream(self) -> av.VideoStream:
        if not self._container.streams.video:
            raise VideoDecodeError(self.path, "no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = self._threads
        return stream

    def _estimate_num_frames(self) -> int | None:
        s = self._stream
        if s.frames:
            return int(s.frames)
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base - self._start
        else:
            return None
        n = duration * self.fps if self.fps else float("nan")
        # a damaged header can give a negative, infinite or absurd duration: no estimate then
        return max(1, round(n)) if 0 <= n < 1e8 else None

    @property
    def decoded(self) -> int:
        """How many frames have been decoded so far (decoding stops at the last needed frame)."""
        return len(self._times)

    @property
    def height(self) -> int:
        return self._stream.codec_context.height

    @property
    def width(self) -> int:
        return self._stream.codec_context.width

    def _decode_until(self, last: int, keep: set[int] | None) -> None:
        """Decode in order until frame ``last`` is decoded or the stream ends, keeping the frames
        in ``keep`` (all when None) as ``av.VideoFrame`` (converted to RGB only when read)."""
        try:
            if self._decoder is None:
                self._decoder = self._container.decode(self._stream)
            while len(self._times) <= last and not self._ended:
                frame = next(self._decoder, None)
                if frame is None:
                    self._ended = True
                    break
                k = len(self._times)
                t = frame.time
                if t is None:  # no pts: assume a constant rate
                    t = k / (self.fps or 1.0)
                if k == 0:
                    self._t0 = t  # times count from the first frame, as extracted JPEGs do
                self._times.append(t - self._t0)
                if keep is None or k in keep:
                    self._kept[k] = frame
                self._tail = frame
        except _LIBRARY_ERRORS as e:
            raise VideoDecodeError(
                self.path,
                f"decoding failed after frame {len(self._times)}: {type(e).__name__}: {e}",
            ) from e

    def _restart(self) -> None:
        self.close()
        self._container = open_video(self.path)
        with _as_decode_error(self.path, "stream setup"):
            self._stream = self._video_stream()
        self._decoder, self._ended = None, False
        self._times, self._kept = [], {}

    def count_frames(self) -> int:
        """Decode the whole stream (its frames kept for :meth:`read`) and return its length."""
        if self._times:
            self._restart()
        self._decode_until(sys.maxsize, keep=None)
        if not self._times:
            raise VideoDecodeError(self.path, "no frame could be decoded")
        self.num_frames = len(self._times)
        return self.num_frames

    def read(self, indices: np.ndarray | Tensor) -> tuple[Tensor, np.ndarray]:
        """Decode the frames ``indices`` (sorted or not, repeats allowed).

        Returns:
            frames ``[T, H, W, 3]`` uint8 and times ``[T]`` float64 (seconds from the first frame).
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError("no frame index to read")
        if idx.min() < 0:
            raise IndexError(f"{self.path}: negative frame index {idx.min()}")
        wanted = set(idx.tolist())
        if any(i < len(self._times) and i not in self._kept for i in wanted):
            self._restart()  # an earlier read passed this frame without keeping it
        last = int(idx.max())
        self._decode_until(last, keep=wanted)
        have = len(self._times)
        if have == 0:
            raise VideoDecodeError(self.path, "no frame could be decoded (corrupt or truncated)")
        if last >= have:
            expected = self.num_frames if self.num_frames is not None else last + 1
            if expected - have > self.tolerance:
                raise VideoDecodeError(
                    self.path,
                    f"truncated or corrupt: the header promises ~{expected} frames, "
                    f"the stream ended after {have}",
                )
            # within tolerance: the header rounded up; take the last frame decoded
            idx = np.minimum(idx, have - 1)
            self._kept.setdefault(have - 1, self._tail)
        unique, inverse = np.unique(idx, return_inverse=True)
        with _as_decode_error(self.path, "converting frames to RGB"):
            rgb = np.stack([self._kept[i].to_ndarray(format="rgb24") for i in unique.tolist()])
        frames = torch.from_numpy(rgb[inverse])
        return frames, np.asarray(self._times, dtype=np.float64)[idx]

    def close(self) -> None:
        try:
            self._container.close()
        except _LIBRARY_ERRORS:
            pass  # closing a damaged container can fail too; nothing is left to release

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, ~{self.num_frames} frames at {self.fps} fps)"
