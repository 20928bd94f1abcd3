"""One video file -> its proposals as Something-Else frame entries.

:func:`propose_video` decodes a video with :class:`~stgcn.data.video.VideoReader`, runs a
:class:`~stgcn.proposals.Proposer` on its frames, keeps the top-k boxes of each frame above a
score, links them with a tracker and returns the video's list of Something-Else frame entries
(:mod:`stgcn.proposals.schema`), boxes in the video's own pixels.

**Annotation frames.** A Something-Else list position ``k`` is the frame at time ``k / 12`` s, and
the SSv2 reader maps a decoded frame at time ``t`` to position ``round(12 t)``. So the list covers
the video at ``annotation_fps`` (12) whatever the file's rate: position ``k`` takes the decoded
frame nearest ``k / annotation_fps`` s. For a 12-fps SSv2 video that is frame ``k``; a 30-fps
mp4 gets 12 entries per second, each from the nearest of its frames.

**Every N-th frame.** With ``every=N`` the proposer runs on positions ``0, N, 2N, ...`` only (as
one clip, so a motion proposer compares those frames), and every other position gets a copy of
the boxes (and track ids) of the processed position nearest in time, so each entry still has the
boxes of a frame at most ``N / 2`` positions away and a sampled clip finds boxes on every frame.

**Memory.** Frames are decoded and proposed in chunks of ``chunk`` processed frames (with the
proposer's ``context`` frames of overlap either side, whose boxes are dropped), so a long video
never holds more than a chunk of decoded frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stgcn.data.box_source import FrameBoxes
from stgcn.data.video import VideoReader
from stgcn.proposals.base import Proposer
from stgcn.proposals.schema import to_something_else


@dataclass
class VideoProposals:
    """What :func:`propose_video` made of one video.

    Attributes:
        entries: the Something-Else frame entries (``num_frames`` of them).
        num_frames: annotation frames (list length).
        num_proposed: frames the proposer ran on (after ``every`` and duplicates).
        num_boxes: boxes over all entries (copies for skipped frames included).
        dropped: boxes removed because they were empty once clipped to the frame and rounded.
    """

    entries: list[dict[str, Any]]
    num_frames: int
    num_proposed: int
    num_boxes: int
    dropped: int


def annotation_sources(num_frames: int, fps: float | None, annotation_fps: float) -> np.ndarray:
    """The decoded frame that each annotation position shows.

    Args:
        num_frames: frames in the video file.
        fps: its frame rate (None: assumed ``annotation_fps``).
        annotation_fps: rate of the annotation list (12 for Something-Else).

    Returns:
        ``[K]`` int64 frame indices, ``K = max(1, round(num_frames * annotation_fps / fps))``
        positions; position ``k`` takes frame ``round(k * fps / annotation_fps)`` (at most
        ``num_frames - 1``).
    """
    rate = fps if fps else annotation_fps
    k_len = max(1, round(num_frames * annotation_fps / rate))
    src = np.rint(np.arange(k_len) * (rate / annotation_fps)).astype(np.int64)
    return np.minimum(src, num_frames - 1)


def nearest_processed(num_positions: int, every: int) -> np.ndarray:
    """``[K]`` index into the processed positions ``0, every, 2 every, ...`` nearest each position
    (a tie goes to the earlier one)."""
    k = np.arange(num_positions)
    last = (num_positions - 1) // every
    return np.minimum((k + (every - 1) // 2) // every, last)


def top_k_per_frame(boxes: FrameBoxes, top_k: int | None, score_threshold: float) -> FrameBoxes:
    """Keep boxes with ``score >= score_threshold`` and, of those, the ``top_k`` best-scored of
    each frame; rows come back frame by frame, best first (ties keep the input order)."""
    order = np.lexsort((-boxes.score, boxes.frame))  # by frame, then score descending (stable)
    fb = boxes.select(order)
    keep = fb.score >= score_threshold
    if top_k is not None:
        first = np.searchsorted(fb.frame, fb.frame, side="left")
        keep &= (np.arange(fb.num_boxes) - first) < top_k
    return fb.select(keep)


def clip_and_round(boxes: FrameBoxes, height: int, width: int, decimals: int) -> FrameBoxes:
    """Clip boxes to ``[0, width] x [0, height]`` and round them as the schema will; drop those
    left with no area (the SSv2 reader rejects zero-area boxes)."""
    box = np.round(boxes.box.astype(np.float64), decimals)
    box[:, 0::2] = box[:, 0::2].clip(0, width)
    box[:, 1::2] = box[:, 1::2].clip(0, height)
    keep = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
    fb = boxes._replace(box=box.astype(np.float32))
    return fb.select(keep)


def _gather(boxes: FrameBoxes, source_of: np.ndarray) -> FrameBoxes:
    """Boxes of frame ``source_of[k]`` for each new frame ``k``: ``frame`` becomes ``k``."""
    order = np.argsort(boxes.frame, kind="stable")
    fb = boxes.select(order)
    n_src = int(source_of.max()) + 1 if len(source_of) else 0
    counts = np.bincount(fb.frame, minlength=n_src)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_k = counts[source_of]  # boxes that each new frame receives
    rows = np.repeat(starts[source_of] - np.concatenate([[0], np.cumsum(per_k)[:-1]]), per_k)
    rows += np.arange(int(per_k.sum()))
    out = fb.select(rows)
    return out._replace(frame=np.repeat(np.arange(len(source_of), dtype=np.int64), per_k))


def _drop_released(reader: VideoReader, below: int) -> None:
    """Let the reader forget decoded frames before ``below``.

    ``VideoReader`` keeps every frame a ``read`` asked for, so that a later read may repeat it;
    chunked reading never goes back, and without this a long video would keep all its frames.
    """
    kept = reader._kept
    for i in [i for i in kept if i < below]:
        del kept[i]


def propose_video(
    path: str | Path,
    proposer: Proposer,
    *,
    tracker: Callable[[FrameBoxes], FrameBoxes] | None,
    video_id: str | None = None,
    every: int = 1,
    top_k: int | None = None,
    score_threshold: float = 0.0,
    annotation_fps: float = 12.0,
    chunk: int = 64,
    decimals: int = 2,
) -> VideoProposals:
    """Propose boxes for one video file and return its Something-Else entries.

    Args:
        path: the video (anything FFmpeg decodes).
        proposer: frames ``[T, H, W, 3]`` uint8 -> :class:`FrameBoxes`; its ``context``
            attribute, if any, is the number of neighbour frames each frame's boxes depend on.
        tracker: ``FrameBoxes -> FrameBoxes`` that fills ``track`` (required for non-hand boxes
            by the schema); it sees the processed frames in order.
        video_id: key of the video (default: the file stem).
        every: run the proposer on every ``every``-th annotation frame (see the module docstring).
        top_k: boxes kept per frame (None: all the proposer gives).
        score_threshold: boxes scored below this are dropped.
        annotation_fps: rate of the annotation list (12 for Something-Else).
        chunk: processed frames decoded and proposed at a time.
        decimals: coordinate rounding of the output.

    Raises:
        FileNotFoundError: the file does not exist.
        stgcn.data.video.VideoDecodeError: the file cannot be opened or decoded, is truncated,
            or has no frame.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    path = Path(path)
    video_id = path.stem if video_id is None else video_id
    context = int(getattr(proposer, "context", 0))
    with VideoReader(path) as reader:
        n = reader.num_frames if reader.num_frames is not None else reader.count_frames()
        src = annotation_sources(n, reader.fps, annotation_fps)  # [K]
        processed = np.arange(0, len(src), every)  # positions the proposer runs on
        frames_run, position_run = np.unique(src[processed], return_inverse=True)  # [U]
        parts, size = [], None
        for lo in range(0, len(frames_run), chunk):
            hi = min(lo + chunk, len(frames_run))
            a, b = max(0, lo - context), min(len(frames_run), hi + context)
            frames, _ = reader.read(frames_run[a:b])
            size = frames.shape[1:3]
            found = proposer(frames)
            inside = (found.frame >= lo - a) & (found.frame < hi - a)
            found = found.select(inside)
            parts.append(found._replace(frame=found.frame + a))
            if hi < len(frames_run):
                _drop_released(reader, int(frames_run[max(0, hi - context)]))
    assert size is not None  # at least one position, so at least one chunk
    height, width = int(size[0]), int(size[1])
    found = FrameBoxes.concat(parts)
    found = top_k_per_frame(found, top_k, score_threshold)
    before = found.num_boxes
    found = clip_and_round(found, height, width, decimals)
    dropped = before - found.num_boxes
    if tracker is not None:
        found = tracker(found)
    # position k shows the boxes of the processed position nearest it, i.e. of its frame
    source_of = position_run[nearest_processed(len(src), every)]
    boxes = _gather(found, source_of)
    entries = to_something_else(boxes, video_id, len(src), decimals=decimals)
    return VideoProposals(entries, len(src), len(frames_run), boxes.num_boxes, dropped)
