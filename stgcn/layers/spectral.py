"""Kipf & Welling's spectral graph convolution as a PyG ``MessagePassing`` layer."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import spmm

from stgcn.graphs.laplacian import normalized_adjacency

# No __all__ here: PyG compiles a fast propagate() for each layer from a template that runs
# `from stgcn.layers.spectral import *` and needs the names in message()'s annotations (OptTensor);
# an __all__ without them silently sends every call down the slower generic propagate().


class SpectralGCNConv(MessagePassing):
    r"""The graph convolution of "Semi-Supervised Classification with Graph Convolutional
    Networks" (Kipf & Welling, ICLR 2017), the first-order approximation of spectral filters:

    .. math::
        H' = \hat D^{-1/2} \hat A \hat D^{-1/2} H W + b,
        \qquad \hat A = A + I, \quad \hat D_{ii} = \sum_j \hat A_{ij},

    where :math:`A_{ij}` is the weight of edge :math:`j \to i` (1 when unweighted). The
    propagation rule is selected by ``normalize``:

    * ``"sym"``: :math:`\hat D^{-1/2} \hat A \hat D^{-1/2} H W` (the paper; equals PyG's
      ``GCNConv``);
    * ``"rw"``: :math:`\hat D^{-1} \hat A H W`, the random-walk rule (mean over neighbours);
    * ``"none"``: :math:`\hat A H W`; with ``add_self_loops=False`` this is the plain
      :math:`A H W`.

    ``add_self_loops=False`` uses :math:`A` in place of :math:`\hat A` in every rule. Existing
    self-loops keep their weight (``add_remaining_self_loops``); an isolated node without a loop
    gets a zero row. The nonlinearity :math:`\sigma` is left to the caller.

    Args:
        in_channels: input features :math:`C_{in}`.
        out_channels: output features :math:`C_{out}`.
        normalize: ``"sym"``, ``"rw"`` or ``"none"``.
        add_self_loops: use :math:`A + I` instead of :math:`A`.
        cached: compute the normalised adjacency on the first call and reuse it (transductive
            learning on one fixed graph only). ``reset_parameters()`` clears the cache.
        bias: learn the additive bias :math:`b`.

    Shapes:
        - input: ``x`` [N, C_in]; ``edge_index`` [2, E] (source, target) or a [N, N]
          ``torch.sparse`` / ``SparseTensor`` ``adj_t`` (row = target); ``edge_weight`` [E].
        - output: [N, C_out].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        normalize: str = "sym",
        add_self_loops: bool = True,
        cached: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__(aggr="add")
        if normalize not in ("sym", "rw", "none"):
            raise ValueError(f"normalize must be 'sym', 'rw' or 'none', got {normalize!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.add_self_loops = add_self_loops
        self.cached = cached
        self._cache: tuple[Adj, OptTensor] | None = None
        self.lin = Linear(in_channels, out_channels, bias=False, weight_initializer="glorot")
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin.reset_parameters()
        zeros(self.bias)
        self._cache = None

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """x [N, C_in], edge_index [2, E] or sparse adj_t [N, N], edge_weight [E] -> [N, C_out]."""
        if self._cache is not None:
            edge_index, edge_weight = self._cache
        else:
            edge_index, edge_weight = normalized_adjacency(
                edge_index,
                edge_weight,
                x.size(self.node_dim),
                self.normalize,
                self.add_self_loops,
                self.flow,
                x.dtype,
            )
            if self.cached:
                self._cache = (edge_index, edge_weight)
        x = self.lin(x)
        # propagate_type: (x: Tensor, edge_weight: OptTensor)
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return spmm(adj_t, x, reduce=self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
