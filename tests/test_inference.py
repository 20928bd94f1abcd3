"""video_to_graph: real videos, a synthetic webm read exactly as the dataset reads it, a video
shorter than the clip, and each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from stgcn.data.box_source import FrameBoxes
from stgcn.data.ssv2 import SomethingSomethingV2, collate
from stgcn.data.synthetic import BOX_FILES, VIDEOS_DIR, generate
from stgcn.data.video import VideoDecodeError
from stgcn.inference import infer, read_clip, video_to_graph
from stgcn.models import build_model

SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def strg() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(
        "i3d_gcn", 5, depth=18, width=4, frames=FRAMES, region_channels=8, gcn_layers=1
    )


@pytest.fixture(scope="module")
def syn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    generate(root, 3, seed=5, size=(48, 64), frames=(12, 16), workers=0)
    return root


def one_box_per_frame(n: int, box: list[float]) -> FrameBoxes:
    """The same box on video frames 0..n-1 (frame = index in the video)."""
    return FrameBoxes(
        frame=np.arange(n, dtype=np.int64),
        box=np.tile(np.asarray(box, np.float32), (n, 1)),
        score=np.linspace(1.0, 0.5, n, dtype=np.float32),
        category=np.full(n, 2, np.int64),
        track=np.zeros(n, np.int64),
    )


def expected_clip_box(box: torch.Tensor, height: int, width: int, size: int) -> torch.Tensor:
    """Short side to ``size``, centre crop ``size`` (the validation transform), by hand."""
    if height <= width:
        h, w = size, round(width * size / height)
    else:
        h, w = round(height * size / width), size
    # UniformCrop's centre: round((W - size) / 2), Python's round (half to even)
    top, left = round((h - size) / 2), round((w - size) / 2)
    scale = torch.tensor([w / width, h / height, w / width, h / height])
    shift = torch.tensor([left, top, left, top], dtype=torch.float32)
    return (box * scale - shift).clamp(0, size)


def test_real_h264_video_boxes_in_its_own_pixels(videos_dir: Path, strg) -> None:
    box = [500.0, 200.0, 700.0, 500.0]  # inside the centre crop of a 1280x720 frame
    g = video_to_graph(
        videos_dir / "bigbuckbunny.mp4",
        strg,
        boxes=one_box_per_frame(100, box),
        size=SIZE,
        frame_range=(0, 10),  # only 10 frames are decoded
    )
    assert g.frame_size == (720, 1280)
    assert g.sampled_frames.tolist() == [1, 3, 6, 8]  # TSN test centres of 4 segments of 10
    # I3D's temporal stride 2: the nodes are the boxes of clip frames 0 and 2
    assert g.clip_frame.tolist() == [0, 2] and g.frame.tolist() == [0, 1]
    assert g.video_frame.tolist() == [1, 6] and g.num_frames == 2
    torch.testing.assert_close(g.box, torch.tensor([box, box]))
    torch.testing.assert_close(g.clip_box, expected_clip_box(g.box, 720, 1280, SIZE))
    torch.testing.assert_close(g.score, torch.linspace(1.0, 0.5, 100)[[1, 6]])
    # the same box on both frames: one edge 0 -> 1 with IoU 1, weight 1 both ways
    assert g.edge_index.tolist() == [[0], [1]]
    assert g.edge_weight.tolist() == [1.0] and g.edge_back_weight.tolist() == [1.0]


def test_node_features_are_roi_align_of_the_models_own_map(videos_dir: Path, strg) -> None:
    """x[k] = max over RoIAlign(W_r * backbone(clip), clip_box) on the node's feature frame,
    the clip built by hand from the decoded frames."""
    g = video_to_graph(
        videos_dir / "carphone_pristine.mp4",
        strg,
        boxes=one_box_per_frame(120, [40.0, 30.0, 120.0, 110.0]),
        size=SIZE,
    )
    clip = read_clip(videos_dir / "carphone_pristine.mp4", FRAMES)
    assert torch.equal(torch.from_numpy(clip.indices), g.sampled_frames)
    frames = clip.frames.permute(0, 3, 1, 2).float()  # 176x144: short side 144 -> 32
    frames = torch.nn.functional.interpolate(
        frames, size=(SIZE, 39), mode="bilinear", antialias=True
    )
    frames = frames[..., 4 : 4 + SIZE]  # round(7 / 2) = 4
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    x = ((frames - mean) / std).permute(1, 0, 2, 3)[None]
    strg.eval()
    with torch.no_grad():
        fmap = strg.region.reduce(strg.backbone.forward_features(x))
    for k in range(g.num_nodes):
        t = int(g.frame[k])
        roi = torch.cat([torch.zeros(1), g.clip_box[k]])[None]
        patch = roi_align(fmap[:, :, t].float(), roi, 7, 1 / 16, sampling_ratio=-1, aligned=True)
        torch.testing.assert_close(g.x[k], patch.amax(dim=(2, 3))[0], atol=1e-4, rtol=1e-3)


def test_motion_proposals_on_a_real_video_give_tracked_edges(videos_dir: Path, strg) -> None:
    g = video_to_graph(videos_dir / "carphone_pristine.mp4", strg, proposals="motion", size=SIZE)
    assert g.num_nodes > 0 and g.x.shape == (g.num_nodes, 8)
    h, w = g.frame_size
    assert bool((g.box[:, 0] >= 0).all() and (g.box[:, 2] <= w).all() and (g.box[:, 3] <= h).all())
    assert bool((g.track >= 0).all())  # the IoU tracker numbered every box
    src, dst = g.edge_index
    assert bool((g.frame[dst] == g.frame[src] + 1).all())
    sums = torch.zeros(g.num_nodes).index_add_(0, src, g.edge_weight)
    torch.testing.assert_close(sums[src.unique()], torch.ones(src.unique().numel()))


def test_synthetic_webm_matches_what_the_dataset_feeds_the_model(syn: Path, strg) -> None:
    """Same logits as the SSv2 reader's validation clip and graph: inference is training's path."""
    ds = SomethingSomethingV2(syn, "train", num_frames=FRAMES, size=SIZE, train=False)
    sample = ds[0]
    vid = sample.video_id
    video = syn / VIDEOS_DIR / f"{vid}.webm"
    strg.eval()
    with torch.no_grad():
        batch = collate([sample])
        want = strg(batch.clip, batch.graph)[0]
    part = next(syn / f for f in BOX_FILES if vid in json.loads((syn / f).read_text()))
    for boxes in (part, ds.box_index):  # the JSON file, and the index as a BoxSource
        result = infer(video, strg, boxes=boxes, size=SIZE)
        torch.testing.assert_close(result.logits, want)
    g = result.graph
    assert g.video_id == vid and set(g.category.tolist()) <= {1, 2}  # hand, object
    # the boxes are the annotation's, in the video's pixels, on the sampled frames (12 fps)
    entries = json.loads(part.read_text())[vid]
    for k in range(g.num_nodes):
        labels = entries[int(g.video_frame[k])]["labels"]
        annotated = [[lab["box2d"][c] for c in ("x1", "y1", "x2", "y2")] for lab in labels]
        assert g.box[k].tolist() in torch.tensor(annotated).clamp(min=0).tolist()


def test_video_shorter_than_the_clip_repeats_frames(strg) -> None:
    frames = torch.randint(0, 256, (3, 40, 48, 3), dtype=torch.uint8)
    boxes = one_box_per_frame(3, [4.0, 4.0, 30.0, 30.0])
    g = video_to_graph(frames, strg, boxes=boxes, num_frames=8, size=SIZE)
    assert g.sampled_frames.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]  # floor(3/16 + 3k/8)
    assert g.num_frames == 4 and g.video_frame.tolist() == [0, 0, 1, 2]
    clip = read_clip(frames, 8)
    assert torch.equal(clip.frames, frames[clip.indices])


def test_a_pooled_model_gives_backbone_features(strg) -> None:
    i3d = build_model("i3d", 5, depth=18, width=4, frames=FRAMES)
    frames = torch.randint(0, 256, (6, 40, 48, 3), dtype=torch.uint8)
    g = video_to_graph(frames, i3d, boxes=one_box_per_frame(6, [4.0, 4.0, 30.0, 30.0]), size=SIZE)
    assert g.x.shape == (2, i3d.out_channels)
    assert infer(frames, i3d, size=SIZE).graph is None  # no boxes needed to predict


def test_bad_input_is_a_clear_error(tmp_path: Path, videos_dir: Path, strg) -> None:
    frames = torch.randint(0, 256, (6, 40, 48, 3), dtype=torch.uint8)
    good = one_box_per_frame(6, [4.0, 4.0, 30.0, 30.0])
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        video_to_graph(tmp_path / "missing.mp4", strg, boxes=good)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError, match="corrupt.mp4"):
        video_to_graph(corrupt, strg, boxes=good)
    for box, reason in (
        ([30.0, 4.0, 4.0, 30.0], "inverted"),
        ([4.0, 4.0, 4.0, 30.0], "of zero width or height"),
        ([60.0, 50.0, 90.0, 80.0], "outside the frame"),
        ([float("nan"), 4.0, 9.0, 30.0], "not finite"),
    ):
        with pytest.raises(ValueError, match=f"video video, clip frame 0.*is {reason}"):
            video_to_graph(frames, strg, boxes=one_box_per_frame(6, box), size=SIZE)
    with pytest.raises(ValueError, match="reads region boxes"):
        infer(frames, strg)
    with pytest.raises(ValueError, match="not both"):
        video_to_graph(frames, strg, boxes=good, proposals="motion")
    with pytest.raises(ValueError, match="proposals: expected"):
        video_to_graph(frames, strg, proposals="no-such-method")
    with pytest.raises(ValueError, match=r"uint8"):
        video_to_graph(frames.float(), strg, boxes=good)
    with pytest.raises(ValueError, match="frame_range starts at frame 9"):
        video_to_graph(frames, strg, boxes=good, frame_range=(9, 12))
    other = tmp_path / "boxes.json"
    other.write_text(json.dumps({"some-other-video": []}))
    with pytest.raises(ValueError, match="no boxes for video 'video'.*some-other-video"):
        video_to_graph(frames, strg, boxes=other)
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        video_to_graph(frames, strg, boxes=tmp_path / "nothing.json")
    # a box partly outside is clipped, as the dataset clips it
    g = video_to_graph(frames, strg, boxes=one_box_per_frame(6, [-5.0, 4.0, 60.0, 30.0]))
    assert g.box[0].tolist() == [0.0, 4.0, 48.0, 30.0]


def test_exported_lazily_from_the_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stgcn; print('torch' in sys.modules); print(stgcn.video_to_graph.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "stgcn.inference"]
