"""What stgcn's video datasets share: multi-view indexing, frame sampling, transforms,
``on_error`` and the error log that DataLoader workers write into shared memory.

A dataset subclasses :class:`VideoClipDataset`, fills ``records`` (``[(video_id, label)]``),
calls :meth:`~VideoClipDataset._init_clips` at the end of its ``__init__`` and implements
``_load(index, video_id, label, view)``, which reads one view of one video and raises
``FileNotFoundError`` / :class:`~stgcn.data.video.VideoDecodeError` (or another error listed in
``skip_errors``) for bad input. The base class turns those into :class:`Skipped` records under
``on_error="skip"``, counts them per index (the latest visit of each) in shared memory, so the
main process sees what workers skipped (:meth:`~VideoClipDataset.skip_report`), and records what
each worker is reading, so a worker killed by a decoder crash is named
(:func:`stgcn.data.dead_workers.name_dead_worker`). Used by
:class:`~stgcn.data.ssv2.SomethingSomethingV2` and :class:`~stgcn.data.ucf101.UCF101`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from stgcn.data.sampling import Sampling, sample_indices
from stgcn.data.transforms import eval_transform, train_transform
from stgcn.data.video import VideoDecodeError, VideoReader

__all__ = ["Skipped", "VideoClipDataset"]

_WORKER_SLOTS = 64  # worker ids beyond this share slots (modulo); real loaders use far fewer


class Skipped(NamedTuple):
    """A sample skipped under ``on_error="skip"``: which index, which video, why."""

    index: int
    video_id: str
    reason: str
    message: str


class VideoClipDataset(Dataset):
    """Base of the video datasets; see the module docstring for what a subclass provides.

    Attributes set by :meth:`_init_clips`: ``num_frames``, ``sampling``, ``stride``, ``size``,
    ``train``, ``num_clips``, ``num_crops``, ``views`` (= clips x crops; item ``i * views + v``
    is view ``v`` of video ``i``), ``on_error``, ``decode_threads``.
    """

    skip_errors: ClassVar[tuple[tuple[type[BaseException], str], ...]] = (
        (FileNotFoundError, "missing_video"),
        (VideoDecodeError, "decode_error"),
    )
    """``(exception type, reason)`` pairs that ``on_error="skip"`` turns into :class:`Skipped`;
    the first matching type names the reason (codes 1, 2, ... in the shared status)."""

    records: list[tuple[str, int]]

    @property
    def skip_reasons(self) -> tuple[str, ...]:
        """The reasons of ``skip_errors``, in order."""
        return tuple(reason for _, reason in self.skip_errors)

    def _init_clips(
        self,
        *,
        num_frames: int,
        sampling: Sampling,
        stride: int,
        size: int,
        train: bool,
        views: tuple[int, int],
        train_crop: str,
        flip_labels: Mapping[int, int | None] | None,
        transform: Callable[..., Any] | None,
        on_error: Literal["raise", "skip"],
        decode_threads: int,
    ) -> None:
        """Set the shared options, build the transforms and allocate the shared error log
        (call once ``records`` is final). ``flip_labels``: the left/right label map of a
        training flip (:func:`stgcn.data.transforms.flip_label_map`; ``{}`` flips every
        label unchanged), None for no flip; the other arguments as in the datasets."""
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if sampling not in ("tsn", "uniform", "dense"):
            raise ValueError(f"unknown sampling {sampling!r}; expected tsn, uniform or dense")
        self.num_frames, self.sampling, self.stride, self.size = num_frames, sampling, stride, size
        self.train, self.on_error, self.decode_threads = train, on_error, decode_threads
        self.num_clips, self.num_crops = views
        self.views = self.num_clips * self.num_crops
        if transform is not None:
            self._transforms = (
                [transform(c) for c in range(self.num_crops)] if self.num_crops > 1 else [transform]
            )
        elif train:
            self._transforms = [train_transform(size, train_crop, flip_labels=flip_labels)]
        else:
            self._transforms = [
                eval_transform(size, c, self.num_crops) for c in range(self.num_crops)
            ]
        self._status = torch.zeros(len(self), dtype=torch.int8).share_memory_()
        # (index, pid) that each worker is reading, -1 when idle: names the video of a dead worker
        self._reading = torch.full((_WORKER_SLOTS, 2), -1, dtype=torch.long).share_memory_()

    def __len__(self) -> int:
        return len(self.records) * self.views

    def _rng(self) -> np.random.Generator | None:
        # drawn from torch's RNG, which DataLoader seeds differently in each worker and epoch
        return np.random.default_rng(int(torch.randint(2**62, ()))) if self.train else None

    def _clear(self, index: int) -> None:
        """Forget the outcome of the previous visit of ``index`` (a subclass clears its own)."""
        self._status[index] = 0

    def _load(self, index: int, video_id: str, label: int, view: int) -> Any:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        video_id, label = self.records[index // self.views]
        view = index % self.views
        self._clear(index)
        info = torch.utils.data.get_worker_info()
        slot = (info.id if info is not None else 0) % _WORKER_SLOTS
        self._reading[slot] = torch.tensor([index, os.getpid()])
        try:
            return self._load(index, video_id, label, view)
        except tuple(t for t, _ in self.skip_errors) as e:
            if self.on_error == "raise":
                raise
            code, reason = next(
                (i, r) for i, (t, r) in enumerate(self.skip_errors) if isinstance(e, t)
            )
            self._status[index] = code + 1
            return Skipped(index, video_id, reason, str(e))
        finally:
            self._reading[slot] = -1

    def read_view(
        self, path: str | os.PathLike, view: int, rng: np.random.Generator | None
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Decode the frames of view ``view`` of the video at ``path`` (decoded only up to the
        last sampled frame). Returns ``(frames [T, H, W, 3] uint8, times [T] seconds,
        indices [T])``; raises ``FileNotFoundError`` / ``VideoDecodeError`` with the path."""
        clip_idx = view // self.num_crops
        with VideoReader(path, threads=self.decode_threads) as reader:
            n = reader.num_frames or reader.count_frames()
            idx = sample_indices(
                self.sampling,
                n,
                self.num_frames,
                self.train,
                rng,
                self.stride,
                clip_idx,
                self.num_clips,
            )
            frames, times = reader.read(idx)
        return frames, times, idx

    def transform_for(self, view: int) -> Callable[..., Any]:
        """The transform of view ``view`` (its crop)."""
        return self._transforms[(view % self.num_crops) % len(self._transforms)]

    def reading(self) -> dict[int, tuple[int, str]]:
        """What each process is reading now: ``{pid: (index, video_id)}`` (a worker killed in
        the middle of a read stays listed with the video that killed it)."""
        out = {}
        for index, pid in self._reading.tolist():
            if index >= 0:
                out[pid] = (index, self.records[index // self.views][0])
        return out

    def skip_report(self) -> dict[str, Any]:
        """Samples skipped since construction or :meth:`reset_errors` (the latest visit of each
        index), gathered from all DataLoader workers: ``{"skipped": {reason: count},
        "skipped_ids": {reason: [video ids]}, "samples": len}``."""
        status = self._status.long()
        reasons = self.skip_reasons
        return {
            "skipped": {r: int((status == i + 1).sum()) for i, r in enumerate(reasons)},
            "skipped_ids": {
                r: [
                    self.records[int(j) // self.views][0]
                    for j in torch.nonzero(status == i + 1).flatten()
                ]
                for i, r in enumerate(reasons)
            },
            "samples": len(self),
        }

    def error_report(self) -> dict[str, Any]:
        """What was skipped (:meth:`skip_report`); subclasses add what they count besides."""
        return self.skip_report()

    def reset_errors(self) -> None:
        """Start a new count for :meth:`error_report` (e.g. at the start of an epoch)."""
        self._status.zero_()
