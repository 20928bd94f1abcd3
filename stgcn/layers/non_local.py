"""The non-local block as message passing over the complete graph of a video."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.conv import MessagePassing

from stgcn.layers.attention import (
    complete_graph_attention,
    complete_graph_weights,
    dense_attention,
    edge_attention_weights,
)

MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")


class NonLocalGraphConv(MessagePassing):
    r"""Non-local block from Wang, Girshick, Gupta and He, "Non-local Neural Networks"
    (CVPR 2018), eq. (1) and (6), as message passing over the complete graph of each video:

    .. math::
        \mathbf{y}_i = \frac{1}{\mathcal{C}(\mathbf{x})} \sum_{j}
            f(\mathbf{x}_i, \mathbf{x}_j)\, g(\mathbf{x}_j), \qquad
        \mathbf{z}_i = \mathrm{BN}(W_z \mathbf{y}_i) + \mathbf{x}_i,

    with :math:`g(\mathbf{x}) = W_g \mathbf{x}`, :math:`\theta(\mathbf{x}) = W_\theta
    \mathbf{x}` and :math:`\phi(\mathbf{x}) = W_\phi \mathbf{x}` mapping to
    ``inter_channels`` (the bottleneck), and ``mode`` choosing :math:`f` and
    :math:`\mathcal{C}`:

    * ``"gaussian"``: :math:`f = e^{\mathbf{x}_i^\top \mathbf{x}_j}`,
      :math:`\mathcal{C} = \sum_j f` (a softmax; no :math:`\theta, \phi`);
    * ``"embedded_gaussian"``: :math:`f = e^{\theta(\mathbf{x}_i)^\top \phi(\mathbf{x}_j)}`,
      :math:`\mathcal{C} = \sum_j f`;
    * ``"dot_product"``: :math:`f = \theta(\mathbf{x}_i)^\top \phi(\mathbf{x}_j)`,
      :math:`\mathcal{C} = N`;
    * ``"concatenation"``: :math:`f = \mathrm{ReLU}(\mathbf{w}_f^\top
      [\theta(\mathbf{x}_i), \phi(\mathbf{x}_j)])`, :math:`\mathcal{C} = N`, computed as
      :math:`\mathrm{ReLU}(a_i + b_j)` with :math:`a = \mathbf{w}_{f,\theta}^\top \theta`,
      :math:`b = \mathbf{w}_{f,\phi}^\top \phi` so no :math:`N \times N \times 2d` tensor
      is built.

    ``scale=False`` follows the paper's equations: the dot products are not scaled. The
    authors' released code (facebookresearch/video-nonlocal-net, ``lib/models/nonlocal_helper.py``)
    multiplies :math:`\theta^\top\phi` by :math:`d_{inner}^{-1/2}` before the softmax when
    ``cfg.NONLOCAL.USE_SCALE`` is set; ``scale=True`` does the same (with :math:`d_{inner}` the
    size of the dot product: ``inter_channels``, or ``C`` for ``"gaussian"``). Only the softmax
    modes take it, as in that code.
    :math:`N` is the number of nodes of the video on the dense path and the in-degree of
    node :math:`i` on the sparse path, so both agree on the complete graph (self pairs
    included).

    The BatchNorm after :math:`W_z` has its scale initialised to 0, so a new block is the
    identity (paper, Sec. 3.3). With ``norm=False`` there is no BatchNorm and :math:`W_z`
    itself starts at 0 instead, which again makes a new block the identity. One
    ``BatchNorm1d`` serves both :meth:`forward` (statistics over nodes) and
    :meth:`forward_grid` (over ``B*T*H*W`` positions, i.e. what ``BatchNorm3d`` computes).
    In training mode its statistics mix every node of the batch, so "each video alone"
    holds in eval mode; a lone node cannot be batch-normalised in training mode.

    Args:
        in_channels: node feature size :math:`C`.
        mode: one of ``"embedded_gaussian"``, ``"gaussian"``, ``"dot_product"``,
            ``"concatenation"``.
        inter_channels: bottleneck size of :math:`\theta, \phi, g`; default ``C // 2``.
        norm: BatchNorm after :math:`W_z` (scale initialised to 0).
        subsample: in :meth:`forward_grid`, max-pool the input of :math:`\phi` and
            :math:`g` by 1x2x2 (``ceil_mode``, so odd sizes lose no position), as in the
            authors' released code; the paper's Sec. 3.3 trick. Node inputs have no grid, so
            :meth:`forward` ignores it.
        bias: biases in :math:`\theta, \phi, g, W_z`.
        scale: multiply the dot product by :math:`d_{inner}^{-1/2}` before the softmax (the
            released code's ``USE_SCALE``); softmax modes only.

    The attention weights are computed once: on the sparse path per edge in ``edge_update()``
    (as PyG's ``GATConv``), on the dense path as one batched matrix.
    ``return_attention_weights=True`` makes :meth:`forward` return ``(z, (edge_index, alpha))``
    with ``alpha[e]`` the normalised weight :math:`f(\mathbf{x}_i, \mathbf{x}_j)/\mathcal{C}`
    of edge ``j -> i``; on the dense path ``edge_index`` is the complete graph of each video.

    Shapes:
        - :meth:`forward`: ``x`` ``[N, C]``, ``edge_index`` ``[2, E]`` or ``None``,
          ``batch`` ``[N]`` or ``None`` -> ``[N, C]`` (or ``([N, C], ([2, E], [E]))``).
        - :meth:`forward_grid`: ``[B, C, T, H, W]`` -> ``[B, C, T, H, W]``.
    """

    def __init__(
        self,
        in_channels: int,
        mode: str = "embedded_gaussian",
        inter_channels: int | None = None,
        norm: bool = True,
        subsample: bool = False,
        bias: bool = True,
        scale: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"NonLocalGraphConv: mode must be one of {MODES}, got {mode!r}")
        softmax = mode in ("gaussian", "embedded_gaussian")
        if scale and not softmax:
            raise ValueError(
                f"NonLocalGraphConv: scale applies to the softmax modes only, got mode={mode!r}"
            )
        super().__init__(aggr="add" if softmax else "mean", node_dim=0)
        inter_channels = in_channels // 2 if inter_channels is None else inter_channels
        if inter_channels < 1:
            raise ValueError(
                f"NonLocalGraphConv: inter_channels must be >= 1, got {inter_channels} "
                f"(in_channels={in_channels})"
            )
        self.in_channels = in_channels
        self.inter_channels = inter_channels
        self.mode = mode
        self.subsample = subsample
        self.score = "concat" if mode == "concatenation" else "dot"
        self.normalize = "softmax" if softmax else "mean"
        self.scale = scale
        dot_size = in_channels if mode == "gaussian" else inter_channels
        self.score_scale = dot_size**-0.5 if scale else 1.0

        embedded = mode != "gaussian"
        self.theta = nn.Linear(in_channels, inter_channels, bias=bias) if embedded else None
        self.phi = nn.Linear(in_channels, inter_channels, bias=bias) if embedded else None
        self.w_f = nn.Linear(2 * inter_channels, 1, bias=False) if mode == "concatenation" else None
        self.g = nn.Linear(in_channels, inter_channels, bias=bias)
        self.w_z = nn.Linear(inter_channels, in_channels, bias=bias)
        self.bn = nn.BatchNorm1d(in_channels) if norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for lin in (self.theta, self.phi, self.w_f, self.g, self.w_z):
            if lin is not None:
                lin.reset_parameters()
        if self.bn is not None:
            self.bn.reset_parameters()
            nn.init.zeros_(self.bn.weight)
        else:
            nn.init.zeros_(self.w_z.weight)
            if self.w_z.bias is not None:
                nn.init.zeros_(self.w_z.bias)

    def _query_key_value(self, x: Tensor, x_kv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Query from ``x [..., N, C]``, key and value from ``x_kv [..., M, C]``."""
        if self.theta is None:
            query, key = x, x_kv
        else:
            query, key = self.theta(x), self.phi(x_kv)
        if self.w_f is not None:
            w_theta, w_phi = self.w_f.weight.split(self.inter_channels, dim=-1)
            query, key = query @ w_theta.t(), key @ w_phi.t()
        return query, key, self.g(x_kv)

    def _transform(self, y: Tensor) -> Tensor:
        """``BN(W_z y)`` for ``y [..., N, inter]`` -> ``[..., N, C]``, statistics per channel."""
        z = self.w_z(y)
        if self.bn is not None:
            z = self.bn(z.reshape(-1, self.in_channels)).view_as(z)
        return z

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        batch: Tensor | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Non-local block on node features.

        Args:
            x: ``[N, C]`` node features.
            edge_index: ``[2, E]`` edges ``j -> i``; ``None`` takes the complete graph of each
                video (self pairs included) on the dense path.
            batch: ``[N]`` sorted video index of each node; ``None`` means one video. Only
                the dense path reads it (on the sparse path the edges say who talks to whom).
            return_attention_weights: also return ``(edge_index, alpha)``.

        Returns:
            ``[N, C]``, or ``(z, (edge_index [2, E], alpha [E]))``.
        """
        if x.dim() != 2 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}.forward: x must be [N, {self.in_channels}], "
                f"got {list(x.shape)}"
            )
        query, key, value = self._query_key_value(x, x)
        weights = None
        if edge_index is None and return_attention_weights:
            attention = complete_graph_weights(
                query, key, batch, self.score, self.normalize, self.score_scale
            )
            y = attention.propagate(value)
            weights = attention.edges()
        elif edge_index is None:
            # Without a request for the weights, the fused path (SDPA or associativity for
            # "mean") never materialises them.
            y = complete_graph_attention(
                query, key, value, batch, self.score, self.normalize, self.score_scale
            )
        else:
            alpha = self.edge_updater(edge_index, query=query, key=key)
            y = self.propagate(edge_index, value=value, alpha=alpha)
            if return_attention_weights:
                if self.normalize == "mean":
                    # aggr="mean" divides by the in-degree inside propagate: report the
                    # weight the message really gets.
                    target = edge_index[1]
                    deg = torch.bincount(target, minlength=x.size(0)).clamp(min=1)
                    alpha = alpha / deg[target].to(alpha.dtype)
                weights = edge_index, alpha
        z = x + self._transform(y)
        if weights is not None:
            return z, weights
        return z

    def edge_update(
        self, query_i: Tensor, key_j: Tensor, index: Tensor, ptr: Tensor | None, size_i: int | None
    ) -> Tensor:
        return edge_attention_weights(
            query_i, key_j, index, ptr, size_i, self.score, self.normalize, self.score_scale
        )

    def message(self, value_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * value_j

    def forward_grid(self, x: Tensor) -> Tensor:
        r"""Non-local block on a feature map, each batch element one video of ``T*H*W`` nodes.

        Same weights and math as :meth:`forward` on the flattened grid (dense path), with
        the 1x2x2 max-pool of the :math:`\phi`/:math:`g` input when ``subsample=True``.

        Args:
            x: ``[B, C, T, H, W]``.

        Returns:
            ``[B, C, T, H, W]``.
        """
        if x.dim() != 5 or x.size(1) != self.in_channels:
            raise ValueError(
                f"{self.__class__.__name__}.forward_grid: x must be "
                f"[B, {self.in_channels}, T, H, W], got {list(x.shape)}"
            )
        nodes = x.flatten(2).transpose(1, 2)  # [B, THW, C]
        kv = x
        if self.subsample:
            kv = F.max_pool3d(x, kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=True)
        kv = kv.flatten(2).transpose(1, 2)
        query, key, value = self._query_key_value(nodes, kv)
        y = dense_attention(query, key, value, None, self.score, self.normalize, self.score_scale)
        z = self._transform(y)  # [B, THW, C]
        return x + z.transpose(1, 2).reshape(x.shape)

    def __repr__(self) -> str:
        extra = ", scale=True" if self.scale else ""
        return f"{self.__class__.__name__}({self.in_channels}, mode={self.mode}{extra})"
