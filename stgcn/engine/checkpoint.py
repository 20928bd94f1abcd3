"""Atomic checkpoints and the random-number-generator state they carry.

A checkpoint is written to a temporary file in the destination's folder, flushed and ``fsync``-ed,
then moved over the destination with :func:`os.replace` (atomic on POSIX and Windows) and the folder
entry is ``fsync``-ed too. A process killed at any point leaves either the old file or the new one,
never a truncated one.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` with :func:`torch.save` to ``path`` atomically; returns the path.

    The temporary file ``.<name>.<random>.tmp`` lives in the same folder, so the final
    :func:`os.replace` never crosses a file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave no temporary file behind on an error; the old checkpoint is untouched.
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (a clear error if it is missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    # weights_only=False: the state holds numpy RNG state and plain-python history, which we wrote.
    return torch.load(path, map_location=map_location, weights_only=False)


def rng_state() -> dict[str, Any]:
    """The state of every generator a training step may draw from: python, numpy, torch, CUDA."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (the global generator is what we save)
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


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
