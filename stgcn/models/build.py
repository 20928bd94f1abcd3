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
``tsn``        TSN: a torchvision 2D ResNet over K segments, consensus = mean logits
``tsn_flow``   TSN temporal stream: stacks of L flow fields (2L channels) per segment
``i3d_flow``   I3D ResNet on optical flow (``in_channels=2``, or 2L for L stacked fields)
``two_stream`` an RGB and a flow stream (``streams``: "tsn" or "i3d"), late softmax fusion
``cnn_lstm``   ConvNet+LSTM: a 2D ResNet per frame, an LSTM, every step supervised
``c3d``        C3D: 8 3x3x3 convolutions, 5 pools, 2 FC of 4096 (BN: the I3D paper's)
``fused_two_stream`` 2D RGB and flow streams fused after the last conv by a 3x3x3 conv
``two_stream_i3d`` ``i3d`` + ``i3d_flow``, softmax scores averaged (equal weights)
=============  ==================================================================

The last four (with ``two_stream``) are the five architectures of Carreira & Zisserman, *Quo
Vadis, Action Recognition?*, CVPR 2017, Sec. 2; each module's docstring has its section.

What each model reads is its ``modality`` (absent: "rgb"): "rgb" models take the batch's
``clip`` ``[B, 3, T, H, W]``, "flow" models its ``flow`` ``[B, 2L, T, H, W]`` (L stacked flow
fields per sampled frame: L = ``new_length`` for ``tsn_flow``, 1 for ``i3d_flow``), and the
two-stream models (``("rgb", "flow")``) are called as ``model(clip, flow)``
(:func:`stgcn.engine.model_inputs`). The SSv2 reader gives that layout with ``flow_length`` = L.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from stgcn.layers.space_time_gcn import SpaceTimeGCN
from stgcn.models import resnet3d as r3d
from stgcn.models.c3d import c3d
from stgcn.models.cnn_lstm import cnn_lstm_r18, cnn_lstm_r50
from stgcn.models.fused_two_stream import FusedTwoStream
from stgcn.models.inflate import inflate_2d_weights
from stgcn.models.region import RegionFeatures
from stgcn.models.strg import STRG
from stgcn.models.tsn import tsn_r18, tsn_r50
from stgcn.models.two_stream import TSN_FUSION_WEIGHTS, TwoStream

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

    Two-stream (``tsn``, ``tsn_flow``, ``i3d_flow``, ``two_stream``): ``weights`` the name of a
    torchvision ResNet weights enum member ("IMAGENET1K_V1", "DEFAULT"; downloaded by
    torchvision when not cached, never by default): the 2D backbone of a TSN loads it, a 3D
    one inflates it as ``inflate_from`` would (a flow network's first conv by TSN's
    cross-modality rule); ``new_length`` L, the flow stack length: flow fields per sampled frame
    (the reader's ``flow_length``), 5 by default for ``tsn_flow`` and 1 for ``i3d_flow``; an RGB
    TSN reads one frame per segment and ignores it in ``two_stream`` (``tsn`` alone refuses
    L > 1); ``partial_bn`` (True) freeze every TSN BatchNorm but the first; ``streams`` of
    ``two_stream`` ("tsn" or "i3d"); ``fusion_weights`` RGB : flow (TSN's 1 : 1.5). TSN's
    dropout defaults to 0.8 (rgb) and 0.7 (flow). ``i3d_flow`` takes 2L input channels whatever
    ``in_channels`` says. ``frames`` of a TSN is K, its number of segments: both streams of
    ``two_stream`` read the same K sampled frames (the SSv2 reader's ``("rgb", "flow")``
    modality), the flow stream L fields from each.
    ``fusion_weights`` None: the model's own, TSN's 1 : 1.5 for ``two_stream`` and equal for
    ``two_stream_i3d`` (the I3D paper averages the two).

    The I3D paper's architectures: ``cnn_lstm`` takes ``depth``, ``weights`` (its 2D ResNet's),
    ``dropout`` (0.5) and ``partial_bn`` (True: every BatchNorm of the 2D ResNet frozen, as the
    paper's); ``lstm_hidden`` (512). ``c3d`` takes ``width`` (64: the paper's channels; every
    channel count and fc6/fc7 scale with it), ``in_channels`` and ``dropout`` (0.5).
    ``fused_two_stream`` takes the TSN streams' fields (``depth``, ``weights``, ``new_length``
    L, 5 by default; ``partial_bn``), ``fusion_channels`` (512) and ``dropout`` (0.5).
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
    weights: str | None = None
    new_length: int | None = None
    partial_bn: bool = True
    streams: str = "tsn"
    fusion_weights: tuple[float, float] | None = None
    lstm_hidden: int = 512
    fusion_channels: int = 512

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


def _dropout(cfg: ModelConfig) -> float:
    """Dropout before the classifier of a pooling-only 3D model: 0.5 unless configured."""
    return 0.5 if cfg.dropout is None else cfg.dropout


def _pooled(kind: str) -> Callable[[int, ModelConfig], nn.Module]:
    def build(num_classes: int, cfg: ModelConfig) -> nn.Module:
        return _backbone(kind, cfg, num_classes, _dropout(cfg))

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


def _tsn(modality: str) -> Callable[[int, ModelConfig], nn.Module]:
    def build(num_classes: int, cfg: ModelConfig) -> nn.Module:
        if cfg.width != 64:
            raise ValueError(
                f"build_model: TSN uses torchvision's ResNet at its own width (64), got "
                f"width={cfg.width}"
            )
        if cfg.inflate_from is not None:
            raise ValueError("build_model: a TSN takes 2D weights with weights=, not inflate_from")
        length = cfg.new_length or (5 if modality == "flow" else 1)
        if modality == "rgb" and length != 1:
            raise ValueError(
                f"build_model: an RGB TSN reads one frame per segment; new_length={length} is "
                "the flow stack length of tsn_flow"
            )
        if cfg.frames is not None and cfg.frames < 1:
            raise ValueError(f"build_model: frames={cfg.frames} must be >= 1 (K segments)")
        builder = tsn_r18 if cfg.depth_name == "r18" else tsn_r50
        return builder(
            num_classes,
            weights=cfg.weights,
            modality=modality,
            new_length=length,
            dropout=(0.8 if modality == "rgb" else 0.7) if cfg.dropout is None else cfg.dropout,
            partial_bn=cfg.partial_bn,
            channels_last=cfg.channels_last,
        )

    return build


def _i3d_flow(num_classes: int, cfg: ModelConfig) -> nn.Module:
    channels = 2 * (cfg.new_length or 1)
    model = _backbone("i3d", replace(cfg, in_channels=channels), num_classes, _dropout(cfg))
    model.modality = "flow"  # the engine feeds it the batch's flow, not its clip
    return model


def _two_stream(num_classes: int, cfg: ModelConfig) -> nn.Module:
    if cfg.streams == "tsn":
        rgb = _tsn("rgb")(num_classes, replace(cfg, new_length=1))
        flow = _tsn("flow")(num_classes, cfg)
    elif cfg.streams == "i3d":
        rgb, flow = _pooled("i3d")(num_classes, cfg), _i3d_flow(num_classes, cfg)
    else:
        raise ValueError(f"build_model: streams must be 'tsn' or 'i3d', got {cfg.streams!r}")
    return TwoStream(rgb, flow, cfg.fusion_weights or TSN_FUSION_WEIGHTS)


def _two_stream_i3d(num_classes: int, cfg: ModelConfig) -> nn.Module:
    rgb, flow = _pooled("i3d")(num_classes, cfg), _i3d_flow(num_classes, cfg)
    return TwoStream(rgb, flow, cfg.fusion_weights or (1.0, 1.0))


def _no_3d_options(name: str, cfg: ModelConfig) -> None:
    if cfg.inflate_from is not None:
        raise ValueError(f"build_model: {name} has no 3D ResNet to inflate_from into")


def _cnn_lstm(num_classes: int, cfg: ModelConfig) -> nn.Module:
    _no_3d_options("cnn_lstm", cfg)
    if cfg.width != 64:
        raise ValueError(
            f"build_model: cnn_lstm uses torchvision's ResNet at its own width (64), got "
            f"width={cfg.width}"
        )
    builder = cnn_lstm_r18 if cfg.depth_name == "r18" else cnn_lstm_r50
    return builder(
        num_classes,
        weights=cfg.weights,
        hidden=cfg.lstm_hidden,
        dropout=_dropout(cfg),
        freeze_bn=cfg.partial_bn,
    )


def _c3d(num_classes: int, cfg: ModelConfig) -> nn.Module:
    _no_3d_options("c3d", cfg)
    if cfg.weights is not None:
        raise ValueError("build_model: c3d is trained from scratch; it takes no 2D weights")
    return c3d(num_classes, width=cfg.width, in_channels=cfg.in_channels, dropout=_dropout(cfg))


def _fused_two_stream(num_classes: int, cfg: ModelConfig) -> nn.Module:
    rgb = _tsn("rgb")(num_classes, replace(cfg, new_length=1))
    flow = _tsn("flow")(num_classes, cfg)
    return FusedTwoStream(
        rgb, flow, num_classes, fusion_channels=cfg.fusion_channels, dropout=_dropout(cfg)
    )


MODELS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {
    "c2d": _pooled("c2d"),
    "i3d": _pooled("i3d"),
    "i3d_nl": _pooled("i3d_nl"),
    "i3d_gcn": _strg("i3d"),
    "i3d_nl_gcn": _strg("i3d_nl"),
    "i3d_roi": _strg("i3d", graph=False),
    "tsn": _tsn("rgb"),
    "tsn_flow": _tsn("flow"),
    "i3d_flow": _i3d_flow,
    "two_stream": _two_stream,
    "cnn_lstm": _cnn_lstm,
    "c3d": _c3d,
    "fused_two_stream": _fused_two_stream,
    "two_stream_i3d": _two_stream_i3d,
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
    if cfg.weights is not None and cfg.inflate_from is not None:
        raise ValueError("build_model: give weights= or inflate_from=, not both")
    model = MODELS[name](num_classes, cfg)
    if cfg.channels_last:  # the parts outside the backbone too (STRG's 1x1x1 region conv)
        _to_channels_last(model)
    model.num_frames = cfg.frames
    state = cfg.inflate_from
    if state is None and cfg.weights is not None and _backbones_3d(model):
        state = _RESNETS_2D[cfg.depth_name](weights=cfg.weights).state_dict()
    if isinstance(state, str | Path):
        state = torch.load(state, map_location="cpu", weights_only=True)
    if state is not None:
        for backbone in _backbones_3d(model):
            backbone.inflation_report = inflate_2d_weights(backbone, state)
        if isinstance(model, STRG):
            model.inflation_report = model.backbone.inflation_report
    return model


_RESNETS_2D = {"r18": torchvision.models.resnet18, "r50": torchvision.models.resnet50}


def _backbones_3d(model: nn.Module) -> list[r3d.ResNet3D]:
    """The 3D ResNets that 2D weights inflate into: the model, an STRG's backbone, or those of
    both streams; a TSN has none (it takes its weights at construction)."""
    if isinstance(model, r3d.ResNet3D):
        return [model]
    if isinstance(model, STRG):
        return [model.backbone]
    if isinstance(model, TwoStream):
        return _backbones_3d(model.rgb) + _backbones_3d(model.flow)
    return []


def _to_channels_last(model: nn.Module) -> None:
    """Every convolution's weight in the channels-last format of its rank (3D and 2D)."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            m.to(memory_format=torch.channels_last_3d)
        elif isinstance(m, nn.Conv2d):
            m.to(memory_format=torch.channels_last)
