"""UCF101 (Soomro, Zamir & Shah, 2012) in its official layout, with the three official splits.

Layout under ``root`` (as ``UCF101.rar`` and ``UCF101TrainTestSplits-RecognitionTask.zip``
unpack; either folder can be given separately)::

    UCF-101/<Class>/v_<Class>_gGG_cCC.avi          13,320 videos, 25 fps, 320x240
    ucfTrainTestlist/classInd.txt                  "1 ApplyEyeMakeup" ... "101 YoYo"
    ucfTrainTestlist/trainlist0{1,2,3}.txt         "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist0{1,2,3}.txt          "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Labels are 0-based: ``classInd`` index - 1. A video's class is the folder of its list entry
(the test lists carry no label); a train-list label that disagrees with the folder is an error.
(The folder, not the file name, names the class: the official files of ``HandstandPushups``
are named ``v_HandStandPushups_*``.) A video's id is its file stem, ``v_<Class>_gGG_cCC``.

Samples are those of :class:`stgcn.data.ssv2.SomethingSomethingV2` (``Sample(clip [3, T, H, W],
label, graph, video_id, view)``, batched by :func:`stgcn.data.ssv2.collate`); the graph is an
empty :class:`~stgcn.graphs.VideoGraph` (UCF101 has no boxes), so graph-free models read it as
any other batch. Sampling, transforms, multi-view testing and ``on_error`` (missing or
undecodable videos raise, or are skipped and counted in :meth:`UCF101.error_report`) are the
shared machinery of :class:`stgcn.data.video_files.VideoFileDataset` (HMDB51 and Kinetics
use it too). Training flips left/right
by default, as TSN does on UCF101 (no UCF101 class depends on direction).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from stgcn.data.sampling import Sampling
from stgcn.data.video_files import VideoFileDataset

__all__ = ["FOLDS", "UCF101", "read_class_index", "read_split_list"]

VIDEO_DIR = "UCF-101"
SPLITS_DIR = "ucfTrainTestlist"
FOLDS = (1, 2, 3)


def read_class_index(path: str | Path) -> list[str]:
    """``classInd.txt`` -> class names in label order (label = position, 0-based).

    Each line is ``"<1-based index> <ClassName>"``; the indices must run 1..N in order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCF101: no class index {path}")
    classes: list[str] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise ValueError(
                f"{path}:{lineno}: expected '{len(classes) + 1} <ClassName>', got {line!r}"
            )
        classes.append(parts[1])
    if not classes:
        raise ValueError(f"{path}: no classes")
    return classes


def read_split_list(path: str | Path, classes: list[str]) -> list[tuple[str, int]]:
    """A ``trainlist0k.txt`` / ``testlist0k.txt`` -> ``[(relative path, 0-based label)]``.

    Train lines are ``"<Class>/<file>.avi <1-based label>"``, test lines ``"<Class>/<file>.avi"``;
    the label is the class of the folder, and a given label must agree with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCF101: no split list {path}")
    label_of = {c: i for i, c in enumerate(classes)}
    out: list[tuple[str, int]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        folder = parts[0].split("/")[0]
        if len(parts) > 2 or "/" not in parts[0] or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError(
                f"{path}:{lineno}: expected '<Class>/<file>.avi [<label>]', got {line!r}"
            )
        if folder not in label_of:
            raise ValueError(f"{path}:{lineno}: class {folder!r} is not in the class index")
        label = label_of[folder]
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise ValueError(
                f"{path}:{lineno}: label {parts[1]} is {classes[int(parts[1]) - 1]!r} in the "
                f"class index but the video is in folder {folder!r}"
                if 1 <= int(parts[1]) <= len(classes)
                else f"{path}:{lineno}: label {parts[1]} outside 1..{len(classes)}"
            )
        out.append((parts[0], label))
    return out


class UCF101(VideoFileDataset):
    """UCF101 clips of one official split (see the module docstring for the layout).

    Args:
        root: dataset root holding ``UCF-101/`` and ``ucfTrainTestlist/``.
        split: ``"train"`` or ``"test"``.
        fold: which official split, 1, 2 or 3 (``trainlist0{fold}.txt``).
        num_frames: T, frames per clip.
        sampling: ``"tsn"``, ``"uniform"`` or ``"dense"`` (:mod:`stgcn.data.sampling`).
        stride: frame stride of dense clips.
        size: crop size (square).
        train: random sampling and augmentation; default ``split == "train"``.
        views: ``(num_clips, num_crops)`` for multi-view testing (item ``i * views + v`` is view
            ``v`` of video ``i``).
        videos_dir, splits_dir: the two folders (default ``root/UCF-101``,
            ``root/ucfTrainTestlist``).
        train_crop: ``"random"`` or ``"multiscale"``.
        flip: random left/right flip in training (default True).
        transform: replaces the default transforms, as in ``SomethingSomethingV2``.
        on_error: ``"raise"`` or ``"skip"`` (missing or undecodable videos).
        decode_threads: FFmpeg threads per decoder (0 = FFmpeg's choice).

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
        if split not in ("train", "test"):
            raise ValueError(f"UCF101: unknown split {split!r}; expected 'train' or 'test'")
        if fold not in FOLDS:
            raise ValueError(f"UCF101: fold must be 1, 2 or 3, got {fold!r}")
        self.root = Path(root)
        self.split, self.fold = split, fold
        self.videos_dir = Path(videos_dir) if videos_dir is not None else self.root / VIDEO_DIR
        self.splits_dir = Path(splits_dir) if splits_dir is not None else self.root / SPLITS_DIR
        self.classes = read_class_index(self.splits_dir / "classInd.txt")
        entries = read_split_list(self.splits_dir / f"{split}list0{fold}.txt", self.classes)
        self.files = [rel for rel, _ in entries]
        self.records = [(Path(rel).stem, label) for rel, label in entries]
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
            f"UCF101({self.split}, fold {self.fold}, {len(self.records)} videos, "
            f"{len(self.classes)} classes, T={self.num_frames} {self.sampling}, "
            f"size={self.size}, views={self.views})"
        )
