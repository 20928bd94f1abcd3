"""Seeds and the random-number-generator state a checkpoint carries.

:func:`derive_seed` turns a tuple such as ``(seed, epoch, step, rank)`` into an unrelated 63-bit seed;
:func:`seed_everything` seeds python's ``random``, numpy's global generator and torch.
:func:`rng_state` / :func:`set_rng_state` capture and restore all of them as tensors and plain
numbers, so a checkpoint that holds them loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["derive_seed", "rng_state", "seed_everything", "set_rng_state"]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (e.g. ``(seed, epoch, step, rank)``).

    Uses numpy's ``SeedSequence`` so that neighbouring tuples give unrelated streams.
    """
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (datasets may draw from it)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The state of every generator a training step may draw from: python, numpy, torch, CUDA.

    Returns plain data: ``python`` and ``numpy`` as dicts of an int64 tensor (the Mersenne Twister's
    624 words and position) and numbers, ``torch`` and ``cuda`` as the uint8 tensors torch gives.
    """
    version, words, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    if kind != "MT19937":  # numpy's legacy global generator is always MT19937
        raise RuntimeError(f"unexpected numpy global generator {kind!r}")
    state = {
        "python": {"version": version, "words": torch.tensor(words), "gauss_next": gauss_next},
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["words"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (the global generator is what we restore)
        (
            "MT19937",
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
