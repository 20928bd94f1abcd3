"""Frame samplers: which frames of an ``n``-frame video make a ``T``-frame clip.

Every sampler returns a sorted ``int64`` numpy array of frame indices in ``[0, n)``. Training draws
from ``rng`` (a ``numpy.random.Generator``); testing is deterministic and ignores it. Multi-view
testing picks clip ``clip_idx`` of ``num_clips`` temporal views.

Short videos. A sampler never returns an index outside the video, so a video shorter than the clip
repeats frames, in order:

- TSN with ``avg = (n - new_length + 1) // K = 0``: the segment centres of testing, in training
  too, which repeat frames evenly. This replaces TSN's ``zeros(K)`` (the first frame K times) and
  its sorted ``randint`` (which can repeat one frame and skip others).
- Uniform sampling repeats frames by construction (segment boundaries are rounded).
- Dense clips with ``n < (T - 1) * stride + 1``: the clip is squeezed onto the whole video,
  ``round(linspace(0, n - 1, T))``, in training and testing alike. PySlowFast instead clamps the
  strided indices to ``n - 1``, which repeats the last frame up to ``T - 1`` times.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Sampling = Literal["tsn", "uniform", "dense"]


def _check(num_video_frames: int, num_frames: int, num_clips: int, clip_idx: int) -> None:
    if num_video_frames < 1:
        raise ValueError(f"cannot sample from a video with {num_video_frames} frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0 <= clip_idx < num_clips:
        raise ValueError(f"clip_idx must be in [0, {num_clips}), got {clip_idx}")


def _fraction(clip_idx: int, num_clips: int) -> float:
    """Where view ``clip_idx`` sits inside a segment: 1/2 for a single view (the centre)."""
    return (clip_idx + 0.5) / num_clips


def tsn_indices(
    num_video_frames: int,
    num_segments: int,
    train: bool,
    rng: np.random.Generator | None = None,
    new_length: int = 1,
    clip_idx: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """TSN segment sampling (Wang et al., *Temporal Segment Networks*, ECCV 2016).

    The video is cut into ``K = num_segments`` equal segments. Training takes a random offset
    inside each segment, ``avg = (n - new_length + 1) // K``, ``offset_k = k * avg + randint(avg)``;
    testing takes the segment centres ``int(tick / 2 + tick * k)`` with ``tick = (n - new_length + 1) / K``
    (view ``c`` of ``C`` takes ``tick * (c + 1/2) / C`` instead of ``tick / 2``).

    Returns:
        ``[K * new_length]`` int64 indices, sorted, each in ``[0, n)``; each offset is followed by
        ``new_length - 1`` consecutive frames (clamped to the video).
    """
    n, k = num_video_frames, num_segments
    _check(n, k, num_clips, clip_idx)
    span = n - new_length + 1
    if train and span >= k:
        if rng is None:
            raise ValueError("training sampling needs an rng")
        avg = span // k
        offsets = np.arange(k) * avg + rng.integers(avg, size=k)
    elif span >= 1:
        tick = span / k
        frac = _fraction(clip_idx, num_clips)
        offsets = np.floor(tick * frac + tick * np.arange(k)).astype(np.int64)
    else:
        offsets = np.floor((np.arange(k) + 0.5) * n / k).astype(np.int64)
    idx = offsets[:, None] + np.arange(new_length)[None, :]
    return np.clip(idx.reshape(-1), 0, n - 1).astype(np.int64)


def uniform_indices(
    num_video_frames: int,
    num_frames: int,
    train: bool,
    rng: np.random.Generator | None = None,
    clip_idx: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """Uniform sampling as PySlowFast's ``Ssv2.get_seq_frames``.

    ``seg = (n - 1) / T``; segment ``i`` spans ``[round(seg * i), round(seg * (i + 1))]`` (both ends
    included). Training draws one frame per segment, testing takes ``(start + end) // 2``
    (view ``c`` of ``C``: ``floor(start + (end - start) * (c + 1/2) / C)``).

    Returns:
        ``[T]`` int64 indices, sorted, each in ``[0, n)``.
    """
    n, t = num_video_frames, num_frames
    _check(n, t, num_clips, clip_idx)
    seg = (n - 1) / t
    i = np.arange(t)
    start = np.round(seg * i).astype(np.int64)
    end = np.round(seg * (i + 1)).astype(np.int64)
    if train:
        if rng is None:
            raise ValueError("training sampling needs an rng")
        idx = rng.integers(start, end + 1)
    else:
        idx = np.floor(start + (end - start) * _fraction(clip_idx, num_clips)).astype(np.int64)
    return np.asarray(idx, dtype=np.int64)


def dense_indices(
    num_video_frames: int,
    num_frames: int,
    stride: int,
    train: bool,
    rng: np.random.Generator | None = None,
    clip_idx: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """Dense clip: ``T`` frames at stride ``s`` (I3D / non-local networks, PySlowFast ``Kinetics``).

    The clip spans ``(T - 1) * s + 1`` frames. Training starts it at a random frame, testing centres
    it; view ``c`` of ``C > 1`` starts at ``round(delta * c / (C - 1))`` with ``delta = n - span``
    (PySlowFast's ``get_start_end_idx``). Videos shorter than the span follow the module's rule.

    Returns:
        ``[T]`` int64 indices, sorted, each in ``[0, n)``.
    """
    n, t = num_video_frames, num_frames
    _check(n, t, num_clips, clip_idx)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    span = (t - 1) * stride + 1
    delta = n - span
    if delta < 0:
        return np.round(np.linspace(0, n - 1, t)).astype(np.int64)
    if train:
        if rng is None:
            raise ValueError("training sampling needs an rng")
        start = int(rng.integers(delta + 1))
    elif num_clips == 1:
        start = delta // 2
    else:
        start = round(delta * clip_idx / (num_clips - 1))
    return start + np.arange(t, dtype=np.int64) * stride


def sample_indices(
    method: Sampling,
    num_video_frames: int,
    num_frames: int,
    train: bool,
    rng: np.random.Generator | None = None,
    stride: int = 2,
    clip_idx: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """Dispatch to :func:`tsn_indices` (``num_frames`` segments of one frame), :func:`uniform_indices`
    or :func:`dense_indices`. Returns ``[num_frames]`` sorted int64 indices in ``[0, n)``."""
    if method == "tsn":
        return tsn_indices(
            num_video_frames, num_frames, train, rng, clip_idx=clip_idx, num_clips=num_clips
        )
    if method == "uniform":
        return uniform_indices(num_video_frames, num_frames, train, rng, clip_idx, num_clips)
    if method == "dense":
        return dense_indices(num_video_frames, num_frames, stride, train, rng, clip_idx, num_clips)
    raise ValueError(f"unknown sampling {method!r}; expected 'tsn', 'uniform' or 'dense'")
