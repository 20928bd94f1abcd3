"""Kipf & Welling's two-layer GCN for semi-supervised node classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.typing import Adj, OptTensor

from stgcn.layers.spectral import SpectralGCNConv

__all__ = ["KipfGCN"]


class KipfGCN(nn.Module):
    r"""The network of "Semi-Supervised Classification with Graph Convolutional Networks"
    (Kipf & Welling, ICLR 2017), Eq. 9 without the softmax:

    .. math::
        Z = \hat P\, \mathrm{dropout}\big(\mathrm{ReLU}(\hat P\, \mathrm{dropout}(X) W^{(0)}
        + b^{(0)})\big) W^{(1)} + b^{(1)},
        \qquad \hat P = \hat D^{-1/2} (A + I) \hat D^{-1/2},

    two :class:`~stgcn.layers.SpectralGCNConv` layers. The defaults are the paper's: 16 hidden
    units, dropout 0.5 on the input and on the hidden layer. Train it with
    :func:`stgcn.engine.fit_full_batch` (Adam, weight decay on the first layer only).

    A sparse ``x`` (a ``torch.sparse_coo_tensor``, as bag-of-words features are) gets Kipf's
    sparse dropout: only the stored values are dropped, which has the distribution of dropout on
    the dense matrix (dropout keeps a zero at zero) at a fraction of the cost, then the first
    layer sees the dense result.

    Args:
        in_channels: input features :math:`F`.
        out_channels: classes :math:`C`.
        hidden_channels: hidden units :math:`H`.
        dropout: drop probability on the input and on the hidden layer.
        conv: the graph convolution class, called as ``conv(in, out, cached=cached)``;
            ``torch_geometric.nn.GCNConv`` computes the same function.
        cached: let each layer compute :math:`\hat P` once and reuse it (one fixed graph only,
            as in transductive learning).

    Shapes:
        - input: ``x`` [N, F] dense or sparse COO; ``edge_index`` [2, E]; ``edge_weight`` [E].
        - output: logits [N, C]; :meth:`hidden` returns the ReLU layer [N, H].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 16,
        dropout: float = 0.5,
        *,
        conv: type[nn.Module] = SpectralGCNConv,
        cached: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.dropout = dropout
        self.conv1 = conv(in_channels, hidden_channels, cached=cached)
        self.conv2 = conv(hidden_channels, out_channels, cached=cached)

    def reset_parameters(self) -> None:
        """Re-initialise both layers (and clear their cached adjacency)."""
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def hidden(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """The first layer, :math:`\\mathrm{ReLU}(\\hat P\\, \\mathrm{dropout}(X) W^{(0)} + b^{(0)})`:
        x [N, F] (dense or sparse COO), edge_index [2, E] -> [N, H]."""
        if x.is_sparse:
            x = x.coalesce()
            values = F.dropout(x.values(), p=self.dropout, training=self.training)
            x = torch.sparse_coo_tensor(
                x.indices(), values, x.shape, is_coalesced=True, check_invariants=False
            ).to_dense()
        else:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv1(x, edge_index, edge_weight).relu()

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """x [N, F] (dense or sparse COO), edge_index [2, E], edge_weight [E] -> logits [N, C]."""
        h = F.dropout(
            self.hidden(x, edge_index, edge_weight), p=self.dropout, training=self.training
        )
        return self.conv2(h, edge_index, edge_weight)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"{self.out_channels}, conv={self.conv1.__class__.__name__})"
        )
