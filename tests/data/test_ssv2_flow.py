"""SomethingSomethingV2 with optical flow: the same frames for RGB, flow and boxes, transforms
applied to both on one draw (a flip negates x), flow alone, stacked flows, missing flow files.

The flow files of most tests are written by hand so that their content says where it came from:
x = 0.5 px * the frame index everywhere, y = 10 px on the hand (the white square) of that frame
and 0 elsewhere. A clip's flow must then show its RGB frame's hand, and the frame it came from."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ssv2_fixtures import HEIGHT, STEP, WIDTH, hand_box, make_ssv2

from stgcn.data.flow import BOUND, FlowFile, FlowFileError, extract, quantize, write_flow
from stgcn.data.sampling import sample_indices
from stgcn.data.something_else import HAND_TRACK
from stgcn.data.ssv2 import VIDEO_DIR, Skipped, SomethingSomethingV2, collate
from stgcn.data.transforms import (
    ClipBoxes,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
    ShortSideScale,
    hflip,
    resize,
)
from stgcn.data.video import VideoReader

LENGTHS = {"101": 24, "102": 30, "103": 20}
T, SIZE = 4, 64
X_PER_FRAME, Y_HAND = 0.5, 10.0


def coded_flow(n: int) -> FlowFile:
    """Flow of frames 0..n-2 of a fixture video, coded as the module docstring says."""
    flow = np.zeros((n - 1, 2, HEIGHT, WIDTH), np.float32)
    for t in range(n - 1):
        flow[t, 0] = X_PER_FRAME * t
        x1, y1, x2, y2 = map(int, hand_box(t))
        flow[t, 1, y1:y2, x1:x2] = Y_HAND
    return FlowFile(
        quantize(flow), np.arange(n - 1), np.arange(n) / 12, n, (HEIGHT, WIDTH), BOUND, "coded", {}
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_ssv2(tmp_path_factory.mktemp("ssv2flow"), LENGTHS)
    for vid, n in LENGTHS.items():
        write_flow(root / "flow" / f"{vid}.npz", coded_flow(n))
    return root


def dataset(root: Path, **kw) -> SomethingSomethingV2:
    kw = {"split": "validation", "num_frames": T, "size": SIZE, "modality": ("rgb", "flow"), **kw}
    return SomethingSomethingV2(root, **kw)


def white(clip: torch.Tensor) -> torch.Tensor:
    """``[T, H, W]`` mask of the hand's white pixels of a normalised ``[3, T, H, W]`` clip."""
    return clip.min(0).values > 1.5  # white is > 1.5 after ImageNet normalisation in every channel


def centroid(mask: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([xs.float().mean(), ys.float().mean()])


def check_aligned(rgb: torch.Tensor, flow: torch.Tensor, scale: float) -> None:
    """Every frame's flow marks the hand of its own RGB frame: their centres are closer than half
    the hand's motion in a frame (``STEP * scale``). Frames whose hand a crop cut away are passed."""
    hand = flow[1] > Y_HAND * scale / BOUND / 2
    seen = [k for k in range(rgb.shape[1]) if white(rgb)[k].sum() >= 6]  # not cropped away
    assert seen
    for k in seen:
        gap = (centroid(white(rgb)[k]) - centroid(hand[k])).norm()
        assert gap < STEP * scale / 2, (k, gap)


def test_same_frames_for_rgb_flow_and_boxes(root: Path):
    ds = dataset(root)
    s = ds[0]
    assert s.clip.shape == (3, T, SIZE, SIZE) and s.flow.shape == (2, T, SIZE, SIZE)
    scale = SIZE / HEIGHT  # short side to SIZE, then a centre crop
    check_aligned(s.clip, s.flow, scale)
    # the frames the evaluation clip samples, read back from the flow's x code
    with VideoReader(root / VIDEO_DIR / "101.webm") as r:
        idx = sample_indices("tsn", r.num_frames, T, False)
    # (x scales with the width: 128 -> round(128 * 64 / 96) = 85), within half a uint8 step
    scale_x = round(WIDTH * scale) / WIDTH
    coded = s.flow[0].mean((1, 2)) * BOUND / scale_x / X_PER_FRAME
    half_step = BOUND / 255 / X_PER_FRAME
    torch.testing.assert_close(
        coded, torch.tensor(idx, dtype=torch.float32), atol=half_step, rtol=0
    )
    # and the boxes are those of the same frames (right edge: centre crop of the scaled frame)
    is_hand = s.graph.track == HAND_TRACK
    left = (round(WIDTH * scale) - SIZE) // 2
    want = [hand_box(int(idx[k]))[2] * scale_x - left for k in s.graph.frame[is_hand].tolist()]
    torch.testing.assert_close(s.graph.box[is_hand, 2], torch.tensor(want), atol=1e-3, rtol=0)


def test_flip_and_crop_move_flow_with_frames(root: Path):
    always = Compose(
        [ShortSideScale(SIZE, SIZE + 20), RandomCrop(SIZE), HorizontalFlip({}, p=1.0), Normalize()]
    )
    ds = dataset(root, split="train", transform=always, sampling="uniform")
    torch.manual_seed(0)
    for i in range(len(ds)):
        s = ds[i]
        assert s.clip.shape[-2:] == s.flow.shape[-2:] == (SIZE, SIZE)
        flow_x = s.flow[0].mean((1, 2))
        assert (flow_x < 0).all()  # mirrored: what moved right moves left
        scale_lo, scale_hi = SIZE / HEIGHT, (SIZE + 20) / HEIGHT
        check_aligned(s.clip, s.flow, scale_lo)
        # x magnitude: 0.5 px * frame * the drawn scale, within the scale range
        frames = -flow_x * BOUND / X_PER_FRAME
        assert (frames[1:] >= frames[:-1]).all()
        assert frames.max() <= (LENGTHS[s.video_id] - 2) * scale_hi + 0.2


def test_flow_alone_and_stacked(root: Path):
    both = dataset(root)[1]
    alone = dataset(root, modality="flow")[1]
    assert alone.clip is None and alone.flow.shape == (2, T, SIZE, SIZE)  # flow: always .flow
    torch.testing.assert_close(alone.flow, both.flow)
    stacked = dataset(root, modality="flow", flow_length=3)[1]
    assert stacked.flow.shape == (6, T, SIZE, SIZE)
    torch.testing.assert_close(stacked.flow[:2], both.flow)
    # channels 2l, 2l+1 are the flow of frame t + l
    step = X_PER_FRAME * (SIZE / HEIGHT) / BOUND
    for ch in (2, 4):
        diff = stacked.flow[ch].mean((1, 2)) - stacked.flow[0].mean((1, 2))
        torch.testing.assert_close(diff, torch.full((T,), ch // 2 * step), atol=0.01, rtol=0)
    batch = collate([dataset(root)[i] for i in range(2)])
    assert batch.flow.shape == (2, 2, T, SIZE, SIZE)
    only = collate([dataset(root, modality="flow", flow_length=3)[i] for i in range(2)])
    assert only.clip is None and only.flow.shape == (2, 6, T, SIZE, SIZE)
    assert collate([dataset(root, modality="rgb")[0]]).flow is None


def test_missing_flow_file(root: Path, tmp_path: Path):
    flow_dir = tmp_path / "flow"
    shutil.copytree(root / "flow", flow_dir)
    (flow_dir / "102.npz").unlink()
    (flow_dir / "103.npz").write_bytes(b"garbage")
    ds = dataset(root, flow_dir=flow_dir, on_error="skip")
    items = [ds[i] for i in range(3)]
    assert [type(s).__name__ for s in items] == ["Sample", "Skipped", "Skipped"]
    assert isinstance(items[1], Skipped) and "102.npz" in items[1].message
    report = ds.error_report()
    assert report["skipped"] == {
        "missing_video": 0,
        "decode_error": 0,
        "no_boxes": 0,
        "flow_error": 2,
    }
    assert report["skipped_ids"]["flow_error"] == ["102", "103"]
    with pytest.raises(FlowFileError, match="no flow file for video 102"):
        dataset(root, flow_dir=flow_dir)[1]
    assert "flow_error" not in dataset(root, modality="rgb").error_report()["skipped"]


def test_bad_modality(root: Path):
    for bad in ("depth", ("rgb", "rgb"), ()):
        with pytest.raises(ValueError, match="modality must be"):
            dataset(root, modality=bad)
    with pytest.raises(ValueError, match="flow_length"):
        dataset(root, flow_length=0)


def test_extracted_flow_reads_back(root: Path, tmp_path: Path):
    """The CLI's layout is the reader's: real DIS flow of the videos shows the hand moving right."""
    out = tmp_path / "dis"
    report = extract([root / VIDEO_DIR], out, "dis", progress=False)
    assert report["done"] == len(LENGTHS) and sorted(p.name for p in out.iterdir()) == [
        "101.npz",
        "102.npz",
        "103.npz",
        "flow_report.json",
    ]
    s = dataset(root, flow_dir=out)[0]
    hand = white(s.clip)
    speed = s.flow[0][hand].mean() * BOUND
    # STEP px a frame at SIZE / HEIGHT scale; the square is uniform inside, so DIS sees it
    # move only at its edges: a loose bound
    assert 0.5 * STEP * SIZE / HEIGHT < speed < 1.5 * STEP * SIZE / HEIGHT
    assert s.flow[0][~hand].abs().mean() < 0.2 * speed / BOUND


def test_transforms_map_flow():
    frames = torch.zeros(2, 8, 10, 3, dtype=torch.uint8)
    flow = torch.zeros(2, 4, 8, 10)
    flow[:, 0::2] = 1.0  # x of both stacked flows
    flow[:, 1::2] = 2.0  # y
    flow[:, :, :, :5] *= 3  # left half faster
    x = ClipBoxes.from_frames(frames, flow=flow)
    big = resize(x, 16, 30)
    assert big.flow.shape == (2, 4, 16, 30)
    # x scaled by 3 (width 10 -> 30), y by 2 (height 8 -> 16), away from the seam
    assert big.flow[0, :, 0, 0].tolist() == [9.0, 12.0, 9.0, 12.0]
    assert big.flow[0, :, 0, -1].tolist() == [3.0, 4.0, 3.0, 4.0]
    flipped = hflip(x)
    assert flipped.flow[0, :, 0, -1].tolist() == [-3.0, 6.0, -3.0, 6.0]
    assert flipped.flow[0, :, 0, 0].tolist() == [-1.0, 2.0, -1.0, 2.0]
    with pytest.raises(ValueError, match="expected flow"):
        ClipBoxes.from_frames(frames, flow=flow[:, :3])
    assert Normalize()(x).flow.max() == 6.0 / BOUND  # y of the left half
