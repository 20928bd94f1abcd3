"""SpectralGCNConv against PyG's GCNConv and against the dense equations of Kipf & Welling."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch_geometric.nn import GCNConv
from torch_geometric.utils import coalesce, to_torch_coo_tensor, to_torch_csr_tensor

from stgcn.layers import SpectralGCNConv

NORMS = ("sym", "rw", "none")


def random_graph(
    n: int, e: int, seed: int, weighted: bool, loops: bool, isolated: int = 0
) -> tuple[Tensor, Tensor | None]:
    """A coalesced random directed graph on n nodes; the last ``isolated`` nodes have no edge."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n - isolated, (2, e), generator=g)
    if loops:
        ei = torch.cat([ei, torch.arange(0, n - isolated, 2).repeat(2, 1)], 1)
    else:
        ei = ei[:, ei[0] != ei[1]]
    w = torch.rand(ei.size(1), generator=g) + 0.1 if weighted else None
    ei, w = coalesce(ei, w, n)
    return ei, w


def dense_reference(
    x: Tensor,
    ei: Tensor,
    w: Tensor | None,
    weight: Tensor,
    bias: Tensor,
    normalize: str,
    add_self_loops: bool,
) -> Tensor:
    """The paper's dense formulas: A[i, j] is the weight of edge j -> i."""
    n = x.size(0)
    w = torch.ones(ei.size(1), dtype=x.dtype) if w is None else w.to(x.dtype)
    a = torch.zeros(n, n, dtype=x.dtype).index_put_((ei[1], ei[0]), w, accumulate=True)
    if add_self_loops:
        has_loop = torch.zeros(n, dtype=torch.bool)
        has_loop[ei[0][ei[0] == ei[1]]] = True
        a = a + torch.diag((~has_loop).to(x.dtype))
    d = a.sum(1)
    if normalize == "sym":
        s = torch.where(d > 0, d.rsqrt(), torch.zeros_like(d))
        p = s[:, None] * a * s[None, :]  # D^-1/2 A D^-1/2
    elif normalize == "rw":
        p = torch.where(d > 0, 1 / d, torch.zeros_like(d))[:, None] * a  # D^-1 A
    else:
        p = a
    return p @ x @ weight.T + bias


GRAPHS = {
    "plain": dict(n=30, e=90, loops=False),
    "isolated": dict(n=30, e=60, loops=False, isolated=5),
    "self_loops": dict(n=30, e=90, loops=True),
}


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("normalize", NORMS)
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_dense_formula(graph: str, weighted: bool, normalize: str, add_self_loops: bool) -> None:
    ei, w = random_graph(seed=1, weighted=weighted, **GRAPHS[graph])
    x = torch.randn(GRAPHS[graph]["n"], 6, dtype=torch.float64)
    conv = SpectralGCNConv(6, 4, normalize=normalize, add_self_loops=add_self_loops).double()
    torch.nn.init.normal_(conv.bias)
    expected = dense_reference(x, ei, w, conv.lin.weight, conv.bias, normalize, add_self_loops)
    w = None if w is None else w.double()
    torch.testing.assert_close(conv(x, ei, w), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pyg_gcnconv(graph: str, weighted: bool, seed: int) -> None:
    ei, w = random_graph(seed=seed, weighted=weighted, **GRAPHS[graph])
    x = torch.randn(GRAPHS[graph]["n"], 8)
    ours = SpectralGCNConv(8, 5)
    ref = GCNConv(8, 5)
    ref.load_state_dict(ours.state_dict())
    torch.nn.init.normal_(ours.bias)
    ref.bias.data.copy_(ours.bias)
    assert (ours(x, ei, w) - ref(x, ei, w)).abs().max() <= 1e-6


@pytest.mark.parametrize("normalize", ["sym", "none"])
def test_equals_pyg_without_self_loops(normalize: str) -> None:
    """normalize="sym"/"none" without self-loops is GCNConv(add_self_loops=False[, normalize=False])."""
    ei, w = random_graph(40, 150, seed=3, weighted=True, loops=False, isolated=3)
    x = torch.randn(40, 8)
    ours = SpectralGCNConv(8, 5, normalize=normalize, add_self_loops=False)
    ref = GCNConv(8, 5, add_self_loops=False, normalize=normalize == "sym")
    ref.load_state_dict(ours.state_dict())
    assert (ours(x, ei, w) - ref(x, ei, w)).abs().max() <= 1e-6


@pytest.fixture(scope="module")
def cora(planetoid_root):
    from torch_geometric.datasets import Planetoid

    return Planetoid(str(planetoid_root), "Cora")[0]


@pytest.mark.parametrize("weighted", [False, True])
def test_equals_pyg_on_cora(cora, weighted: bool) -> None:
    torch.manual_seed(0)
    w = torch.rand(cora.num_edges) + 0.1 if weighted else None
    ours = SpectralGCNConv(cora.num_features, 16)
    ref = GCNConv(cora.num_features, 16)
    ref.load_state_dict(ours.state_dict())
    out = ours(cora.x, cora.edge_index, w)
    assert out.shape == (cora.num_nodes, 16)
    assert (out - ref(cora.x, cora.edge_index, w)).abs().max() <= 1e-6


@pytest.mark.parametrize("normalize", NORMS)
def test_gradcheck(normalize: str) -> None:
    ei, w = random_graph(8, 20, seed=4, weighted=True, loops=True, isolated=1)
    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    w = w.double().requires_grad_()
    conv = SpectralGCNConv(3, 2, normalize=normalize).double()
    torch.nn.init.normal_(conv.bias)
    assert torch.autograd.gradcheck(lambda x, w: conv(x, ei, w), (x, w))


@pytest.mark.parametrize("layout", ["coo", "csr"])
@pytest.mark.parametrize("normalize", NORMS)
@pytest.mark.parametrize("loops", [False, True])
def test_torch_sparse_adjacency(layout: str, normalize: str, loops: bool) -> None:
    """A torch.sparse adj_t (row = target) gives the same output as the edge_index."""
    ei, w = random_graph(30, 90, seed=5, weighted=True, loops=loops, isolated=2)
    to_sparse = to_torch_coo_tensor if layout == "coo" else to_torch_csr_tensor
    adj_t = to_sparse(ei.flip(0), w, (30, 30))
    # float64: the paths differ only in the order of summation
    adj_t = to_sparse(ei.flip(0), w.double(), (30, 30))
    x = torch.randn(30, 6, dtype=torch.float64)
    conv = SpectralGCNConv(6, 4, normalize=normalize).double()
    torch.nn.init.normal_(conv.bias)
    torch.testing.assert_close(conv(x, adj_t), conv(x, ei, w.double()), rtol=1e-10, atol=1e-12)
    if normalize == "sym" and not loops:
        ref = GCNConv(6, 4).double()
        ref.load_state_dict(conv.state_dict())
        torch.testing.assert_close(conv(x, adj_t), ref(x, adj_t), rtol=1e-10, atol=1e-12)


def test_sparse_tensor_adjacency() -> None:
    torch_sparse = pytest.importorskip("torch_sparse", reason="torch_sparse is not installed")
    ei, w = random_graph(30, 90, seed=6, weighted=True, loops=True)
    w = w.double()
    adj_t = torch_sparse.SparseTensor(row=ei[1], col=ei[0], value=w, sparse_sizes=(30, 30))
    x = torch.randn(30, 6, dtype=torch.float64)
    for normalize in NORMS:
        conv = SpectralGCNConv(6, 4, normalize=normalize).double()
        torch.testing.assert_close(conv(x, adj_t), conv(x, ei, w), rtol=1e-10, atol=1e-12)


def test_cached() -> None:
    ei, _ = random_graph(20, 60, seed=7, weighted=False, loops=False)
    other, _ = random_graph(20, 60, seed=8, weighted=False, loops=False)
    x = torch.randn(20, 4)
    conv = SpectralGCNConv(4, 3, cached=True)
    first = conv(x, ei)
    # The cached normalisation of the first graph is reused, whatever graph comes next.
    torch.testing.assert_close(conv(x, other), first)
    conv.reset_parameters()
    fresh = SpectralGCNConv(4, 3)
    fresh.load_state_dict(conv.state_dict())
    torch.testing.assert_close(conv(x, other), fresh(x, other))
    uncached = SpectralGCNConv(4, 3)
    uncached.load_state_dict(conv.state_dict())
    assert not torch.allclose(uncached(x, ei), uncached(x, other))


def test_no_bias_and_repr() -> None:
    conv = SpectralGCNConv(16, 32, bias=False)
    assert conv.bias is None
    assert repr(conv) == "SpectralGCNConv(16, 32)"
    ei, _ = random_graph(10, 20, seed=9, weighted=False, loops=False)
    conv = conv.double()
    x = torch.randn(10, 16, dtype=torch.float64)
    zero = torch.zeros(32, dtype=torch.float64)
    expected = dense_reference(x, ei, None, conv.lin.weight, zero, "sym", True)
    torch.testing.assert_close(conv(x, ei), expected, rtol=1e-10, atol=1e-12)


def test_reset_parameters_reinitialises() -> None:
    conv = SpectralGCNConv(8, 8)
    torch.nn.init.normal_(conv.bias)
    before = conv.lin.weight.detach().clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.lin.weight)
    assert torch.count_nonzero(conv.bias) == 0


def test_bad_normalize() -> None:
    with pytest.raises(ValueError, match="normalize"):
        SpectralGCNConv(4, 4, normalize="mean")


def test_uses_pyg_compiled_propagate() -> None:
    """PyG's template-generated propagate() is in use (same code path, same speed as GCNConv)."""
    conv = SpectralGCNConv(4, 4)
    assert conv.propagate.__module__ == "stgcn.layers.spectral_SpectralGCNConv_propagate"
