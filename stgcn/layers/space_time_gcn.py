"""SpaceTimeGCN: the GCN of Wang & Gupta's space-time region graphs, composed from the graph layers.

Which graphs it can use comes from :data:`GRAPHS`, a dict of name -> :class:`GraphType` (a
convolution factory and an edge builder) that :func:`register_graph` extends: a new graph type is
one registration, and ``SpaceTimeGCN(..., graphs=(..., "my_graph"))`` then builds and runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from stgcn.graphs.edges import space_time_graph
from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.similarity import SimilarityGraph, SimilarityGraphConv
from stgcn.layers.spatial_temporal import SpatialTemporalGraphConv

__all__ = ["GRAPHS", "SIMILARITY_MODES", "GraphType", "SpaceTimeGCN", "register_graph"]

SIMILARITY_MODES = ("shared", "per_layer")

EdgeBuilder = Callable[[Tensor, Tensor, Tensor, "Tensor | None"], dict[str, Any]]
"""``builder(x, box, frame, batch) -> kwargs``: what the convolutions of one graph are called with,
``conv(h, **kwargs)``, computed once per forward from the input nodes."""


class GraphType(NamedTuple):
    """How :class:`SpaceTimeGCN` builds and runs one graph type.

    Attributes:
        conv: ``conv(gcn, in_channels, out_channels) -> nn.Module``, one convolution per depth;
            it reads the options it needs from the ``SpaceTimeGCN`` being built (``gcn.bias``,
            ``gcn.similarity``, ...). The module is called as ``conv(h, **kwargs)``.
        edges: ``edges(gcn) -> EdgeBuilder``, called once at construction; the builder runs once
            per forward, ``builder(x, box, frame, batch) -> kwargs``. A builder that is an
            ``nn.Module`` (a learned graph) is registered as a submodule, so it trains and saves.
        residual: the convolution is residual by itself (no extra shortcut with ``residual=True``).
    """

    conv: Callable[[SpaceTimeGCN, int, int], nn.Module]
    edges: Callable[[SpaceTimeGCN], EdgeBuilder]
    residual: bool = False


GRAPHS: dict[str, GraphType] = {}
"""Graph types :class:`SpaceTimeGCN` accepts, by name; extend with :func:`register_graph`."""


def register_graph(
    name: str,
    *,
    conv: Callable[[SpaceTimeGCN, int, int], nn.Module],
    edges: Callable[[SpaceTimeGCN], EdgeBuilder],
    residual: bool = False,
    replace: bool = False,
) -> GraphType:
    """Make ``name`` usable in ``SpaceTimeGCN(graphs=...)``. Arguments as in :class:`GraphType`;
    ``replace=True`` overrides an existing registration (otherwise that is an error)."""
    if name in GRAPHS and not replace:
        raise ValueError(f"graph {name!r} is already registered (pass replace=True to override)")
    GRAPHS[name] = GraphType(conv, edges, residual)
    return GRAPHS[name]


class SharedSimilarity(nn.Module):
    """Edge builder of the ``"similarity"`` graph with ``similarity="shared"``: one
    :class:`SimilarityGraph` :math:`G` from the input region features per forward, handed to every
    layer of the branch as ``attention``."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.graph = SimilarityGraph(in_channels)

    def reset_parameters(self) -> None:
        self.graph.reset_parameters()

    def forward(
        self, x: Tensor, box: Tensor, frame: Tensor, batch: Tensor | None
    ) -> dict[str, Any]:
        return {"batch": batch, "attention": self.graph(x, batch)}


def _batch_only(x: Tensor, box: Tensor, frame: Tensor, batch: Tensor | None) -> dict[str, Any]:
    return {"batch": batch}


class SpaceTimeEdges(nn.Module):
    """Edge builder of the ``"spatial_temporal"`` graph: the front/back IoU graphs from
    :func:`stgcn.graphs.space_time_graph`, built once per forward, shared by all layers."""

    def __init__(self, iou_threshold: float) -> None:
        super().__init__()
        self.iou_threshold = iou_threshold

    def forward(
        self, x: Tensor, box: Tensor, frame: Tensor, batch: Tensor | None
    ) -> dict[str, Any]:
        st = space_time_graph(box, frame, batch, self.iou_threshold)
        # The CSR operator once, for all layers, instead of once per layer.
        adj = SpatialTemporalGraphConv.csr(
            st.edge_index, st.front_weight, st.back_weight, x.size(0)
        )
        return {"edge_index": adj.to(x.dtype)}

    def extra_repr(self) -> str:
        return f"iou_threshold={self.iou_threshold}"


def _similarity_conv(gcn: SpaceTimeGCN, in_channels: int, out_channels: int) -> nn.Module:
    learn = gcn.similarity == "per_layer"
    return SimilarityGraphConv(in_channels, out_channels, bias=gcn.bias, learn_graph=learn)


def _similarity_edges(gcn: SpaceTimeGCN) -> EdgeBuilder:
    return SharedSimilarity(gcn.in_channels) if gcn.similarity == "shared" else _batch_only


def _non_local_conv(gcn: SpaceTimeGCN, in_channels: int, out_channels: int) -> nn.Module:
    if in_channels != out_channels:
        raise ValueError(
            "the non_local graph keeps the channel count: it needs in_channels == "
            f"hidden_channels == out_channels, got {gcn.in_channels}, {gcn.hidden_channels}, "
            f"{gcn.out_channels}"
        )
    return NonLocalGraphConv(in_channels)


register_graph("similarity", conv=_similarity_conv, edges=_similarity_edges)
register_graph(
    "spatial_temporal",
    conv=lambda gcn, i, o: SpatialTemporalGraphConv(i, o, bias=gcn.bias),
    edges=lambda gcn: SpaceTimeEdges(gcn.iou_threshold),
)
register_graph("non_local", conv=_non_local_conv, edges=lambda gcn: _batch_only, residual=True)


class SpaceTimeGCN(nn.Module):
    r"""Graph convolutions over a video's space-time region graph, from Wang and Gupta, "Videos as
    Space-Time Region Graphs" (ECCV 2018), sec. 3.3-3.4.

    Each graph :math:`g` is its own branch of ``num_layers`` graph convolutions, and the branch
    outputs are summed at the end (which the paper found better than one joint GCN):

    .. math::
        Z = \sum_g H^{(L)}_g, \qquad
        H^{(l+1)}_g = \mathrm{ReLU}\big(\mathrm{LN}(G_g H^{(l)}_g W^{(l)}_g)\big),
        \quad H^{(0)}_g = X.

    * ``"similarity"``: :math:`G_{ij} = \mathrm{softmax}_j(\phi(\mathbf{x}_i)^\top
      \phi'(\mathbf{x}_j))` over the complete graph of each video. With ``similarity="shared"``
      (the default, the paper's eq. (1)-(3)) :math:`G` is computed **once** per forward from the
      input features :math:`X` by one :class:`SimilarityGraph` and every layer convolves over it
      (:class:`SimilarityGraphConv` with ``learn_graph=False``); gradients reach :math:`\phi,
      \phi'` through all layers. ``similarity="per_layer"`` gives each layer its own
      :math:`\phi^{(l)}, \phi'^{(l)}` and recomputes :math:`G^{(l)}` from :math:`H^{(l)}` (stacked
      self-attention; this class's behaviour before the fidelity review).
    * ``"spatial_temporal"``: :class:`SpatialTemporalGraphConv`, :math:`G^{front} H W_f +
      G^{back} H W_b`, with the IoU graphs built from ``box`` and ``frame`` once per forward.
    * ``"non_local"``: :class:`NonLocalGraphConv` (embedded Gaussian) on the complete graph of each
      video; it keeps the channel count and is residual by itself, so it needs
      ``in_channels == hidden_channels == out_channels`` and gets no extra shortcut.
    * any graph added with :func:`register_graph`.

    With ``joint=True`` the graphs are instead summed inside every layer, the paper's
    :math:`Z = \sum_g G_g X W_g`: :math:`H^{(l+1)} = \mathrm{ReLU}\big(\mathrm{LN}(\sum_g
    G_g H^{(l)} W^{(l)}_g)\big)`, one LayerNorm per depth.

    **Normalisation.** The paper, describing its graph convolutions (sec. 3), applies Layer
    Normalization and ReLU after each graph convolution before the result goes to the next layer.
    (A paraphrase: the exact sentence could not be retrieved with this project's search tool, whose
    stored copies of the paper hold only its first page.) ``norm=True`` does that after **every** layer, the last one
    included: the paper says "each", and the unofficial reimplementation jd730/STRG
    (``rgcn_models.py``, not the authors' code) also ends each branch with a ReLU. The summed
    output is therefore non-negative. ``norm=False`` is the earlier form: ReLU between layers only,
    the last layer linear. Dropout (``dropout``) follows each activation except the last.

    **Bias.** The paper's convolution is :math:`Z = GXW`; with a LayerNorm after it a bias would
    be absorbed by LN's own shift anyway, so the similarity and spatial-temporal convolutions have
    none unless ``bias=True``.

    ``SpaceTimeGCN(d, similarity="per_layer", norm=False, bias=True)`` is exactly the model this
    class built before (same parameters, same function).

    Args:
        in_channels: node feature size :math:`d`.
        hidden_channels: size between layers; default ``in_channels``.
        out_channels: output size; default ``hidden_channels``.
        num_layers: graph convolutions per branch (the paper: 3).
        graphs: names from :data:`GRAPHS`, each at most once.
        iou_threshold: spatial-temporal edges need IoU > this.
        dropout: dropout probability after each inner activation.
        residual: add a shortcut around every layer (identity, or a bias-free linear map where the
            size changes), before the normalisation: :math:`\sigma(\mathrm{LN}(\mathrm{conv}(H) +
            S H))`.
        joint: one joint GCN instead of summed branches.
        similarity: ``"shared"`` (one graph from :math:`X`, the paper) or ``"per_layer"``.
        norm: LayerNorm + ReLU after every convolution (the paper); ``False``: ReLU between
            layers only.
        bias: a learned bias in the similarity and spatial-temporal convolutions.

    Shapes:
        ``x`` ``[N, in_channels]``, ``box`` ``[N, 4]``, ``frame`` ``[N]`` (local to each video),
        ``batch`` ``[N]`` sorted (as in a PyG ``Batch``) or ``None`` -> ``[N, out_channels]``;
        with ``return_attention_weights=True`` also the similarity graph, ``(edge_index [2, E],
        alpha)``, ``alpha`` ``[E]`` (shared) or ``[E, num_layers]`` (per layer);
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
        similarity: str = "shared",
        norm: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        graphs = tuple(graphs)
        unknown = [g for g in graphs if g not in GRAPHS]
        if unknown or not graphs or len(set(graphs)) != len(graphs):
            raise ValueError(f"graphs must be distinct names from {tuple(GRAPHS)}, got {graphs}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}")
        if similarity not in SIMILARITY_MODES:
            raise ValueError(f"similarity must be one of {SIMILARITY_MODES}, got {similarity!r}")
        hidden_channels = in_channels if hidden_channels is None else hidden_channels
        out_channels = hidden_channels if out_channels is None else out_channels
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.graphs = graphs
        self.iou_threshold = iou_threshold
        self.dropout = dropout
        self.residual = residual
        self.joint = joint
        self.similarity = similarity
        self.norm = norm
        self.bias = bias
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        sizes = list(zip(dims[:-1], dims[1:], strict=True))
        types = {g: GRAPHS[g] for g in graphs}
        # One edge builder per graph, run once per forward; the learned ones are modules.
        self._builders: dict[str, EdgeBuilder] = {g: t.edges(self) for g, t in types.items()}
        self.edge_builders = nn.ModuleDict(
            {g: b for g, b in self._builders.items() if isinstance(b, nn.Module)}
        )
        # layers[l][g] is graph g's convolution at depth l (one ModuleDict per depth, in both forms;
        # the branches differ only in where the sum and the activation go).
        self.layers = nn.ModuleList(
            nn.ModuleDict({g: t.conv(self, i, o) for g, t in types.items()}) for i, o in sizes
        )
        keys = ["joint"] if joint else list(graphs)
        self.norms: nn.ModuleList | None = None
        if norm:
            self.norms = nn.ModuleList(
                nn.ModuleDict({k: nn.LayerNorm(o) for k in keys}) for _, o in sizes
            )
        self.shortcuts: nn.ModuleList | None = None
        if residual:
            keys = ["joint"] if joint else [g for g in graphs if not types[g].residual]
            self.shortcuts = nn.ModuleList(
                nn.ModuleDict({k: _shortcut(i, o) for k in keys}) for i, o in sizes
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Only the top-level parts: a layer's own reset knows its special inits (the non-local
        # block's zero-scale norm), which resetting its children again would undo.
        blocks = [self.edge_builders, *self.layers]
        blocks += list(self.norms) if self.norms is not None else []
        blocks += list(self.shortcuts) if self.shortcuts is not None else []
        for block in blocks:
            for module in block.values():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def _activate(self, depth: int, key: str, h: Tensor) -> Tensor:
        last = depth == self.num_layers - 1
        if self.norms is not None:
            h = F.relu(self.norms[depth][key](h))
        elif not last:
            h = F.relu(h)
        if last:
            return h
        return F.dropout(h, self.dropout, training=self.training)

    def _conv(
        self, depth: int, name: str, h: Tensor, kwargs: dict[str, Any], alphas: list[Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        conv = self.layers[depth][name]
        if alphas is None or name != "similarity" or self.similarity != "per_layer":
            return conv(h, **kwargs), None
        out, weights = conv(h, **kwargs, return_attention_weights=True)
        alphas.append(weights[1])
        return out, weights

    def forward(
        self,
        x: Tensor,
        box: Tensor,
        frame: Tensor,
        batch: Tensor | None = None,
        return_attention_weights: bool = False,
        similarity_mask: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Node features after the GCN.

        Args:
            x: ``[N, in_channels]`` region features.
            box: ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` (for the spatial-temporal graph).
            frame: ``[N]`` long frame index of each box, local to its video.
            batch: ``[N]`` sorted video index of each node; ``None`` means one video.
            return_attention_weights: also return the similarity graph in edge form,
                ``(edge_index, alpha)`` over the complete graph of each video (row 0 source j,
                row 1 target i): ``alpha`` ``[E]`` with the shared graph, ``[E, num_layers]``
                (one column per depth) with ``similarity="per_layer"``.
            similarity_mask: ``[E]`` factors on the shared similarity graph's edges, in the
                order of the ``edge_index`` that ``return_attention_weights`` gives:
                :math:`G_{ij} m_{ij}` in every layer (how :mod:`stgcn.explain` masks an
                interaction); ``similarity="shared"`` only.

        Returns:
            ``[N, out_channels]``, or ``(out, (edge_index, alpha))``.
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
        if return_attention_weights and "similarity" not in self.graphs:
            raise ValueError("SpaceTimeGCN: return_attention_weights needs the similarity graph")
        if similarity_mask is not None and (
            "similarity" not in self.graphs or self.similarity != "shared"
        ):
            raise ValueError('SpaceTimeGCN: similarity_mask needs the similarity="shared" graph')
        inputs = {g: self._builders[g](x, box, frame, batch) for g in self.graphs}
        if similarity_mask is not None:
            shared = inputs["similarity"]
            inputs["similarity"] = {
                **shared,
                "attention": shared["attention"].reweight(similarity_mask),
            }
        alphas: list[Tensor] | None = [] if return_attention_weights else None
        edge_index = None
        if self.joint:
            h = x
            for depth in range(self.num_layers):
                out = 0
                for g in self.graphs:
                    z, weights = self._conv(depth, g, h, inputs[g], alphas)
                    edge_index = weights[0] if weights is not None else edge_index
                    out = out + z
                if self.shortcuts is not None:
                    out = out + self.shortcuts[depth]["joint"](h)
                h = self._activate(depth, "joint", out)
            total = h
        else:
            total = None
            for g in self.graphs:
                h = x
                for depth in range(self.num_layers):
                    out, weights = self._conv(depth, g, h, inputs[g], alphas)
                    edge_index = weights[0] if weights is not None else edge_index
                    if self.shortcuts is not None and g in self.shortcuts[depth]:
                        out = out + self.shortcuts[depth][g](h)
                    h = self._activate(depth, g, out)
                total = h if total is None else total + h
        if not return_attention_weights:
            return total
        if self.similarity == "shared":
            return total, inputs["similarity"]["attention"].edges()
        assert alphas is not None and edge_index is not None
        return total, (edge_index, torch.stack(alphas, dim=-1))

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
        extra += ", residual=True" if self.residual else ""
        extra += ", similarity='per_layer'" if self.similarity != "shared" else ""
        extra += ", norm=False" if not self.norm else ""
        extra += ", bias=True" if self.bias else ""
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_layers={self.num_layers}, graphs={self.graphs}{extra})"
        )


def _shortcut(in_channels: int, out_channels: int) -> nn.Module:
    if in_channels == out_channels:
        return nn.Identity()
    return nn.Linear(in_channels, out_channels, bias=False)
