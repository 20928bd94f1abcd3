"""Atomic checkpoints that load without running code.

:func:`save_checkpoint` writes atomically (:func:`stgcn.io.save_atomic`: temporary file in the same
folder, ``fsync``, :func:`os.replace`): a process killed at any point leaves either the old
checkpoint or the new one, never a truncated one. :func:`load_checkpoint` reads with
``torch.load(..., weights_only=True)`` (:func:`stgcn.io.load_safe`), so a downloaded checkpoint
cannot execute code; one whose pickle would is refused with :class:`stgcn.io.UnsafeFileError`.
A checkpoint therefore holds only tensors and plain data: state dicts, RNG states as tensors
(:func:`stgcn.engine.seeding.rng_state`), configurations as dicts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from stgcn.io import UnsafeFileError, load_safe, save_atomic

__all__ = ["UnsafeFileError", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (tensors and plain data) to ``path`` atomically; returns the path."""
    return save_atomic(state, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        UnsafeFileError: the file's pickle would build other objects than tensors and plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return load_safe(path, map_location=map_location)
