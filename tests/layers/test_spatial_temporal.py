"""SpatialTemporalGraphConv against Z = G^front X W_f + G^back X W_b (Wang & Gupta, eq. 4-5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from region_videos import random_videos
from torchvision.ops import box_iou

from stgcn.graphs import space_time_graph
from stgcn.layers import SpatialTemporalGraphConv

IN, OUT = 5, 3


def dense_graphs(box: torch.Tensor, frame: torch.Tensor, batch: torch.Tensor, thr: float = 0.0):
    """G_front, G_back [N, N] from the full IoU matrix, masked to (same video, frame t -> t+1)."""
    iou = torch.nan_to_num(box_iou(box.double(), box.double()))
    link = (batch[:, None] == batch[None, :]) & (frame[None, :] == frame[:, None] + 1)
    sigma = torch.where(link & (iou > thr), iou, torch.zeros_like(iou))
    front = sigma / sigma.sum(1, keepdim=True).clamp_min(1e-300)
    back = sigma.t() / sigma.t().sum(1, keepdim=True).clamp_min(1e-300)
    return front, back


def oracle(m: SpatialTemporalGraphConv, x, box, frame, batch, thr: float = 0.0) -> torch.Tensor:
    front, back = dense_graphs(box, frame, batch, thr)
    front, back = front.to(x.dtype), back.to(x.dtype)
    z = front @ x @ m.lin_front.weight.t() + back @ x @ m.lin_back.weight.t()
    return z if m.bias is None else z + m.bias


def videos(counts: list[int], num_frames: int = 4, seed: int = 0, dtype=torch.float32):
    """Nodes grouped by video (a PyG Batch's order), frames random within each video."""
    return random_videos(counts, IN, num_frames, seed, dtype)


def make(bias: bool = True, seed: int = 0, dtype=torch.float32) -> SpatialTemporalGraphConv:
    torch.manual_seed(seed)
    m = SpatialTemporalGraphConv(IN, OUT, bias=bias).to(dtype)
    if bias:
        with torch.no_grad():
            m.bias.normal_()
    return m


@pytest.mark.parametrize("thr", [0.0, 0.3])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_dense_equation(bias: bool, thr: float) -> None:
    # unequal videos, a 1-box and a 0-box video, frames without boxes
    # float64: the only difference is the order of summation
    x, box, frame, batch = videos([9, 1, 0, 14, 5], num_frames=5, dtype=torch.float64)
    m = make(bias, dtype=torch.float64)
    out = m(x, *space_time_graph(box, frame, batch, thr))
    torch.testing.assert_close(out, oracle(m, x, box, frame, batch, thr), atol=1e-12, rtol=1e-10)


def test_float32_against_float64_oracle() -> None:
    x, box, frame, batch = videos([9, 1, 0, 14, 5], num_frames=5, dtype=torch.float64)
    m = make(True, dtype=torch.float64)
    expected = oracle(m, x, box, frame, batch)
    out = m.float()(x.float(), *space_time_graph(box.float(), frame, batch))
    # float32 keeps ~7 digits: 1e-5 of the largest output leaves ~80 ulps for the reordered sums
    tol = 1e-5 * expected.abs().max().item()
    torch.testing.assert_close(out.double(), expected, atol=tol, rtol=1e-5)


def test_edge_list_path_equals_csr_path() -> None:
    x, box, frame, batch = videos([8, 6], seed=2, dtype=torch.float64)
    m = make(dtype=torch.float64)
    g = space_time_graph(box, frame, batch)
    n = x.size(0)
    index, value = m.adjacency(g.edge_index, g.front_weight, g.back_weight, n)
    h = torch.nn.functional.linear(x, torch.cat([m.lin_front.weight, m.lin_back.weight])).view(
        2 * n, OUT
    )
    edge_list = m.propagate(index.flip(0), x=h, weight=value, size=(2 * n, n)) + m.bias
    torch.testing.assert_close(edge_list, m(x, *g), atol=1e-12, rtol=1e-10)


def test_batch_equals_each_video_alone() -> None:
    counts = [7, 0, 1, 12]
    x, box, frame, batch = videos(counts, seed=3, dtype=torch.float64)
    m = make(dtype=torch.float64)
    together = m(x, *space_time_graph(box, frame, batch))
    start = 0
    for c in counts:
        sl = slice(start, start + c)
        alone = m(x[sl], *space_time_graph(box[sl], frame[sl]))
        torch.testing.assert_close(together[sl], alone, atol=1e-12, rtol=1e-10)
        start += c


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(0, 8), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_permutation_within_videos(counts: list[int], seed: int) -> None:
    x, box, frame, batch = videos(counts, seed=seed, dtype=torch.float64)
    m = make(dtype=torch.float64)
    out = m(x, *space_time_graph(box, frame, batch))
    # a random permutation inside each video keeps the batch vector sorted
    g = torch.Generator().manual_seed(seed)
    perm = torch.argsort(
        batch.double() + torch.rand(len(batch), generator=g, dtype=torch.float64) * 0.5
    )
    assert torch.equal(batch[perm], batch)
    out_p = m(x[perm], *space_time_graph(box[perm], frame[perm], batch[perm]))
    torch.testing.assert_close(out_p, out[perm], atol=1e-12, rtol=1e-10)
    assert torch.isfinite(out).all()


def test_gradients_reach_every_parameter() -> None:
    x, box, frame, batch = videos([6, 9], seed=4)
    m = make()
    m(x, *space_time_graph(box, frame, batch)).pow(2).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gradcheck_float64() -> None:
    x, box, frame, batch = videos([4, 3], num_frames=3, seed=5, dtype=torch.float64)
    m = make(dtype=torch.float64)
    g = space_time_graph(box, frame, batch)
    assert g.edge_index.size(1) > 0
    x.requires_grad_()
    front = g.front_weight.clone().requires_grad_()
    back = g.back_weight.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, f, b: m(a, g.edge_index, f, b), (x, front, back))
    params = dict(m.named_parameters())

    def by_params(*ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(m, dict(zip(params, ps, strict=True)), (x.detach(), *g))

    assert torch.autograd.gradcheck(
        by_params, tuple(p.detach().requires_grad_() for p in params.values()), fast_mode=True
    )


def test_no_nodes_and_no_edges() -> None:
    m = make()
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert m(torch.zeros(0, IN), empty, torch.zeros(0), torch.zeros(0)).shape == (0, OUT)
    # isolated nodes get only the bias
    out = m(torch.randn(3, IN), empty, torch.zeros(0), torch.zeros(0))
    torch.testing.assert_close(out, m.bias.expand(3, OUT))


def test_bad_input_and_repr() -> None:
    m = make()
    g = space_time_graph(*videos([5], seed=6)[1:3])
    with pytest.raises(ValueError, match=r"x must be \[N, 5\]"):
        m(torch.zeros(5, 4), *g)
    with pytest.raises(ValueError, match="front_weight and back_weight"):
        m(torch.zeros(5, IN), g.edge_index, g.front_weight[:0], g.back_weight)
    assert repr(m) == "SpatialTemporalGraphConv(5, 3)"
    # the paper's Z = GXW has no bias: nor has the layer by default
    assert SpatialTemporalGraphConv(IN, OUT).bias is None


def test_a_prebuilt_csr_operator_gives_the_same_output() -> None:
    x, box, frame, batch = videos([8, 6], seed=5, dtype=torch.float64)
    m = make(dtype=torch.float64)
    g = space_time_graph(box, frame, batch)
    adj = SpatialTemporalGraphConv.csr(*g, x.size(0))
    assert adj.layout == torch.sparse_csr and adj.shape == (14, 28)
    torch.testing.assert_close(m(x, adj), m(x, *g), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"CSR operator must be \[14, 28\]"):
        m(x, adj, g.front_weight, g.back_weight)
    with pytest.raises(ValueError, match="needs front_weight and back_weight"):
        m(x, g.edge_index)
