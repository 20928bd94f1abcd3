"""Files written atomically and read back without running code.

:func:`save_atomic` writes with :func:`torch.save` to a temporary file in the destination's folder,
flushes and ``fsync``-s it, moves it over the destination with :func:`os.replace` (atomic on POSIX
and Windows) and ``fsync``-s the folder entry: a process killed at any point leaves the old file or
the new one, never a truncated one.

:func:`load_safe` reads with ``torch.load(..., weights_only=True)``: the unpickler accepts tensors,
plain containers and numbers only, so a file that someone else wrote (a downloaded checkpoint, a
cache on a shared disk) cannot execute code while it is read. A file whose pickle names anything
else is refused with :class:`UnsafeFileError`. Everything stgcn writes (checkpoints, the decoded-clip
cache) is made of tensors, dicts, lists, strings and numbers for that reason.

This module imports nothing from stgcn, so every layer of the package can use it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

__all__ = ["UnsafeFileError", "atomic_path", "load_safe", "save_atomic"]


class UnsafeFileError(pickle.UnpicklingError):
    """A file whose pickle would build objects other than tensors and plain data (and so could run
    code) was refused."""


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` with :func:`torch.save` to ``path`` atomically; returns the path.

    The temporary file ``.<name>.<random>.tmp`` lives in the same folder, so the final
    :func:`os.replace` never crosses a file system; it is removed if the write fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave no temporary file behind on an error; the old file is untouched.
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


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (by any writer: matplotlib, Pillow, PyAV), moved
    over ``path`` with :func:`os.replace` when the block ends, removed if it raises.

    The temporary name keeps ``path``'s suffix, for writers that pick the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safe(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", mmap: bool = False
) -> Any:
    """Read a file written by :func:`save_atomic` (or ``torch.save``) with ``weights_only=True``.

    ``mmap=True`` maps the tensors' storage from the file instead of reading it into memory
    (``torch.load(..., mmap=True)``): pages are read when a tensor is used, so a cache larger
    than the memory can be opened whole.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeFileError: the pickle names a type other than tensors and plain data; the message
            says which, and that loading it could run code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        # torch's message names the refused global and suggests weights_only=False; we say why not.
        raise UnsafeFileError(
            f"{path}: refused to load: its pickle holds more than tensors and plain data, and "
            "unpickling it could run code. stgcn writes only tensors, dicts, lists, strings and "
            "numbers; if you wrote this file yourself and trust it, read it with "
            f"torch.load(path, weights_only=False). Details: {str(err).splitlines()[0]}"
        ) from err
