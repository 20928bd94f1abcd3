r"""The PATCHY-SAN CNN (Niepert, Ahmed & Kutzkov, "Learning Convolutional Neural Networks for
Graphs", ICML 2016, Sections 4.4 and 6.3), reading the receptive fields of
:class:`stgcn.graphs.PatchySAN`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PatchySANNet(nn.Module):
    r"""PATCHY-SAN's graph classifier.

    Receptive field :math:`i` of a graph (Section 4.4) holds the node attributes
    :math:`X_i \in \mathbb{R}^{k \times F}` and, optionally, the edge attributes
    :math:`A_i \in \mathbb{R}^{k \times k \times E}` of its :math:`k` normalised vertices. The first
    layer is a 1-D convolution over the :math:`w \cdot k` sequence with kernel and stride :math:`k`
    (:math:`k^2` for edges), so one filter bank reads every receptive field:

    .. math::
        h_i = \mathrm{ReLU}\big(W_V \operatorname{vec}(X_i) + b_V\big)
        \;\big\Vert\; \mathrm{ReLU}\big(W_E \operatorname{vec}(A_i) + b_E\big),
        \qquad i = 1, \dots, w,

    where :math:`\Vert` is the merge layer (channel concatenation) of the paper's :math:`k = 10^E`
    variant and is absent without edges. Then, as in the paper's experiments (Section 6.3): a second
    convolution over the :math:`w` fields (8 channels, kernel 10, stride 1; the kernel is
    shortened to :math:`w` when :math:`w < 10`), ReLU, a dense layer of 128 ReLUs with dropout
    0.5, and a linear output layer (the logits of the softmax).

    Args:
        in_channels: node attributes F.
        out_channels: classes.
        w: receptive fields per graph.
        k: vertices per receptive field.
        edge_channels: edge attributes E; 0 reads nodes only.
        channels: output channels of the two convolutions (paper: 16, 8).
        kernel: kernel of the second convolution (paper: 10).
        hidden: width of the dense layer (paper: 128).
        dropout: dropout before the output layer (paper: 0.5).

    Shapes: x [B, w, k, F], edge_attr [B, w, k, k, E] (needed iff ``edge_channels > 0``)
    -> logits [B, out_channels].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w: int,
        k: int,
        edge_channels: int = 0,
        channels: tuple[int, int] = (16, 8),
        kernel: int = 10,
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.w, self.k, self.edge_channels = w, k, edge_channels
        self.node_conv = nn.Conv1d(in_channels, channels[0], kernel_size=k, stride=k)
        self.edge_conv = (
            nn.Conv1d(edge_channels, channels[0], kernel_size=k * k, stride=k * k)
            if edge_channels
            else None
        )
        merged = channels[0] * (2 if edge_channels else 1)
        self.kernel = min(kernel, w)
        self.field_conv = nn.Conv1d(merged, channels[1], kernel_size=self.kernel, stride=1)
        self.dense = nn.Linear(channels[1] * (w - self.kernel + 1), hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, out_channels)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, x: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        B, w, k, F = x.shape
        if (w, k, F) != (self.w, self.k, self.in_channels):
            raise ValueError(
                f"x must be [B, w={self.w}, k={self.k}, F={self.in_channels}], got {list(x.shape)}"
            )
        # [B, w, k, F] -> [B, F, w*k]: receptive fields side by side along the sequence.
        h = self.node_conv(x.reshape(B, w * k, F).transpose(1, 2)).relu()
        if self.edge_conv is not None:
            if edge_attr is None or edge_attr.shape != (B, w, k, k, self.edge_channels):
                got = None if edge_attr is None else list(edge_attr.shape)
                raise ValueError(
                    f"edge_attr must be [B={B}, w, k, k, E={self.edge_channels}], got {got}"
                )
            e = self.edge_conv(edge_attr.reshape(B, w * k * k, -1).transpose(1, 2)).relu()
            h = torch.cat([h, e], dim=1)
        h = self.field_conv(h).relu().flatten(1)
        return self.out(self.dropout(self.dense(h).relu()))

    def __repr__(self) -> str:
        edges = f", edge_channels={self.edge_channels}" if self.edge_channels else ""
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"w={self.w}, k={self.k}{edges})"
        )
