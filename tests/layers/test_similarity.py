"""SimilarityGraphConv against eq. (1)-(3) of Wang & Gupta, "Videos as Space-Time Region Graphs"."""

from __future__ import annotations

import pytest
import torch
from graph_checks import all_pairs, assert_each_video_alone, gradcheck_with_parameters, same_video

from stgcn.layers import SimilarityGraph, SimilarityGraphConv

IN, OUT = 5, 4
# Videos of 3, 0, 1 and 4 nodes: an empty and a single-node video among unequal ones.
BATCH = torch.tensor([0, 0, 0, 2, 3, 3, 3, 3])


def oracle(m: SimilarityGraphConv, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """G_ij = exp(phi(x_i)^T phi'(x_j)) / sum_k ..., over adj [N, N] (i <- j); Z = G X W + b."""
    s = (x @ m.phi.weight.t()) @ (x @ m.phi_prime.weight.t()).t()
    e = torch.exp(s) * adj.to(x.dtype)
    g = e / e.sum(1, keepdim=True).clamp(min=1e-300)
    z = g @ x @ m.lin.weight.t()
    return z if m.bias is None else z + m.bias


def make(bias: bool = True, embed_channels: int | None = None, seed: int = 0):
    torch.manual_seed(seed)
    m = SimilarityGraphConv(IN, OUT, embed_channels=embed_channels, bias=bias).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    return m


def features(n: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, IN, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("embed_channels", [None, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_path_matches_equation(bias, embed_channels):
    m = make(bias, embed_channels)
    x = features(len(BATCH))
    expected = oracle(m, x, same_video(BATCH))
    torch.testing.assert_close(m(x, batch=BATCH), expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("bias", [True, False])
def test_sparse_path_matches_equation(bias):
    m = make(bias)
    x = features(7)
    adj = torch.rand(7, 7, generator=torch.Generator().manual_seed(3)) < 0.4
    adj[2] = False  # a node without in-edges gets only the bias
    dst, src = adj.nonzero().t()
    out = m(x, torch.stack([src, dst]))
    torch.testing.assert_close(out, oracle(m, x, adj), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(out[2], torch.zeros(OUT, dtype=x.dtype) if not bias else m.bias)


def test_sparse_equals_dense_on_complete_graph():
    m = make()
    x = features(len(BATCH))
    dense = m(x, batch=BATCH)
    torch.testing.assert_close(m(x, all_pairs(BATCH)), dense, atol=1e-10, rtol=1e-10)

    from stgcn.graphs.edges import complete_edges

    torch.testing.assert_close(m(x, complete_edges(BATCH)), dense, atol=1e-10, rtol=1e-10)


def test_float32_against_float64_oracle():
    m = make()
    x = features(len(BATCH))
    expected = oracle(m, x, same_video(BATCH))
    m, x = m.float(), x.float()
    # float32 keeps ~7 digits: 1e-5 of the largest output leaves ~80 ulps for the reordered sums
    tol = 1e-5 * expected.abs().max().item()
    for out in (m(x, batch=BATCH), m(x, all_pairs(BATCH))):
        torch.testing.assert_close(out.double(), expected, atol=tol, rtol=1e-5)


def test_one_video_default_batch():
    m = make()
    x = features(6)
    torch.testing.assert_close(m(x), oracle(m, x, torch.ones(6, 6, dtype=torch.bool)))


def test_batch_equals_each_video_alone():
    m = make()
    assert_each_video_alone(m, features(len(BATCH)), BATCH)


@pytest.mark.parametrize("sparse", [False, True])
def test_permutation_equivariance(sparse):
    m = make()
    x = features(len(BATCH))
    perm = torch.tensor([2, 0, 1, 3, 7, 5, 4, 6])  # within videos: batch stays sorted
    assert torch.equal(BATCH[perm], BATCH)
    edge_index = all_pairs(BATCH) if sparse else None
    out, out_p = m(x, edge_index, BATCH), m(x[perm], edge_index, BATCH)
    torch.testing.assert_close(out_p, out[perm], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_gradients_reach_phi_and_phi_prime(sparse):
    torch.manual_seed(0)
    m = SimilarityGraphConv(IN, OUT, bias=True)  # default initialisation
    x = features(len(BATCH), dtype=torch.float32)
    edge_index = all_pairs(BATCH) if sparse else None
    (m(x, edge_index, BATCH) * torch.randn(len(BATCH), OUT)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert {n for n, _ in m.named_parameters()} == {
        "phi.weight",
        "phi_prime.weight",
        "lin.weight",
        "bias",
    }
    # the paper's Z = GXW has no bias: nor has the layer by default
    assert SimilarityGraphConv(IN, OUT).bias is None


@pytest.mark.parametrize("sparse", [False, True])
def test_gradcheck(sparse):
    m = make()
    x = features(len(BATCH)).mul(0.5).requires_grad_()
    edge_index = all_pairs(BATCH) if sparse else None
    assert gradcheck_with_parameters(m, x, edge_index, BATCH)


def test_empty_and_single_node_graphs():
    m = make()
    for batch in (None, torch.zeros(0, dtype=torch.long)):
        assert m(features(0), batch=batch).shape == (0, OUT)
    one = features(1)
    # A lone node attends only to itself: G = [[1]], Z = x W + b.
    torch.testing.assert_close(m(one), one @ m.lin.weight.t() + m.bias)


@pytest.mark.parametrize("sparse", [False, True])
def test_return_attention_weights_matches_dense_softmax(sparse):
    m = make()
    x = features(len(BATCH))
    s = (x @ m.phi.weight.t()) @ (x @ m.phi_prime.weight.t()).t()
    g = torch.softmax(s.masked_fill(~same_video(BATCH), float("-inf")), dim=1)
    edge_index = all_pairs(BATCH) if sparse else None
    out, (ei, alpha) = m(x, edge_index, BATCH, return_attention_weights=True)
    torch.testing.assert_close(out, m(x, edge_index, BATCH), atol=0, rtol=0)
    src, dst = ei
    assert ei.size(1) == int(same_video(BATCH).sum())
    assert torch.unique(dst * len(BATCH) + src).numel() == ei.size(1)  # each pair once
    torch.testing.assert_close(alpha, g[dst, src], atol=1e-12, rtol=1e-10)
    if sparse:
        assert torch.equal(ei, edge_index)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_given_graph_is_used_as_is(sparse):
    """learn_graph=False: no phi, phi' of its own; Z = G X W with the G it is handed."""
    torch.manual_seed(0)
    graph = SimilarityGraph(IN).double()
    m = SimilarityGraphConv(IN, OUT, learn_graph=False).double()
    assert m.phi is None and {n for n, _ in m.named_parameters()} == {"lin.weight"}
    x = features(len(BATCH))
    g_dense = graph(x, BATCH)
    s = graph.phi(x) @ graph.phi_prime(x).t()
    g = torch.softmax(s.masked_fill(~same_video(BATCH), float("-inf")), dim=1)
    expected = g @ x @ m.lin.weight.t()
    if sparse:
        edge_index, alpha = g_dense.edges()
        out = m(x, edge_index, attention=alpha)
    else:
        out = m(x, batch=BATCH, attention=g_dense)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-10)
    # and gradients reach the graph's phi, phi' through the convolution
    out.pow(2).sum().backward()
    assert graph.phi.weight.grad.abs().sum() > 0 and graph.phi_prime.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the graph in `attention`"):
        m(x, batch=BATCH)
    with pytest.raises(ValueError, match="takes a DenseAttention"):
        m(x, batch=BATCH, attention=torch.ones(3))
    with pytest.raises(ValueError, match=r"attention \[E\]"):
        m(x, all_pairs(BATCH), attention=torch.ones(3))


def test_repr_and_bad_input():
    assert repr(SimilarityGraphConv(512, 512)) == "SimilarityGraphConv(512, 512)"
    assert repr(SimilarityGraphConv(8, 4, learn_graph=False)) == (
        "SimilarityGraphConv(8, 4, learn_graph=False)"
    )
    assert repr(SimilarityGraph(8)) == "SimilarityGraph(8, 8)"
    m = SimilarityGraphConv(8, 4)
    assert m.phi.out_features == m.phi_prime.out_features == 8
    with pytest.raises(ValueError, match=r"x must be \[N, 8\]"):
        m(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"x must be \[N, 8\]"):
        SimilarityGraph(8)(torch.randn(3, 5))
