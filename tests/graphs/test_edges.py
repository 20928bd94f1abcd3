"""space_time_edges / back graph / complete_edges against dense oracles written per box pair."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stgcn.graphs import edges


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def dense_oracle(box: torch.Tensor, frame: torch.Tensor, batch: torch.Tensor, thr: float):
    """The paper's matrices, one box pair at a time: sigma, G_front, G_back as [N, N]."""
    n = box.size(0)
    sigma = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            if batch[i] == batch[j] and frame[j] == frame[i] + 1:
                v = _iou(box[i].tolist(), box[j].tolist())
                sigma[i, j] = v if v > thr else 0.0
    front = sigma / sigma.sum(1, keepdim=True).clamp_min(1e-300)
    back = sigma.t() / sigma.t().sum(1, keepdim=True).clamp_min(1e-300)
    return sigma, front, back


def to_dense(edge_index: torch.Tensor, weight: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(n, n, dtype=torch.float64)
    out.index_put_((edge_index[0], edge_index[1]), weight.double(), accumulate=True)
    return out


def random_boxes(n: int, num_frames: int, num_videos: int, seed: int, size: float = 40.0):
    """float64 boxes, so that the graphs match the oracle to ~1e-15, not to float32's 1e-7."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 60
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * size + 1
    box = torch.cat([xy, xy + wh], dim=1)
    frame = torch.randint(0, num_frames, (n,), generator=g)
    batch = torch.randint(0, num_videos, (n,), generator=g)
    return box, frame, batch


@pytest.mark.parametrize("thr", [0.0, 0.2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_and_back_equal_dense_oracle(seed: int, thr: float) -> None:
    # unsorted nodes, several videos, unequal box counts, frames without boxes
    box, frame, batch = random_boxes(40, 6, 3, seed)
    sigma, front, back = dense_oracle(box, frame, batch, thr)
    ei, iou = edges.space_time_iou(box, frame, batch, thr)
    assert torch.allclose(to_dense(ei, iou, 40), sigma, atol=1e-12)
    assert bool((iou > thr).all())
    ei_f, w_f = edges.space_time_edges(box, frame, batch, thr)
    assert torch.allclose(to_dense(ei_f, w_f, 40), front, atol=1e-12)
    ei_b, w_b = edges.back_edges(ei, iou, 40)
    assert torch.allclose(to_dense(ei_b, w_b, 40), back, atol=1e-12)
    both = edges.space_time_graph(box, frame, batch, thr)
    assert torch.equal(both.edge_index, ei)
    assert torch.allclose(to_dense(both.edge_index, both.front_weight, 40), front, atol=1e-12)
    assert torch.allclose(to_dense(both.edge_index.flip(0), both.back_weight, 40), back, atol=1e-12)
    # each edge is i at t -> j at t+1 of the same video
    assert torch.equal(frame[ei[1]], frame[ei[0]] + 1)
    assert torch.equal(batch[ei[1]], batch[ei[0]])


def test_rows_without_overlap_have_no_edges_and_no_nan() -> None:
    box = torch.tensor(
        [
            [0, 0, 10, 10],  # t=0, overlaps nothing at t=1
            [50, 50, 60, 60],  # t=0, overlaps node 2
            [55, 55, 65, 65],  # t=1
            [5, 5, 5, 5],  # t=1, zero area
            [5, 5, 5, 5],  # t=2, zero area: 0/0 with node 3 is no overlap
        ],
        dtype=torch.float,
    )
    frame = torch.tensor([0, 0, 1, 1, 2])
    ei, w = edges.space_time_edges(box, frame)
    assert ei.tolist() == [[1], [2]]
    assert w.tolist() == [1.0]
    g = edges.space_time_graph(box, frame)
    assert not torch.isnan(g.front_weight).any() and not torch.isnan(g.back_weight).any()


def test_empty_single_and_one_frame_inputs() -> None:
    for n, frames in ((0, []), (1, [0]), (3, [2, 2, 2])):
        box = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * n).reshape(n, 4)
        ei, w = edges.space_time_edges(box, torch.tensor(frames, dtype=torch.long))
        assert ei.shape == (2, 0) and w.shape == (0,) and ei.dtype == torch.long


def test_gradient_reaches_boxes_without_nan() -> None:
    box, frame, batch = random_boxes(20, 4, 2, 3)
    box = torch.cat([box, torch.tensor([[3.0, 3.0, 3.0, 3.0]])]).double().requires_grad_()
    frame = torch.cat([frame, torch.tensor([1])])
    batch = torch.cat([batch, torch.tensor([0])])
    g = edges.space_time_graph(box, frame, batch)
    (g.front_weight.sum() + (g.back_weight**2).sum()).backward()
    assert torch.isfinite(box.grad).all()


def test_bad_input() -> None:
    box = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"frame must have shape \[3\]"):
        edges.space_time_edges(box, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="iou_threshold"):
        edges.space_time_edges(box, torch.zeros(3, dtype=torch.long), iou_threshold=-0.1)
    with pytest.raises(ValueError, match=r"box must have shape \[N, 4\]"):
        edges.space_time_edges(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0"):
        edges.space_time_edges(box, torch.tensor([0, -1, 1]))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 14),
    num_frames=st.integers(1, 4),
    num_videos=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    size=st.sampled_from([2.0, 40.0]),
)
def test_property_matches_oracle_and_rows_sum_to_one(n, num_frames, num_videos, seed, size) -> None:
    box, frame, batch = random_boxes(n, num_frames, num_videos, seed, size)
    _, front, back = dense_oracle(box, frame, batch, 0.0)
    g = edges.space_time_graph(box, frame, batch)
    assert torch.allclose(to_dense(g.edge_index, g.front_weight, n), front, atol=1e-12)
    assert torch.allclose(to_dense(g.edge_index.flip(0), g.back_weight, n), back, atol=1e-12)
    for idx, w in ((g.edge_index[0], g.front_weight), (g.edge_index[1], g.back_weight)):
        sums = torch.zeros(n, dtype=w.dtype).index_add_(0, idx, w)
        has = torch.zeros(n, dtype=torch.bool)
        has[idx] = True
        assert torch.allclose(sums[has], torch.ones(int(has.sum()), dtype=w.dtype), atol=1e-12)


def test_row_normalize() -> None:
    ei = torch.tensor([[0, 0, 2], [1, 2, 0]])
    w = torch.tensor([1.0, 3.0, 0.5])
    assert edges.row_normalize(ei, w, 3).tolist() == [0.25, 0.75, 1.0]


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(0, 3), max_size=12))
def test_complete_edges_all_pairs_per_video(batch: list[int]) -> None:
    b = torch.tensor(batch, dtype=torch.long)
    ei = edges.complete_edges(b)
    got = set(map(tuple, ei.t().tolist()))
    want = {(i, j) for i in range(len(batch)) for j in range(len(batch)) if batch[i] == batch[j]}
    assert got == want
    assert ei.size(1) == len(want)  # no duplicates
