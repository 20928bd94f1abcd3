"""Whole networks: I3D/C2D ResNets, region features, STRG."""

from stgcn.models.build import MODELS, ModelConfig, build_model
from stgcn.models.complexity import count_gmacs, count_parameters
from stgcn.models.inflate import InflationReport, inflate_2d_weights
from stgcn.models.patchy_san import PatchySANNet
from stgcn.models.region import RegionFeatures, feature_frames, roi_features
from stgcn.models.resnet3d import (
    BasicBlock3D,
    Bottleneck3D,
    ResNet3D,
    c2d_r18,
    c2d_r50,
    i3d_nl_r18,
    i3d_nl_r50,
    i3d_r18,
    i3d_r50,
)
from stgcn.models.strg import STRG
from stgcn.models.weights import freeze_backbone, init_from

__all__ = [
    "MODELS",
    "STRG",
    "BasicBlock3D",
    "Bottleneck3D",
    "InflationReport",
    "ModelConfig",
    "PatchySANNet",
    "RegionFeatures",
    "ResNet3D",
    "build_model",
    "c2d_r18",
    "c2d_r50",
    "count_gmacs",
    "count_parameters",
    "feature_frames",
    "freeze_backbone",
    "i3d_nl_r18",
    "i3d_nl_r50",
    "i3d_r18",
    "i3d_r50",
    "inflate_2d_weights",
    "init_from",
    "roi_features",
]
