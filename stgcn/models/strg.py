"""STRG: an I3D backbone, RoIAlign region nodes, a space-time GCN, and a joint classifier.

Wang & Gupta, *Videos as Space-Time Region Graphs* (ECCV 2018), Sec. 4.1 and Fig. 4.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from stgcn.layers.space_time_gcn import SpaceTimeGCN
from stgcn.models.region import RegionFeatures
from stgcn.models.resnet3d import ResNet3D

GLOBAL_FEATURES = ("reduced", "backbone")
"""What :class:`STRG` average-pools for its global feature (see its docstring)."""


class STRG(nn.Module):
    r"""Space-time region graph classifier (Wang & Gupta, ECCV 2018).

    .. math::
        F = \mathrm{backbone}(\text{clip}), \quad
        F_r = W_r * F, \quad
        X = \mathrm{RoIAlign}(F_r, \text{boxes}), \quad
        \text{logits} = W_c \big[\mathrm{dropout}(\mathrm{avgpool}(F_r)) \,\|\,
            \tfrac{1}{N_b} \textstyle\sum_{n \in b} \mathrm{GCN}(X)_n\big] + c

    with :math:`W_r` the 1x1x1 conv that reduces the backbone's map to the node size d
    (2048 -> 512 in the paper). The graph branch is the mean of the GCN's node outputs per video
    (:meth:`SpaceTimeGCN.readout`, a zero vector for a video without boxes).

    **The global feature** (``global_feature``). The paper (Sec. 4.1) average-pools the whole
    T x H x W x d video representation to obtain a global feature of the same dimension d as the
    GCN feature, then concatenates the two. Two readings of which map that is:

    * ``"reduced"`` (default): :math:`\mathrm{avgpool}(F_r)`, the d-dim map the nodes are read
      from, as in the equation above. This is the reading the default follows, because it is the
      only one that gives a global feature of the GCN feature's size d, as the paper asks
      (d = 512 there), and it is what the unofficial reimplementation jd730/STRG does (``strg.py``:
      the ``reducer`` conv runs before ``avg_pool``); the classifier then sees 2d inputs.
    * ``"backbone"``: :math:`\mathrm{avgpool}(F)`, the backbone's own C-dim map (2048 for R50),
      as a plain I3D would pool it; the classifier sees C + d inputs. This is what this package
      did before, kept as an option.

    Dropout (0.3) is applied to the global feature only. jd730/STRG, an unofficial
    reimplementation and not the authors' code, uses the same rate (on both pooled features).

    With ``gcn=None`` the graph branch is the mean of the RoIAlign node features themselves,
    :math:`\tfrac{1}{N_b}\sum_{n \in b} X_n`: the same boxes and features with no graph
    reasoning. That is the ``i3d_roi`` ablation of :func:`stgcn.models.build_model`, which tells
    how much of STRG's gain comes from the graph and how much from pooling inside the boxes.

    Args:
        backbone: a :class:`ResNet3D`; its own classifier is not used and is replaced by
            ``Identity`` here, so every parameter of the model gets a gradient (DDP).
        gcn: a :class:`SpaceTimeGCN` over the region nodes, or ``None`` for no graph (the nodes
            are mean-pooled as they are).
        num_classes: outputs of the joint classifier.
        region: node reader; default ``RegionFeatures(backbone.out_channels, gcn.in_channels,
            backbone.feature_stride)`` (the 1x1x1 conv 2048 -> 512 of the paper). Required when
            ``gcn`` is ``None``. Its ``max_boxes_per_frame`` caps the nodes per frame.
        dropout: dropout on the global feature.
        global_feature: ``"reduced"`` or ``"backbone"``, see above.

    Shapes: ``forward(clip [B, C_in, T, H, W], graph)`` -> ``[B, num_classes]``, with ``graph`` a
    PyG ``Batch`` of B ``VideoGraph`` skeletons (``box`` [N, 4] in clip pixels, ``frame`` [N] in
    0..T-1). Boxes are read on feature frames as :mod:`stgcn.models.region` documents.
    """

    takes_graph = True
    """Whether ``forward`` needs the region graph: the one flag the engine reads."""

    def __init__(
        self,
        backbone: ResNet3D,
        gcn: SpaceTimeGCN | None,
        num_classes: int,
        region: RegionFeatures | None = None,
        dropout: float = 0.3,
        global_feature: str = "reduced",
    ) -> None:
        super().__init__()
        if global_feature not in GLOBAL_FEATURES:
            raise ValueError(
                f"STRG: global_feature must be one of {GLOBAL_FEATURES}, got {global_feature!r}"
            )
        if region is None:
            if gcn is None:
                raise ValueError("STRG: without a GCN, pass the region reader (region=...)")
            region = RegionFeatures(backbone.out_channels, gcn.in_channels, backbone.feature_stride)
        node_channels = region.out_channels if gcn is None else gcn.in_channels
        if region.in_channels != backbone.out_channels or region.out_channels != node_channels:
            raise ValueError(
                f"STRG: region features map {region.in_channels} -> {region.out_channels} "
                f"channels, but the backbone gives {backbone.out_channels} and the GCN takes "
                f"{node_channels}"
            )
        graph_channels = region.out_channels if gcn is None else gcn.out_channels
        global_channels = (
            region.out_channels if global_feature == "reduced" else backbone.out_channels
        )
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.region = region
        self.gcn = gcn
        self.global_feature = global_feature
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(global_channels + graph_channels, num_classes)
        self.num_classes = num_classes

    def forward(
        self, clip: Tensor, graph: Data | None = None, return_attention_weights: bool = False
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits ``[B, num_classes]``; see the class docstring.

        With ``return_attention_weights=True`` also the GCN's similarity graph, ``(edge_index [2,
        E], alpha [E])`` (see :meth:`SpaceTimeGCN.forward`), whose node indices are those of the
        region nodes :meth:`encode` reads (the boxes on feature frames), not of ``graph``.
        """
        pooled, nodes = self.encode(clip, graph)
        return self.classify(pooled, nodes, return_attention_weights=return_attention_weights)

    def encode(self, clip: Tensor, graph: Data | None) -> tuple[Tensor, Batch]:
        """The backbone part: the global feature and the region nodes, what :meth:`classify`
        takes (``stgcn.explain`` keeps them fixed and explains the graph part; :class:`STRGHead`
        computes the logits from exactly these, so they can be cached: ``python -m stgcn.extract``).

        Args:
            clip: ``[B, C_in, T, H, W]``.
            graph: a ``Batch`` of B ``VideoGraph`` skeletons (boxes in clip pixels).

        Returns:
            ``pooled`` ``[B, C_g]`` (before dropout) and the nodes, a ``Batch`` with ``x`` [N, d],
            ``box`` [N, 4] (clip pixels), ``frame`` [N] (feature steps), ``batch`` [N] and the
            input's ``score``/``category``/``track`` (:meth:`RegionFeatures.read`).
        """
        if graph is None:
            raise ValueError(
                "STRG needs the region graph: call model(clip, graph) with a Batch of VideoGraph "
                "boxes (box in clip pixels, frame 0..T-1); the *_gcn models cannot run without boxes"
            )
        features = self.backbone.forward_features(clip)
        reduced = self.region.reduce(features)
        pooled = self.backbone.pool(reduced if self.global_feature == "reduced" else features)
        return pooled, self.region.read(reduced, graph, num_frames=clip.size(2))

    def classify(
        self,
        pooled: Tensor,
        nodes: Data,
        x: Tensor | None = None,
        return_attention_weights: bool = False,
        similarity_mask: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """The graph part (:func:`classify_regions` on this model's GCN, dropout and classifier)."""
        return classify_regions(
            self,
            pooled,
            nodes,
            x=x,
            return_attention_weights=return_attention_weights,
            similarity_mask=similarity_mask,
        )


class STRGHead(nn.Module):
    r"""The part of an :class:`STRG` after its RoIAlign nodes: GCN, readout, dropout, classifier.

    .. math::
        \text{logits} = W_c \big[\mathrm{dropout}(g) \,\|\,
            \tfrac{1}{N_b} \textstyle\sum_{n \in b} \mathrm{GCN}(X)_n\big] + c

    with :math:`g` the global feature and :math:`X` the node features that
    :meth:`STRG.encode` returns. Trained on cached features (the paper's second stage
    with the backbone and the 1x1x1 reduction conv fixed): ``python -m stgcn.extract`` writes
    them and :class:`stgcn.data.cached.RegionFeatureDataset` reads them.

    :meth:`from_strg` shares the STRG's own ``gcn``, ``dropout`` and ``fc`` modules, so the
    parameter names (``gcn.*``, ``fc.*``) are the STRG's: a checkpoint of either loads into the
    other with :func:`stgcn.models.init_from`, and training the head trains the STRG's head.

    Shapes: ``forward(global_feature [B, C_g], graph)`` -> ``[B, num_classes]``, with ``graph`` a
    PyG ``Batch`` of B node graphs (``x`` [K, d], ``box`` [K, 4], ``frame`` [K], ``batch`` [K]).
    It is called as the engine calls every model, ``model(clip, graph)``, with the global feature
    in the place of the clip.
    """

    takes_graph = True
    """Whether ``forward`` needs the region graph: the one flag the engine reads."""

    def __init__(self, gcn: SpaceTimeGCN | None, dropout: nn.Module, fc: nn.Linear) -> None:
        super().__init__()
        self.gcn = gcn
        self.dropout = dropout
        self.fc = fc
        self.num_classes = fc.out_features

    @classmethod
    def from_strg(cls, model: STRG) -> STRGHead:
        """The head of ``model``, sharing its modules (and so its parameters)."""
        if not isinstance(model, STRG):
            raise TypeError(f"STRGHead.from_strg needs an STRG, got {type(model).__name__}")
        return cls(model.gcn, model.dropout, model.fc)

    def forward(self, global_feature: Tensor, graph: Data | None = None) -> Tensor:
        """Logits ``[B, num_classes]``; see the class docstring."""
        if graph is None or graph.get("x") is None:
            raise ValueError(
                "STRGHead needs the node graph with features x [K, d] (the cached RoIAlign "
                "nodes of stgcn.data.cached.RegionFeatureDataset)"
            )
        nodes = graph if isinstance(graph, Batch) else Batch.from_data_list([graph])
        return classify_regions(self, global_feature, nodes)


def classify_regions(
    model: STRG | STRGHead,
    pooled: Tensor,
    nodes: Data,
    x: Tensor | None = None,
    return_attention_weights: bool = False,
    similarity_mask: Tensor | None = None,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """STRG's graph part on ``model``'s ``gcn``, ``dropout`` and ``fc``: GCN over the nodes,
    readout, joint classifier (``gcn=None`` mean-pools the nodes: the ``i3d_roi`` ablation).

    Args:
        pooled: ``[B, C_g]`` global feature (:meth:`STRG.encode`).
        nodes: the region nodes (:meth:`STRG.encode`): ``box``, ``frame``, ``batch``.
        x: ``[N, d]`` node features instead of ``nodes.x`` (an explainer's masked copy).
        return_attention_weights: also return the similarity graph (needs a GCN with one).
        similarity_mask: ``[E]`` factors on its edges (:meth:`SpaceTimeGCN.forward`).

    Returns:
        ``[B, num_classes]``, or ``(logits, (edge_index, alpha))``.
    """
    x = nodes.x if x is None else x
    num_videos = pooled.size(0)
    weights = None
    if model.gcn is None:
        if return_attention_weights or similarity_mask is not None:
            raise ValueError("STRG: a model without a GCN has no attention weights")
        graph_feature = global_mean_pool(x, nodes.batch, size=num_videos)
    else:
        h = model.gcn(
            x,
            nodes.box,
            nodes.frame,
            nodes.batch,
            return_attention_weights=return_attention_weights,
            similarity_mask=similarity_mask,
        )
        if return_attention_weights:
            h, weights = h
        graph_feature = model.gcn.readout(h, nodes.batch, num_videos)
    logits = model.fc(torch.cat([model.dropout(pooled), graph_feature], dim=1))
    return logits if weights is None else (logits, weights)
