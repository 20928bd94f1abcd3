"""The Something-Else format: per-frame entries to a VideoGraph skeleton, codes, bad entries."""

from __future__ import annotations

import pytest

from stgcn.data.something_else import CATEGORY, HAND_TRACK, from_something_else
from stgcn.graphs import to_networkx


def _label(x1: float, y1: float, x2: float, y2: float, std: str) -> dict:
    gt = "object hand" if std == "hand" else f"object {int(std)}"
    return {
        "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
        "category": "hand" if std == "hand" else "a cup",
        "standard_category": std,
        "gt_annotation": gt,
    }


def _entry() -> list[dict]:
    # 4 annotation frames: hand + cup, cup only, nothing, hand + cup + lid
    frames = [
        [_label(1, 2, 11, 12, "hand"), _label(20, 20, 40, 40, "0000")],
        [_label(21, 21, 41, 41, "0000")],
        [],
        [
            _label(3, 4, 13, 14, "hand"),
            _label(22, 22, 42, 42, "0000"),
            _label(50, 5, 60, 15, "0001"),
        ],
    ]
    return [
        {
            "name": f"123/{k + 1:04d}.jpg",
            "labels": labels,
            "gt_placeholders": ["a cup", "a lid"],
            "nr_instances": len(labels),
        }
        for k, labels in enumerate(frames)
    ]


def test_from_something_else_all_frames() -> None:
    g = from_something_else(_entry(), video_id="123")
    assert g.video_id == "123" and g.num_frames == 4 and g.x is None
    assert g.frame.tolist() == [0, 0, 1, 3, 3, 3]
    assert g.box[0].tolist() == [1, 2, 11, 12] and g.box[5].tolist() == [50, 5, 60, 15]
    h, o = CATEGORY["hand"], CATEGORY["object"]
    assert g.category.tolist() == [h, o, o, h, o, o]
    assert g.track.tolist() == [HAND_TRACK, 0, 0, HAND_TRACK, 0, 1]


def test_from_something_else_clip_frames() -> None:
    # a sampler picked annotation frames 0, 0, 2, 3 for a 4-frame clip: frame = clip position
    g = from_something_else(_entry(), video_id="123", frame_indices=[0, 0, 2, 3])
    assert g.num_frames == 4
    assert g.frame.tolist() == [0, 0, 1, 1, 3, 3, 3]
    assert g.box[2].tolist() == [1, 2, 11, 12]  # frame 0's hand repeated at clip position 1
    assert g.track.tolist() == [HAND_TRACK, 0, HAND_TRACK, 0, HAND_TRACK, 0, 1]
    empty = from_something_else(_entry(), frame_indices=[2])
    assert empty.num_nodes == 0 and empty.box.shape == (0, 4) and empty.num_frames == 1


def test_from_something_else_gt_annotation_fallback() -> None:
    entry = _entry()
    del entry[0]["labels"][0]["standard_category"]
    del entry[0]["labels"][1]["standard_category"]
    g = from_something_else(entry)
    assert g.category[:2].tolist() == [CATEGORY["hand"], CATEGORY["object"]]
    assert g.track[:2].tolist() == [HAND_TRACK, 0]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda e: e[1].pop("labels"), r"video '7', frame entry 1: missing or malformed 'labels'"),
        (
            lambda e: e[0]["labels"][1].pop("box2d"),
            r"frame entry 0, label 1: missing or malformed 'box2d'",
        ),
        (
            lambda e: e[3]["labels"][2]["box2d"].update(y2="15"),
            r"frame entry 3, label 2: box2d\['y2'\] must be a number",
        ),
        (
            lambda e: e[3]["labels"][0]["box2d"].update(x1=float("nan")),
            r"frame entry 3, label 0: box2d\['x1'\] is not finite",
        ),
        (
            lambda e: e[0]["labels"][0].update(standard_category="elbow"),
            "unknown standard_category 'elbow'",
        ),
        (
            lambda e: [e[1]["labels"][0].pop(k) for k in ("standard_category", "gt_annotation")],
            r"frame entry 1, label 0: needs 'standard_category'",
        ),
        (lambda e: e.__setitem__(2, "0003.jpg"), "frame entry 2: expected an object, got str"),
    ],
)
def test_from_something_else_malformed(mutate, match: str) -> None:
    entry = _entry()
    mutate(entry)
    with pytest.raises(ValueError, match=match):
        from_something_else(entry, video_id="7")


def test_from_something_else_rejects_bad_top_level_and_indices() -> None:
    with pytest.raises(ValueError, match="expected a list of per-frame entries, got dict"):
        from_something_else({"123": _entry()})
    with pytest.raises(ValueError, match=r"frame_indices must lie in 0..3"):
        from_something_else(_entry(), frame_indices=[0, 4])


def test_skeleton_to_networkx() -> None:
    bare = to_networkx(from_something_else(_entry()))
    assert bare.number_of_nodes() == 6 and bare.number_of_edges() == 0
    assert bare.nodes[5]["frame"] == 3 and bare.nodes[5]["track"] == 1
