"""The spatial-temporal graph of Wang & Gupta's space-time region graphs."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import spmm, to_torch_csr_tensor

__all__ = ["SpatialTemporalGraphConv"]


class SpatialTemporalGraphConv(MessagePassing):
    r"""Graph convolution over the spatial-temporal IoU graphs, from Wang and Gupta,
    "Videos as Space-Time Region Graphs" (ECCV 2018), eq. (4)-(5):

    .. math::
        G^{front}_{ij} = \frac{\sigma_{ij}}{\sum_k \sigma_{ik}}, \qquad
        G^{back}_{ji} = \frac{\sigma_{ij}}{\sum_k \sigma_{kj}}, \qquad
        Z = G^{front} X W_f + G^{back} X W_b \;(+ \mathbf{b}),

    where :math:`\sigma_{ij}` is the IoU of box i at frame t with box j at frame t+1 of the same
    video: a node hears the boxes it overlaps in the next frame through :math:`W_f` and those in
    the previous frame through :math:`W_b`. The graphs come from
    :func:`stgcn.graphs.space_time_graph` (one edge list, both weights).

    Propagation is one sparse x dense product, :math:`[G^{front} \,|\, G^{back}]` as an
    :math:`N \times 2N` CSR matrix times :math:`[X W_f; X W_b]` interleaved per node
    (``torch.sparse.mm`` via ``message_and_aggregate``), rather than a gather/scatter over an
    edge list: on the CPU the edge list materialises an ``[E, C]`` message tensor and scatters
    it. Forward + backward on a busy 2-core CPU, one thread (``benchmarks/layers.py``, section
    "propagation"): the CSR product was ~2x faster at the paper's size (N=1280, E=3.7k, C=512)
    and ~15x at the large one (N=1600, E=17.8k), with 3-8x less peak memory. ``message()`` keeps the edge-list path valid (``propagate(index.flip(0), x=h,
    weight=value, size=(2N, N))`` with :meth:`adjacency`'s output) and gives the same numbers.

    Args:
        in_channels: node feature size :math:`d`.
        out_channels: output size.
        bias: add a learned bias :math:`\mathbf{b}` (not in the paper's :math:`Z = GXW`, hence
            off by default).

    Shapes:
        ``x`` ``[N, in_channels]``; ``edge_index`` ``[2, E]`` (row 0: i at t, row 1: j at t+1);
        ``front_weight``, ``back_weight`` ``[E]`` -> ``[N, out_channels]``. A node without edges
        gets only the bias.
    """

    # Both paths' arguments: the fused CSR path reads only x, the edge-list path also weight.
    propagate_type = {"x": Tensor, "weight": OptTensor}

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(aggr="add", node_dim=0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin_front = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_back = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_front.reset_parameters()
        self.lin_back.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @staticmethod
    def adjacency(
        edge_index: Tensor, front_weight: Tensor, back_weight: Tensor, num_nodes: int
    ) -> tuple[Tensor, Tensor]:
        r"""The stacked operator :math:`[G^{front} | G^{back}]` as ``(index [2, 2E], value [2E])``
        of an ``N x 2N`` matrix (row = receiving node) whose column ``2j`` is node j's front
        projection and ``2j + 1`` its back projection."""
        src, dst = edge_index
        rows = torch.cat([src, dst])
        cols = torch.cat([2 * dst, 2 * src + 1])
        return torch.stack([rows, cols]), torch.cat([front_weight, back_weight])

    def forward(
        self, x: Tensor, edge_index: Tensor, front_weight: Tensor, back_weight: Tensor
    ) -> Tensor:
        """Spatial-temporal graph convolution.

        Args:
            x: ``[N, in_channels]`` node features.
            edge_index: ``[2, E]`` IoU edges, i at t -> j at t+1 (``space_time_graph(...).edge_index``).
            front_weight: ``[E]`` :math:`G^{front}_{ij}`, normalised over the j of each i.
            back_weight: ``[E]`` :math:`G^{back}_{ji}`, normalised over the i of each j.

        Returns:
            ``[N, out_channels]``.
        """
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}.forward: x must be [N, {self.in_channels}], got {list(x.shape)}"
            )
        e = edge_index.size(1)
        if (
            edge_index.dim() != 2
            or edge_index.size(0) != 2
            or front_weight.shape != (e,)
            or back_weight.shape != (e,)
        ):
            raise ValueError(
                f"{self.__class__.__name__}.forward: edge_index must be [2, E] with front_weight and "
                f"back_weight [E], got {list(edge_index.shape)}, {list(front_weight.shape)}, "
                f"{list(back_weight.shape)}"
            )
        n = x.size(0)
        # [X W_f, X W_b] in one matmul; viewing [N, 2C] as [2N, C] interleaves the two per node.
        weight = torch.cat([self.lin_front.weight, self.lin_back.weight])
        h = F.linear(x, weight).view(2 * n, self.out_channels)
        index, value = self.adjacency(
            edge_index, front_weight.to(h.dtype), back_weight.to(h.dtype), n
        )
        # The indices are valid by construction, so the invariant checks are off explicitly; the
        # CSR "beta" notice is torch's, not something a user of this layer can act on.
        with (
            torch.sparse.check_sparse_tensor_invariants(enable=False),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            adj = to_torch_csr_tensor(index, value, size=(n, 2 * n))
        out = self.propagate(adj, x=h, weight=None)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
        return weight.unsqueeze(-1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return spmm(adj_t, x, reduce=self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
