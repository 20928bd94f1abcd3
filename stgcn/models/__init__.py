"""Whole networks: I3D/C2D ResNets, region features, STRG, and ``build_model`` for the named ones.

What users import::

    from stgcn.models import build_model, ModelConfig, MODELS        # the paper's Table 4 models
    from stgcn.models import ResNet3D, i3d_r50, video_stem, ...        # backbones, pluggable stem
    from stgcn.models import STRG, RegionFeatures                      # the region-graph model
    from stgcn.models import inflate_2d_weights, InflationReport       # 2D ImageNet -> 3D weights
    from stgcn.models import TSN, tsn_r18, tsn_r50                     # temporal segment networks
    from stgcn.models import TwoStream, fuse_scores                    # late fusion of two streams
    from stgcn.models import CNNLSTM, C3D, FusedTwoStream               # the I3D paper's others
    from stgcn.models import KipfGCN                                   # Kipf & Welling's node classifier
    from stgcn.models import MotionPretext, motion_energy              # self-supervised pre-training on flow

Every model has a ``takes_graph`` class attribute: whether ``forward(clip, graph)`` needs the
region graph; a model reading optical flow also has ``modality`` ("flow", or ``("rgb", "flow")``
for a two-stream model), which tells the engine what to feed it.
"""

from stgcn.models.build import BACKBONES, MODELS, ModelConfig, build_model
from stgcn.models.c3d import C3D, c3d
from stgcn.models.cnn_lstm import CNNLSTM, cnn_lstm_r18, cnn_lstm_r50
from stgcn.models.complexity import count_gmacs, count_parameters
from stgcn.models.fused_two_stream import FusedTwoStream, resnet_conv_map
from stgcn.models.inflate import (
    InflationReport,
    cross_modality_kernel,
    inflate_2d_weights,
    inflate_kernel,
)
from stgcn.models.kipf_gcn import KipfGCN
from stgcn.models.patchy_san import PatchySANNet
from stgcn.models.pretrain import MOTION_CHANNELS, MotionPretext, motion_energy
from stgcn.models.region import RegionFeatures, feature_frames, node_batch, roi_features
from stgcn.models.resnet3d import (
    I3D_TEMPORAL_KERNELS,
    NONLOCAL_POSITIONS,
    BasicBlock3D,
    Bottleneck3D,
    ResNet3D,
    StemFactory,
    c2d_r18,
    c2d_r50,
    i3d_nl_r18,
    i3d_nl_r50,
    i3d_r18,
    i3d_r50,
    video_stem,
)
from stgcn.models.strg import GLOBAL_FEATURES, STRG, STRGHead
from stgcn.models.tsn import TSN, tsn_r18, tsn_r50
from stgcn.models.two_stream import TSN_FUSION_WEIGHTS, TwoStream, fuse_scores
from stgcn.models.weights import freeze_backbone, init_from

__all__ = [
    "BACKBONES",
    "C3D",
    "CNNLSTM",
    "FusedTwoStream",
    "GLOBAL_FEATURES",
    "I3D_TEMPORAL_KERNELS",
    "MODELS",
    "MOTION_CHANNELS",
    "NONLOCAL_POSITIONS",
    "STRG",
    "STRGHead",
    "TSN",
    "TSN_FUSION_WEIGHTS",
    "TwoStream",
    "BasicBlock3D",
    "Bottleneck3D",
    "InflationReport",
    "KipfGCN",
    "ModelConfig",
    "MotionPretext",
    "PatchySANNet",
    "RegionFeatures",
    "ResNet3D",
    "StemFactory",
    "build_model",
    "c3d",
    "cnn_lstm_r18",
    "cnn_lstm_r50",
    "c2d_r18",
    "c2d_r50",
    "count_gmacs",
    "count_parameters",
    "cross_modality_kernel",
    "feature_frames",
    "freeze_backbone",
    "fuse_scores",
    "i3d_nl_r18",
    "i3d_nl_r50",
    "i3d_r18",
    "i3d_r50",
    "inflate_2d_weights",
    "init_from",
    "inflate_kernel",
    "motion_energy",
    "node_batch",
    "resnet_conv_map",
    "roi_features",
    "tsn_r18",
    "tsn_r50",
    "video_stem",
]
