"""Region features: boxes -> feature frames -> RoIAlign -> node vectors as a VideoGraph batch."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torchvision.ops import roi_align

from stgcn.graphs import VideoGraph
from stgcn.models.region import RegionFeatures, feature_frames, roi_features

STRIDE = 16


def _cell_box(i: int, j: int, stride: int = STRIDE) -> list[float]:
    """The input-pixel box covering exactly feature cell (row i, column j)."""
    return [float(stride * k) for k in (j, i, j + 1, i + 1)]


def test_box_covering_one_cell_returns_that_cell() -> None:
    torch.manual_seed(0)
    b, c, t, h, w = 2, 6, 3, 4, 5
    feats = torch.rand(b, c, t, h, w)
    # (video, feature step, row, col); corners included. Each target cell is raised above its
    # neighbours, so the max over the 7x7 RoIAlign grid is the cell itself (the centre bin samples
    # exactly the cell centre; every other bin mixes in smaller neighbours).
    cells = [(0, 0, 0, 0), (0, 2, 3, 4), (0, 1, 1, 2), (1, 1, 2, 3), (1, 2, 0, 4)]
    for vb, vt, i, j in cells:
        feats[vb, :, vt, i, j] = 2.0 + torch.rand(c)
    graphs = [
        VideoGraph(
            box=torch.tensor([_cell_box(i, j) for vb, _, i, j in cells if vb == video]),
            frame=torch.tensor([2 * vt for vb, vt, _, _ in cells if vb == video]),
            num_frames=2 * t,
        )
        for video in range(b)
    ]
    module = RegionFeatures(in_channels=c, out_channels=None, feature_stride=STRIDE)
    nodes = module(feats, Batch.from_data_list(graphs), num_frames=2 * t)
    want = torch.stack([feats[vb, :, vt, i, j] for vb, vt, i, j in cells])
    torch.testing.assert_close(nodes.x, want)
    assert nodes.frame.tolist() == [vt for _, vt, _, _ in cells]
    assert nodes.batch.tolist() == [vb for vb, _, _, _ in cells]

    # the jd730 bug (1/8 on a stride-16 map) reads other cells
    wrong = RegionFeatures(in_channels=c, out_channels=None, feature_stride=8)
    assert not torch.allclose(wrong(feats, Batch.from_data_list(graphs), 2 * t).x, want)


def test_boxes_go_to_the_feature_frame_of_input_frame_s_times_t() -> None:
    b, c, t_feat, s = 2, 3, 4, 2
    t_in = s * t_feat
    # every cell of video v, feature step t holds 10 v + t: the node value names its frame
    feats = (10 * torch.arange(b)[:, None] + torch.arange(t_feat)[None, :]).float()
    feats = feats[:, None, :, None, None].expand(b, c, t_feat, 2, 2).contiguous()
    frames = torch.arange(t_in)
    graph = Batch.from_data_list(
        [
            VideoGraph(box=torch.tensor([[0.0, 0.0, 20.0, 20.0]]).repeat(t_in, 1), frame=frames),
            VideoGraph(box=torch.tensor([[4.0, 8.0, 30.0, 30.0]]).repeat(t_in, 1), frame=frames),
        ]
    )
    nodes = RegionFeatures(c, None, feature_stride=STRIDE)(feats, graph, num_frames=t_in)
    kept = frames[frames % s == 0]
    assert nodes.frame.tolist() == (kept // s).tolist() * b
    assert nodes.batch.tolist() == [0] * t_feat + [1] * t_feat
    torch.testing.assert_close(nodes.x[:, 0], (10 * nodes.batch + nodes.frame).float())
    assert nodes.num_frames.tolist() == [t_feat] * b

    keep, ff = feature_frames(torch.tensor([0, 1, 2, 5, 7]), 8, 4)
    assert keep.tolist() == [True, False, True, False, False]
    assert ff.tolist() == [0, 0, 1, 2, 3]


def test_single_roi_align_call_matches_per_frame_reference() -> None:
    torch.manual_seed(1)
    b, c, t, h, w = 3, 5, 4, 6, 6
    feats = torch.randn(b, c, t, h, w)
    n = 40
    batch = torch.sort(torch.randint(0, b, (n,))).values
    frame = torch.randint(0, t, (n,))
    xy = torch.rand(n, 2) * 80
    box = torch.cat([xy, xy + 4 + torch.rand(n, 2) * 40], dim=1)
    got = roi_features(feats, box, frame, batch, 1 / STRIDE, output_size=7)
    want = torch.stack(
        [
            roi_align(
                feats[batch[k], :, frame[k]][None],
                [box[k : k + 1]],
                7,
                1 / STRIDE,
                sampling_ratio=-1,
                aligned=True,
            ).amax((2, 3))[0]  # fmt: skip
            for k in range(n)
        ]
    )
    torch.testing.assert_close(got, want)


def test_reduction_carried_attributes_and_round_trip() -> None:
    torch.manual_seed(2)
    feats = torch.randn(3, 8, 2, 4, 4)
    g0 = VideoGraph(
        box=torch.tensor([[0.0, 0, 30, 30], [10, 10, 60, 60], [5, 5, 20, 20]]),
        frame=torch.tensor([0, 2, 3]),
        category=torch.tensor([1, 2, 2]),
        num_frames=4,
        video_id="a",
    )
    empty = VideoGraph(
        box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long),
        category=torch.zeros(0, dtype=torch.long), num_frames=4, video_id="b",
    )  # fmt: skip
    g2 = VideoGraph(
        box=torch.tensor([[1.0, 2, 40, 50]]), frame=torch.tensor([2]),
        category=torch.tensor([1]), num_frames=4, video_id="c",
    )  # fmt: skip
    module = RegionFeatures(in_channels=8, out_channels=4, feature_stride=STRIDE)
    nodes = module(feats, Batch.from_data_list([g0, empty, g2]), num_frames=4)
    assert nodes.x.shape == (3, 4)
    assert nodes.category.tolist() == [1, 2, 1]
    assert nodes.num_graphs == 3
    parts = nodes.to_data_list()
    assert [p.num_nodes for p in parts] == [2, 0, 1]
    assert parts[0].frame.tolist() == [0, 1] and parts[2].frame.tolist() == [1]
    ref = roi_features(module.reduce(feats), nodes.box, nodes.frame, nodes.batch, 1 / STRIDE)
    torch.testing.assert_close(nodes.x, ref)
    nodes.x.sum().backward()
    assert module.reduce.weight.grad is not None


def test_mismatched_boxes_and_frames_raise() -> None:
    feats = torch.randn(1, 4, 2, 2, 2)
    module = RegionFeatures(4, None)
    late = VideoGraph(box=torch.tensor([[0.0, 0, 8, 8]]), frame=torch.tensor([4]))
    with pytest.raises(ValueError, match=r"0\.\.3 .*T=4"):
        module(feats, Batch.from_data_list([late]), num_frames=4)
    ok = VideoGraph(box=torch.tensor([[0.0, 0, 8, 8]]), frame=torch.tensor([1]))
    with pytest.raises(ValueError, match="2 video"):
        module(feats, Batch.from_data_list([ok, ok]), num_frames=4)
    with pytest.raises(ValueError, match="not a multiple"):
        module(feats, Batch.from_data_list([ok]), num_frames=5)
    declared = VideoGraph(box=torch.tensor([[0.0, 0, 8, 8]]), frame=torch.tensor([1]), num_frames=8)
    with pytest.raises(ValueError, match="num_frames"):
        module(feats, Batch.from_data_list([declared]), num_frames=4)
    # a lone VideoGraph (no batch vector) is one video
    on_even = VideoGraph(box=torch.tensor([[0.0, 0, 8, 8]]), frame=torch.tensor([2]))
    assert module(feats, on_even, num_frames=4).batch.tolist() == [0]


def test_low_precision_map_keeps_roi_indices_exact() -> None:
    """bfloat16 holds integers exactly only up to 256: roi indices must not be rounded."""
    t_feat = 300
    values = (torch.arange(t_feat) % 7).to(torch.bfloat16)
    feats = values[None, None, :, None, None].expand(1, 2, t_feat, 2, 2).contiguous()
    steps = torch.tensor([0, 255, 257, 299])
    got = roi_features(
        feats, torch.tensor([[0.0, 0, 32, 32]]).repeat(4, 1), steps, torch.zeros(4, dtype=torch.long),
        1 / STRIDE,
    )  # fmt: skip
    assert got.dtype == torch.bfloat16
    assert got[:, 0].tolist() == (steps % 7).float().tolist()


def test_max_boxes_per_frame_keeps_the_top_scored_boxes() -> None:
    """At most K boxes per (video, feature frame): the K highest scores, or the first K in file
    order when the graph has no scores. Kept nodes stay in file order."""
    torch.manual_seed(3)
    t_in, k = 4, 2
    feats = torch.randn(2, 3, t_in // 2, 4, 4)
    # video 0: 4 boxes on frame 0, 1 on frame 2, 3 on frame 1 (dropped: odd frame);
    # video 1: 3 boxes on frame 2
    frame0 = torch.tensor([0, 0, 2, 0, 1, 1, 1, 0])
    score0 = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.99, 0.98, 0.97, 0.8])
    frame1 = torch.tensor([2, 2, 2])
    score1 = torch.tensor([0.2, 0.7, 0.4])
    boxes0 = torch.rand(8, 2) * 20
    boxes1 = torch.rand(3, 2) * 20
    graphs = [
        VideoGraph(box=torch.cat([boxes0, boxes0 + 10], 1), frame=frame0, score=score0),
        VideoGraph(box=torch.cat([boxes1, boxes1 + 10], 1), frame=frame1, score=score1),
    ]
    capped = RegionFeatures(3, None, feature_stride=STRIDE, max_boxes_per_frame=k)
    nodes = capped(feats, Batch.from_data_list(graphs), num_frames=t_in)
    # frame 0 of video 0: scores 0.1, 0.9, 0.3, 0.8 -> 0.9 (box 1) and 0.8 (box 7); frame 2: box 2;
    # video 1: 0.7 (box 1) and 0.4 (box 2)
    assert nodes.score.tolist() == pytest.approx([0.9, 0.5, 0.8, 0.7, 0.4])
    assert nodes.batch.tolist() == [0, 0, 0, 1, 1]
    want_box = torch.cat([graphs[0].box[[1, 2, 7]], graphs[1].box[[1, 2]]])
    torch.testing.assert_close(nodes.box, want_box)
    everything = RegionFeatures(3, None, feature_stride=STRIDE)(
        feats, Batch.from_data_list(graphs), num_frames=t_in
    )
    assert everything.num_nodes == 5 + 3  # uncapped: every box on an even frame
    keep = [1, 2, 4, 6, 7]  # rows of the uncapped output the cap keeps
    torch.testing.assert_close(nodes.x, everything.x[keep])

    # no scores: the first K boxes of each frame, in file order
    plain = [VideoGraph(box=g.box, frame=g.frame) for g in graphs]
    first = capped(feats, Batch.from_data_list(plain), num_frames=t_in)
    torch.testing.assert_close(
        first.box, torch.cat([graphs[0].box[[0, 1, 2]], graphs[1].box[[0, 1]]])
    )
    with pytest.raises(ValueError, match="max_boxes_per_frame"):
        RegionFeatures(3, None, max_boxes_per_frame=0)
