"""Seeding: derived seeds and the generator state a checkpoint carries."""

from __future__ import annotations

import random

import numpy as np
import torch

from stgcn.engine.seeding import derive_seed, rng_state, seed_everything, set_rng_state


def _draws() -> tuple[float, float, float, torch.Tensor]:
    return random.random(), random.gauss(0, 1), np.random.rand(), torch.rand(3)  # noqa: NPY002


def test_rng_state_roundtrip() -> None:
    seed_everything(5)
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    np.random.standard_normal()  # noqa: NPY002 (and in numpy's)
    state = rng_state()
    a = _draws()
    set_rng_state(state)
    b = _draws()
    assert a[:3] == b[:3] and torch.equal(a[3], b[3])


def test_rng_state_holds_tensors_and_plain_numbers() -> None:
    state = rng_state()
    assert state["python"]["words"].dtype == torch.int64 and state["python"]["words"].numel() == 625
    assert state["numpy"]["keys"].dtype == torch.int64 and state["numpy"]["keys"].numel() == 624
    assert state["torch"].dtype == torch.uint8


def test_derive_seed_depends_on_every_part() -> None:
    seeds = {derive_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    assert 0 <= derive_seed(10**12, 5) < 2**63
