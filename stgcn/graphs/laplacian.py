r"""Graph Laplacians, their spectra, and the normalised adjacency that spectral GCNs propagate with.

Conventions. A graph is an ``edge_index`` [2, E] (row = source, col = target, PyG's
``source_to_target`` flow) with optional positive ``edge_weight`` [E].

* The Laplacians follow :func:`torch_geometric.utils.get_laplacian`: :math:`A_{ij}` is the weight of
  edge :math:`i \to j`, :math:`D_{ii} = \sum_j A_{ij}` (out-degree), self-loops are dropped, and an
  isolated node (:math:`D_{ii} = 0`) takes :math:`D^{-1/2}_{ii} = D^{-1}_{ii} = 0`, so its row of
  :math:`L^{sym}` and :math:`L^{rw}` is the identity row. For an undirected graph (both directions
  present, equal weights) :math:`L` and :math:`L^{sym}` are symmetric positive semi-definite.

  .. math::
      L = D - A, \qquad L^{sym} = I - D^{-1/2} A D^{-1/2}, \qquad L^{rw} = I - D^{-1} A.

* :func:`normalized_adjacency` builds the propagation matrix of a GCN layer from the message-passing
  view, where node :math:`i` aggregates over its incoming edges :math:`j \to i` (the convention of
  PyG's ``gcn_norm``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import Adj, OptTensor, SparseTensor
from torch_geometric.utils import (
    add_remaining_self_loops,
    get_laplacian,
    is_torch_sparse_tensor,
    scatter,
    to_edge_index,
    to_torch_coo_tensor,
    to_torch_csr_tensor,
)
from torch_geometric.utils.num_nodes import maybe_num_nodes

__all__ = ["eigs", "laplacian", "laplacian_spectrum", "normalized_adjacency"]

Normalization = Literal["sym", "rw"] | None
Propagation = Literal["sym", "rw", "none"]


def _check_graph(edge_index: Tensor, edge_weight: OptTensor, num_nodes: int | None) -> int:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    if edge_weight is not None and edge_weight.shape != (edge_index.size(1),):
        raise ValueError(
            f"edge_weight must have shape [E] = [{edge_index.size(1)}], "
            f"got {list(edge_weight.shape)}"
        )
    n = maybe_num_nodes(edge_index, num_nodes)
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        bad = int(((edge_index < 0) | (edge_index >= n)).any(0).nonzero()[0])
        raise ValueError(
            f"edge_index column {bad} = {edge_index[:, bad].tolist()} is out of range "
            f"for num_nodes={n}"
        )
    return n


def laplacian(
    edge_index: Tensor,
    edge_weight: OptTensor = None,
    num_nodes: int | None = None,
    normalization: Normalization = None,
    as_: Literal["torch", "scipy"] = "torch",
) -> Tensor | scipy.sparse.csr_matrix:
    r"""The graph Laplacian :math:`L = D - A`, :math:`L^{sym}` or :math:`L^{rw}` as a sparse matrix.

    Args:
        edge_index: [2, E] edges (pass both directions for an undirected graph).
        edge_weight: [E] non-negative weights, ones when None.
        num_nodes: N; ``edge_index.max() + 1`` when None.
        normalization: None for :math:`D - A`, ``"sym"`` for :math:`I - D^{-1/2} A D^{-1/2}`,
            ``"rw"`` for :math:`I - D^{-1} A`.
        as_: ``"torch"`` for a coalesced ``torch.sparse_coo`` tensor [N, N] (dtype of
            ``edge_weight``, float32 when None), ``"scipy"`` for a ``scipy.sparse.csr_matrix``
            [N, N] (float64).

    Returns:
        The [N, N] Laplacian; see the module docstring for self-loops and isolated nodes.
    """
    if normalization not in (None, "sym", "rw"):
        raise ValueError(f"normalization must be None, 'sym' or 'rw', got {normalization!r}")
    if as_ not in ("torch", "scipy"):
        raise ValueError(f"as_ must be 'torch' or 'scipy', got {as_!r}")
    n = _check_graph(edge_index, edge_weight, num_nodes)
    dtype = edge_weight.dtype if edge_weight is not None else torch.get_default_dtype()
    index, value = get_laplacian(edge_index, edge_weight, normalization, dtype=dtype, num_nodes=n)
    if as_ == "torch":
        return torch.sparse_coo_tensor(index, value, (n, n), check_invariants=False).coalesce()
    return scipy.sparse.csr_matrix(
        (value.detach().cpu().double().numpy(), tuple(index.cpu().numpy())), shape=(n, n)
    )


def _to_scipy(matrix: Tensor | np.ndarray | scipy.sparse.spmatrix) -> scipy.sparse.csr_matrix:
    if isinstance(matrix, Tensor):
        if matrix.is_sparse or matrix.layout != torch.strided:
            matrix = matrix.to_sparse_coo().coalesce()
            index = matrix.indices().cpu().numpy()
            value = matrix.values().detach().cpu().double().numpy()
            return scipy.sparse.csr_matrix((value, tuple(index)), shape=tuple(matrix.shape))
        matrix = matrix.detach().cpu().double().numpy()
    return scipy.sparse.csr_matrix(matrix, dtype=np.float64)


def eigs(
    matrix: Tensor | np.ndarray | scipy.sparse.spmatrix,
    k: int | None = None,
    which: Literal["smallest", "largest"] = "smallest",
    method: Literal["auto", "dense", "eigsh"] = "auto",
    dense_max_nodes: int = 2048,
    tol: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""Eigenpairs of a real symmetric [N, N] matrix, e.g. :math:`L` or :math:`L^{sym}`.

    ``k=None`` gives all N eigenpairs with a dense ``eigh``. With ``k`` the k smallest or
    largest eigenpairs come from a dense ``eigh`` when N <= ``dense_max_nodes`` (or k >= N - 1),
    and from ``scipy.sparse.linalg.eigsh`` otherwise: shift-invert just below 0 for the
    smallest (Laplacians are PSD, so this converges fast and avoids factorising a singular
    matrix), plain Lanczos for the largest. ``method`` forces one path. The shift-invert for
    ``"smallest"`` assumes a positive semi-definite matrix, as every :math:`L` and :math:`L^{sym}`.

    Args:
        matrix: [N, N] symmetric matrix as torch (dense or sparse), numpy or scipy sparse.
        k: number of eigenpairs, all when None.
        which: ``"smallest"`` or ``"largest"`` eigenvalues.
        method: ``"auto"``, ``"dense"`` or ``"eigsh"``.
        dense_max_nodes: the largest N that ``"auto"`` decomposes densely.
        tol: ``eigsh`` tolerance (0 = machine precision).

    Returns:
        ``(eigenvalues [k], eigenvectors [N, k])`` float64 torch tensors, eigenvalues ascending,
        eigenvectors orthonormal columns.
    """
    if which not in ("smallest", "largest"):
        raise ValueError(f"which must be 'smallest' or 'largest', got {which!r}")
    if method not in ("auto", "dense", "eigsh"):
        raise ValueError(f"method must be 'auto', 'dense' or 'eigsh', got {method!r}")
    a = _to_scipy(matrix)
    n = a.shape[0]
    if a.shape != (n, n):
        raise ValueError(f"matrix must be square, got shape {a.shape}")
    if k is not None and not 1 <= k <= n:
        raise ValueError(f"k must be in [1, N={n}], got {k}")
    if method == "eigsh" and (k is None or k >= n):
        raise ValueError(f"eigsh needs k < N={n}, got k={k}; use method='dense'")

    dense = method == "dense" or (
        method == "auto" and (k is None or n <= dense_max_nodes or k >= n - 1)
    )
    if dense:
        values, vectors = np.linalg.eigh(a.toarray())
        if k is not None:
            sl = slice(0, k) if which == "smallest" else slice(n - k, n)
            values, vectors = values[sl], vectors[:, sl]
    elif a.count_nonzero() == 0:
        # ARPACK cannot start on the zero operator (a graph without edges): every vector is an
        # eigenvector of 0.
        values, vectors = np.zeros(k), np.eye(n, k)
    else:
        if which == "smallest":
            # Below the spectrum of a PSD matrix by a margin relative to its scale.
            sigma = -1e-3 * max(float(abs(a).sum(1).max()), 1.0)
            values, vectors = scipy.sparse.linalg.eigsh(a, k=k, sigma=sigma, which="LM", tol=tol)
        else:
            values, vectors = scipy.sparse.linalg.eigsh(a, k=k, which="LA", tol=tol)
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
    return torch.from_numpy(np.ascontiguousarray(values)), torch.from_numpy(
        np.ascontiguousarray(vectors)
    )


def laplacian_spectrum(
    edge_index: Tensor,
    edge_weight: OptTensor = None,
    num_nodes: int | None = None,
    normalization: Normalization = None,
    k: int | None = None,
    which: Literal["smallest", "largest"] = "smallest",
    method: Literal["auto", "dense", "eigsh"] = "auto",
    dense_max_nodes: int = 2048,
) -> tuple[Tensor, Tensor]:
    r"""Eigenpairs of the Laplacian of an undirected graph (see :func:`laplacian` and :func:`eigs`).

    For ``"rw"``, :math:`L^{rw} = S L^{sym} S^{-1}` with :math:`S = D^{-1/2}` (1 on isolated
    nodes), so the eigenvalues are those of :math:`L^{sym}` and the eigenvectors are
    :math:`S u`, normalised to unit length (not orthogonal: :math:`L^{rw}` is not symmetric).

    Args:
        edge_index: [2, E] edges of an undirected graph (both directions present).
        edge_weight: [E] non-negative symmetric weights, ones when None.
        num_nodes: N; ``edge_index.max() + 1`` when None.
        normalization: None, ``"sym"`` or ``"rw"``.
        k, which, method, dense_max_nodes: as in :func:`eigs`.

    Returns:
        ``(eigenvalues [k], eigenvectors [N, k])`` float64, eigenvalues ascending
        (k = N when ``k`` is None), so that :math:`L U = U \operatorname{diag}(\lambda)`.
    """
    edge_index = edge_index.cpu()
    w = torch.ones(edge_index.size(1), dtype=torch.float64)
    if edge_weight is not None:
        w = edge_weight.detach().cpu().double()
    sym = "sym" if normalization == "rw" else normalization
    lap = laplacian(edge_index, w, num_nodes, sym, as_="scipy")
    values, vectors = eigs(lap, k, which, method, dense_max_nodes)
    if normalization == "rw":
        loops = edge_index[0] == edge_index[1]
        deg = scatter(w[~loops], edge_index[0, ~loops], 0, dim_size=lap.shape[0])
        scale = torch.where(deg > 0, deg.clamp_min(1e-300).rsqrt(), torch.ones_like(deg))
        vectors = scale[:, None] * vectors
        vectors = vectors / vectors.norm(dim=0, keepdim=True)
    return values, vectors


def normalized_adjacency(
    edge_index: Adj,
    edge_weight: OptTensor = None,
    num_nodes: int | None = None,
    normalization: Propagation = "sym",
    add_self_loops: bool = True,
    flow: str = "source_to_target",
    dtype: torch.dtype | None = None,
) -> tuple[Adj, OptTensor]:
    r"""The propagation matrix of a spectral GCN layer, in PyG's message-passing layout.

    With :math:`\hat A = A + I` when ``add_self_loops`` (existing self-loops keep their weight, as
    in ``add_remaining_self_loops``) and :math:`\hat A = A` otherwise, where :math:`\hat A_{ij}` is
    the weight of edge :math:`j \to i` and :math:`\hat D_{ii} = \sum_j \hat A_{ij}`:

    * ``"sym"``: :math:`\hat D^{-1/2} \hat A \hat D^{-1/2}` (Kipf & Welling; PyG's ``gcn_norm``);
    * ``"rw"``: :math:`\hat D^{-1} \hat A`, the mean over incoming neighbours;
    * ``"none"``: :math:`\hat A`.

    Args:
        edge_index: [2, E] edges, or a [N, N] ``torch.sparse`` / ``SparseTensor`` adjacency
            ``adj_t`` (row = target, as PyG's layers take it).
        edge_weight: [E] weights for an ``edge_index`` (ones when None).
        num_nodes: N.
        normalization: ``"sym"``, ``"rw"`` or ``"none"``.
        add_self_loops: add missing self-loops with weight 1 first.
        flow: ``"source_to_target"`` or ``"target_to_source"`` (which end aggregates).
        dtype: dtype of the weights created when ``edge_weight`` is None.

    Returns:
        ``(edge_index [2, E'], edge_weight [E'])`` for an ``edge_index`` (``edge_weight`` stays None
        for ``"none"`` without self-loops and weights), ``(adj_t, None)`` for a sparse adjacency.
    """
    if normalization not in ("sym", "rw", "none"):
        raise ValueError(f"normalization must be 'sym', 'rw' or 'none', got {normalization!r}")
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")

    if isinstance(edge_index, SparseTensor) or is_torch_sparse_tensor(edge_index):
        return _normalized_sparse(edge_index, normalization, add_self_loops, dtype), None

    if normalization == "sym":
        return gcn_norm(edge_index, edge_weight, num_nodes, False, add_self_loops, flow, dtype)
    num_nodes = maybe_num_nodes(edge_index, num_nodes)
    if add_self_loops:
        edge_index, edge_weight = add_remaining_self_loops(edge_index, edge_weight, 1.0, num_nodes)
    if normalization == "none":
        return edge_index, edge_weight
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
    idx = edge_index[1] if flow == "source_to_target" else edge_index[0]
    deg = scatter(edge_weight, idx, dim=0, dim_size=num_nodes, reduce="sum")
    deg_inv = deg.pow(-1.0)
    deg_inv.masked_fill_(deg_inv == float("inf"), 0.0)
    return edge_index, edge_weight * deg_inv[idx]


def _normalized_sparse(
    adj_t: Tensor | SparseTensor,
    normalization: Propagation,
    add_self_loops: bool,
    dtype: torch.dtype | None,
) -> Tensor | SparseTensor:
    """Normalise a sparse ``adj_t`` (row = target) through the ``edge_index`` path.

    Going through ``edge_index`` keeps one behaviour for existing self-loops on every input type
    (PyG's own torch.sparse path adds 1 on top of an existing loop instead).
    """
    if adj_t.size(0) != adj_t.size(1):
        raise ValueError(f"sparse adjacency must be square, got {tuple(adj_t.size())}")
    if not isinstance(adj_t, SparseTensor) and adj_t.layout not in (
        torch.sparse_coo,
        torch.sparse_csr,
    ):
        raise NotImplementedError(f"sparse layout {adj_t.layout} is not supported; use COO or CSR")
    n = adj_t.size(0)
    index_t, value = to_edge_index(adj_t)
    if dtype is not None:
        value = value.to(dtype)
    # index_t is (target, source); normalise it as an edge_index with the target in row 1.
    index, value = normalized_adjacency(
        index_t.flip(0), value, n, normalization, add_self_loops, "source_to_target", dtype
    )
    index_t = index.flip(0)
    if isinstance(adj_t, SparseTensor):
        return SparseTensor(row=index_t[0], col=index_t[1], value=value, sparse_sizes=(n, n))
    if adj_t.layout == torch.sparse_csr:
        return to_torch_csr_tensor(index_t, value, (n, n))
    return to_torch_coo_tensor(index_t, value, (n, n))
