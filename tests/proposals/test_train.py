"""stgcn/proposals/train.py and metrics.py: ground-truth frames of a generated set, AP / AR through
torchmetrics on known answers, and a smoke training run that writes a loadable checkpoint."""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

import numpy as np
import pytest
import torch

from stgcn.data.box_source import FrameBoxes
from stgcn.data.boxes import build_box_index
from stgcn.data.synthetic import generate
from stgcn.proposals import CPU_CONFIG, FasterRCNNProposer, load_detector
from stgcn.proposals.metrics import annotated_videos, evaluate
from stgcn.proposals.train import TrainConfig, load_frames, train_detector

SMALL = dataclasses.replace(CPU_CONFIG, min_size=96, max_size=128)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ssv2")
    generate(out, 6, seed=3, size=(48, 64), frames=(12, 14), splits=(0.5, 0.5, 0.0), workers=0)
    return out


def test_annotated_frames_carry_their_annotation_boxes(root: Path, tmp_path: Path) -> None:
    videos = list(annotated_videos(root, "validation"))
    assert len(videos) == 3
    index = build_box_index(sorted(glob.glob(str(root / "bounding_box_*.json"))), tmp_path / "i")
    for v in videos:
        gt = index.get(v.video_id)
        t = int(v.frames.shape[0])
        assert v.frames.shape[1:] == (48, 64, 3) and t == gt.num_annotated  # 12 fps, every frame
        # the synthetic set is 12 fps: decoded frame k is annotation frame k
        for f in (0, t - 1):
            want = gt.box[gt.frame == f].copy()
            want[:, 0::2] = want[:, 0::2].clip(0, 64)
            want[:, 1::2] = want[:, 1::2].clip(0, 48)
            want = want[(want[:, 2] > want[:, 0]) & (want[:, 3] > want[:, 1])]
            np.testing.assert_array_equal(v.boxes.box[v.boxes.frame == f], want)
    sparse = next(iter(annotated_videos(root, "validation", frames_per_video=3)))
    assert sparse.frames.shape[0] == 3


class _Fixed:
    """A proposer that returns given boxes (to check the metric plumbing on known answers)."""

    name = "fixed"

    def __init__(self, boxes: list[FrameBoxes]) -> None:
        self.boxes, self.calls = boxes, 0

    def __call__(self, frames: torch.Tensor) -> FrameBoxes:
        self.calls += 1
        return self.boxes[self.calls - 1]


def test_metrics_on_known_answers(root: Path) -> None:
    videos = list(annotated_videos(root, "validation", every=4))
    assert all(v.boxes.num_boxes for v in videos)
    perfect = evaluate(_Fixed([v.boxes for v in videos]), videos)
    assert perfect["ap50"] == pytest.approx(1.0) and perfect["ar10"] == pytest.approx(1.0)
    assert perfect["recall10_iou50"] == pytest.approx(1.0)
    perfect = evaluate(_Fixed([v.boxes for v in videos]), videos, classes=True)
    assert perfect["ap50_classes"] == pytest.approx(1.0)
    assert perfect["frames"] == sum(int(v.frames.shape[0]) for v in videos)

    # each box moved right by its own width: IoU 0, nothing found
    def moved(b: FrameBoxes) -> FrameBoxes:
        box = b.box.copy()
        box[:, 0::2] += (box[:, 2] - box[:, 0])[:, None]
        return b._replace(box=box)

    missed = evaluate(_Fixed([moved(v.boxes) for v in videos]), videos)
    assert missed["ap50"] == 0 and missed["ar50"] == 0
    # right boxes, wrong categories: found class-agnostically, missed per class
    swapped = [v.boxes._replace(category=3 - v.boxes.category) for v in videos]
    swapped = evaluate(_Fixed(swapped), videos, classes=True)
    assert swapped["ap50"] == pytest.approx(1.0)
    # (not exactly 0: a hand holding an object can cover its box at IoU >= 0.5)
    assert swapped["ap50_classes"] < 0.1
    # half of the frames get no boxes: recall about the share of boxes left
    half = [v.boxes for v in videos]
    half = [b if i % 2 else FrameBoxes.empty() for i, b in enumerate(half)]
    share = sum(b.num_boxes for b in half) / sum(v.boxes.num_boxes for v in videos)
    assert 0 < share < 1
    half = evaluate(_Fixed(half), videos)
    assert half["ar50"] == pytest.approx(share, abs=1e-6)
    assert half["recall50_iou50"] == pytest.approx(share, abs=1e-6)


def test_smoke_training_writes_a_loadable_checkpoint(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "det.pt"
    train = TrainConfig(steps=3, batch_size=2, frames_per_video=2)
    info = train_detector(root, out, config=SMALL, train=train, log=None)
    assert info["steps"] == 3 and info["frames"] == 6
    assert all(np.isfinite(v) for v in info["last_losses"].values())
    assert torch.load(out, weights_only=True)["info"]["train_config"]["steps"] == 3
    model, config, loaded = load_detector(out, arch=SMALL.arch)
    assert config == SMALL and loaded["frames"] == 6
    video = next(iter(annotated_videos(root, "validation", frames_per_video=2)))
    found = FasterRCNNProposer(model, "detector")(video.frames)
    assert found.box.shape[1] == 4


def test_training_lowers_the_loss_on_a_fixed_batch(root: Path, tmp_path: Path) -> None:
    frames, targets = load_frames(root, "train", 2)
    keep = [i for i, t in enumerate(targets) if len(t["labels"])][:2]
    data = (frames[keep], [targets[i] for i in keep])
    seen = []
    train = TrainConfig(steps=24, batch_size=2, hflip=False, warmup=0.0, lr=1e-3)
    train_detector(root, tmp_path / "a.pt", config=SMALL, train=train, log=seen.append, data=data)
    model, _, _ = load_detector(tmp_path / "a.pt")
    model.train()
    torch.manual_seed(0)  # the loss samples anchors and RoIs at random
    images = [f.permute(2, 0, 1).float() / 255 for f in data[0]]
    with torch.no_grad():
        after = float(sum(model(images, list(data[1])).values()))
    torch.manual_seed(0)
    fresh = train_detector(
        root,
        tmp_path / "b.pt",
        config=SMALL,
        train=dataclasses.replace(train, steps=1),
        log=None,
        data=data,
    )
    model0, _, _ = load_detector(tmp_path / "b.pt")
    model0.train()
    torch.manual_seed(0)
    with torch.no_grad():
        before = float(sum(model0(images, list(data[1])).values()))
    assert fresh["steps"] == 1
    assert after < 0.7 * before, (before, after, seen)


def test_wrong_class_count_is_refused(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_classes=3"):
        train_detector(root, tmp_path / "x.pt", config=dataclasses.replace(SMALL, num_classes=91))
