"""Motion boxes: the tensor parts against their dense definitions, a moving object found by each
source, nothing on a static clip, real footage inside the frame."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from proposal_videos import REAL_VIDEOS, assert_inside, draw, moving_square_clip, read_frames
from torchvision.ops import box_iou

from stgcn.data.something_else import CATEGORY
from stgcn.proposals import MotionBoxes
from stgcn.proposals.motion import (
    close_masks,
    flow_magnitude,
    frame_difference,
    grey_clip,
    shift_images,
    stabilised_difference,
)

SOURCES = [
    dict(source="diff"),
    dict(source="flow", flow="dis"),
    dict(source="flow", flow="farneback"),
]


def test_frame_difference_is_the_three_frame_difference():
    g = torch.rand(5, 1, 6, 7, dtype=torch.float64)
    d = frame_difference(g)
    for t in range(5):
        back = (g[t] - g[t - 1]).abs() if t > 0 else None
        fwd = (g[t + 1] - g[t]).abs() if t < 4 else None
        expect = back if fwd is None else fwd if back is None else torch.minimum(back, fwd)
        torch.testing.assert_close(d[t], expect, rtol=0, atol=0)
    assert (frame_difference(g[:1]) == 0).all()


def test_grey_is_cv2_grey():
    frames = torch.randint(0, 256, (2, 9, 11, 3), dtype=torch.uint8)
    grey = grey_clip(frames, None)[:, 0]
    for t in range(2):
        ref = cv2.cvtColor(frames[t].numpy(), cv2.COLOR_RGB2GRAY).astype(np.float32)
        # cv2 rounds to uint8 (half a grey level) and uses 14-bit fixed-point weights (each off
        # by at most 2^-15, times 255 per channel)
        assert float((grey[t] - torch.from_numpy(ref)).abs().max()) <= 0.5 + 3 * 255 * 2**-15


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_close_masks_is_cv2_closing(size):
    rng = np.random.default_rng(size)
    masks = rng.random((3, 1, 20, 23)) > 0.7
    ours = close_masks(torch.from_numpy(masks), size)
    kernel = np.ones((size, size), np.uint8)
    for i in range(3):
        ref = cv2.morphologyEx(masks[i, 0].astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
        np.testing.assert_array_equal(ours[i, 0].numpy(), ref)


def test_flow_magnitude_is_relative_to_the_median_flow():
    # the whole frame shifted by 2 px: the camera moved, nothing moved in the scene
    frames, _ = moving_square_clip(t_len=3, step=0)
    shifted = torch.roll(frames, shifts=2, dims=2)
    clip = torch.stack([frames[0], shifted[0], frames[0]])
    m = flow_magnitude(grey_clip(clip, None), "dis")
    assert float(m[:, 0, 8:-8, 8:-8].median()) < 0.1  # interior: no motion left


@pytest.mark.parametrize("kwargs", SOURCES, ids=lambda k: "-".join(k.values()))
def test_finds_the_moving_object(kwargs):
    frames, truth = moving_square_clip(t_len=6)
    boxes = MotionBoxes(**kwargs)(frames)
    assert_inside(boxes, 6, 96, 128)
    assert (boxes.category == CATEGORY["none"]).all() and (boxes.track == -1).all()
    # the difference is exact where the texture moved; dense flow is smoothed across the
    # object's border, so its blobs spill 4-7 px around this 24 px square (IoU about 0.5)
    least = 0.7 if kwargs["source"] == "diff" else 0.4
    for t in range(1, 5):  # interior frames: the square where it is at t, not its trail
        b = torch.from_numpy(boxes.box[boxes.frame == t])
        assert len(b), f"frame {t}: no box"
        iou = box_iou(b, torch.from_numpy(truth[t : t + 1]))
        assert float(iou.max()) > least, (t, b, truth[t])


@pytest.mark.parametrize("kwargs", SOURCES, ids=lambda k: "-".join(k.values()))
def test_static_clip_has_no_box(kwargs):
    frames, _ = moving_square_clip(t_len=4, step=0)
    boxes = MotionBoxes(**kwargs)(frames)
    assert boxes.num_boxes == 0
    assert MotionBoxes(**kwargs)(frames[:1]).num_boxes == 0  # one frame: nothing to compare


def test_top_k_and_score_order():
    frames = read_noise_clip()
    for top_k in (1, 3):
        boxes = MotionBoxes(top_k=top_k, min_area=0.0, levels=(1.0, 2.0))(frames)
        counts = np.bincount(boxes.frame, minlength=frames.shape[0])
        assert counts.max() <= top_k and counts.sum() > 0
        for t in range(frames.shape[0]):
            assert (np.diff(boxes.score[boxes.frame == t]) <= 0).all()
        assert ((boxes.score > 0.5) & (boxes.score < 1)).all()  # m / (m + thr) with m >= thr


def read_noise_clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    small = torch.randint(0, 256, (4, 3, 6, 8), generator=g).float()
    return (
        torch.nn.functional.interpolate(small, size=(48, 64), mode="nearest")
        .permute(0, 2, 3, 1)
        .to(torch.uint8)
        .contiguous()
    )


@pytest.mark.parametrize("name", REAL_VIDEOS)
@pytest.mark.parametrize("kwargs", SOURCES[:2], ids=lambda k: "-".join(k.values()))
def test_real_video_boxes_inside_frame(videos_dir: Path, tmp_path: Path, name: str, kwargs):
    frames = read_frames(videos_dir / name, list(range(0, 24, 3)))
    t_len, h, w = frames.shape[:3]
    boxes = MotionBoxes(top_k=10, **kwargs)(frames)
    assert_inside(boxes, t_len, h, w)
    assert boxes.num_boxes > 0  # both clips have motion (a talking head, a moving rabbit)
    assert np.bincount(boxes.frame).max() <= 10
    draw(frames, boxes, tmp_path / f"{name}.png")


def test_bad_arguments():
    with pytest.raises(ValueError, match="source"):
        MotionBoxes(source="sound")
    with pytest.raises(ValueError, match="flow"):
        MotionBoxes(source="flow", flow="lucas-kanade")
    with pytest.raises(ValueError, match="levels"):
        MotionBoxes(levels=(0.0,))
    with pytest.raises(ValueError, match="frames must be"):
        MotionBoxes()(torch.zeros(2, 8, 8, 3))
    assert MotionBoxes()(torch.zeros(0, 8, 8, 3, dtype=torch.uint8)).num_boxes == 0


def test_stabilised_difference_removes_a_camera_pan():
    frames, _ = moving_square_clip(t_len=5, step=0)
    pan = torch.stack([torch.roll(frames[0], shifts=(t, 3 * t), dims=(0, 1)) for t in range(5)])
    grey = grey_clip(pan, None)
    raw = frame_difference(grey)[:, :, 8:-8, 8:-8]  # away from the border the roll wraps
    stable = stabilised_difference(grey)[:, :, 8:-8, 8:-8]
    assert float(raw.mean()) > 2.0 and float(stable.mean()) < 0.05 * float(raw.mean())
    boxes = MotionBoxes(stabilise=True)(pan)
    assert boxes.num_boxes == 0 or np.bincount(boxes.frame).max() <= 2


def test_shift_images_is_a_translation():
    x = torch.rand(2, 1, 10, 12, dtype=torch.float64)
    out, inside = shift_images(x, torch.tensor([[2.0, 0.0], [0.0, -3.0]], dtype=torch.float64))
    torch.testing.assert_close(out[0, 0, :, :-2], x[0, 0, :, 2:])  # out(p) = x(p + d)
    torch.testing.assert_close(out[1, 0, 3:, :], x[1, 0, :-3, :])
    assert not inside[0, 0, :, -2:].any() and inside[0, 0, :, :-2].all()


def test_a_brightness_change_is_not_motion():
    frames, _ = moving_square_clip(t_len=4, step=0)
    # gain and offset per frame (an exposure change), kept clear of saturation at 255
    gain = torch.tensor([1.0, 1.2, 0.9, 1.1]).view(4, 1, 1, 1)
    clip = (frames.float() * 0.7 * gain + 5).round().to(torch.uint8)
    assert MotionBoxes(normalise=False)(clip).num_boxes > 0
    assert MotionBoxes()(clip).num_boxes == 0


def test_readme_weight_free_example_runs_as_written():
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
    block = next(b for b in blocks if "from stgcn.proposals import IoUTracker, MotionBoxes" in b)
    frames, _ = moving_square_clip(t_len=5)
    scope: dict = {"frames": frames}
    exec(compile(block, "README.md", "exec"), scope)
    tracked = scope["tracked"]
    assert tracked.num_boxes > 0 and (tracked.track >= 0).all()
    assert len(np.unique(tracked.track[tracked.frame == 2])) == (tracked.frame == 2).sum()
