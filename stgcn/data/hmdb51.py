"""HMDB51 (Kuehne et al., *HMDB: A Large Video Database for Human Motion Recognition*, ICCV
2011) in its official layout, with the three official 70/30 splits.

Layout (``hmdb51_org.rar`` holds one ``<class>.rar`` per class, each unpacking to its folder;
``test_train_splits.rar`` unpacks to ``testTrainMulti_7030_splits``)::

    <videos_dir>/<class>/<video>.avi                              6,766 videos, 51 classes
    <splits_dir>/<class>_test_split{1,2,3}.txt                    "<video>.avi <id>" per line

with id 1 = training, 2 = testing, 0 = not used in that split (70 training and 30 testing
videos per class, from different actors). ``videos_dir`` defaults to ``root`` and
``splits_dir`` to ``root/testTrainMulti_7030_splits``.

Classes are those with split files, in alphabetical order (label = position, 0-based), the
order of the common releases. A video's id is its file stem. Everything else (sampling,
transforms, multi-view testing, ``on_error`` and :meth:`~HMDB51.error_report`) is the shared
machinery of :class:`stgcn.data.video_files.VideoFileDataset`. Training flips left/right by
default (no HMDB51 class depends on direction).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from stgcn.data.sampling import Sampling
from stgcn.data.video_files import VideoFileDataset

__all__ = ["HMDB51", "SPLITS_DIR", "list_classes", "read_split_file"]

SPLITS_DIR = "testTrainMulti_7030_splits"
FOLDS = (1, 2, 3)
SPLIT_IDS = {"train": 1, "test": 2}
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>[123])\.txt$")


def read_split_file(path: str | Path) -> dict[str, int]:
    """A ``<class>_test_split<k>.txt`` -> ``{video file name: id}`` (0 unused, 1 train, 2 test).

    Each non-empty line is ``"<video>.avi <id>"`` (the official files end lines with a space)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HMDB51: no split file {path}")
    out: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{lineno}: expected '<video>.avi <0|1|2>', got {line!r}")
        if parts[0] in out:
            raise ValueError(f"{path}:{lineno}: {parts[0]} is listed twice")
        out[parts[0]] = int(parts[1])
    return out


def list_classes(splits_dir: str | Path, fold: int = 1) -> list[str]:
    """The classes with a ``<class>_test_split<fold>.txt`` in ``splits_dir``, sorted."""
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise FileNotFoundError(f"HMDB51: no splits folder {splits_dir}")
    classes = sorted(
        m["cls"]
        for p in splits_dir.iterdir()
        if (m := _SPLIT_FILE.match(p.name)) and int(m["fold"]) == fold
    )
    if not classes:
        raise ValueError(f"HMDB51: {splits_dir} has no '<class>_test_split{fold}.txt' files")
    return classes


class HMDB51(VideoFileDataset):
    """HMDB51 clips of one official split (see the module docstring for the layout).

    Args:
        root: dataset root (class folders and, by default, the splits folder).
        split: ``"train"`` (id 1) or ``"test"`` (id 2).
        fold: which official split, 1, 2 or 3.
        num_frames, sampling, stride, size, train, views, train_crop, flip, transform,
        on_error, decode_threads: as in :class:`~stgcn.data.ucf101.UCF101`.
        videos_dir, splits_dir: the two folders (default ``root``,
            ``root/testTrainMulti_7030_splits``).

    Items: :class:`~stgcn.data.ssv2.Sample` (clip ``[3, T, size, size]``, label, an empty graph,
    the video id, the view) or, skipped, :class:`~stgcn.data.clip_dataset.Skipped`.
    """

    def __init__(
        self,
        root: str | Path,
        split: Literal["train", "test"] = "train",
        fold: int = 1,
        num_frames: int = 8,
        sampling: Sampling = "tsn",
        stride: int = 2,
        size: int = 112,
        train: bool | None = None,
        views: tuple[int, int] = (1, 1),
        videos_dir: str | Path | None = None,
        splits_dir: str | Path | None = None,
        train_crop: str = "random",
        flip: bool = True,
        transform: Callable[..., Any] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        decode_threads: int = 0,
    ) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(f"HMDB51: unknown split {split!r}; expected 'train' or 'test'")
        if fold not in FOLDS:
            raise ValueError(f"HMDB51: fold must be 1, 2 or 3, got {fold!r}")
        self.root = Path(root)
        self.split, self.fold = split, fold
        self.videos_dir = Path(videos_dir) if videos_dir is not None else self.root
        self.splits_dir = Path(splits_dir) if splits_dir is not None else self.root / SPLITS_DIR
        self.classes = list_classes(self.splits_dir, fold)
        want = SPLIT_IDS[split]
        self.files, self.records = [], []
        for label, cls in enumerate(self.classes):
            ids = read_split_file(self.splits_dir / f"{cls}_test_split{fold}.txt")
            for name in sorted(v for v, i in ids.items() if i == want):
                self.files.append(Path(cls) / name)
                self.records.append((Path(name).stem, label))
        self._init_clips(
            num_frames=num_frames,
            sampling=sampling,
            stride=stride,
            size=size,
            train=split == "train" if train is None else train,
            views=views,
            train_crop=train_crop,
            flip_labels={} if flip else None,
            transform=transform,
            on_error=on_error,
            decode_threads=decode_threads,
        )

    def __repr__(self) -> str:
        return (
            f"HMDB51({self.split}, fold {self.fold}, {len(self.records)} videos, "
            f"{len(self.classes)} classes, T={self.num_frames} {self.sampling}, "
            f"size={self.size}, views={self.views})"
        )
