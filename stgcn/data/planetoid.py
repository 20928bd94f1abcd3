"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) with the public split, via PyG.

:func:`load_planetoid` is what Kipf & Welling's experiments read: PyG's ``Planetoid`` on the raw
files ``ind.<name>.*`` of Kipf's repository, public split (20 labelled nodes per class, 500
validation, 1000 test), bag-of-words rows normalised to sum to 1. Online, ``Planetoid`` downloads
the raw files; offline, they are read from ``<root>/<name>/raw`` or copied there from ``raw_dir``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch_geometric.transforms as T
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid

__all__ = [
    "PLANETOID_DATASETS",
    "PLANETOID_RAW_NAMES",
    "copy_raw",
    "default_root",
    "load_planetoid",
]

PLANETOID_DATASETS = ("Cora", "CiteSeer", "PubMed")
# the suffixes of Kipf's raw files: ind.<name>.x, ind.<name>.tx, ...
PLANETOID_RAW_NAMES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def default_root() -> Path:
    """Where Planetoid downloads to by default: ``$XDG_CACHE_HOME/stgcn/planetoid``
    (``~/.cache/stgcn/planetoid`` when the variable is unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "stgcn" / "planetoid"


def _raw_files(folder: Path, name: str) -> list[Path]:
    return [folder / f"ind.{name.lower()}.{n}" for n in PLANETOID_RAW_NAMES]


def copy_raw(raw_dir: Path | str, root: Path | str, name: str) -> Path:
    """Copy the raw files ``ind.<name>.*`` from ``raw_dir`` into ``<root>/<name>/raw``.

    Returns the destination folder. Raises ``FileNotFoundError`` naming the missing files.
    """
    raw_dir, root = Path(raw_dir), Path(root)
    files = _raw_files(raw_dir, name)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{raw_dir}: missing Planetoid raw files {missing}")
    dst = root / name / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, dst / f.name)
    return dst


def load_planetoid(
    name: str, root: Path | str | None = None, raw_dir: Path | str | None = None
) -> Data:
    """The public split of ``name`` ("Cora", "CiteSeer" or "PubMed") with row-normalised features.

    PyG's ``Planetoid`` reads the raw files from ``<root>/<name>/raw`` (``root`` defaults to
    :func:`default_root`) and downloads them there when they are absent. Offline, put them there
    yourself, or pass ``raw_dir`` to copy them from that folder first; nothing is downloaded then.

    Returns a ``Data`` with ``x`` [N, F] (float, rows sum to 1 or are zero), ``edge_index`` [2, E]
    (both directions of each citation), ``y`` [N] and the boolean masks ``train_mask``,
    ``val_mask``, ``test_mask`` [N]. Cora: N = 2708, F = 1433, E = 10556, 7 classes.

    Raises ``ValueError`` for an unknown name and ``FileNotFoundError`` when the raw files are
    neither there nor downloadable (the message says where to put them).
    """
    if name not in PLANETOID_DATASETS:
        raise ValueError(
            f"unknown Planetoid dataset {name!r}; expected one of {PLANETOID_DATASETS}"
        )
    root = Path(root) if root is not None else default_root()
    if raw_dir is not None:
        copy_raw(raw_dir, root, name)
    raw = root / name / "raw"
    if all(f.is_file() for f in _raw_files(raw, name)):
        return Planetoid(str(root), name, transform=T.NormalizeFeatures())[0]
    try:
        dataset = Planetoid(str(root), name, transform=T.NormalizeFeatures())
    except Exception as err:  # fsspec/urllib raise many types when offline; all end here.
        raise FileNotFoundError(
            f"Could not download {name} into {raw} ({type(err).__name__}: {err}).\n"
            f"Offline, put the Planetoid raw files ind.{name.lower()}.* in {raw}/, or pass "
            f"raw_dir=DIR_WITH_RAW_FILES to copy them there (e.g. ../shared/data/planetoid/raw)."
        ) from err
    return dataset[0]
