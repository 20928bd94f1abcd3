"""Box-aware clip transforms: a box drawn into a frame stays on the same pixels after each one."""

import numpy as np
import pytest
import torch

from stgcn.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipBoxes,
    HorizontalFlip,
    MultiScaleCrop,
    Normalize,
    RandomCrop,
    ShortSideScale,
    UniformCrop,
    crop,
    eval_transform,
    flip_label_map,
    hflip,
    to_clip,
    train_transform,
)

T, H, W = 4, 120, 160
# one box per frame, moving right and down; the last one sits in the right edge
BOXES = torch.tensor(
    [[10, 20, 50, 60], [40, 30, 90, 70], [70, 50, 110, 100], [125, 40, 160, 90]],
    dtype=torch.float32,
)


def drawn_clip() -> ClipBoxes:
    frames = torch.full((T, H, W, 3), 10, dtype=torch.uint8)
    for t, (x1, y1, x2, y2) in enumerate(BOXES.int().tolist()):
        frames[t, y1:y2, x1:x2] = 240
    return ClipBoxes.from_frames(frames, BOXES.clone(), label=3)


def bright_bbox(frame: torch.Tensor) -> list[float] | None:
    """Bounding box of the bright pixels of a ``[3, H, W]`` frame in 0..255."""
    ys, xs = torch.nonzero(frame.float().mean(0) > 125, as_tuple=True)
    if len(xs) == 0:
        return None
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def assert_boxes_on_pixels(x: ClipBoxes, frames_255: torch.Tensor, atol: float = 1.5) -> None:
    """Each kept box matches the bright region of its frame; frames that lost their box hold
    (almost) no bright region."""
    kept = set(x.keep.tolist())
    for i, t in enumerate(x.keep.tolist()):
        found = bright_bbox(frames_255[t])
        assert found is not None, f"frame {t}: box {x.box[i].tolist()} kept but nothing drawn"
        np.testing.assert_allclose(found, x.box[i].tolist(), atol=atol, err_msg=f"frame {t}")
    for t in set(range(T)) - kept:
        found = bright_bbox(frames_255[t])
        assert found is None or min(found[2] - found[0], found[3] - found[1]) <= 2, (
            f"frame {t}: box dropped but {found} is still visible"
        )


def unnormalize(frames: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (frames * std + mean) * 255


def test_drawn_clip_matches_its_boxes():
    x = drawn_clip()
    assert_boxes_on_pixels(x, x.frames, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_short_side_scale(seed):
    x = ShortSideScale(90, 150)(drawn_clip(), np.random.default_rng(seed))
    assert min(x.height, x.width) in range(90, 151)
    assert x.width / x.height == pytest.approx(W / H, abs=0.02)
    assert_boxes_on_pixels(x, x.frames)


@pytest.mark.parametrize("seed", range(6))
def test_random_crop_clips_and_drops(seed):
    x = RandomCrop(64)(drawn_clip(), np.random.default_rng(seed))
    assert x.frames.shape == (T, 3, 64, 64)
    assert len(x.keep) + x.dropped == T
    assert torch.all(x.box >= 0) and torch.all(x.box <= 64)
    assert_boxes_on_pixels(x, x.frames, atol=0)


@pytest.mark.parametrize("index", range(3))
def test_three_crop(index):
    x = UniformCrop(H, index, 3)(drawn_clip())
    assert x.frames.shape == (T, 3, H, H)
    assert_boxes_on_pixels(x, x.frames, atol=0)
    # the left crop drops the last box
    if index == 0:
        assert 0 in x.keep.tolist() and 3 not in x.keep.tolist() and x.dropped == 1
    if index == 2:  # the first box is cut to its right 10 pixels
        assert x.keep.tolist() == [0, 1, 2, 3] and x.dropped == 0
        assert x.box[0].tolist() == [0.0, 20.0, 10.0, 60.0]


@pytest.mark.parametrize("seed", range(6))
def test_multiscale_crop(seed):
    x = MultiScaleCrop(56)(drawn_clip(), np.random.default_rng(seed))
    assert x.frames.shape == (T, 3, 56, 56)
    assert_boxes_on_pixels(x, x.frames, atol=1.5)


def test_flip_mirrors_boxes_and_swaps_labels():
    x = hflip(drawn_clip())
    assert_boxes_on_pixels(x, x.frames, atol=0)
    labels = {
        "Pushing something from left to right": 0,
        "Pushing something from right to left": 1,
        "Moving something up": 2,
        "Turning the camera left while filming something": 3,
    }
    mapping = flip_label_map(labels)
    assert mapping == {0: 1, 1: 0, 3: None}
    always = HorizontalFlip(mapping, p=1.0)
    rng = np.random.default_rng(0)
    for label, expect, flipped in ((0, 1, True), (2, 2, True), (3, 3, False)):
        y = always(
            ClipBoxes.from_frames(drawn_clip().frames.permute(0, 2, 3, 1), BOXES, label), rng
        )
        assert y.label == expect
        assert torch.equal(y.frames, x.frames) == flipped
    never = HorizontalFlip(mapping, p=0.0)
    assert never(drawn_clip(), rng).label == 3


@pytest.mark.parametrize("crop_kind", ["random", "multiscale"])
@pytest.mark.parametrize("seed", range(3))
def test_train_pipeline_end_to_end(crop_kind, seed):
    tf = train_transform(64, crop_kind, flip_labels={3: 0})
    x = tf(drawn_clip(), np.random.default_rng(seed))
    clip = to_clip(x)
    assert clip.shape == (3, T, 64, 64) and clip.dtype == torch.float32
    assert x.label in (0, 3)
    assert_boxes_on_pixels(x, unnormalize(x.frames), atol=1.5)


@pytest.mark.parametrize("num_crops", [1, 3])
def test_eval_pipeline(num_crops):
    for c in range(num_crops):
        x = eval_transform(64, c, num_crops)(drawn_clip(), np.random.default_rng(0))
        assert x.frames.shape == (T, 3, 64, 64)
        assert_boxes_on_pixels(x, unnormalize(x.frames), atol=1.5)
    # deterministic
    a = eval_transform(64)(drawn_clip(), np.random.default_rng(1))
    b = eval_transform(64)(drawn_clip(), np.random.default_rng(2))
    assert torch.equal(a.frames, b.frames) and torch.equal(a.box, b.box)


def test_normalize_is_imagenet():
    x = Normalize()(drawn_clip())
    v = x.frames[0, :, 0, 0]
    expect = (10 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(v, expect)


def test_degenerate_after_crop_is_counted():
    x = crop(drawn_clip(), 0, 0, 60, 60, min_size=1.0)
    # box 2 starts at x=70 (outside), box 3 at x=125 (outside), box 1 keeps [40, 30, 60, 60]
    assert x.keep.tolist() == [0, 1] and x.dropped == 2
    torch.testing.assert_close(x.box[1], torch.tensor([40.0, 30.0, 60.0, 60.0]))
    with pytest.raises(ValueError, match="outside"):
        crop(drawn_clip(), 100, 0, 60, 60)
