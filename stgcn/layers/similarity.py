"""The similarity graph of Wang & Gupta's space-time region graphs."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from stgcn.layers.attention import complete_graph_attention, edge_attention_weights


class SimilarityGraphConv(MessagePassing):
    r"""Graph convolution over a learned similarity graph, from Wang and Gupta,
    "Videos as Space-Time Region Graphs" (ECCV 2018), eq. (1)-(3):

    .. math::
        G_{ij} = \frac{\exp\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_j)\big)}
                      {\sum_{k} \exp\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_k)\big)}
               = \mathrm{softmax}_j\big(\phi(\mathbf{x}_i)^\top \phi'(\mathbf{x}_j)\big),
        \qquad Z = G X W (+ \mathbf{b}),

    where :math:`\phi(\mathbf{x}) = w\mathbf{x}` and :math:`\phi'(\mathbf{x}) = w'\mathbf{x}`
    are learned linear maps (no bias, as in the paper) and :math:`j, k` run over the nodes of
    the same video, :math:`i` itself included. The dot product is not scaled by
    :math:`1/\sqrt{d}`, as in the paper's eq. (1). :math:`G` stays in the autograd graph, so
    :math:`w` and :math:`w'` learn (a public re-implementation detached it).

    With ``edge_index=None`` the graph is the complete graph of each video and the layer
    takes the dense path (``to_dense_batch`` + batched matmul + masked softmax). Given an
    ``edge_index`` (for instance the top-k most similar nodes) the softmax runs over the
    in-edges of each node with :func:`torch_geometric.utils.softmax`; a node without
    in-edges gets only the bias. Both give the same numbers on the complete graph.

    Args:
        in_channels: node feature size :math:`d`.
        out_channels: output size.
        embed_channels: size of :math:`\phi, \phi'`; default ``in_channels`` (the paper's
            :math:`d \times d` weights).
        bias: add a learned bias to :math:`Z`.

    Shapes:
        ``x`` ``[N, in_channels]``, ``edge_index`` ``[2, E]`` or ``None``, ``batch`` ``[N]``
        or ``None`` -> ``[N, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embed_channels: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        embed_channels = in_channels if embed_channels is None else embed_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.embed_channels = embed_channels
        self.phi = nn.Linear(in_channels, embed_channels, bias=False)
        self.phi_prime = nn.Linear(in_channels, embed_channels, bias=False)
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.phi.reset_parameters()
        self.phi_prime.reset_parameters()
        self.lin.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(
        self, x: Tensor, edge_index: Tensor | None = None, batch: Tensor | None = None
    ) -> Tensor:
        """Similarity-graph convolution.

        Args:
            x: ``[N, in_channels]`` node features.
            edge_index: ``[2, E]`` edges ``j -> i``; ``None`` takes the complete graph of each
                video (self pairs included) on the dense path.
            batch: ``[N]`` sorted video index of each node; ``None`` means one video. Only
                the dense path reads it.

        Returns:
            ``[N, out_channels]``.
        """
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}.forward: x must be [N, {self.in_channels}], "
                f"got {list(x.shape)}"
            )
        # G (X W) = (G X) W; projecting first is cheaper when out_channels <= in_channels.
        query, key, value = self.phi(x), self.phi_prime(x), self.lin(x)
        if edge_index is None:
            out = complete_graph_attention(query, key, value, batch, "dot", "softmax")
        else:
            out = self.propagate(edge_index, query=query, key=key, value=value)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(
        self,
        query_i: Tensor,
        key_j: Tensor,
        value_j: Tensor,
        index: Tensor,
        ptr: Tensor | None,
        size_i: int | None,
    ) -> Tensor:
        weight = edge_attention_weights(query_i, key_j, index, ptr, size_i, "dot", "softmax")
        return weight.unsqueeze(-1) * value_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
