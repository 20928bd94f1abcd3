"""Data order and per-sample randomness that a resumed run reproduces exactly.

Two things make a mid-epoch resume land on the same batches and the same augmentations as a run that
was never stopped:

* :class:`ResumableSampler` wraps :class:`torch.utils.data.DistributedSampler` (also with one
  process), whose permutation depends only on ``(seed, epoch)``; it can skip the samples of the
  batches already consumed in the interrupted epoch.
* It yields ``(index, sample_seed)`` pairs, with ``sample_seed = derive_seed(seed, epoch, index)``,
  and :class:`SeededDataset` seeds python's ``random``, numpy and torch with it before calling the
  wrapped dataset. Augmentation thus depends on ``(seed, epoch, index)`` only: not on the worker a
  sample lands in, the number of workers, the world size or where the run was resumed.

A dataset that draws from its own private generator instead of the global ones is outside this
guarantee.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from stgcn.engine.seeding import derive_seed

__all__ = ["ResumableSampler", "SeededDataset", "batched"]


class SeededDataset(Dataset):
    """``dataset[index]`` with python/numpy/torch seeded from the key ``(index, sample_seed)``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, sample_seed = key
        random.seed(sample_seed)
        np.random.seed(sample_seed % 2**32)  # noqa: NPY002 (datasets may draw from it)
        torch.manual_seed(sample_seed)
        return self.dataset[index]


class ResumableSampler(Sampler):
    """Per-rank ``(index, sample_seed)`` keys of one epoch, optionally skipping a prefix.

    Args:
        length: number of samples in the dataset.
        num_replicas, rank: the process's place (``1, 0`` when alone).
        shuffle: a fresh permutation per epoch (training) or the natural order (evaluation).
        seed: the run's seed; the permutation of epoch ``e`` is that of
            ``DistributedSampler(seed=seed).set_epoch(e)``.
        drop_last: drop the tail so every rank gets the same number of samples (training), or
            pad with repeated indices (evaluation; the evaluator removes the repeats).
    """

    def __init__(
        self,
        length: int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        self.inner = DistributedSampler(
            range(length),
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.seed = seed
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select epoch ``epoch``'s order and skip its first ``skip`` samples on this rank."""
        self.inner.set_epoch(epoch)
        self.epoch = epoch
        self.skip = skip

    def indices(self) -> list[int]:
        """This rank's dataset indices for the current epoch, after the skip."""
        return list(self.inner)[self.skip :]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.indices():
            yield index, derive_seed(self.seed, self.epoch, index)

    def __len__(self) -> int:
        return len(self.inner) - self.skip


def batched(indices: Sequence[int], batch_size: int, drop_last: bool) -> list[list[int]]:
    """Split ``indices`` into the batches a ``DataLoader`` with that ``batch_size`` would form."""
    out = [list(indices[i : i + batch_size]) for i in range(0, len(indices), batch_size)]
    if drop_last and out and len(out[-1]) < batch_size:
        out.pop()
    return out
