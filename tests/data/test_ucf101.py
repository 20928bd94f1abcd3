"""The UCF101 reader on a tiny folder in the official layout (mpeg4 .avi written with PyAV)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tiny_videos import write_video
from torch.utils.data import DataLoader

from stgcn.data.clip_dataset import Skipped
from stgcn.data.ssv2 import Sample, collate
from stgcn.data.ucf101 import UCF101, read_class_index, read_split_list
from stgcn.data.video import VideoDecodeError

CLASSES = ["ApplyEyeMakeup", "HandstandPushups"]
FILE_CLASS = {"ApplyEyeMakeup": "ApplyEyeMakeup", "HandstandPushups": "HandStandPushups"}
GROUPS = {1: (1,), 2: (2,), 3: (3,)}  # test groups of each fold; the others train
GRAY = {0: 40, 1: 200}  # each class its own brightness, to see that labels match the pixels


def _name(label: int, group: int) -> str:
    cls = CLASSES[label]
    return f"{cls}/v_{FILE_CLASS[cls]}_g{group:02d}_c01.avi"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ucf101")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    for label in range(2):
        for group in (1, 2, 3):
            write_video(root / "UCF-101" / _name(label, group), GRAY[label])
    for fold, test_groups in GROUPS.items():
        train = [(lab, g) for lab in range(2) for g in (1, 2, 3) if g not in test_groups]
        test = [(lab, g) for lab in range(2) for g in test_groups]
        (lists / f"trainlist0{fold}.txt").write_text(
            "".join(f"{_name(lab, g)} {lab + 1}\r\n" for lab, g in train)  # official: CRLF
        )
        (lists / f"testlist0{fold}.txt").write_text(
            "".join(f"{_name(lab, g)}\r\n" for lab, g in test)
        )
    return root


@pytest.fixture
def copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "ucf"))


def test_splits_and_labels(root: Path) -> None:
    for fold, test_groups in GROUPS.items():
        train = UCF101(root, "train", fold, num_frames=4, size=32)
        test = UCF101(root, "test", fold, num_frames=4, size=32)
        assert train.classes == test.classes == CLASSES
        assert len(train) == 4 and len(test) == 2
        assert {vid for vid, _ in train.records}.isdisjoint(vid for vid, _ in test.records)
        for vid, label in train.records + test.records:
            assert vid.startswith(f"v_{FILE_CLASS[CLASSES[label]]}_g")
        assert all(f"_g{test_groups[0]:02d}_" in vid for vid, _ in test.records)
    assert UCF101(root, "test", 2).records == [
        ("v_ApplyEyeMakeup_g02_c01", 0),
        ("v_HandStandPushups_g02_c01", 1),
    ]


def test_a_sample_is_a_normalised_clip_of_its_class(root: Path) -> None:
    ds = UCF101(root, "test", 1, num_frames=4, size=32, views=(2, 1))
    assert len(ds) == 4 and not ds.train
    for i in range(len(ds)):
        s = ds[i]
        assert isinstance(s, Sample) and s.clip.shape == (3, 4, 32, 32)
        assert s.clip.dtype == torch.float32 and s.view == i % 2
        assert s.label == i // 2 and s.video_id == ds.records[i // 2][0]
        assert s.graph.box.shape == (0, 4) and s.graph.num_frames == 4
        # the dark class is darker than the bright one after the same normalisation
        assert (s.clip.mean() > 0) == (s.label == 1)
    train = UCF101(root, "train", 1, num_frames=4, size=32)
    batch = collate([train[i] for i in range(len(train))])
    assert batch.clip.shape == (4, 3, 4, 32, 32) and batch.label.tolist() == [0, 0, 1, 1]


def test_a_corrupt_video_is_skipped_and_counted(copy: Path) -> None:
    bad = copy / "UCF-101" / _name(1, 3)
    bad.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    (copy / "UCF-101" / _name(0, 2)).unlink()
    ds = UCF101(copy, "train", 1, num_frames=4, size=32)  # g02, g03 of both classes
    with pytest.raises(VideoDecodeError, match="v_HandStandPushups_g03_c01.avi"):
        ds[3]
    with pytest.raises(FileNotFoundError, match="v_ApplyEyeMakeup_g02_c01.avi"):
        ds[0]
    ds = UCF101(copy, "train", 1, num_frames=4, size=32, on_error="skip")
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate))
    assert sorted(v for b in batches for v in b.video_id) == [
        "v_ApplyEyeMakeup_g03_c01",
        "v_HandStandPushups_g02_c01",
    ]
    skipped = [s for b in batches for s in b.skipped]
    assert all(isinstance(s, Skipped) for s in skipped)
    report = ds.error_report()  # counted in the workers
    assert report["skipped"] == {"missing_video": 1, "decode_error": 1}
    assert report["skipped_ids"]["decode_error"] == ["v_HandStandPushups_g03_c01"]
    ds.reset_errors()
    assert sum(ds.error_report()["skipped"].values()) == 0


def test_bad_split_files_name_file_and_line(copy: Path) -> None:
    lists = copy / "ucfTrainTestlist"
    classes = read_class_index(lists / "classInd.txt")
    (lists / "trainlist01.txt").write_text(f"{_name(0, 2)} 1\n{_name(1, 2)} 1\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2: label 1 is 'ApplyEyeMakeup'"):
        read_split_list(lists / "trainlist01.txt", classes)
    (lists / "testlist01.txt").write_text("Juggling/v_Juggling_g01_c01.avi\n")
    with pytest.raises(ValueError, match=r"testlist01.txt:1: class 'Juggling'"):
        UCF101(copy, "test", 1)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n3 HandstandPushups\n")
    with pytest.raises(ValueError, match=r"classInd.txt:2: expected '2 <ClassName>'"):
        UCF101(copy, "test", 1)
    with pytest.raises(ValueError, match="fold must be 1, 2 or 3"):
        UCF101(copy, "test", 4)
    with pytest.raises(FileNotFoundError, match="classInd"):
        UCF101(copy / "nowhere", "test", 1)
