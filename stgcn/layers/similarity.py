"""The similarity graph of Wang & Gupta's space-time region graphs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from stgcn.layers.attention import DenseAttention, complete_graph_weights, edge_attention_weights

__all__ = ["SimilarityGraph", "SimilarityGraphConv"]


def _embed(phi: nn.Linear, phi_prime: nn.Linear, x: Tensor) -> tuple[Tensor, Tensor]:
    # phi(x) and phi'(x) in one matmul: one pass over x instead of two.
    both = F.linear(x, torch.cat([phi.weight, phi_prime.weight]))
    return both.split(phi.out_features, dim=-1)


class SimilarityGraph(nn.Module):
    r"""The learned similarity graph of Wang and Gupta, "Videos as Space-Time Region Graphs"
    (ECCV 2018), eq. (1)-(2), over the complete graph of each video:

    .. math::
        G_{ij} = \mathrm{softmax}_j\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_j)\big),
        \qquad \phi(\mathbf{x}) = w\mathbf{x},\ \phi'(\mathbf{x}) = w'\mathbf{x},

    with :math:`j` over the nodes of the video of :math:`i` (itself included) and no
    :math:`1/\sqrt{d}` (the paper's eq. (1)). It is the graph alone, computed once from the region
    features :math:`X` so that every layer of :class:`~stgcn.layers.SpaceTimeGCN`'s similarity
    branch can convolve over the same :math:`G` (:class:`SimilarityGraphConv` with
    ``learn_graph=False`` takes it as ``attention``). :math:`G` stays in the autograd graph, so
    :math:`w, w'` learn.

    Args:
        in_channels: node feature size :math:`d`.
        embed_channels: size of :math:`\phi, \phi'`; default ``in_channels`` (the paper's
            :math:`d \times d` weights).

    Shapes:
        ``x`` ``[N, in_channels]``, ``batch`` ``[N]`` sorted or ``None`` ->
        :class:`~stgcn.layers.attention.DenseAttention` with ``weight`` ``[B, M, M]``.
    """

    def __init__(self, in_channels: int, embed_channels: int | None = None) -> None:
        super().__init__()
        embed_channels = in_channels if embed_channels is None else embed_channels
        self.in_channels = in_channels
        self.embed_channels = embed_channels
        self.phi = nn.Linear(in_channels, embed_channels, bias=False)
        self.phi_prime = nn.Linear(in_channels, embed_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.phi.reset_parameters()
        self.phi_prime.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> DenseAttention:
        """``G`` of ``x [N, in_channels]`` over each video of the sorted ``batch [N]``."""
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}: x must be [N, {self.in_channels}], got {list(x.shape)}"
            )
        query, key = _embed(self.phi, self.phi_prime, x)
        return complete_graph_weights(query, key, batch)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.embed_channels})"


class SimilarityGraphConv(MessagePassing):
    r"""Graph convolution over a learned similarity graph, from Wang and Gupta,
    "Videos as Space-Time Region Graphs" (ECCV 2018), eq. (1)-(3):

    .. math::
        G_{ij} = \frac{\exp\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_j)\big)}
                      {\sum_{k} \exp\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_k)\big)}
               = \mathrm{softmax}_j\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_j)\big),
        \qquad Z = G X W \;(+ \mathbf{b}),

    where :math:`\phi(\mathbf{x}) = w\mathbf{x}` and :math:`\phi'(\mathbf{x}) = w'\mathbf{x}`
    are learned linear maps (no bias, as in the paper) and :math:`j, k` run over the nodes of
    the same video, :math:`i` itself included. The dot product is not scaled by
    :math:`1/\sqrt{d}`, as in the paper's eq. (1). :math:`G` stays in the autograd graph, so
    :math:`w` and :math:`w'` learn. The paper's :math:`Z = GXW` has no bias, hence
    ``bias=False`` by default.

    The layer computes :math:`G` from its own input (``learn_graph=True``), or takes it ready made
    as ``attention`` (``learn_graph=False``: no :math:`\phi, \phi'` of its own), which is how
    :class:`~stgcn.layers.SpaceTimeGCN` shares one graph, computed once from the region features
    by :class:`SimilarityGraph`, across all its layers, as the paper does.

    With ``edge_index=None`` the graph is the complete graph of each video and the layer
    takes the dense path (padded ``[B, M, M]`` weights and a batched matmul). Given an
    ``edge_index`` (for instance the top-k most similar nodes) the weights are computed once
    per edge in ``edge_update()`` (:func:`torch_geometric.utils.softmax` over the in-edges of
    each node), as PyG's ``GATConv`` does, and ``propagate`` sums the weighted messages; a node
    without in-edges gets only the bias. Both give the same numbers on the complete graph.
    ``return_attention_weights=True`` returns ``(out, (edge_index, alpha))`` on both paths (the
    dense path converts its weights to the complete graph's edges, see
    :meth:`DenseAttention.edges <stgcn.layers.attention.DenseAttention.edges>`).

    Args:
        in_channels: node feature size :math:`d`.
        out_channels: output size.
        embed_channels: size of :math:`\phi, \phi'`; default ``in_channels`` (the paper's
            :math:`d \times d` weights).
        bias: add a learned bias to :math:`Z` (not in the paper).
        learn_graph: own :math:`\phi, \phi'` and compute :math:`G` from the input; ``False``:
            :math:`G` must come in ``attention``.

    Shapes:
        ``x`` ``[N, in_channels]``, ``edge_index`` ``[2, E]`` or ``None``, ``batch`` ``[N]``
        or ``None``, ``attention`` a ``DenseAttention`` (dense path) or ``[E]`` (sparse path)
        -> ``[N, out_channels]``, or with ``return_attention_weights=True``
        ``([N, out_channels], ([2, E], [E]))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embed_channels: int | None = None,
        bias: bool = False,
        learn_graph: bool = True,
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        embed_channels = in_channels if embed_channels is None else embed_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.embed_channels = embed_channels
        self.learn_graph = learn_graph
        self.phi = nn.Linear(in_channels, embed_channels, bias=False) if learn_graph else None
        self.phi_prime = (
            nn.Linear(in_channels, embed_channels, bias=False) if learn_graph else None
        )
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for lin in (self.phi, self.phi_prime, self.lin):
            if lin is not None:
                lin.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def attention(self, x: Tensor, batch: Tensor | None = None) -> DenseAttention:
        """This layer's :math:`G` of ``x [N, in_channels]`` over the complete graph of each video."""
        if self.phi is None or self.phi_prime is None:
            raise ValueError(f"{self}: learn_graph=False has no graph of its own")
        query, key = _embed(self.phi, self.phi_prime, x)
        return complete_graph_weights(query, key, batch)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        batch: Tensor | None = None,
        attention: DenseAttention | Tensor | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Similarity-graph convolution.

        Args:
            x: ``[N, in_channels]`` node features.
            edge_index: ``[2, E]`` edges ``j -> i``; ``None`` takes the complete graph of each
                video (self pairs included) on the dense path.
            batch: ``[N]`` sorted video index of each node; ``None`` means one video. Only
                the dense path reads it.
            attention: a ready :math:`G` instead of this layer's own: a
                :class:`~stgcn.layers.attention.DenseAttention` on the dense path (e.g. from
                :class:`SimilarityGraph`), ``[E]`` edge weights on the sparse path.
            return_attention_weights: also return ``(edge_index, alpha)``.

        Returns:
            ``[N, out_channels]``, or ``(out, (edge_index [2, E], alpha [E]))``.
        """
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}.forward: x must be [N, {self.in_channels}], "
                f"got {list(x.shape)}"
            )
        if attention is None and not self.learn_graph:
            raise ValueError(
                f"{self.__class__.__name__}.forward: learn_graph=False needs the graph in `attention`"
            )
        # G (X W) = (G X) W; projecting first is cheaper when out_channels <= in_channels.
        value = self.lin(x)
        if edge_index is None:
            if attention is None:
                attention = self.attention(x, batch)
            if not isinstance(attention, DenseAttention):
                raise ValueError(
                    f"{self.__class__.__name__}.forward: the dense path (edge_index=None) takes a "
                    f"DenseAttention, got {type(attention).__name__}"
                )
            out = attention.propagate(value)
            weights = attention.edges() if return_attention_weights else None
        else:
            if attention is None:
                query, key = _embed(self.phi, self.phi_prime, x)
                attention = self.edge_updater(edge_index, query=query, key=key)
            if not isinstance(attention, Tensor) or attention.shape != (edge_index.size(1),):
                raise ValueError(
                    f"{self.__class__.__name__}.forward: the sparse path takes attention [E] = "
                    f"[{edge_index.size(1)}]"
                )
            out = self.propagate(edge_index, value=value, alpha=attention)
            weights = (edge_index, attention) if return_attention_weights else None
        if self.bias is not None:
            out = out + self.bias
        if weights is not None:
            return out, weights
        return out

    def edge_update(
        self, query_i: Tensor, key_j: Tensor, index: Tensor, ptr: Tensor | None, size_i: int | None
    ) -> Tensor:
        return edge_attention_weights(query_i, key_j, index, ptr, size_i, "dot", "softmax")

    def message(self, value_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * value_j

    def __repr__(self) -> str:
        extra = "" if self.learn_graph else ", learn_graph=False"
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}{extra})"
