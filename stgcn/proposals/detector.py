"""Faster R-CNN boxes for any video: class-agnostic RPN proposals or hand/object detections.

STRG (Wang & Gupta, ECCV 2018) takes "the top 50 object proposals" of an RPN in every frame as its
graph nodes; Something-Else (Materzynska et al., CVPR 2020) reports STRG on the hand and object
boxes of a trained detector as well as on ground truth. :class:`FasterRCNNProposer` gives both
from one torchvision :class:`~torchvision.models.detection.FasterRCNN`:

* ``mode="rpn"``: the region proposal network's boxes, class-agnostic, after its NMS, the top
  ``top_k`` per frame by objectness (category ``none``);
* ``mode="detector"``: the box head's detections, with the categories of
  :data:`stgcn.data.something_else.CATEGORY` (hand 1, object 2) when the detector was trained on
  Something-Else-schema boxes (:mod:`stgcn.proposals.train`), every class as ``object`` for a
  COCO detector.

Architectures are torchvision's builders (:data:`ARCHITECTURES`): the MobileNetV3-Large FPN
models for the CPU, ResNet-50 FPN v2 for a GPU. A :class:`DetectorConfig` holds what builds one,
in plain types, so that a checkpoint (:func:`save_detector`) stores it next to the weights and
loads with ``torch.load(weights_only=True)``. Weights come from a local checkpoint path, from
torchvision's weight enums (``"FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1"``, downloaded by
torchvision when online) or from nothing (random initialisation, for training from scratch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import ResNet18_Weights, get_model_weights, get_weight, resnet18
from torchvision.models.detection import (
    FasterRCNN,
    fasterrcnn_mobilenet_v3_large_320_fpn,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY
from stgcn.io import save_atomic


def fasterrcnn_resnet18_fpn(
    *,
    weights: Any = None,
    weights_backbone: ResNet18_Weights | None = None,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = None,
    fpn_channels: int = 64,
    **kwargs: Any,
) -> FasterRCNN:
    """Faster R-CNN on ResNet-18's first three stages with a narrow FPN, for small objects at
    native resolution (torchvision has no such builder; the parts are its own).

    ``layer1``-``layer3`` give strides 4, 8 and 16 (``layer4``, stride 32 and most of ResNet-18's
    weights, is never run), the FPN maps them to ``fpn_channels`` and adds a max-pooled stride-32
    level: four levels ``"0"``, ``"1"``, ``"2"``, ``"pool"``, with anchors of 16, 32, 64 and 128 px
    at aspect ratios 0.5, 1, 2 (three per location) unless ``rpn_anchor_generator`` is given. The
    box head pools RoIs from levels ``"0"``-``"2"``.

    Args:
        weights: must be None (there are no torchvision detection weights for this backbone).
        weights_backbone: ImageNet weights of ResNet-18 to start from (its BatchNorm is then
            frozen, as torchvision's ResNet-50 detectors do); None trains from scratch with
            ordinary BatchNorm.
        num_classes: classes including background (default 91, as torchvision's builders).
        trainable_backbone_layers: stages of the backbone that train, counted from ``layer3``
            down to the stem (0-4; default all when from scratch, 3 with ImageNet weights).
        fpn_channels: width of the FPN, the RPN head and the RoI features.
        **kwargs: :class:`~torchvision.models.detection.FasterRCNN` options.

    Returns:
        the model; ``model(images)`` takes a list of ``[3, H, W]`` float images in [0, 1].
    """
    if weights is not None:
        raise ValueError(
            "fasterrcnn_resnet18_fpn: torchvision has no detection weights for it; train one "
            "(stgcn.proposals.train) or pass weights_backbone for ImageNet ResNet-18 weights"
        )
    if isinstance(weights_backbone, str):
        weights_backbone = get_weight(weights_backbone)
    pretrained = weights_backbone is not None
    body = resnet18(
        weights=weights_backbone, norm_layer=FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    )
    stages = ["layer3", "layer2", "layer1", "conv1"]
    trainable = trainable_backbone_layers
    if trainable is None:
        trainable = 3 if pretrained else len(stages)
    if not 0 <= trainable <= len(stages):
        raise ValueError(f"trainable_backbone_layers must be in 0..4, got {trainable}")
    train_prefixes = tuple(stages[:trainable]) + (("bn1",) if trainable == len(stages) else ())
    for name, p in body.named_parameters():
        p.requires_grad_(name.startswith(train_prefixes))
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2"},
        in_channels_list=[64, 128, 256],
        out_channels=fpn_channels,
    )
    if "rpn_anchor_generator" not in kwargs:
        kwargs["rpn_anchor_generator"] = AnchorGenerator(
            ((16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 4
        )
    if "box_roi_pool" not in kwargs:
        kwargs["box_roi_pool"] = MultiScaleRoIAlign(["0", "1", "2"], 7, 2)
    return FasterRCNN(backbone, num_classes=91 if num_classes is None else num_classes, **kwargs)


ARCHITECTURES: dict[str, Callable[..., FasterRCNN]] = {
    "fasterrcnn_resnet18_fpn": fasterrcnn_resnet18_fpn,
    "fasterrcnn_mobilenet_v3_large_fpn": fasterrcnn_mobilenet_v3_large_fpn,
    "fasterrcnn_mobilenet_v3_large_320_fpn": fasterrcnn_mobilenet_v3_large_320_fpn,
    "fasterrcnn_resnet50_fpn_v2": fasterrcnn_resnet50_fpn_v2,
}
"""The builders a detector can be made from, by name: torchvision's, and
:func:`fasterrcnn_resnet18_fpn` (the CPU default, from torchvision's parts)."""

_SETS_FPN_CHANNELS = {"fasterrcnn_resnet18_fpn"}
TORCHVISION_WEIGHTS = (
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_resnet50_fpn_v2",
)
"""The architectures torchvision has whole-detector (COCO) weights for."""

CHECKPOINT_FORMAT = "stgcn-detector-1"
Mode = Literal["rpn", "detector"]
MODES = ("rpn", "detector")


class CheckpointError(ValueError):
    """A checkpoint that is not a detector of the expected architecture (names what was expected)."""


@dataclass(frozen=True)
class DetectorConfig:
    """What builds a detector, in plain types (stored in checkpoints).

    Args:
        arch: a key of :data:`ARCHITECTURES`.
        num_classes: classes including background; 3 = background, hand, object (the codes of
            :data:`~stgcn.data.something_else.CATEGORY`), 91 for torchvision's COCO weights.
        min_size, max_size: the shorter / longer side frames are resized to inside the model
            (torchvision's ``GeneralizedRCNNTransform``); boxes come back in the input's pixels.
        anchor_sizes: RPN anchor sizes per feature level in resized pixels, or None for the
            builder's own. Must have as many sizes per level as the builder's (the RPN head is
            built for that many anchors per location).
        trainable_backbone_layers: as in torchvision's builders (None: their default).
        rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test: proposals per frame before / after the
            RPN's NMS at inference.
        rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train: the same in training (None: the
            builder's 2000, which on a small frame is every anchor and makes the NMS a large
            share of a CPU step; the box head samples its RoIs from the ones kept).
        rpn_batch_size_per_image, box_batch_size_per_image: anchors / RoIs sampled per image for
            the training losses (fewer RoIs make a CPU step cheaper).
        box_representation: width of the box head's two hidden layers, or None for the builder's
            head (1024 wide on 7x7 RoIs: 12.8 M multiply-adds per RoI in its first layer, most of a
            CPU step). With a width, the RoIs are ``box_roi_size`` square.
        box_roi_size: RoIAlign output size of the box head when ``box_representation`` is set.
        box_sampling_ratio: RoIAlign sampling points per bin side, likewise (torchvision's
            default is 2; 1 makes its CPU backward, a large share of a step, about 4x cheaper).
        fpn_channels: width of the FPN of :func:`fasterrcnn_resnet18_fpn` (None: its default);
            the torchvision builders fix theirs, so it must be None for them.
    """

    arch: str = "fasterrcnn_resnet18_fpn"
    num_classes: int = 3
    min_size: int = 96
    max_size: int = 128
    anchor_sizes: tuple[tuple[int, ...], ...] | None = ((16,), (32,), (64,), (128,))
    trainable_backbone_layers: int | None = None
    rpn_pre_nms_top_n_test: int = 300
    rpn_post_nms_top_n_test: int = 300
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 64
    box_representation: int | None = 256
    box_roi_size: int = 7
    box_sampling_ratio: int = 2
    fpn_channels: int | None = None
    rpn_pre_nms_top_n_train: int | None = None
    rpn_post_nms_top_n_train: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.arch!r}; expected one of {list(ARCHITECTURES)}"
            )
        if self.fpn_channels is not None and self.arch not in _SETS_FPN_CHANNELS:
            raise ValueError(
                f"{self.arch}: fpn_channels={self.fpn_channels} but torchvision's builder fixes "
                f"its FPN width; only {sorted(_SETS_FPN_CHANNELS)} take fpn_channels"
            )
        if self.anchor_sizes is not None:  # lists (e.g. from JSON) become tuples
            object.__setattr__(
                self, "anchor_sizes", tuple(tuple(int(s) for s in lvl) for lvl in self.anchor_sizes)
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain ints, strings, lists and None (what ``weights_only`` loading accepts)."""
        d = dataclasses.asdict(self)
        if d["anchor_sizes"] is not None:
            d["anchor_sizes"] = [list(lvl) for lvl in d["anchor_sizes"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(
                f"detector config has unknown keys {unknown} (known: {sorted(known)})"
            )
        return cls(**d)


CPU_CONFIG = DetectorConfig(
    fpn_channels=32,
    box_sampling_ratio=1,
    rpn_pre_nms_top_n_train=600,
    rpn_post_nms_top_n_train=300,
)
"""The CPU default (:func:`fasterrcnn_resnet18_fpn`): ResNet-18 to stride 16 with a 32-wide FPN at
the synthetic set's own 96x128 frames (no upscaling), anchors of 16-128 px (its objects are 12-25
px), a 256-wide box head on 7x7 RoIs (one RoIAlign sample per bin) and 64 RoIs per image in
training, 600 / 300 RPN proposals per frame before / after the NMS in training. About 0.3
CPU-seconds per step of 8 frames on one core; from scratch in 500 steps it is a usable detector
of the synthetic set's hands and objects (README, ``benchmarks/proposals.py``)."""

MOBILENET_CPU_CONFIG = DetectorConfig(
    arch="fasterrcnn_mobilenet_v3_large_fpn",
    min_size=192,
    max_size=256,
    anchor_sizes=((16, 32, 64, 128, 256),) * 3,
    box_batch_size_per_image=32,
    box_roi_size=5,
    box_sampling_ratio=1,
)
"""The earlier CPU default: MobileNetV3-Large FPN at 2x the synthetic set's 96x128 frames, anchors
halved to fit its 15-25 px objects, a 256-wide box head on 5x5 RoIs (one RoIAlign sample per bin)
and 32 RoIs per image in training. About 0.8 CPU-seconds per step of 8 frames."""

GPU_CONFIG = DetectorConfig(
    arch="fasterrcnn_resnet50_fpn_v2",
    min_size=800,
    max_size=1333,
    anchor_sizes=None,
    rpn_pre_nms_top_n_test=1000,
    rpn_post_nms_top_n_test=1000,
    box_batch_size_per_image=512,
    box_representation=None,
)
"""The GPU default: ResNet-50 FPN v2 at torchvision's COCO sizes."""


def torchvision_config(arch: str, num_classes: int = 91) -> DetectorConfig:
    """The sizes torchvision's builder uses by default for ``arch`` (what its COCO weights expect)."""
    if arch not in TORCHVISION_WEIGHTS:  # ours: no torchvision sizes, its own are the default
        return dataclasses.replace(DetectorConfig(arch=arch), num_classes=num_classes)
    sizes = (
        (320, 640, 150) if arch == "fasterrcnn_mobilenet_v3_large_320_fpn" else (800, 1333, 1000)
    )
    return DetectorConfig(
        arch=arch,
        num_classes=num_classes,
        min_size=sizes[0],
        max_size=sizes[1],
        anchor_sizes=None,
        rpn_pre_nms_top_n_test=sizes[2],
        rpn_post_nms_top_n_test=sizes[2],
        rpn_batch_size_per_image=256,
        box_batch_size_per_image=512,
        box_representation=None,
    )


def build_detector(
    config: DetectorConfig = CPU_CONFIG, *, weights: Any = None, weights_backbone: Any = None
) -> FasterRCNN:
    """A torchvision Faster R-CNN as ``config`` says.

    Args:
        config: architecture and sizes.
        weights: a torchvision weights enum (or its name) for the whole detector; then
            ``config.num_classes`` must match its categories. torchvision downloads it if it is not
            in its cache.
        weights_backbone: a torchvision weights enum (or name) for the backbone only, e.g.
            ``"MobileNet_V3_Large_Weights.IMAGENET1K_V1"`` (ImageNet), to fine-tune from.

    Returns:
        the model, in eval mode.
    """
    if isinstance(weights, str):
        weights = get_weight(weights)
    if isinstance(weights_backbone, str):
        weights_backbone = get_weight(weights_backbone)
    optional = {
        "fpn_channels": config.fpn_channels,
        "rpn_pre_nms_top_n_train": config.rpn_pre_nms_top_n_train,
        "rpn_post_nms_top_n_train": config.rpn_post_nms_top_n_train,
    }
    extra = {k: v for k, v in optional.items() if v is not None}  # None: the builder's own
    model = ARCHITECTURES[config.arch](
        **extra,
        weights=weights,
        weights_backbone=weights_backbone,
        num_classes=config.num_classes,
        trainable_backbone_layers=config.trainable_backbone_layers,
        min_size=config.min_size,
        max_size=config.max_size,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        box_batch_size_per_image=config.box_batch_size_per_image,
        rpn_score_thresh=0.0,
    )
    if config.anchor_sizes is not None:
        # the builders fix their anchors; ours keep the count per location (the RPN head's
        # output channels) and change the sizes, for objects smaller than COCO's
        old = model.rpn.anchor_generator
        ratios = old.aspect_ratios
        new = AnchorGenerator(config.anchor_sizes, tuple(ratios[: len(config.anchor_sizes)]))
        if new.num_anchors_per_location() != old.num_anchors_per_location():
            raise ValueError(
                f"{config.arch}: anchor_sizes {config.anchor_sizes} give "
                f"{new.num_anchors_per_location()} anchors per location per level; the builder's "
                f"RPN head expects {old.num_anchors_per_location()} (sizes {old.sizes})"
            )
        model.rpn.anchor_generator = new
    if config.box_representation is not None:
        if weights is not None:
            raise ValueError(
                f"{config.arch}: box_representation={config.box_representation} replaces the box "
                "head, which whole-detector weights would then not fit; use box_representation=None"
            )
        names = model.roi_heads.box_roi_pool.featmap_names
        size, width = config.box_roi_size, config.box_representation
        model.roi_heads.box_roi_pool = MultiScaleRoIAlign(names, size, config.box_sampling_ratio)
        model.roi_heads.box_head = TwoMLPHead(model.backbone.out_channels * size * size, width)
        model.roi_heads.box_predictor = FastRCNNPredictor(width, config.num_classes)
    return model.eval()


def save_detector(
    model: nn.Module, config: DetectorConfig, path: str | Path, info: dict[str, Any] | None = None
) -> None:
    """Write a checkpoint ``{"format", "config", "state_dict", "info"}`` atomically.

    ``config`` and ``info`` must be plain types (numbers, strings, lists, dicts, None), so the file
    loads with ``torch.load(weights_only=True)``; ``info`` is free-form (training settings,
    validation metrics).
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    obj = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "state_dict": state,
        "info": info or {},
    }
    save_atomic(obj, path)


def _load_state(model: nn.Module, state: dict[str, Tensor], path: Path, arch: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path}: weights do not fit a {arch} (expected that architecture's state dict): "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:3]}, {len(shapes)} shape mismatches {shapes[:2]}"
        )
    model.load_state_dict(state)


def load_detector(
    path: str | Path, *, arch: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[FasterRCNN, DetectorConfig, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_detector`, or a plain torchvision state dict.

    Args:
        path: the file (read with ``torch.load(weights_only=True)``).
        arch: the architecture expected. A checkpoint of another one raises
            :class:`CheckpointError` naming both. Required for a plain state dict (e.g. a
            torchvision ``.pth`` saved by hand), which is then built with torchvision's default
            sizes and the class count its box predictor has.
        map_location: where tensors load.

    Returns:
        ``(model in eval mode, config, info)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: detector checkpoint not found")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for a file that is not a checkpoint
        raise CheckpointError(
            f"{path}: not a loadable torch checkpoint ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    if obj.get("format") == CHECKPOINT_FORMAT:
        config = DetectorConfig.from_dict(dict(obj["config"]))
        if arch is not None and config.arch != arch:
            raise CheckpointError(
                f"{path}: a {config.arch} checkpoint, expected {arch} "
                f"(pass the matching architecture, or weights trained for {arch})"
            )
        model = build_detector(config)
        _load_state(model, obj["state_dict"], path, config.arch)
        return model, config, dict(obj.get("info", {}))
    if "format" in obj:
        raise CheckpointError(
            f"{path}: unknown checkpoint format {obj['format']!r}, expected {CHECKPOINT_FORMAT!r}"
        )
    state = obj.get("model", obj)  # torchvision's reference scripts save {"model": ...}
    if arch is None:
        raise CheckpointError(
            f"{path}: a plain state dict, which does not say its architecture; pass arch= one of "
            f"{list(ARCHITECTURES)}"
        )
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {list(ARCHITECTURES)}")
    cls_w = state.get("roi_heads.box_predictor.cls_score.weight")
    if not isinstance(cls_w, Tensor):
        raise CheckpointError(
            f"{path}: no roi_heads.box_predictor.cls_score.weight, so not a {arch} state dict"
        )
    config = torchvision_config(arch, num_classes=int(cls_w.shape[0]))
    model = build_detector(config)
    _load_state(model, state, path, arch)
    return model, config, {}


def _rpn_boxes(model: FasterRCNN, images: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """The RPN's proposals and objectness (probabilities) per image, in the input images' pixels.

    ``RegionProposalNetwork.forward`` returns the boxes without their scores; this runs the same
    steps and keeps the scores from ``filter_proposals`` (boxes sorted by score after NMS).
    """
    sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
    batch, _ = model.transform(images)
    features = list(model.backbone(batch.tensors).values())
    rpn = model.rpn
    objectness, deltas = rpn.head(features)
    anchors = rpn.anchor_generator(batch, features)
    per_level = [o[0].numel() for o in objectness]
    objectness, deltas = concat_box_prediction_layers(objectness, deltas)
    proposals = rpn.box_coder.decode(deltas, anchors).view(len(anchors), -1, 4)
    boxes, scores = rpn.filter_proposals(proposals, objectness, batch.image_sizes, per_level)
    boxes = [resize_boxes(b, s, o) for b, s, o in zip(boxes, batch.image_sizes, sizes, strict=True)]
    return boxes, scores


class FasterRCNNProposer:
    """A torchvision Faster R-CNN as a :class:`~stgcn.proposals.base.Proposer`.

    Args:
        model: a :class:`~torchvision.models.detection.FasterRCNN` (:func:`build_detector`,
            :func:`load_detector`); put in eval mode here.
        mode: ``"rpn"`` (class-agnostic proposals, category ``none``) or ``"detector"``
            (the box head's classes).
        top_k: boxes kept per frame at most (the paper's 50 RPN proposals; in detector mode the
            box head's ``detections_per_img``).
        score_threshold: boxes scoring below are dropped (RPN objectness, or class score).
        batch_size: frames per forward pass.
        categories: model label -> :data:`~stgcn.data.something_else.CATEGORY` code, for detector
            mode. Default: the identity for a 3-class model (background, hand, object), every
            class ``object`` otherwise (e.g. COCO).

    ``proposer(frames [T, H, W, 3] uint8) -> FrameBoxes`` with boxes in the frames' pixels, inside
    the frame, sorted by score within each frame, ``track`` -1.
    """

    def __init__(
        self,
        model: FasterRCNN,
        mode: Mode = "rpn",
        *,
        top_k: int = 50,
        score_threshold: float = 0.0,
        batch_size: int = 8,
        categories: Sequence[int] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        self.model = model.eval()
        self.mode = mode
        self.name = mode
        self.top_k, self.score_threshold, self.batch_size = (
            int(top_k),
            float(score_threshold),
            int(batch_size),
        )
        num_classes = model.roi_heads.box_predictor.cls_score.out_features
        if categories is None:
            obj = CATEGORY["object"]
            categories = list(range(3)) if num_classes == 3 else [0] + [obj] * (num_classes - 1)
        if len(categories) != num_classes:
            raise ValueError(
                f"categories has {len(categories)} entries, the model {num_classes} classes"
            )
        self.categories = torch.as_tensor(list(categories), dtype=torch.long)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def __call__(self, frames: Tensor) -> FrameBoxes:
        frames = torch.as_tensor(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be [T, H, W, 3] uint8, got {tuple(frames.shape)} {frames.dtype}"
            )
        t, h, w, _ = frames.shape
        heads = self.model.roi_heads
        heads.score_thresh, heads.detections_per_img = self.score_threshold, self.top_k
        out: list[tuple[Tensor, Tensor, Tensor]] = []
        for start in range(0, t, self.batch_size):
            chunk = frames[start : start + self.batch_size].to(self.device)
            images = list(chunk.permute(0, 3, 1, 2).float().div_(255))
            if self.mode == "rpn":
                boxes, scores = _rpn_boxes(self.model, images)
                for b, s in zip(boxes, scores, strict=True):
                    keep = s >= self.score_threshold
                    b, s = b[keep][: self.top_k], s[keep][: self.top_k]
                    out.append((b, s, torch.full_like(s, CATEGORY["none"], dtype=torch.long)))
            else:
                for d in self.model(images):
                    out.append((d["boxes"], d["scores"], self.categories[d["labels"].cpu()]))
        counts = [len(s) for _, s, _ in out]
        if sum(counts) == 0:
            return FrameBoxes.empty()
        box = torch.cat([b for b, _, _ in out]).cpu()
        # resizing back to the input can overshoot the border by rounding
        box[:, 0::2] = box[:, 0::2].clamp(0, w)
        box[:, 1::2] = box[:, 1::2].clamp(0, h)
        frame = np.repeat(np.arange(t, dtype=np.int64), counts)
        return FrameBoxes(
            frame=frame,
            box=box.numpy().astype(np.float32),
            score=torch.cat([s for _, s, _ in out]).cpu().numpy().astype(np.float32),
            category=torch.cat([c for _, _, c in out]).cpu().numpy().astype(np.int64),
            track=np.full(len(frame), -1, dtype=np.int64),
        )

    def __repr__(self) -> str:
        arch = (
            type(self.model.backbone.body).__name__ if hasattr(self.model.backbone, "body") else ""
        )
        return (
            f"{type(self).__name__}(mode={self.mode!r}, top_k={self.top_k}, "
            f"score_threshold={self.score_threshold}{', ' + arch if arch else ''})"
        )


def load_proposer(
    weights: str | Path | None,
    mode: Mode = "rpn",
    *,
    arch: str | None = None,
    device: str | torch.device = "cpu",
    **kwargs: Any,
) -> FasterRCNNProposer:
    """A :class:`FasterRCNNProposer` from what a user names on a command line.

    Args:
        weights: a checkpoint path (:func:`load_detector`); the name of a torchvision weights enum
            (``"FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1"``) or ``"DEFAULT"`` (the
            default weights of ``arch``), which torchvision downloads when online; or None for
            random initialisation (only good for testing the plumbing).
        mode: ``"rpn"`` or ``"detector"``.
        arch: the architecture expected (checked against a checkpoint); for ``"DEFAULT"`` or
            None weights, which one to build (default: MobileNetV3-Large FPN for ``"DEFAULT"``,
            :data:`CPU_CONFIG` for None; with None weights, ResNet-50 FPN v2 gets
            :data:`GPU_CONFIG`, the MobileNets :data:`MOBILENET_CPU_CONFIG`'s sizes).
        device: where the model runs.
        **kwargs: :class:`FasterRCNNProposer` options (``top_k``, ``score_threshold``, ...).
    """
    if weights is None:
        if arch == GPU_CONFIG.arch:
            config = GPU_CONFIG
        elif arch is None or arch == CPU_CONFIG.arch:
            config = CPU_CONFIG
        else:
            config = dataclasses.replace(MOBILENET_CPU_CONFIG, arch=arch)
        model = build_detector(config)
    elif Path(weights).is_file():
        model, _, _ = load_detector(weights, arch=arch)
    elif isinstance(weights, str) and (weights == "DEFAULT" or "_Weights." in weights):
        name = arch or MOBILENET_CPU_CONFIG.arch
        if name not in TORCHVISION_WEIGHTS:
            raise CheckpointError(
                f"{weights}: torchvision has no weights for {name}; pass a checkpoint trained by "
                f"stgcn.proposals.train, or weights of one of {sorted(TORCHVISION_WEIGHTS)}"
            )
        enum = (
            get_model_weights(ARCHITECTURES[name]).DEFAULT
            if weights == "DEFAULT"
            else get_weight(weights)
        )
        if arch is None:
            name = next(
                (
                    a
                    for a in TORCHVISION_WEIGHTS
                    if get_model_weights(ARCHITECTURES[a]) is type(enum)
                ),
                None,
            )
            if name is None:
                raise CheckpointError(
                    f"{weights}: not weights of one of {sorted(TORCHVISION_WEIGHTS)}"
                )
        elif get_model_weights(ARCHITECTURES[name]) is not type(enum):
            raise CheckpointError(f"{weights}: weights of another architecture, expected {name}'s")
        model = build_detector(torchvision_config(name, len(enum.meta["categories"])), weights=enum)
    else:
        raise FileNotFoundError(
            f"{weights}: no such checkpoint file, and not a torchvision weights name "
            "(e.g. FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1 or DEFAULT)"
        )
    return FasterRCNNProposer(model.to(device), mode, **kwargs)
