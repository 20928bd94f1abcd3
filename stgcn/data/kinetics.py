"""Kinetics-400/600/700 (Kay et al., 2017; Carreira et al., 2018, 2019) from the official CSV
annotations and the videos as the common downloaders write them.

Annotations: one CSV per split (``train.csv``, ``validate.csv``, ``test.csv``) with the header
``label,youtube_id,time_start,time_end,split`` (Kinetics-600/700 add ``is_cc``; extra columns
are ignored). Videos: each annotated 10 s segment trimmed into
``<youtube_id>_<time_start:06d>_<time_end:06d>.mp4``, under

- a folder per class named as the CSV's label (``abseiling/``, ``air drumming/``), as the
  ActivityNet crawler writes them;
- or that name with spaces as underscores (``air_drumming/``), as several preprocessing tools
  rename them;
- or no class folders at all (a flat folder of files, as the CVDF archives unpack).

Each video is looked for in that order. About 5-10 % of Kinetics is no longer on YouTube, so
every copy lacks some videos: a video with no file is left out at construction, counted and
listed (:attr:`Kinetics.missing`, ``error_report()["missing"]``) and reported once with a
warning (``missing="raise"`` makes it an error instead). A file that exists but does not
decode goes through the shared ``on_error`` of
:class:`~stgcn.data.video_files.VideoFileDataset`.

Classes (label = position, 0-based) are the sorted labels of the training CSV next to the
split's CSV (so every split of a copy numbers them alike), or of ``classes`` when given.
A video's id is its file stem.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from stgcn.data.sampling import Sampling
from stgcn.data.video_files import VideoFileDataset

__all__ = ["Kinetics", "read_annotations", "video_name"]

COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
SPLITS = ("train", "validate", "test")


def video_name(youtube_id: str, time_start: float, time_end: float) -> str:
    """The file name of a segment: ``<youtube_id>_<start:06d>_<end:06d>.mp4``."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}.mp4"


def read_annotations(path: str | Path) -> list[tuple[str, str]]:
    """An annotation CSV -> ``[(label name, video file name)]`` in file order.

    Needs the columns ``label,youtube_id,time_start,time_end`` (others are ignored); a row with
    an empty field or a time that is not a number is an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Kinetics: no annotation file {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS[:4] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: the header lacks {missing} (got {reader.fieldnames}); Kinetics CSVs "
                f"have {','.join(COLUMNS)} (a test CSV without labels cannot be read)"
            )
        out = []
        for lineno, row in enumerate(reader, 2):
            fields = [(row.get(c) or "").strip() for c in COLUMNS[:4]]
            if not all(fields):
                raise ValueError(f"{path}:{lineno}: empty field in {row}")
            label, yid, start, end = fields
            try:
                name = video_name(yid, float(start), float(end))
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: times must be numbers, got {row}") from err
            out.append((label, name))
    return out


class Kinetics(VideoFileDataset):
    """Kinetics clips of one split (see the module docstring for the layouts).

    Args:
        root: dataset root: ``root/annotations/<split>.csv`` and ``root/<split>/`` by default.
        split: ``"train"``, ``"validate"`` or ``"test"`` (the CSV's file name).
        annotations: the split's CSV (default ``root/annotations/<split>.csv``).
        videos_dir: the split's videos (default ``root/<split>``), class folders or flat.
        classes: class names in label order (default: the sorted labels of ``train.csv`` beside
            ``annotations``, else of ``annotations`` itself).
        missing: ``"skip"`` (count, list and warn once) or ``"raise"`` for videos with no file.
        num_frames, sampling, stride, size, train, views, train_crop, flip, transform,
        on_error, decode_threads: as in :class:`~stgcn.data.ucf101.UCF101`.

    Items: :class:`~stgcn.data.ssv2.Sample` (clip ``[3, T, size, size]``, label, an empty graph,
    the video id, the view) or, skipped, :class:`~stgcn.data.clip_dataset.Skipped`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        num_frames: int = 8,
        sampling: Sampling = "tsn",
        stride: int = 2,
        size: int = 112,
        train: bool | None = None,
        views: tuple[int, int] = (1, 1),
        annotations: str | Path | None = None,
        videos_dir: str | Path | None = None,
        classes: Sequence[str] | None = None,
        missing: Literal["skip", "raise"] = "skip",
        train_crop: str = "random",
        flip: bool = True,
        transform: Callable[..., Any] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        decode_threads: int = 0,
    ) -> None:
        if annotations is None and split not in SPLITS:
            raise ValueError(f"Kinetics: unknown split {split!r}; expected one of {SPLITS}")
        if missing not in ("skip", "raise"):
            raise ValueError(f"Kinetics: missing must be 'skip' or 'raise', got {missing!r}")
        self.root, self.split = Path(root), split
        self.annotations = (
            Path(annotations) if annotations else self.root / "annotations" / f"{split}.csv"
        )
        self.videos_dir = Path(videos_dir) if videos_dir is not None else self.root / split
        if not self.videos_dir.is_dir():
            raise FileNotFoundError(f"Kinetics: no videos folder {self.videos_dir}")
        entries = read_annotations(self.annotations)
        self.classes = list(classes) if classes is not None else self._default_classes(entries)
        label_of = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({lab for lab, _ in entries} - set(label_of))
        if unknown:
            raise ValueError(
                f"{self.annotations}: labels {unknown[:5]} are not among the "
                f"{len(self.classes)} classes"
            )
        self.files, self.records, self.missing = [], [], []
        for label, name in entries:
            found = self._find(label, name)
            if found is None:
                self.missing.append(Path(name).stem)
            else:
                self.files.append(found)
                self.records.append((Path(name).stem, label_of[label]))
        if self.missing:
            msg = (
                f"Kinetics {split}: {len(self.missing)} of {len(entries)} annotated videos "
                f"({100 * len(self.missing) / len(entries):.1f} %) have no file under "
                f"{self.videos_dir} (first: {self.missing[0]}.mp4)"
            )
            if missing == "raise":
                raise FileNotFoundError(msg)
            warnings.warn(msg + "; they are left out (Kinetics.missing lists them)", stacklevel=2)
        if not self.records:
            raise FileNotFoundError(f"Kinetics {split}: no video of {self.annotations} was found")
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

    def _default_classes(self, entries: list[tuple[str, str]]) -> list[str]:
        train_csv = self.annotations.with_name("train.csv")
        if train_csv.is_file() and train_csv != self.annotations:
            entries = read_annotations(train_csv)
        return sorted({label for label, _ in entries})

    def _find(self, label: str, name: str) -> Path | None:
        """The file of one segment relative to ``videos_dir`` (class folder as the label, with
        underscores, or none), or None."""
        for rel in (Path(label) / name, Path(label.replace(" ", "_")) / name, Path(name)):
            if (self.videos_dir / rel).is_file():
                return rel
        return None

    def error_report(self) -> dict[str, Any]:
        """The shared skip report plus ``"missing"`` (videos with no file, left out at
        construction) and ``"missing_ids"``."""
        return {**super().error_report(), "missing": len(self.missing), "missing_ids": self.missing}

    def __repr__(self) -> str:
        return (
            f"Kinetics({self.split}, {len(self.records)} videos ({len(self.missing)} missing), "
            f"{len(self.classes)} classes, T={self.num_frames} {self.sampling}, "
            f"size={self.size}, views={self.views})"
        )
