"""VideoGraph batching, the Something-Else conversion and the networkx export."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import global_mean_pool

from stgcn.graphs import (
    CATEGORY,
    HAND_TRACK,
    VideoGraph,
    from_something_else,
    space_time_edges,
    to_networkx,
)


def _video(n: int, num_frames: int, seed: int, video_id: str) -> VideoGraph:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    box = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 20], dim=1)
    frame = torch.randint(0, num_frames, (n,), generator=g)
    edge_index, edge_weight = space_time_edges(box, frame)
    return VideoGraph(
        x=torch.randn(n, 3, generator=g),
        box=box,
        frame=frame,
        score=torch.rand(n, generator=g),
        category=torch.randint(0, 3, (n,), generator=g),
        track=torch.randint(-1, 3, (n,), generator=g),
        video_id=video_id,
        num_frames=num_frames,
        edge_index=edge_index,
        edge_weight=edge_weight,
    )


def test_batch_of_zero_one_and_many_boxes() -> None:
    videos = [
        _video(0, 4, 0, "empty"),
        _video(1, 4, 1, "one"),
        _video(12, 4, 2, "many"),
        _video(7, 3, 3, "more"),
    ]
    batch = Batch.from_data_list(videos)
    counts = [0, 1, 12, 7]
    assert batch.num_nodes == sum(counts) == batch.box.size(0)
    assert batch.num_graphs == 4
    assert batch.batch.tolist() == sum(([i] * c for i, c in enumerate(counts)), [])
    assert batch.ptr.tolist() == [0, 0, 1, 13, 20]
    # frames stay local to each video; the edge list is offset by the node counts before it
    assert torch.equal(batch.frame, torch.cat([v.frame for v in videos]))
    assert torch.equal(batch.track, torch.cat([v.track for v in videos]))
    offsets = [0, 0, 1, 13]
    assert torch.equal(
        batch.edge_index,
        torch.cat([v.edge_index + o for v, o in zip(videos, offsets, strict=True)], 1),
    )
    # ... and equals the edges computed on the batch directly
    ei, w = space_time_edges(batch.box, batch.frame, batch.batch)
    assert torch.equal(ei, batch.edge_index)
    assert torch.allclose(w, batch.edge_weight)
    assert batch.video_id == ["empty", "one", "many", "more"]
    assert batch.num_frames.tolist() == [4, 4, 4, 3]
    # round trip
    for v, back in zip(videos, batch.to_data_list(), strict=True):
        assert back.num_nodes == v.num_nodes
        assert torch.equal(back.box, v.box)
        assert torch.equal(back.frame, v.frame)
        assert torch.equal(back.edge_index, v.edge_index)
    # the empty video pools to a zero row when the pooling is told the number of videos
    pooled = global_mean_pool(batch.x, batch.batch, size=batch.num_graphs)
    assert pooled.shape == (4, 3)
    assert torch.equal(pooled[0], torch.zeros(3))
    assert torch.allclose(pooled[2], videos[2].x.mean(0))


def test_skeleton_without_features_has_num_nodes() -> None:
    g = VideoGraph(box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long), num_frames=8)
    assert g.x is None and g.num_nodes == 0
    g2 = VideoGraph(box=[[0.0, 0.0, 1.0, 1.0]] * 3, frame=[0, 1, 1], num_frames=2)
    assert g2.num_nodes == 3 and g2.box.dtype == torch.float32 and g2.frame.dtype == torch.long
    batch = Batch.from_data_list([g, g2, g])
    assert batch.num_nodes == 3 and batch.batch.tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"box": torch.zeros(3, 5), "frame": torch.zeros(3, dtype=torch.long)},
            r"box must have shape \[N, 4\]",
        ),
        (
            {"box": torch.zeros(3, 4), "frame": torch.zeros(2, dtype=torch.long)},
            r"frame must have shape \[3\]",
        ),
        ({"box": torch.zeros(2, 4), "frame": torch.zeros(2)}, "frame must be an integer"),
        ({"box": torch.zeros(2, 4, dtype=torch.long), "frame": [0, 1]}, "box must be a float"),
        ({"box": torch.zeros(2, 4), "frame": [0, -1]}, "frame indices must be >= 0"),
        (
            {"box": torch.zeros(2, 4), "frame": [0, 5], "num_frames": 5},
            "out of range for num_frames=5",
        ),
        ({"box": torch.zeros(2, 4), "frame": [0, 1], "category": [0, 3]}, "category codes"),
        (
            {"box": torch.zeros(2, 4), "frame": [0, 1], "score": [0.5]},
            r"score must have shape \[2\]",
        ),
        ({"box": torch.zeros(2, 4), "frame": [0, 1], "x": torch.zeros(3, 2)}, "x has 3 rows"),
        ({"box": torch.zeros(2, 4)}, "needs both box"),
    ],
)
def test_bad_input_is_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VideoGraph(**kwargs)


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


def test_to_networkx_carries_attributes() -> None:
    v = _video(6, 3, 5, "vid")
    graph = to_networkx(v)
    assert graph.number_of_nodes() == 6 and graph.number_of_edges() == v.edge_index.size(1)
    assert graph.graph == {"video_id": "vid", "num_frames": 3}
    for i, attrs in graph.nodes(data=True):
        assert attrs["box"] == pytest.approx(v.box[i].tolist())
        assert attrs["frame"] == int(v.frame[i])
        assert attrs["category"] == int(v.category[i])
        assert attrs["track"] == int(v.track[i])
    for (i, j), w in zip(v.edge_index.t().tolist(), v.edge_weight.tolist(), strict=True):
        assert graph.edges[i, j]["edge_weight"] == pytest.approx(w)
    # a skeleton without edges gives isolated nodes
    bare = to_networkx(from_something_else(_entry()))
    assert bare.number_of_nodes() == 6 and bare.number_of_edges() == 0
    assert bare.nodes[5]["frame"] == 3
