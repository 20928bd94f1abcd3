"""``build_model(name, num_classes, **config)``: the named models of the STRG paper's Table 4.

A plain dict of builder functions, ``MODELS``; every model is called as
``model(clip [B, 3, T, H, W], graph: Batch | None = None) -> logits [B, num_classes]`` and has a
``takes_graph`` class attribute (``True`` for the ``*_gcn`` and ``i3d_roi`` models, which need the
boxes). The models keep their weights in ``channels_last_3d`` and convert the clip themselves
(``channels_last=False`` turns it off): callers pass ordinary contiguous clips.

=============  ==================================================================
``c2d``        C2D ResNet, global pooling
``i3d``        I3D ResNet, global pooling
``i3d_nl``     I3D ResNet with 5 non-local blocks (2 for R18), global pooling
``i3d_gcn``    STRG: I3D + region graph (similarity + spatial-temporal GCN)
``i3d_nl_gcn`` STRG: NL-I3D + region graph
``i3d_roi``    ablation: STRG's boxes and RoIAlign nodes, mean-pooled with no graph
=============  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from stgcn.layers.space_time_gcn import SpaceTimeGCN
from stgcn.models import resnet3d as r3d
from stgcn.models.inflate import inflate_2d_weights
from stgcn.models.region import RegionFeatures
from stgcn.models.strg import STRG

BACKBONES: dict[tuple[str, str], Callable[..., r3d.ResNet3D]] = {
    ("c2d", "r18"): r3d.c2d_r18,
    ("c2d", "r50"): r3d.c2d_r50,
    ("i3d", "r18"): r3d.i3d_r18,
    ("i3d", "r50"): r3d.i3d_r50,
    ("i3d_nl", "r18"): r3d.i3d_nl_r18,
    ("i3d_nl", "r50"): r3d.i3d_nl_r50,
}


@dataclass
class ModelConfig:
    r"""What ``build_model`` accepts as keyword arguments.

    Backbone: ``depth`` "r18" | "r50" (or 18 | 50); ``width`` stem channels (64; smaller for fast
    tests); ``res5_stride`` 1 (STRG: 224 -> 14x14; also what the paper's I3D baselines use, 153
    GMACs at 32x224x224) or 2; ``dropout`` before the classifier (default 0.5 for the pooling-only
    models, 0.3 on the global branch of STRG); ``frames`` the clip length T the model will see,
    checked at build time to be a multiple of the temporal stride (2) and kept as
    ``model.num_frames``; ``inflate_from`` a torchvision 2D ResNet state dict (or a path to one)
    to inflate into the backbone, the report kept as ``model.inflation_report``;
    ``in_channels`` of the clip (3 RGB, 2 optical flow); ``nonlocal_scale`` of the backbone's
    non-local blocks (``True``: :math:`1/\sqrt{d_{inner}}` as the authors' released code,
    ``False``: the paper's unscaled equation; see :class:`~stgcn.models.ResNet3D`);
    ``channels_last`` (True): weights and clips in ``torch.channels_last_3d``, 1.4-1.6x faster
    for R50 at 32x224^2 on the reference CPU (``benchmarks/backbone.py``).

    Regions (``*_gcn``, ``i3d_roi``): ``global_feature`` ("reduced": the average-pooled d-dim
    map the nodes are read from, the paper's reading; "backbone": the pooled C-dim backbone map;
    see :class:`~stgcn.models.STRG`); ``max_boxes_per_frame`` (None: every box, right for
    ground-truth boxes; the paper keeps 50 RPN proposals per frame, highest score first).

    Graph (``*_gcn``): ``region_channels`` node size after the 1x1x1 conv (512);
    ``gcn_hidden``/``gcn_out`` sizes (default ``region_channels``); ``gcn_layers`` (3);
    ``gcn_graphs`` (("similarity", "spatial_temporal")); ``iou_threshold`` (0.0);
    ``gcn_dropout`` (0.0); ``gcn_residual``; ``gcn_joint``; the paper's GCN by default:
    ``gcn_similarity`` ("shared": one similarity graph from the node features, used by every
    layer; "per_layer": a graph per layer), ``gcn_norm`` (True: LayerNorm + ReLU after every
    graph convolution), ``gcn_bias`` (False: Z = GXW). See
    :class:`~stgcn.layers.SpaceTimeGCN`.
    """

    depth: str | int = "r50"
    width: int = 64
    res5_stride: int = 1
    dropout: float | None = None
    frames: int | None = None
    inflate_from: Mapping[str, Tensor] | str | Path | None = None
    in_channels: int = 3
    nonlocal_scale: bool = True
    channels_last: bool = True
    global_feature: str = "reduced"
    max_boxes_per_frame: int | None = None
    region_channels: int = 512
    gcn_hidden: int | None = None
    gcn_out: int | None = None
    gcn_layers: int = 3
    gcn_graphs: tuple[str, ...] = ("similarity", "spatial_temporal")
    iou_threshold: float = 0.0
    gcn_dropout: float = 0.0
    gcn_residual: bool = False
    gcn_joint: bool = False
    gcn_similarity: str = "shared"
    gcn_norm: bool = True
    gcn_bias: bool = False

    @property
    def depth_name(self) -> str:
        depth = f"r{self.depth}" if isinstance(self.depth, int) else str(self.depth).lower()
        if depth not in ("r18", "r50"):
            raise ValueError(f"build_model: depth must be 'r18' or 'r50', got {self.depth!r}")
        return depth


def _backbone(kind: str, cfg: ModelConfig, num_classes: int | None, dropout: float) -> r3d.ResNet3D:
    model = BACKBONES[kind, cfg.depth_name](
        num_classes=num_classes,
        width=cfg.width,
        res5_stride=cfg.res5_stride,
        dropout=dropout,
        in_channels=cfg.in_channels,
        channels_last=cfg.channels_last,
        nonlocal_scale=cfg.nonlocal_scale,
    )
    if cfg.frames is not None and (cfg.frames < 1 or cfg.frames % model.temporal_stride):
        raise ValueError(
            f"build_model: frames={cfg.frames} must be a positive multiple of the backbone's "
            f"temporal stride {model.temporal_stride}"
        )
    return model


def _pooled(kind: str) -> Callable[[int, ModelConfig], nn.Module]:
    def build(num_classes: int, cfg: ModelConfig) -> nn.Module:
        return _backbone(kind, cfg, num_classes, 0.5 if cfg.dropout is None else cfg.dropout)

    return build


def _strg(kind: str, graph: bool = True) -> Callable[[int, ModelConfig], nn.Module]:
    def build(num_classes: int, cfg: ModelConfig) -> nn.Module:
        backbone = _backbone(kind, cfg, None, 0.0)
        dropout = 0.3 if cfg.dropout is None else cfg.dropout
        region = RegionFeatures(
            backbone.out_channels,
            cfg.region_channels,
            backbone.feature_stride,
            max_boxes_per_frame=cfg.max_boxes_per_frame,
        )
        if not graph:
            return STRG(
                backbone, None, num_classes, region, dropout, global_feature=cfg.global_feature
            )
        gcn = SpaceTimeGCN(
            cfg.region_channels,
            hidden_channels=cfg.gcn_hidden,
            out_channels=cfg.gcn_out,
            num_layers=cfg.gcn_layers,
            graphs=cfg.gcn_graphs,
            iou_threshold=cfg.iou_threshold,
            dropout=cfg.gcn_dropout,
            residual=cfg.gcn_residual,
            joint=cfg.gcn_joint,
            similarity=cfg.gcn_similarity,
            norm=cfg.gcn_norm,
            bias=cfg.gcn_bias,
        )
        return STRG(backbone, gcn, num_classes, region, dropout, global_feature=cfg.global_feature)

    return build


MODELS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {
    "c2d": _pooled("c2d"),
    "i3d": _pooled("i3d"),
    "i3d_nl": _pooled("i3d_nl"),
    "i3d_gcn": _strg("i3d"),
    "i3d_nl_gcn": _strg("i3d_nl"),
    "i3d_roi": _strg("i3d", graph=False),
}


def build_model(name: str, num_classes: int, **config: object) -> nn.Module:
    """The model ``name`` (a key of ``MODELS``) with ``num_classes`` outputs.

    ``config``: the fields of :class:`ModelConfig`. Returns a module called as
    ``model(clip [B, in_channels, T, H, W], graph=None) -> [B, num_classes]``, with
    ``model.takes_graph`` saying whether ``graph`` is needed.
    """
    if name not in MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; choose from {sorted(MODELS)}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"build_model: unknown config keys {unknown}; known: {sorted(known)}")
    cfg = ModelConfig(**config)  # type: ignore[arg-type]
    model = MODELS[name](num_classes, cfg)
    if cfg.channels_last:  # the parts outside the backbone too (STRG's 1x1x1 region conv)
        model.to(memory_format=torch.channels_last_3d)
    model.num_frames = cfg.frames
    if cfg.inflate_from is not None:
        state = cfg.inflate_from
        if isinstance(state, str | Path):
            state = torch.load(state, map_location="cpu", weights_only=True)
        backbone = model.backbone if isinstance(model, STRG) else model
        model.inflation_report = inflate_2d_weights(backbone, state)
    return model
