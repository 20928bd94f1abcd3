"""The Kinetics reader on tiny copies in the three layouts (class folders named as the CSV,
class folders with underscores, flat), mp4 written with PyAV; missing videos counted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tiny_videos import mp4_codec, write_video

from stgcn.data import Kinetics
from stgcn.data.kinetics import read_annotations, video_name
from stgcn.data.ssv2 import Sample

CLASSES = ["air drumming", "zumba"]  # sorted: the labels; one with a space
GRAY = {0: 40, 1: 200}
ROWS = {  # split -> (label, youtube_id, start, end)
    "train": [(0, "-abc_12XYZw", 14, 24), (0, "b2", 0, 10), (1, "c3-", 103, 113), (1, "d4", 5, 15)],
    "validate": [(0, "e5", 30, 40), (1, "f6", 1, 11)],
}
GONE = "d4"  # "no longer on YouTube": in the CSV, not on disk


def _write(root: Path, layout: str) -> Path:
    ann = root / "annotations"
    ann.mkdir(parents=True)
    codec = mp4_codec()
    for split, rows in ROWS.items():
        with (ann / f"{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
            for label, yid, start, end in rows:
                w.writerow([CLASSES[label], yid, start, end, split, 0])
                if yid == GONE:
                    continue
                folder = {
                    "as_csv": CLASSES[label],
                    "underscores": CLASSES[label].replace(" ", "_"),
                    "flat": "",
                }[layout]
                write_video(root / split / folder / video_name(yid, start, end), GRAY[label], codec)
    return root


@pytest.fixture(scope="module", params=["as_csv", "underscores", "flat"])
def root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp(f"kinetics-{request.param}"), request.param)


def test_file_names_and_annotations(root: Path) -> None:
    assert video_name("-abc_12XYZw", 14, 24) == "-abc_12XYZw_000014_000024.mp4"
    assert video_name("x", 14.0, 24.0) == "x_000014_000024.mp4"
    rows = read_annotations(root / "annotations" / "train.csv")
    assert rows[0] == ("air drumming", "-abc_12XYZw_000014_000024.mp4")


def test_every_layout_reads_and_missing_videos_are_counted(root: Path) -> None:
    with pytest.warns(UserWarning, match=r"1 of 4 annotated videos \(25.0 %\)"):
        train = Kinetics(root, "train", num_frames=4, size=32)
    assert train.classes == CLASSES
    assert train.records == [
        ("-abc_12XYZw_000014_000024", 0),
        ("b2_000000_000010", 0),
        ("c3-_000103_000113", 1),
    ]
    assert train.missing == ["d4_000005_000015"]
    report = train.error_report()
    assert report["missing"] == 1 and report["missing_ids"] == ["d4_000005_000015"]
    for i in range(len(train)):
        s = train[i]
        assert isinstance(s, Sample) and s.clip.shape == (3, 4, 32, 32)
        assert (s.clip.mean() > 0) == (s.label == 1)
    val = Kinetics(root, "validate", num_frames=4, size=32)  # nothing missing: no warning
    assert val.classes == CLASSES and [lab for _, lab in val.records] == [0, 1]
    assert not val.train and val.missing == []
    with pytest.raises(FileNotFoundError, match="1 of 4 annotated videos"):
        Kinetics(root, "train", missing="raise")


def test_bad_annotations_are_errors(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "train.csv").write_text("youtube_id,time_start,time_end,split\nab,1,11,train\n")
    with pytest.raises(ValueError, match=r"lacks \['label'\]"):
        Kinetics(tmp_path, "train")
    (ann / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nx,ab,one,11,train\n"
    )
    with pytest.raises(ValueError, match="train.csv:2: times must be numbers"):
        Kinetics(tmp_path, "train")
    (ann / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nx,ab,1,11,train\n")
    with pytest.raises(FileNotFoundError, match="no video of"), pytest.warns(UserWarning):
        Kinetics(tmp_path, "train")
    with pytest.raises(ValueError, match=r"labels \['x'\] are not among"):
        Kinetics(tmp_path, "train", classes=["y"])
    with pytest.raises(FileNotFoundError, match="no videos folder"):
        Kinetics(tmp_path, "validate")
    with pytest.raises(ValueError, match="unknown split"):
        Kinetics(tmp_path, "val")
