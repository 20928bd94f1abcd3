"""Laplacians and spectra: dense formulas, and spectral graph theory as hypothesis properties."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from stgcn.graphs import eigs, laplacian, laplacian_spectrum

PROPERTY = settings(max_examples=40, deadline=None)
ZERO = 1e-8


@st.composite
def undirected_graphs(draw, min_nodes: int = 1, max_nodes: int = 12):
    """(edge_index [2, E] with both directions, edge_weight [E] or None, num_nodes)."""
    n = draw(st.integers(min_nodes, max_nodes))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    pairs = sorted({(min(i, j), max(i, j)) for i, j in pairs if i != j})
    weighted = draw(st.booleans())
    weights = [draw(st.floats(0.5, 2.0)) if weighted else 1.0 for _ in pairs]
    ei = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    edge_index = torch.cat([ei, ei.flip(0)], dim=1)
    w = torch.tensor(weights + weights, dtype=torch.float64)
    return edge_index, (w if weighted else None), n


def dense(edge_index: Tensor, w: Tensor | None, n: int, normalization: str | None) -> Tensor:
    w = torch.ones(edge_index.size(1), dtype=torch.float64) if w is None else w
    return laplacian(edge_index, w, n, normalization).to_dense()


def nx_graph(edge_index: Tensor, n: int) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edge_index.T.tolist())
    return g


@pytest.mark.parametrize("as_", ["torch", "scipy"])
@pytest.mark.parametrize("normalization", [None, "sym", "rw"])
def test_dense_formulas(normalization: str | None, as_: str) -> None:
    """L = D - A, I - D^-1/2 A D^-1/2, I - D^-1 A on a weighted directed graph with a self-loop
    (dropped) and an isolated node (identity row when normalised)."""
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 0, 2], [1, 0, 2, 3, 0, 2, 2]])
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 0.25, 7.0], dtype=torch.float64)
    n = 5
    keep = edge_index[0] != edge_index[1]
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0, keep], edge_index[1, keep]] = w[keep]
    d = a.sum(1)
    if normalization is None:
        expected = torch.diag(d) - a
    elif normalization == "sym":
        s = torch.where(d > 0, d.rsqrt(), 0.0)
        expected = torch.eye(n, dtype=torch.float64) - s[:, None] * a * s[None, :]
    else:
        expected = torch.eye(n, dtype=torch.float64) - torch.where(d > 0, 1 / d, 0.0)[:, None] * a
    lap = laplacian(edge_index, w, n, normalization, as_=as_)
    if as_ == "scipy":
        assert isinstance(lap, scipy.sparse.csr_matrix)
        got = torch.from_numpy(lap.toarray())
    else:
        assert lap.is_sparse and lap.dtype == torch.float64
        got = lap.to_dense()
    torch.testing.assert_close(got, expected)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"column 1 = \[1, 7\].*num_nodes=4"):
        laplacian(torch.tensor([[0, 1], [1, 7]]), num_nodes=4)
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        laplacian(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="normalization"):
        laplacian(torch.tensor([[0], [1]]), normalization="random")
    with pytest.raises(ValueError, match="k must be"):
        eigs(torch.eye(3), k=4)


@PROPERTY
@given(undirected_graphs())
def test_laplacian_symmetric_psd(graph) -> None:
    edge_index, w, n = graph
    for normalization in (None, "sym"):
        lap = dense(edge_index, w, n, normalization)
        torch.testing.assert_close(lap, lap.T, rtol=0, atol=1e-12)
        assert torch.linalg.eigvalsh(lap).min() >= -1e-10


@PROPERTY
@given(undirected_graphs())
def test_zero_multiplicity_is_number_of_components(graph) -> None:
    edge_index, w, n = graph
    g = nx_graph(edge_index, n)
    components = nx.number_connected_components(g)
    values, _ = laplacian_spectrum(edge_index, w, n)
    assert int((values.abs() < ZERO).sum()) == components
    # L_sym keeps a 1 on the diagonal of an isolated node, so only components with edges count.
    values_sym, _ = laplacian_spectrum(edge_index, w, n, "sym")
    assert int((values_sym.abs() < ZERO).sum()) == components - nx.number_of_isolates(g)


@PROPERTY
@given(undirected_graphs())
def test_sym_and_rw_share_eigenvalues(graph) -> None:
    edge_index, w, n = graph
    sym = torch.linalg.eigvalsh(dense(edge_index, w, n, "sym"))
    rw = torch.linalg.eigvals(dense(edge_index, w, n, "rw"))
    assert rw.imag.abs().max() < 1e-8
    torch.testing.assert_close(rw.real.sort().values, sym, rtol=0, atol=1e-8)


@PROPERTY
@given(undirected_graphs())
def test_sym_eigenvalues_in_0_2(graph) -> None:
    edge_index, w, n = graph
    values, _ = laplacian_spectrum(edge_index, w, n, "sym")
    assert values.min() >= -1e-10 and values.max() <= 2 + 1e-10


@PROPERTY
@given(undirected_graphs())
def test_eigendecomposition_reconstructs(graph) -> None:
    edge_index, w, n = graph
    for normalization in (None, "sym"):
        lap = dense(edge_index, w, n, normalization)
        values, u = laplacian_spectrum(edge_index, w, n, normalization)
        assert values.shape == (n,) and u.shape == (n, n)
        torch.testing.assert_close(u @ torch.diag(values) @ u.T, lap, rtol=0, atol=1e-10)
        torch.testing.assert_close(u.T @ u, torch.eye(n, dtype=torch.float64), rtol=0, atol=1e-10)
    # L_rw is not symmetric: check L_rw V = V diag(lambda) with V of full rank.
    lap_rw = dense(edge_index, w, n, "rw")
    values, v = laplacian_spectrum(edge_index, w, n, "rw")
    torch.testing.assert_close(lap_rw @ v, v * values, rtol=0, atol=1e-10)
    assert torch.linalg.matrix_rank(v) == n


@PROPERTY
@given(undirected_graphs(min_nodes=6, max_nodes=30), st.integers(1, 4), st.booleans())
def test_eigsh_agrees_with_dense(graph, k: int, smallest: bool) -> None:
    edge_index, w, n = graph
    which = "smallest" if smallest else "largest"
    for normalization in (None, "sym"):
        lap = laplacian(edge_index, w, n, normalization, as_="scipy")
        ref, _ = eigs(lap, k, which, method="dense")
        values, u = eigs(lap, k, which, method="eigsh")
        torch.testing.assert_close(values, ref, rtol=0, atol=1e-8)
        # Eigenvectors of repeated eigenvalues are only defined up to rotation: check residuals.
        lu = torch.from_numpy(lap @ u.numpy())
        torch.testing.assert_close(lu, u * values, rtol=0, atol=1e-8)
        torch.testing.assert_close(u.T @ u, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-8)


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_auto_uses_eigsh_on_large_cycle(which: str, monkeypatch) -> None:
    """The cycle C_n has eigenvalues 2 - 2 cos(2 pi m / n); "auto" takes eigsh above the limit."""
    n, k = 300, 5
    ring = torch.arange(n)
    edge_index = torch.stack([ring, (ring + 1) % n])
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    calls = []
    real_eigsh = scipy.sparse.linalg.eigsh

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_eigsh(*args, **kwargs)

    monkeypatch.setattr(scipy.sparse.linalg, "eigsh", spy)
    values, u = laplacian_spectrum(edge_index, num_nodes=n, k=k, which=which, dense_max_nodes=100)
    assert len(calls) == 1
    exact = np.sort(2 - 2 * np.cos(2 * math.pi * np.arange(n) / n))
    exact = exact[:k] if which == "smallest" else exact[-k:]
    torch.testing.assert_close(values, torch.from_numpy(exact), rtol=0, atol=1e-8)
    assert u.shape == (n, k)
