"""Box-aware clip transforms: a box drawn into a frame stays on the same pixels after each one."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision import tv_tensors

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
    resize,
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
    (almost) no bright region.

    ``atol`` 0 where frames are only cut or mirrored (whole pixels); 1.5 after a resize: the bright
    region is found in whole pixels (0.5) and the antialiased kernel spreads an edge over one
    output pixel on either side of where the scaled box puts it (1)."""
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
    # one side is rounded to whole pixels: the aspect ratio is off by at most 0.5 / height
    assert x.width / x.height == pytest.approx(W / H, abs=0.5 / x.height)
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


# ------------------------------------------------------------------------------------ v2 kernels
# The transforms run torchvision.transforms.v2 kernels. These are the operations they must equal,
# bit for bit, written with plain torch (the hand-written kernels this module had before v2).


def ref_resize(x: ClipBoxes, h: int, w: int) -> ClipBoxes:
    if (h, w) == (x.height, x.width):
        return x
    frames = F.interpolate(
        x.frames.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True
    )
    scale = torch.tensor([w / x.width, h / x.height, w / x.width, h / x.height])
    return ClipBoxes(frames, x.box * scale, x.keep, x.label, x.dropped)


def ref_clip(x: ClipBoxes, min_size: float) -> ClipBoxes:
    lo, hi = torch.zeros(4), torch.tensor([x.width, x.height] * 2, dtype=torch.float32)
    box = torch.minimum(torch.maximum(x.box, lo), hi)
    ok = (box[:, 2] - box[:, 0] >= min_size) & (box[:, 3] - box[:, 1] >= min_size)
    return ClipBoxes(x.frames, box[ok], x.keep[ok], x.label, x.dropped + int((~ok).sum()))


def ref_crop(x: ClipBoxes, top: int, left: int, h: int, w: int, min_size: float) -> ClipBoxes:
    frames = x.frames[..., top : top + h, left : left + w]
    box = x.box - torch.tensor([left, top, left, top], dtype=torch.float32)
    return ref_clip(ClipBoxes(frames, box, x.keep, x.label, x.dropped), min_size)


def ref_hflip(x: ClipBoxes) -> ClipBoxes:
    b, w = x.box, x.width
    box = torch.stack((w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]), dim=1)
    return ClipBoxes(x.frames.flip(-1), box, x.keep, x.label, x.dropped)


def ref_normalize(x: ClipBoxes) -> ClipBoxes:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
    return ClipBoxes((x.frames.float() - mean) / std, x.box, x.keep, x.label, x.dropped)


def ref_short_side(x: ClipBoxes, size: int) -> ClipBoxes:
    h, w = x.height, x.width
    if h <= w:
        return ref_resize(x, size, max(1, round(w * size / h)))
    return ref_resize(x, max(1, round(h * size / w)), size)


def ref_train(x: ClipBoxes, rng: np.random.Generator, size: int, crop_kind: str) -> ClipBoxes:
    """``train_transform(size, crop_kind, flip_labels={3: 0})``: the same draws, in order."""
    lo, hi = round(size * 8 / 7), round(size * 10 / 7)
    if crop_kind == "random":
        x = ref_short_side(x, int(rng.integers(lo, hi + 1)))
        top, left = int(rng.integers(x.height - size + 1)), int(rng.integers(x.width - size + 1))
        x = ref_crop(x, top, left, size, size, 1.0)
    else:
        x = ref_short_side(x, lo)
        base, scales = min(x.height, x.width), (1.0, 0.875, 0.75, 0.66)
        pairs = [(i, j) for i in range(4) for j in range(4) if abs(i - j) <= 1]
        i, j = pairs[int(rng.integers(len(pairs)))]
        w, h = max(1, int(base * scales[i])), max(1, int(base * scales[j]))
        top, left = int(rng.integers(x.height - h + 1)), int(rng.integers(x.width - w + 1))
        x = ref_clip(ref_resize(ref_crop(x, top, left, h, w, 1.0), size, size), 1.0)
    if rng.random() < 0.5 and x.label == 3:
        x = ref_hflip(x)
        x = ClipBoxes(x.frames, x.box, x.keep, 0, x.dropped)
    return ref_normalize(x)


def random_clip(seed: int, t: int = 3, h: int = 50, w: int = 74, n: int = 40) -> ClipBoxes:
    """Noise frames and boxes that start up to 20 px outside the frame (some are cut away)."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w + 40.0, h + 40.0]) - 20
    wh = torch.rand(n, 2, generator=g) * 30
    return ClipBoxes.from_frames(frames, torch.cat([xy, xy + wh], 1), label=3)


def assert_same(a: ClipBoxes, b: ClipBoxes) -> None:
    """Bit for bit: both sides run the same torch operations on the same inputs."""
    assert type(a.frames) is torch.Tensor and type(a.box) is torch.Tensor  # no tv_tensor leaks
    assert a.frames.dtype == b.frames.dtype and torch.equal(a.frames, b.frames)
    assert torch.equal(a.box, b.box) and torch.equal(a.keep, b.keep)
    assert (a.label, a.dropped) == (b.label, b.dropped)


@pytest.mark.parametrize("seed", range(4))
def test_kernels_equal_the_plain_torch_formulas(seed: int):
    rng = np.random.default_rng(seed)
    x = random_clip(seed)
    for h, w in ((50, 74), (37, 61), (80, 100), (rng.integers(20, 90), rng.integers(20, 90))):
        assert_same(resize(x, int(h), int(w)), ref_resize(x, int(h), int(w)))
    kept = dropped = 0
    for _ in range(5):
        h, w = int(rng.integers(1, 51)), int(rng.integers(1, 75))
        top, left = int(rng.integers(51 - h)), int(rng.integers(75 - w))
        min_size = float(rng.choice([1.0, 2.5, 8.0]))
        got, want = crop(x, top, left, h, w, min_size), ref_crop(x, top, left, h, w, min_size)
        assert_same(got, want)
        kept, dropped = kept + len(got.keep), dropped + got.dropped
    assert kept and dropped  # the draws both keep and cut away boxes
    assert_same(hflip(x), ref_hflip(x))
    assert_same(Normalize()(x), ref_normalize(x))
    empty = ClipBoxes.from_frames(x.frames.permute(0, 2, 3, 1), torch.zeros(0, 4))
    assert_same(
        crop(resize(empty, 40, 60), 3, 4, 20, 20),
        ref_crop(ref_resize(empty, 40, 60), 3, 4, 20, 20, 1.0),
    )


@pytest.mark.parametrize("crop_kind", ["random", "multiscale"])
def test_train_pipeline_draws_like_the_reference(crop_kind: str):
    """Same rng, same scale, crop and flip: the pipeline equals its plain-torch reference."""
    tf = train_transform(32, crop_kind, flip_labels={3: 0})
    flipped = 0
    for seed in range(12):
        x = random_clip(seed)
        got = tf(x, np.random.default_rng(seed))
        assert_same(got, ref_train(x, np.random.default_rng(seed), 32, crop_kind))
        assert_same(tf(x, np.random.default_rng(seed)), got)  # deterministic
        flipped += got.label == 0
    assert 0 < flipped < 12


def test_to_tv_tensors_shares_memory():
    x = drawn_clip()
    video, boxes = x.to_tv_tensors()
    assert isinstance(video, tv_tensors.Video) and isinstance(boxes, tv_tensors.BoundingBoxes)
    assert boxes.format == tv_tensors.BoundingBoxFormat.XYXY and boxes.canvas_size == (H, W)
    assert video.data_ptr() == x.frames.data_ptr() and boxes.data_ptr() == x.box.data_ptr()


@pytest.mark.parametrize(
    "make", [lambda: RandomCrop(8, 0.5), lambda: MultiScaleCrop(8, min_size=0)]
)
def test_sub_pixel_min_size_is_refused(make):
    with pytest.raises(ValueError, match="min_size must be at least 1"):
        make()
    with pytest.raises(ValueError, match="min_size must be at least 1"):
        crop(drawn_clip(), 0, 0, 8, 8, min_size=0.5)
