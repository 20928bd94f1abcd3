"""FrameBoxes -> Something-Else entries: the released schema's keys, read back unchanged by
``from_something_else`` (boxes, frames, categories, tracks), empty frames, clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY, HAND_TRACK, from_something_else
from stgcn.data.synthetic import generate
from stgcn.proposals import to_something_else

HAND, OBJ, NONE = CATEGORY["hand"], CATEGORY["object"], CATEGORY["none"]


def boxes() -> FrameBoxes:
    return FrameBoxes(
        frame=np.array([0, 0, 2, 2, 2], np.int64),
        box=np.array(
            [[1.234, 2, 30, 40], [5, 6, 7, 8], [0, 0, 1279.996, 720], [3, 3, 9, 9], [4, 4, 5, 5]],
            np.float32,
        ),
        score=np.array([0.9, 0.8, 0.7, 0.6, 0.12345], np.float32),
        category=np.array([HAND, OBJ, NONE, OBJ, HAND], np.int64),
        track=np.array([5, 0, 12, 0, 7], np.int64),
    )


def test_entries_read_back_unchanged():
    b = boxes()
    entries = to_something_else(b, "clip", 4)
    assert [e["name"] for e in entries] == [f"clip/{k:04d}.jpg" for k in (1, 2, 3, 4)]
    assert [e["nr_instances"] for e in entries] == [2, 0, 3, 0]
    assert entries[1]["labels"] == [] and entries[3]["labels"] == []  # frames without boxes
    entries = json.loads(json.dumps(entries))  # what a file holds
    g = from_something_else(entries, video_id="clip")
    assert g.num_frames == 4
    np.testing.assert_array_equal(g.frame.numpy(), b.frame)
    np.testing.assert_allclose(g.box.numpy(), np.round(b.box.astype(np.float64), 2), atol=1e-4)
    # a hand stays a hand (its track id is not in the schema); a class-agnostic box reads as an
    # object whose placeholder index is its track id
    np.testing.assert_array_equal(g.category.numpy(), [HAND, OBJ, OBJ, OBJ, HAND])
    np.testing.assert_array_equal(g.track.numpy(), [HAND_TRACK, 0, 12, 0, HAND_TRACK])
    label = entries[2]["labels"][0]
    assert label["standard_category"] == "0012" and label["gt_annotation"] == "object 12"
    assert label["category"] == "none" and label["score"] == pytest.approx(0.7, abs=1e-4)
    assert entries[2]["labels"][2]["score"] == 0.1235  # 4 decimals


def test_same_keys_as_the_synthetic_release(tmp_path: Path):
    generate(tmp_path, 3, seed=0, size=(48, 64), frames=(12, 14), workers=0)
    released = json.loads((tmp_path / "bounding_box_smthsmth_part1.json").read_text())
    video, theirs = next(iter(released.items()))
    entry = next(e for e in theirs if e["labels"])
    ours = to_something_else(boxes(), "x", 4)[0]
    assert set(ours) <= set(entry)  # name, labels, nr_instances (no gt_placeholders)
    assert set(ours["labels"][0]) - {"score"} == set(entry["labels"][0])
    assert set(ours["labels"][0]["box2d"]) == set(entry["labels"][0]["box2d"])
    assert entry["name"] == f"{video}/0001.jpg" or entry["name"].startswith(f"{video}/")


def test_errors_are_clear():
    b = boxes()
    with pytest.raises(ValueError, match=r"0\.\.2"):
        to_something_else(b, "clip", 2)
    untracked = b._replace(track=np.full(5, -1, np.int64))
    with pytest.raises(ValueError, match="run a tracker"):
        to_something_else(untracked, "clip", 4)
    with pytest.raises(ValueError, match="unknown category"):
        to_something_else(b._replace(category=np.full(5, 9, np.int64)), "clip", 4)
    assert to_something_else(FrameBoxes.empty(), "v", 2) == [
        {"name": "v/0001.jpg", "labels": [], "nr_instances": 0},
        {"name": "v/0002.jpg", "labels": [], "nr_instances": 0},
    ]
