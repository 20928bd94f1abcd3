"""SpaceTimeGCN: the GCN of Wang & Gupta's space-time region graphs, composed from the graph layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from stgcn.graphs.edges import SpaceTimeEdges, space_time_graph
from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.similarity import SimilarityGraphConv
from stgcn.layers.spatial_temporal import SpatialTemporalGraphConv

__all__ = ["GRAPHS", "SpaceTimeGCN"]

GRAPHS = ("similarity", "spatial_temporal", "non_local")
"""Graph names ``SpaceTimeGCN`` accepts."""


class SpaceTimeGCN(nn.Module):
    r"""Graph convolutions over a video's space-time region graph, from Wang and Gupta, "Videos as
    Space-Time Region Graphs" (ECCV 2018), sec. 3.4.

    Each graph :math:`g` (the learned similarity graph, the spatial-temporal IoU graphs, or the
    non-local graph) is its own branch of ``num_layers`` graph convolutions with ReLU (and dropout)
    between them, and the branch outputs are summed at the end,

    .. math::
        Z = \sum_g Z_g, \qquad Z_g = H^{(L)}_g, \quad
        H^{(l+1)}_g = \mathrm{ReLU}\big(\mathrm{conv}^{(l)}_g(H^{(l)}_g)\big),\ H^{(0)}_g = X

    (no ReLU after the last layer), which the paper found better than one joint GCN. With
    ``joint=True`` the graphs are instead summed inside every layer, the paper's
    :math:`Z = \sum_g G_g X W_g`:
    :math:`H^{(l+1)} = \mathrm{ReLU}\big(\sum_g \mathrm{conv}^{(l)}_g(H^{(l)})\big)`.

    * ``"similarity"``: :class:`SimilarityGraphConv` on the complete graph of each video (dense path);
    * ``"spatial_temporal"``: :class:`SpatialTemporalGraphConv`, :math:`G^{front} X W_f + G^{back}
      X W_b`, with the IoU graphs built from ``box`` and ``frame`` at every call;
    * ``"non_local"``: :class:`NonLocalGraphConv` (embedded Gaussian) on the complete graph of each
      video; it keeps the channel count and is residual by itself, so it needs
      ``in_channels == hidden_channels == out_channels`` and gets no extra shortcut.

    Args:
        in_channels: node feature size :math:`d`.
        hidden_channels: size between layers; default ``in_channels``.
        out_channels: output size; default ``hidden_channels``.
        num_layers: graph convolutions per branch (the paper: 3).
        graphs: names from :data:`GRAPHS`, each at most once.
        iou_threshold: spatial-temporal edges need IoU > this.
        dropout: dropout probability after each inner ReLU.
        residual: add a shortcut around every layer (identity, or a bias-free linear map where the
            size changes): :math:`H^{(l+1)} = \mathrm{conv}(H^{(l)}) + S H^{(l)}`, before the ReLU.
        joint: one joint GCN instead of summed branches.

    Shapes:
        ``x`` ``[N, in_channels]``, ``box`` ``[N, 4]``, ``frame`` ``[N]`` (local to each video),
        ``batch`` ``[N]`` sorted (as in a PyG ``Batch``) or ``None`` -> ``[N, out_channels]``;
        :meth:`readout` -> ``[B, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int | None = None,
        out_channels: int | None = None,
        num_layers: int = 3,
        graphs: Sequence[str] = ("similarity", "spatial_temporal"),
        iou_threshold: float = 0.0,
        dropout: float = 0.0,
        residual: bool = False,
        joint: bool = False,
    ) -> None:
        super().__init__()
        graphs = tuple(graphs)
        unknown = [g for g in graphs if g not in GRAPHS]
        if unknown or not graphs or len(set(graphs)) != len(graphs):
            raise ValueError(f"graphs must be distinct names from {GRAPHS}, got {graphs}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}")
        hidden_channels = in_channels if hidden_channels is None else hidden_channels
        out_channels = hidden_channels if out_channels is None else out_channels
        if "non_local" in graphs and not in_channels == hidden_channels == out_channels:
            raise ValueError(
                "the non_local graph keeps the channel count: it needs in_channels == "
                f"hidden_channels == out_channels, got {in_channels}, {hidden_channels}, {out_channels}"
            )
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.graphs = graphs
        self.iou_threshold = iou_threshold
        self.dropout = dropout
        self.residual = residual
        self.joint = joint
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        sizes = list(zip(dims[:-1], dims[1:], strict=True))
        # layers[l][g] is graph g's convolution at depth l (one ModuleDict per depth, in both forms;
        # the branches differ only in where the sum and the ReLU go).
        self.layers = nn.ModuleList(
            nn.ModuleDict({g: _conv(g, i, o) for g in graphs}) for i, o in sizes
        )
        self.shortcuts: nn.ModuleList | None = None
        if residual:
            shortcut_graphs = [g for g in graphs if g != "non_local"]
            self.shortcuts = nn.ModuleList(
                nn.ModuleDict(
                    {g: _shortcut(i, o) for g in (["joint"] if joint else shortcut_graphs)}
                )
                for i, o in sizes
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Only the top-level parts: a layer's own reset knows its special inits (the non-local
        # block's zero-scale norm), which resetting its children again would undo.
        blocks = list(self.layers) + (list(self.shortcuts) if self.shortcuts is not None else [])
        for block in blocks:
            for module in block.values():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def _layer(
        self, depth: int, name: str, h: Tensor, batch: Tensor | None, st: SpaceTimeEdges | None
    ) -> Tensor:
        conv = self.layers[depth][name]
        if name == "spatial_temporal":
            assert st is not None
            return conv(h, st.edge_index, st.front_weight, st.back_weight)
        return conv(h, None, batch)

    def _activate(self, depth: int, h: Tensor) -> Tensor:
        if depth == self.num_layers - 1:
            return h
        h = F.relu(h)
        return F.dropout(h, self.dropout, training=self.training)

    def forward(self, x: Tensor, box: Tensor, frame: Tensor, batch: Tensor | None = None) -> Tensor:
        """Node features after the GCN.

        Args:
            x: ``[N, in_channels]`` region features.
            box: ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` (for the spatial-temporal graph).
            frame: ``[N]`` long frame index of each box, local to its video.
            batch: ``[N]`` sorted video index of each node; ``None`` means one video.

        Returns:
            ``[N, out_channels]``.
        """
        n = x.size(0)
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(
                f"SpaceTimeGCN: x must be [N, {self.in_channels}], got {list(x.shape)}"
            )
        if box.shape != (n, 4) or frame.shape != (n,):
            raise ValueError(
                f"SpaceTimeGCN: box must be [{n}, 4] and frame [{n}], got {list(box.shape)}, {list(frame.shape)}"
            )
        if batch is not None:
            if batch.shape != (n,):
                raise ValueError(f"SpaceTimeGCN: batch must be [{n}], got {list(batch.shape)}")
            if n > 1 and bool((batch[1:] < batch[:-1]).any()):
                raise ValueError(
                    "SpaceTimeGCN: batch must be sorted (nodes grouped by video, as in a PyG Batch)"
                )
        st = None
        if "spatial_temporal" in self.graphs:
            st = space_time_graph(box, frame, batch, self.iou_threshold)
        if self.joint:
            h = x
            for depth in range(self.num_layers):
                out = sum(self._layer(depth, g, h, batch, st) for g in self.graphs)
                if self.shortcuts is not None:
                    out = out + self.shortcuts[depth]["joint"](h)
                h = self._activate(depth, out)
            return h
        total = None
        for g in self.graphs:
            h = x
            for depth in range(self.num_layers):
                out = self._layer(depth, g, h, batch, st)
                if self.shortcuts is not None and g in self.shortcuts[depth]:
                    out = out + self.shortcuts[depth][g](h)
                h = self._activate(depth, out)
            total = h if total is None else total + h
        return total

    def readout(self, h: Tensor, batch: Tensor | None, num_videos: int) -> Tensor:
        """One vector per video: the mean of its node features, ``global_mean_pool`` with
        ``size=num_videos`` so that a video with no boxes gives a zero row.

        Args:
            h: ``[N, C]`` node features (``forward``'s output).
            batch: ``[N]`` video index of each node; ``None`` means one video.
            num_videos: B.

        Returns:
            ``[B, C]``.
        """
        if batch is None:
            batch = torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        return global_mean_pool(h, batch, size=num_videos)

    def __repr__(self) -> str:
        extra = ", joint=True" if self.joint else ""
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}, graphs={self.graphs}{extra})"
        )


def _conv(name: str, in_channels: int, out_channels: int) -> nn.Module:
    if name == "similarity":
        return SimilarityGraphConv(in_channels, out_channels)
    if name == "spatial_temporal":
        return SpatialTemporalGraphConv(in_channels, out_channels)
    return NonLocalGraphConv(in_channels)


def _shortcut(in_channels: int, out_channels: int) -> nn.Module:
    if in_channels == out_channels:
        return nn.Identity()
    return nn.Linear(in_channels, out_channels, bias=False)
