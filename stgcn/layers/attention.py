r"""Pairwise attention over a graph: the math shared by the dense and sparse paths.

:class:`~stgcn.layers.SimilarityGraphConv` and :class:`~stgcn.layers.NonLocalGraphConv`
both compute

.. math::
    y_i = \frac{1}{C_i} \sum_{j \in \mathcal{N}(i)} f(q_i, k_j)\, v_j

for a query :math:`q`, key :math:`k` and value :math:`v` per node, with one of two
pairwise scores

* ``"dot"``: :math:`s_{ij} = q_i^\top k_j`;
* ``"concat"``: :math:`s_{ij} = \mathrm{ReLU}(q_i + k_j)` for scalar :math:`q_i, k_j`
  (the non-local "concatenation" form :math:`\mathrm{ReLU}(w^\top[\theta_i, \phi_j])`
  split as :math:`w_\theta^\top \theta_i + w_\phi^\top \phi_j`, so no
  :math:`N \times N \times 2d` tensor is built);

and one of two normalisations

* ``"softmax"``: :math:`f = e^{s_{ij}}`, :math:`C_i = \sum_j e^{s_{ij}}`;
* ``"mean"``: :math:`f = s_{ij}`, :math:`C_i = |\mathcal{N}(i)|`.

The *dense* path (:func:`dense_attention`, :func:`complete_graph_attention`) takes the
complete graph of each video, self pairs included, as padded ``[B, N, d]`` tensors. The
*sparse* path (:func:`edge_attention_weights`) gives per-edge weights for a
:class:`~torch_geometric.nn.conv.MessagePassing` ``message()`` over an arbitrary edge set;
for ``"mean"`` the layer aggregates with ``aggr="mean"`` (the in-degree). On the complete
graph both paths give the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax, to_dense_batch

SCORES = ("dot", "concat")
NORMALIZATIONS = ("softmax", "mean")


def _check(score: str, normalize: str) -> None:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")


def dense_scores(query: Tensor, key: Tensor, score: str = "dot") -> Tensor:
    r"""All pairwise scores :math:`s_{ij}` of a padded batch.

    Args:
        query: ``[B, N, d]`` (``d = 1`` for ``"concat"``).
        key: ``[B, M, d]``.
        score: ``"dot"`` or ``"concat"``.

    Returns:
        ``[B, N, M]``.
    """
    if score == "dot":
        return query @ key.transpose(-1, -2)
    if score == "concat":
        return F.relu(query + key.transpose(-1, -2))
    raise ValueError(f"score must be one of {SCORES}, got {score!r}")


# Score-matrix entries above which the CPU uses the fused SDPA kernel: measured on 2 cores, the
# explicit product won for region graphs (8 x 160 x 160 entries) and lost for non-local blocks on an
# I3D grid (12,544 x 3,136 entries), where SDPA never materialises the matrix.
_CPU_SDPA_MIN_ENTRIES = 1 << 22


def _large(query: Tensor, key: Tensor) -> bool:
    return query.shape[:-1].numel() * key.size(-2) >= _CPU_SDPA_MIN_ENTRIES


def dense_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_mask: Tensor | None = None,
    score: str = "dot",
    normalize: str = "softmax",
) -> Tensor:
    r"""Dense :math:`y_i = C_i^{-1} \sum_j f(q_i, k_j) v_j` over every key of a batch element.

    * ``dot`` + ``softmax`` runs :func:`torch.nn.functional.scaled_dot_product_attention`
      with ``scale=1.0`` (no :math:`1/\sqrt{d}`: the papers use the plain dot product) on
      accelerators, for their fused kernels, and on the CPU when the score matrix is large (a
      non-local block over an I3D grid); for the CPU's small per-video graphs ``bmm`` +
      ``softmax`` measured faster forward + backward (``benchmarks/layers.py``,
      ``benchmarks/backbone.py``).
    * ``dot`` + ``mean`` uses associativity, :math:`Q (K^\top V) / n`: :math:`O(N d^2)`
      time and no :math:`N \times M` matrix.
    * ``concat`` builds the :math:`N \times M` score matrix (scalars, not
      :math:`N \times M \times 2d`).

    Args:
        query: ``[B, N, d]``.
        key: ``[B, M, d]``.
        value: ``[B, M, c]``.
        key_mask: optional bool ``[B, M]``, ``True`` for real keys (padding from
            :func:`~torch_geometric.utils.to_dense_batch`). A batch element with no real key
            gives zeros for ``"mean"`` and an arbitrary finite value for ``"softmax"``
            (it has no real query either, so the caller discards it).
        score: ``"dot"`` or ``"concat"``.
        normalize: ``"softmax"`` or ``"mean"``.

    Returns:
        ``[B, N, c]``.
    """
    _check(score, normalize)
    if normalize == "softmax":
        if key_mask is not None:
            # An element without keys would give an all-masked row (NaN); it has no real
            # query, so let it attend to its padding instead.
            key_mask = key_mask | ~key_mask.any(dim=-1, keepdim=True)
        if score == "dot" and (query.device.type != "cpu" or _large(query, key)):
            mask = None if key_mask is None else key_mask.unsqueeze(-2)
            return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=1.0)
        s = dense_scores(query, key, score)
        if key_mask is not None:
            s = s.masked_fill(~key_mask.unsqueeze(-2), float("-inf"))
        return torch.softmax(s, dim=-1) @ value

    if key_mask is None:
        count = torch.full(value.shape[:-2], key.size(-2), dtype=value.dtype, device=value.device)
    else:
        key_mask = key_mask.unsqueeze(-1)
        count = key_mask.sum(dim=-2).to(value.dtype).squeeze(-1)
        value = value * key_mask  # padded keys then add nothing, whatever their score
    count = count.clamp(min=1).view(*count.shape, 1, 1)
    if score == "dot":
        return query @ (key.transpose(-1, -2) @ value) / count
    return dense_scores(query, key, score) @ value / count


def complete_graph_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    batch: Tensor | None = None,
    score: str = "dot",
    normalize: str = "softmax",
) -> Tensor:
    r""":func:`dense_attention` over the complete graph of each video, on node tensors.

    Every node attends to every node of its own video (itself included) and to no other.

    Args:
        query: ``[N, d]``.
        key: ``[N, d]``.
        value: ``[N, c]``.
        batch: ``[N]`` sorted video index of each node (as in a PyG ``Batch``); ``None``
            means one video.
        score: ``"dot"`` or ``"concat"``.
        normalize: ``"softmax"`` or ``"mean"``.

    Returns:
        ``[N, c]``.
    """
    if query.size(0) == 0:
        return value.new_zeros(0, value.size(-1))
    if batch is None:
        out = dense_attention(query[None], key[None], value[None], None, score, normalize)
        return out[0]
    counts = torch.bincount(batch)
    if bool((counts == counts[0]).all()):
        # Videos of equal size (a fixed T x K layout): a view instead of padding and unpadding.
        b, m = counts.numel(), int(counts[0])
        q, k, v = (t.reshape(b, m, t.size(-1)) for t in (query, key, value))
        out = dense_attention(q, k, v, None, score, normalize)
        return out.reshape(b * m, out.size(-1))
    sizes = [query.size(-1), key.size(-1), value.size(-1)]
    dense, mask = to_dense_batch(torch.cat([query, key, value], dim=-1), batch)
    q, k, v = dense.split(sizes, dim=-1)
    return dense_attention(q, k, v, mask, score, normalize)[mask]


def edge_scores(query_i: Tensor, key_j: Tensor, score: str = "dot") -> Tensor:
    r"""Score :math:`s_{ij}` of each edge from the gathered endpoints.

    Args:
        query_i: ``[E, d]`` query of each edge's target (``d = 1`` for ``"concat"``).
        key_j: ``[E, d]`` key of each edge's source.
        score: ``"dot"`` or ``"concat"``.

    Returns:
        ``[E]``.
    """
    if score == "dot":
        return (query_i * key_j).sum(dim=-1)
    if score == "concat":
        return F.relu(query_i + key_j).sum(dim=-1)
    raise ValueError(f"score must be one of {SCORES}, got {score!r}")


def edge_attention_weights(
    query_i: Tensor,
    key_j: Tensor,
    index: Tensor,
    ptr: Tensor | None,
    num_nodes: int | None,
    score: str = "dot",
    normalize: str = "softmax",
) -> Tensor:
    r"""Per-edge weight :math:`f(q_i, k_j)` for a ``MessagePassing.message()``.

    For ``"softmax"`` the weight is already divided by :math:`C_i` with
    :func:`torch_geometric.utils.softmax` over the edges into each target; for ``"mean"``
    it is the raw score and the layer divides by the in-degree with ``aggr="mean"``.

    Args:
        query_i: ``[E, d]``.
        key_j: ``[E, d]``.
        index: ``[E]`` target node of each edge.
        ptr: CSR pointer when the edges come sorted (``MessagePassing`` passes it), or ``None``.
        num_nodes: number of target nodes.
        score: ``"dot"`` or ``"concat"``.
        normalize: ``"softmax"`` or ``"mean"``.

    Returns:
        ``[E]``.
    """
    _check(score, normalize)
    s = edge_scores(query_i, key_j, score)
    if normalize == "softmax":
        return softmax(s, index, ptr, num_nodes)
    return s
