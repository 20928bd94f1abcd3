"""Selective search proposals: inside the frame on real footage, reproducible, scaled back from
the reduced search size, deduplicated."""

from pathlib import Path

import numpy as np
import pytest
import torch
from proposal_videos import REAL_VIDEOS, assert_inside, draw, read_frames
from torchvision.ops import box_iou

from stgcn.data.something_else import CATEGORY
from stgcn.proposals import SelectiveSearch


@pytest.mark.parametrize("name", REAL_VIDEOS)
def test_real_video_boxes_inside_frame(videos_dir: Path, tmp_path: Path, name: str):
    frames = read_frames(videos_dir / name, [0, 10, 20])
    t_len, h, w = frames.shape[:3]
    ss = SelectiveSearch(top_k=20)
    boxes = ss(frames)
    assert_inside(boxes, t_len, h, w)
    counts = np.bincount(boxes.frame, minlength=t_len)
    assert (counts >= 1).all() and (counts <= 20).all(), counts
    assert (boxes.category == CATEGORY["none"]).all() and (boxes.track == -1).all()
    for t in range(t_len):  # rank scores, best first
        s = boxes.score[boxes.frame == t]
        assert (np.diff(s) <= 0).all() and (s > 0).all() and (s <= 1).all()
    # boxes span the frame, not only the reduced image the search ran on (320 px long side)
    assert boxes.box[:, 2].max() > 0.5 * w and boxes.box[:, 3].max() > 0.5 * h
    draw(frames, boxes, tmp_path / f"{name}.png")


def test_same_frames_same_boxes():
    # OpenCV ranks with C rand(); seeded per frame, a rerun (and a resumed CLI) gives the same list
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8, generator=g)
    frames = torch.nn.functional.interpolate(
        frames.permute(0, 3, 1, 2).float(), scale_factor=2, mode="nearest"
    )
    frames = frames.permute(0, 2, 3, 1).to(torch.uint8).contiguous()
    ss = SelectiveSearch(top_k=None, nms_iou=None)
    a, b = ss(frames), ss(frames)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _square_on_flat(h: int, w: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    img = np.full((1, h, w, 3), (40, 90, 160), np.uint8)
    x1, y1, x2, y2 = box
    img[0, y1:y2, x1:x2] = (230, 200, 30)
    return torch.from_numpy(img)


@pytest.mark.parametrize("max_side", [None, 128])
def test_finds_an_object_and_scales_back(max_side):
    # one yellow rectangle on a flat blue frame: some proposal must be that rectangle, in the
    # frame's own pixels whether the search ran at full size or shrunk 4x
    truth = (120, 80, 300, 200)
    frames = _square_on_flat(288, 512, truth)
    boxes = SelectiveSearch(top_k=None, max_side=max_side)(frames)
    iou = box_iou(torch.from_numpy(boxes.box), torch.tensor([truth], dtype=torch.float32))
    assert float(iou.max()) > 0.9, boxes.box


def test_nms_and_top_k():
    frames = read_frames_or_noise()
    for top_k in (5, 30):
        boxes = SelectiveSearch(top_k=top_k, nms_iou=0.5)(frames)
        for t in range(frames.shape[0]):
            b = torch.from_numpy(boxes.box[boxes.frame == t])
            assert 0 < len(b) <= top_k
            iou = box_iou(b, b).fill_diagonal_(0)
            assert float(iou.max()) <= 0.5 + 1e-6


def read_frames_or_noise() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    small = torch.randint(0, 256, (2, 3, 12, 16), generator=g).float()
    big = torch.nn.functional.interpolate(small, size=(96, 128), mode="bilinear")
    return big.permute(0, 2, 3, 1).round().to(torch.uint8).contiguous()


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        SelectiveSearch(mode="slow")
    with pytest.raises(ValueError, match="frames must be"):
        SelectiveSearch()(torch.zeros(2, 8, 8, dtype=torch.uint8))
    empty = SelectiveSearch()(torch.zeros(0, 8, 8, 3, dtype=torch.uint8))
    assert empty.num_boxes == 0
