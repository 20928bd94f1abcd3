"""Data order: skipping reproduces the tail, ranks partition the single-process order."""

from __future__ import annotations

import random

import numpy as np
import torch

from stgcn.engine.data_order import ResumableSampler, SeededDataset, batched


def test_skip_reproduces_the_tail_of_the_epoch() -> None:
    s = ResumableSampler(30, shuffle=True, seed=7)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, skip=12)
    assert list(s) == full[12:]
    assert len(s) == 18
    s.set_epoch(3)
    assert [i for i, _ in s] != [i for i, _ in full]  # a new permutation each epoch


def test_ranks_partition_the_single_process_batches() -> None:
    one = ResumableSampler(40, 1, 0, seed=1)
    one.set_epoch(1)
    ranks = [ResumableSampler(40, 2, r, seed=1) for r in range(2)]
    for r in ranks:
        r.set_epoch(1)
    big = batched(list(one), 8, drop_last=True)
    small = [batched(list(r), 4, drop_last=True) for r in ranks]
    for k, batch in enumerate(big):
        assert sorted(batch) == sorted(small[0][k] + small[1][k])  # same keys, seeds included


def test_seeded_dataset_depends_only_on_the_key() -> None:
    class Draw(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int):
            return i, random.random(), float(np.random.rand()), float(torch.rand(()))  # noqa: NPY002

    ds = SeededDataset(Draw())
    a = ds[(1, 123)]
    torch.rand(5)
    random.random()
    assert ds[(1, 123)] == a
    assert ds[(1, 124)] != a
