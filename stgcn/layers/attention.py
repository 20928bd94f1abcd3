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

A ``scale`` :math:`s` multiplies the dot-product score before the normalisation,
:math:`s_{ij} = s\, q_i^\top k_j` (``1.0``: the papers' equations; :math:`1/\sqrt{d}`: the
non-local authors' released code, see :class:`~stgcn.layers.NonLocalGraphConv`).

The *dense* path (:func:`dense_attention`, :func:`complete_graph_attention`) takes the
complete graph of each video, self pairs included, as padded ``[B, N, d]`` tensors;
:func:`complete_graph_weights` materialises the weights once as a :class:`DenseAttention`,
which can be reused by several layers (the shared similarity graph of
:class:`~stgcn.layers.SpaceTimeGCN`) and converted to edge form. The *sparse* path
(:func:`edge_attention_weights`) gives per-edge weights for a
:class:`~torch_geometric.nn.conv.MessagePassing` ``edge_update()`` over an arbitrary edge
set; for ``"mean"`` the layer aggregates with ``aggr="mean"`` (the in-degree). On the
complete graph both paths give the same numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax, to_dense_batch

SCORES = ("dot", "concat")
NORMALIZATIONS = ("softmax", "mean")


def _check(score: str, normalize: str, scale: float = 1.0) -> None:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if scale != 1.0 and score != "dot":
        raise ValueError(f"scale applies to the dot-product score only, got score={score!r}")


def dense_scores(query: Tensor, key: Tensor, score: str = "dot", scale: float = 1.0) -> Tensor:
    r"""All pairwise scores :math:`s_{ij}` of a padded batch.

    Args:
        query: ``[B, N, d]`` (``d = 1`` for ``"concat"``).
        key: ``[B, M, d]``.
        score: ``"dot"`` or ``"concat"``.
        scale: factor on the dot product (``"dot"`` only).

    Returns:
        ``[B, N, M]``.
    """
    if score == "dot":
        s = query @ key.transpose(-1, -2)
        return s if scale == 1.0 else s * scale
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
    scale: float = 1.0,
) -> Tensor:
    r"""Dense :math:`y_i = C_i^{-1} \sum_j f(q_i, k_j) v_j` over every key of a batch element.

    * ``dot`` + ``softmax`` runs :func:`torch.nn.functional.scaled_dot_product_attention`
      with the given ``scale`` (default 1.0, no :math:`1/\sqrt{d}`: the papers use the plain dot product) on
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
        scale: factor on the dot-product score (``"dot"`` only).

    Returns:
        ``[B, N, c]``.
    """
    _check(score, normalize, scale)
    if normalize == "softmax":
        if key_mask is not None:
            # An element without keys would give an all-masked row (NaN); it has no real
            # query, so let it attend to its padding instead.
            key_mask = key_mask | ~key_mask.any(dim=-1, keepdim=True)
        if score == "dot" and (query.device.type != "cpu" or _large(query, key)):
            mask = None if key_mask is None else key_mask.unsqueeze(-2)
            return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale)
        s = dense_scores(query, key, score, scale)
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
        return query @ (key.transpose(-1, -2) @ value) * (scale / count)
    return dense_scores(query, key, score) @ value / count


def complete_graph_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    batch: Tensor | None = None,
    score: str = "dot",
    normalize: str = "softmax",
    scale: float = 1.0,
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
        scale: factor on the dot-product score.

    Returns:
        ``[N, c]``.
    """
    if query.size(0) == 0:
        return value.new_zeros(0, value.size(-1))
    if batch is None:
        out = dense_attention(query[None], key[None], value[None], None, score, normalize, scale)
        return out[0]
    counts = torch.bincount(batch)
    if bool((counts == counts[0]).all()):
        # Videos of equal size (a fixed T x K layout): a view instead of padding and unpadding.
        b, m = counts.numel(), int(counts[0])
        q, k, v = (t.reshape(b, m, t.size(-1)) for t in (query, key, value))
        out = dense_attention(q, k, v, None, score, normalize, scale)
        return out.reshape(b * m, out.size(-1))
    sizes = [query.size(-1), key.size(-1), value.size(-1)]
    dense, mask = to_dense_batch(torch.cat([query, key, value], dim=-1), batch)
    q, k, v = dense.split(sizes, dim=-1)
    return dense_attention(q, k, v, mask, score, normalize, scale)[mask]


class DenseAttention(NamedTuple):
    r"""The attention weights of the complete graph of each video, kept as a padded
    ``[B, M, M]`` tensor so that several layers can reuse them (one ``bmm`` each).

    ``weight[b, i, j]`` is the weight of the message from node j to node i of video b (row i
    sums to 1 over the real j for ``"softmax"``; a real row is 0 at padded j). ``index`` ``[N]`` is the
    position of each node in the flattened ``[B * M]`` layout, or ``None`` when every video has
    exactly M nodes (node n is then at position n, and padding and unpadding are views).
    Build it with :func:`complete_graph_weights`.
    """

    weight: Tensor
    index: Tensor | None

    def to_dense(self, x: Tensor) -> Tensor:
        """``[N, C]`` node tensor -> ``[B, M, C]``, zero rows at padded positions."""
        b, m = self.weight.shape[:2]
        if self.index is None:
            return x.view(b, m, x.size(-1))
        out = x.new_zeros(b * m, x.size(-1)).index_copy(0, self.index, x)
        return out.view(b, m, x.size(-1))

    def from_dense(self, y: Tensor) -> Tensor:
        """``[B, M, C]`` -> ``[N, C]``, the rows of real nodes in node order."""
        flat = y.reshape(-1, y.size(-1))
        return flat if self.index is None else flat.index_select(0, self.index)

    def propagate(self, value: Tensor) -> Tensor:
        r""":math:`G V`: ``value`` ``[N, C]`` -> ``[N, C]``, each node a weighted sum over its video."""
        if value.size(0) == 0:
            return value
        return self.from_dense(torch.bmm(self.weight, self.to_dense(value)))

    def edges(self) -> tuple[Tensor, Tensor]:
        """The same weights in edge form, as ``MessagePassing`` layers return them.

        Returns:
            ``edge_index`` ``[2, sum_v n_v^2]`` (row 0 source j, row 1 target i, grouped by video,
            then target, then source in node order) and ``alpha`` ``[E]`` with
            ``alpha[e] = weight[video, i, j]``.
        """
        node, pair = self._pairs()
        b, m = node.shape
        target = node[:, :, None].expand(b, m, m)[pair]
        source = node[:, None, :].expand(b, m, m)[pair]
        return torch.stack([source, target]), self.weight[pair]

    def reweight(self, edge_weight: Tensor) -> DenseAttention:
        r"""The weights multiplied edge by edge, :math:`G_{ij} m_{ij}` (no renormalisation): how
        an explainer's edge mask acts on the graph.

        Args:
            edge_weight: ``[E]``, one factor per edge of :meth:`edges`, in its order.

        Returns:
            a :class:`DenseAttention` with the same layout.
        """
        _, pair = self._pairs()
        count = int(pair.sum())
        if edge_weight.shape != (count,):
            raise ValueError(
                f"DenseAttention.reweight: edge_weight must be [{count}] (one per edge of "
                f"edges()), got {list(edge_weight.shape)}"
            )
        factor = self.weight.new_zeros(self.weight.shape).masked_scatter(pair, edge_weight)
        return DenseAttention(self.weight * factor, self.index)

    def _pairs(self) -> tuple[Tensor, Tensor]:
        """``node`` ``[B, M]`` (the node at each padded position, -1 on padding) and ``pair``
        ``[B, M, M]`` bool (both ends real)."""
        b, m = self.weight.shape[:2]
        device = self.weight.device
        if self.index is None:
            node = torch.arange(b * m, device=device).view(b, m)
        else:
            node = torch.full((b * m,), -1, dtype=torch.long, device=device)
            node[self.index] = torch.arange(self.index.numel(), device=device)
            node = node.view(b, m)
        real = node >= 0
        return node, real[:, :, None] & real[:, None, :]


def dense_layout(batch: Tensor | None, num_nodes: int) -> tuple[int, int, Tensor | None]:
    """Padded layout of the nodes of a sorted ``batch``: ``(B, M, index)`` as in
    :class:`DenseAttention` (``index`` ``None`` when all B videos have M nodes)."""
    if batch is None or num_nodes == 0:
        return 1, num_nodes, None
    counts = torch.bincount(batch)
    b, m = counts.numel(), int(counts.max())
    if bool((counts == m).all()):
        return b, m, None
    start = torch.cumsum(counts, 0) - counts
    index = batch * m + torch.arange(num_nodes, device=batch.device) - start[batch]
    return b, m, index


def complete_graph_weights(
    query: Tensor,
    key: Tensor,
    batch: Tensor | None = None,
    score: str = "dot",
    normalize: str = "softmax",
    scale: float = 1.0,
) -> DenseAttention:
    r"""The weights :math:`f(q_i, k_j) / C_i` of the complete graph of each video, materialised.

    The same numbers :func:`complete_graph_attention` applies, kept for reuse
    (:meth:`DenseAttention.propagate`) or for inspection (:meth:`DenseAttention.edges`).

    Args:
        query: ``[N, d]``.
        key: ``[N, d]``.
        batch: ``[N]`` sorted video index of each node; ``None`` means one video.
        score: ``"dot"`` or ``"concat"``.
        normalize: ``"softmax"`` or ``"mean"``.
        scale: factor on the dot-product score.

    Returns:
        :class:`DenseAttention` with ``weight`` ``[B, M, M]``.
    """
    _check(score, normalize, scale)
    b, m, index = dense_layout(batch, query.size(0))
    layout = DenseAttention(query.new_zeros(b, m, 0), index)
    s = dense_scores(layout.to_dense(query), layout.to_dense(key), score, scale)
    mask = None
    if index is not None:
        mask = torch.zeros(b * m, dtype=torch.bool, device=query.device)
        mask[index] = True
        mask = mask.view(b, 1, m)
    if normalize == "softmax":
        if mask is not None:
            # A video without nodes would give an all-masked row (NaN); it has no real query,
            # so let it attend to its padding instead (never read, never in edges()).
            s = s.masked_fill(~(mask | ~mask.any(dim=-1, keepdim=True)), float("-inf"))
        return DenseAttention(torch.softmax(s, dim=-1), index)
    count = mask.sum(-1, keepdim=True).clamp(min=1) if mask is not None else m
    if mask is not None:
        s = s * mask
    return DenseAttention(s / count, index)


def edge_scores(query_i: Tensor, key_j: Tensor, score: str = "dot", scale: float = 1.0) -> Tensor:
    r"""Score :math:`s_{ij}` of each edge from the gathered endpoints.

    Args:
        query_i: ``[E, d]`` query of each edge's target (``d = 1`` for ``"concat"``).
        key_j: ``[E, d]`` key of each edge's source.
        score: ``"dot"`` or ``"concat"``.
        scale: factor on the dot product (``"dot"`` only).

    Returns:
        ``[E]``.
    """
    if score == "dot":
        s = (query_i * key_j).sum(dim=-1)
        return s if scale == 1.0 else s * scale
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
    scale: float = 1.0,
) -> Tensor:
    r"""Per-edge weight :math:`f(q_i, k_j)` for a ``MessagePassing.edge_update()``.

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
        scale: factor on the dot-product score.

    Returns:
        ``[E]``.
    """
    _check(score, normalize, scale)
    s = edge_scores(query_i, key_j, score, scale)
    if normalize == "softmax":
        return softmax(s, index, ptr, num_nodes)
    return s
