"""VideoGraph batching, validation and the networkx export."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import global_mean_pool

from stgcn.graphs import VideoGraph, space_time_edges, to_networkx


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
    # IoU row-normalised in float32, values <= 1: a few ulps (1.2e-7 each at 1)
    torch.testing.assert_close(w, batch.edge_weight, rtol=0, atol=1e-6)
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
    # a mean of 12 float32 values of magnitude ~1, summed in another order
    torch.testing.assert_close(pooled[2], videos[2].x.mean(0), rtol=0, atol=1e-6)


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
        ({"box": torch.zeros(2, 4), "frame": [0, 1], "category": [0, -3]}, "category codes"),
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
    skeleton = VideoGraph(box=v.box, frame=v.frame, num_frames=3)
    bare = to_networkx(skeleton)
    assert bare.number_of_nodes() == 6 and bare.number_of_edges() == 0
    assert bare.nodes[5]["frame"] == int(v.frame[5])
