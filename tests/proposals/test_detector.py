"""stgcn/proposals/detector.py: RPN and detector modes, checkpoints, weights enums without the
network, wrong architectures, and both modes on the real videos in ../shared."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import torchvision.models._api as tv_api
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY
from stgcn.data.video import VideoReader
from stgcn.proposals import (
    CPU_CONFIG,
    CheckpointError,
    DetectorConfig,
    FasterRCNNProposer,
    Proposer,
    build_detector,
    load_detector,
    load_proposer,
    save_detector,
)
from stgcn.proposals.detector import MOBILENET_CPU_CONFIG, torchvision_config

# small and quick: the CPU default's layout at a lower resolution
SMALL = dataclasses.replace(CPU_CONFIG, min_size=128, max_size=160)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detector(SMALL)


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 96, 128, 3), dtype=torch.uint8, generator=g)


def _check_boxes(found: FrameBoxes, t: int, h: int, w: int, top_k: int) -> None:
    assert found.box.dtype == np.float32 and found.box.shape == (found.num_boxes, 4)
    for a in (found.frame, found.score, found.category, found.track):
        assert a.shape == (found.num_boxes,)
    assert ((found.frame >= 0) & (found.frame < t)).all()
    assert np.bincount(found.frame, minlength=t).max() <= top_k
    b = found.box
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
    assert (found.track == -1).all()
    for f in range(t):  # sorted by score within a frame
        s = found.score[found.frame == f]
        assert (np.diff(s) <= 0).all()


def test_rpn_mode_is_the_rpns_top_k(model, frames) -> None:
    proposer = FasterRCNNProposer(model, "rpn", top_k=7)
    assert isinstance(proposer, Proposer) and proposer.name == "rpn"
    found = proposer(frames)
    _check_boxes(found, 3, 96, 128, 7)
    assert np.bincount(found.frame, minlength=3).tolist() == [7, 7, 7]
    assert (found.category == CATEGORY["none"]).all()
    assert ((found.score >= 0) & (found.score <= 1)).all()  # objectness probabilities
    # the same boxes as torchvision's own RPN forward, first 7, scaled back to the frame
    with torch.inference_mode():
        images = list(frames.permute(0, 3, 1, 2).float() / 255)
        batch, _ = model.transform(images)
        boxes, _ = model.rpn(batch, model.backbone(batch.tensors))
    scale = torch.tensor([128 / batch.image_sizes[0][1], 96 / batch.image_sizes[0][0]] * 2)
    for f in range(3):
        expected = (boxes[f][:7] * scale).clamp(min=0)
        expected[:, 0::2] = expected[:, 0::2].clamp(max=128)
        expected[:, 1::2] = expected[:, 1::2].clamp(max=96)
        torch.testing.assert_close(
            torch.from_numpy(found.box[found.frame == f]), expected, rtol=0, atol=1e-3
        )


def test_detector_mode_categories_and_threshold(model, frames) -> None:
    proposer = FasterRCNNProposer(model, "detector", top_k=5, batch_size=2)
    found = proposer(frames)
    _check_boxes(found, 3, 96, 128, 5)
    assert found.num_boxes > 0
    assert set(found.category.tolist()) <= {CATEGORY["hand"], CATEGORY["object"]}
    # nothing scores above 1: every frame empty, not an error
    none = FasterRCNNProposer(model, "detector", score_threshold=1.01)(frames)
    assert none.num_boxes == 0 and none.box.shape == (0, 4)
    assert FasterRCNNProposer(model, "rpn", score_threshold=1.01)(frames).num_boxes == 0


def test_bad_arguments(model, frames) -> None:
    with pytest.raises(ValueError, match="unknown mode 'boxes'"):
        FasterRCNNProposer(model, "boxes")
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\] uint8"):
        FasterRCNNProposer(model)(frames.float())
    with pytest.raises(ValueError, match="unknown architecture 'yolo'"):
        DetectorConfig(arch="yolo")
    with pytest.raises(ValueError, match="anchors per location"):
        build_detector(dataclasses.replace(SMALL, anchor_sizes=((16, 32),) * 3))


def test_checkpoint_roundtrip_loads_weights_only(model, frames, tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    save_detector(model, SMALL, path, {"steps": 3, "losses": [1.0, 0.5]})
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["arch"] == SMALL.arch and raw["config"]["min_size"] == 128
    assert raw["info"] == {"steps": 3, "losses": [1.0, 0.5]}
    loaded, config, info = load_detector(path, arch=SMALL.arch)
    assert config == SMALL and info["steps"] == 3
    a = FasterRCNNProposer(model, "detector")(frames)
    b = FasterRCNNProposer(loaded, "detector")(frames)
    np.testing.assert_array_equal(a.frame, b.frame)
    np.testing.assert_allclose(a.box, b.box, rtol=0, atol=1e-4)
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file


def test_checkpoint_of_another_architecture_is_a_clear_error(model, tmp_path: Path) -> None:
    path = tmp_path / "det.pt"
    save_detector(model, SMALL, path)
    with pytest.raises(
        CheckpointError,
        match=f"a {SMALL.arch} checkpoint, expected fasterrcnn_resnet50_fpn_v2",
    ):
        load_detector(path, arch="fasterrcnn_resnet50_fpn_v2")
    with pytest.raises(CheckpointError, match="expected fasterrcnn_resnet50_fpn_v2"):
        load_proposer(path, "rpn", arch="fasterrcnn_resnet50_fpn_v2")
    # a plain state dict must say its architecture, and must fit it
    plain = tmp_path / "plain.pth"
    torch.save(model.state_dict(), plain)
    with pytest.raises(CheckpointError, match="pass arch="):
        load_detector(plain)
    with pytest.raises(CheckpointError, match="do not fit a fasterrcnn_resnet50_fpn_v2"):
        load_detector(plain, arch="fasterrcnn_resnet50_fpn_v2")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable torch checkpoint"):
        load_detector(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="not a torchvision weights name"):
        load_proposer(tmp_path / "missing.pt")


def test_torchvision_weights_enum_without_the_network(monkeypatch, frames) -> None:
    """The enum path is torchvision's own loader; its download is replaced by a random state
    dict of the COCO-shaped model, so the test reads no network."""
    torch.manual_seed(1)
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    coco = build_detector(torchvision_config(name)).state_dict()
    asked = []

    def fake_download(url, *args, **kwargs):
        asked.append(url)
        return coco

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", fake_download)
    enum = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
    proposer = load_proposer(enum, "detector", top_k=4)
    assert asked and asked[0].endswith(".pth")
    assert proposer.model.transform.min_size == (320,)  # the sizes the COCO weights expect
    found = proposer(frames)
    _check_boxes(found, 3, 96, 128, 4)
    assert set(found.category.tolist()) <= {CATEGORY["object"]}  # COCO classes -> object
    with pytest.raises(CheckpointError, match="expected fasterrcnn_resnet50_fpn_v2"):
        load_proposer(enum, "rpn", arch="fasterrcnn_resnet50_fpn_v2")


@pytest.mark.parametrize(
    ("name", "size"), [("bigbuckbunny.mp4", (720, 1280)), ("carphone_pristine.mp4", (144, 176))]
)
def test_both_modes_on_real_videos(videos_dir: Path, model, name, size, tmp_path: Path) -> None:
    with VideoReader(videos_dir / name) as reader:
        frames, _ = reader.read(np.array([0, 40, 80]))
    h, w = size
    assert frames.shape == (3, h, w, 3)
    for mode in ("rpn", "detector"):
        found = FasterRCNNProposer(model, mode, top_k=10)(frames)
        assert found.num_boxes > 0
        _check_boxes(found, 3, h, w, 10)
    # boxes drawn on a frame (what a user would look at)
    sel = found.frame == 0
    drawn = draw_bounding_boxes(frames[0].permute(2, 0, 1), torch.from_numpy(found.box[sel]))
    Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(tmp_path / "boxes.png")
    assert (tmp_path / "boxes.png").stat().st_size > 0


def test_random_weights_for_each_architecture() -> None:
    expected = {
        "fasterrcnn_resnet18_fpn": CPU_CONFIG.min_size,
        "fasterrcnn_mobilenet_v3_large_320_fpn": MOBILENET_CPU_CONFIG.min_size,
        "fasterrcnn_resnet50_fpn_v2": 800,
    }
    for arch, min_size in expected.items():
        proposer = load_proposer(None, "rpn", arch=arch, top_k=3)
        assert proposer.model.transform.min_size == (min_size,)


def test_resnet18_fpn_levels_strides_and_norms() -> None:
    """The CPU default's backbone: ResNet-18's layer1-3 (strides 4, 8, 16) and a pooled stride-32
    level, fpn_channels wide; layer4 is not part of the model; BatchNorm trains from scratch."""
    torch.manual_seed(0)
    model = build_detector(dataclasses.replace(CPU_CONFIG, fpn_channels=32))
    x = torch.rand(2, 3, 96, 128)
    levels = model.backbone(x)
    assert {k: tuple(v.shape) for k, v in levels.items()} == {
        "0": (2, 32, 24, 32),
        "1": (2, 32, 12, 16),
        "2": (2, 32, 6, 8),
        "pool": (2, 32, 3, 4),
    }
    assert not any(k.startswith("backbone.body.layer4") for k in model.state_dict())
    assert isinstance(model.backbone.body.bn1, torch.nn.BatchNorm2d)
    assert all(p.requires_grad for p in model.backbone.parameters())
    # one anchor size per level, three ratios: 3 anchors per location on each of the 4 levels
    assert model.rpn.anchor_generator.num_anchors_per_location() == [3] * 4
    assert model.rpn.anchor_generator.sizes == CPU_CONFIG.anchor_sizes
    # RoIs are pooled from the three backbone levels (small objects: mostly stride 4)
    assert model.roi_heads.box_roi_pool.featmap_names == ["0", "1", "2"]
    # the config's training-time RPN proposal counts reach the model; None keeps the builder's
    assert model.rpn._pre_nms_top_n == {"training": 600, "testing": 300}
    assert model.rpn._post_nms_top_n == {"training": 300, "testing": 300}
    plain = build_detector(dataclasses.replace(CPU_CONFIG, rpn_pre_nms_top_n_train=None))
    assert plain.rpn._pre_nms_top_n["training"] == 2000


def test_resnet18_fpn_options_and_errors(monkeypatch) -> None:
    from stgcn.proposals.detector import fasterrcnn_resnet18_fpn

    frozen = fasterrcnn_resnet18_fpn(num_classes=3, trainable_backbone_layers=2)
    trains = {
        n.split(".")[0] for n, p in frozen.backbone.body.named_parameters() if p.requires_grad
    }
    assert trains == {"layer3", "layer2"}
    with pytest.raises(ValueError, match="no detection weights"):
        fasterrcnn_resnet18_fpn(weights="DEFAULT")
    with pytest.raises(ValueError, match="in 0..4"):
        fasterrcnn_resnet18_fpn(trainable_backbone_layers=5)
    with pytest.raises(ValueError, match="only \\['fasterrcnn_resnet18_fpn'\\] take fpn_channels"):
        DetectorConfig(arch="fasterrcnn_mobilenet_v3_large_fpn", fpn_channels=64)
    with pytest.raises(CheckpointError, match="torchvision has no weights for fasterrcnn_resnet18"):
        load_proposer("DEFAULT", arch="fasterrcnn_resnet18_fpn")
    # ImageNet backbone weights (a random state dict stands in for the download): frozen BN
    asked = []

    def fake_download(url, *args, **kwargs):
        asked.append(url)
        return torchvision.models.resnet18().state_dict()

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", fake_download)
    model = build_detector(CPU_CONFIG, weights_backbone="ResNet18_Weights.IMAGENET1K_V1")
    assert asked and isinstance(model.backbone.body.bn1, torchvision.ops.FrozenBatchNorm2d)
    assert not model.backbone.body.conv1.weight.requires_grad  # 3 stages train by default
