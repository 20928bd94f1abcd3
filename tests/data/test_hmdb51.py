"""The HMDB51 reader on a tiny folder in the official layout (mpeg4 .avi written with PyAV,
split files with the official trailing spaces)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_videos import write_video
from torch.utils.data import DataLoader

from stgcn.data import HMDB51
from stgcn.data.hmdb51 import read_split_file
from stgcn.data.ssv2 import Sample, collate

CLASSES = ["brush_hair", "pullup"]  # alphabetical: the labels
GRAY = {0: 40, 1: 200}
# per fold, the id of each of 4 videos of a class: 1 train, 2 test, 0 unused
IDS = {1: (1, 1, 2, 0), 2: (2, 1, 1, 0), 3: (1, 2, 0, 1)}


def _video(label: int, k: int) -> str:
    return f"{CLASSES[label]}_video{k}_f_cm_np1_ri_med_{k}.avi"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hmdb51")
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    for label, cls in enumerate(CLASSES):
        for k in range(4):
            write_video(root / cls / _video(label, k), GRAY[label])
        for fold, ids in IDS.items():
            lines = "".join(f"{_video(label, k)} {i} \n" for k, i in enumerate(ids))
            (splits / f"{cls}_test_split{fold}.txt").write_text(lines)
    return root


def test_splits_follow_the_ids(root: Path) -> None:
    for fold, ids in IDS.items():
        for split, want in (("train", 1), ("test", 2)):
            ds = HMDB51(root, split, fold, num_frames=4, size=32)
            assert ds.classes == CLASSES
            expect = [
                (Path(_video(label, k)).stem, label)
                for label in range(2)
                for k, i in enumerate(ids)
                if i == want
            ]
            assert sorted(ds.records) == sorted(expect)
            assert ds.train == (split == "train")
    assert read_split_file(root / "testTrainMulti_7030_splits" / "pullup_test_split1.txt") == {
        _video(1, k): i for k, i in enumerate(IDS[1])
    }


def test_samples_are_clips_of_their_class(root: Path) -> None:
    ds = HMDB51(root, "test", 1, num_frames=4, size=32, views=(2, 1))
    assert len(ds) == 4
    for i in range(len(ds)):
        s = ds[i]
        assert isinstance(s, Sample) and s.clip.shape == (3, 4, 32, 32)
        assert (s.clip.mean() > 0) == (s.label == 1)  # the bright class is class 1
        assert s.graph.box.shape == (0, 4) and s.view == i % 2
    train = HMDB51(root, "train", 1, num_frames=4, size=32, on_error="skip")
    batches = list(DataLoader(train, batch_size=2, num_workers=0, collate_fn=collate))
    assert sum(len(b.video_id) for b in batches) == 4
    assert train.error_report()["skipped"] == {"missing_video": 0, "decode_error": 0}


def test_a_missing_video_is_skipped_and_bad_split_files_are_errors(
    root: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(root, tmp_path / "hmdb"))
    (copy / CLASSES[0] / _video(0, 0)).unlink()
    with pytest.raises(FileNotFoundError, match=_video(0, 0)):
        HMDB51(copy, "train", 1, num_frames=4, size=32)[0]
    ds = HMDB51(copy, "train", 1, num_frames=4, size=32, on_error="skip")
    got = [ds[i] for i in range(len(ds))]
    assert sum(not isinstance(s, Sample) for s in got) == 1
    assert ds.error_report()["skipped_ids"]["missing_video"] == [Path(_video(0, 0)).stem]
    bad = copy / "testTrainMulti_7030_splits" / "pullup_test_split2.txt"
    bad.write_text(f"{_video(1, 0)} 3 \n")
    with pytest.raises(ValueError, match=r"pullup_test_split2.txt:1: expected"):
        HMDB51(copy, "train", 2)
    with pytest.raises(ValueError, match="no '<class>_test_split1.txt'"):
        HMDB51(copy, "train", 1, splits_dir=copy / CLASSES[0])
    with pytest.raises(ValueError, match="fold must be"):
        HMDB51(copy, "train", 4)
    with pytest.raises(ValueError, match="unknown split"):
        HMDB51(copy, "val", 1)
    assert len(ds) == 4  # the missing video stays listed: it is skipped when read
