"""SomethingSomethingV2 on a tiny dataset in the official layout: the sample contract, boxes
aligned with the clip's frames, batching, multi-view, and every kind of bad input."""

import json
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from ssv2_fixtures import make_ssv2, object_box
from torch.utils.data import DataLoader
from torch_geometric.data import Batch

from stgcn.data.box_source import BoxSource, FrameBoxes
from stgcn.data.boxes import BoxIndex, MalformedJSONError
from stgcn.data.dead_workers import WorkerDiedError, name_dead_worker
from stgcn.data.something_else import CATEGORY, HAND_TRACK
from stgcn.data.ssv2 import (
    SKIP_REASONS,
    BadBoxError,
    MissingBoxesError,
    Sample,
    Skipped,
    SomethingSomethingV2,
    collate,
)
from stgcn.data.transforms import IMAGENET_MEAN, IMAGENET_STD, HorizontalFlip
from stgcn.data.video import VideoDecodeError
from stgcn.graphs.video_graph import VideoGraph

LENGTHS = {"101": 24, "102": 30, "103": 20, "104": 36}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ssv2(tmp_path_factory.mktemp("ssv2"), LENGTHS)


@pytest.fixture
def copy(root: Path, tmp_path: Path) -> Path:
    """A private copy of the dataset, to damage."""
    dst = tmp_path / "ssv2"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("*.sqlite"))
    return dst


def rgb255(clip: torch.Tensor) -> torch.Tensor:
    """Normalised ``[3, T, H, W]`` back to 0..255."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return (clip * std + mean) * 255


def white_bbox(frame: torch.Tensor) -> list[float] | None:
    """Box around the white pixels (the hand; the object is red) of a ``[3, H, W]`` frame."""
    ys, xs = torch.nonzero(frame.min(0).values > 170, as_tuple=True)
    if len(xs) == 0:
        return None
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def assert_hands_on_pixels(sample: Sample, atol: float = 1.6) -> int:
    """Every hand node's box matches the white square of its clip frame. Returns the count.

    ``atol``: the white square found is whole pixels while the box is fractional (< 1 px), and the
    resize filter spreads an edge by up to half an output pixel at the scales used (<= 1)."""
    g, frames = sample.graph, rgb255(sample.clip)
    hands = (g.category == CATEGORY["hand"]).nonzero().flatten().tolist()
    for n in hands:
        t = int(g.frame[n])
        found = white_bbox(frames[:, t])
        assert found is not None, f"{sample.video_id} clip frame {t}: hand box but no hand drawn"
        np.testing.assert_allclose(found, g.box[n].tolist(), atol=atol, err_msg=f"frame {t}")
    return len(hands)


def test_sample_contract(root: Path):
    ds = SomethingSomethingV2(root, "validation", num_frames=4, size=64)
    assert len(ds) == 4 and len(ds.classes) == 5
    s = ds[1]
    assert isinstance(s, Sample)
    assert s.clip.shape == (3, 4, 64, 64) and s.clip.dtype == torch.float32
    assert s.video_id == "102"
    assert s.label == ds.labels["Moving something up"]
    g = s.graph
    assert isinstance(g, VideoGraph) and g.x is None and g.num_frames == 4
    assert g.video_id == "102" and g.num_nodes == len(g.box) == len(g.frame)
    assert int(g.frame.min()) >= 0 and int(g.frame.max()) <= 3
    assert set(g.category.tolist()) <= {CATEGORY["hand"], CATEGORY["object"]}
    assert torch.equal(g.track[g.category == CATEGORY["hand"]].unique(), torch.tensor([HAND_TRACK]))
    assert torch.all(g.box[:, 2] > g.box[:, 0]) and torch.all(g.box[:, 3] > g.box[:, 1])
    assert torch.all(g.box >= 0) and torch.all(g.box <= 64)
    # the object stands still: its box is the annotated one through the same short-side scale
    # (96 -> 64) and centre crop (left = (85 - 64) // 2 = 10)
    obj = g.box[g.category == CATEGORY["object"]]
    scale = 64 / 96
    x1, y1, x2, y2 = object_box()
    expect = torch.tensor([x1 * 85 / 128 - 10, y1 * scale, x2 * 85 / 128 - 10, y2 * scale])
    # float32 scale and shift of coordinates below 128: a few ulps (1.5e-5 each at 128)
    torch.testing.assert_close(obj, expect.expand_as(obj), atol=1e-4, rtol=0)


@pytest.mark.parametrize("sampling", ["tsn", "uniform", "dense"])
@pytest.mark.parametrize("train", [False, True])
def test_boxes_aligned_with_clip_frames(root: Path, sampling: str, train: bool):
    torch.manual_seed(0)
    ds = SomethingSomethingV2(
        root, "train", num_frames=6, sampling=sampling, stride=3, size=96, train=train
    )
    hands = sum(assert_hands_on_pixels(ds[i]) for i in range(len(ds)))
    assert hands >= len(ds) * 3  # most clip frames keep their hand after the crop


def test_hand_moves_with_the_clip(root: Path):
    # in frame k the hand is at x = 4 + 3k: the boxes follow the sampled frames, not frame 0
    ds = SomethingSomethingV2(root, "validation", num_frames=4, sampling="tsn", size=96)
    s = ds[3]  # 36 frames, TSN centres 4, 13, 22, 31
    g = s.graph
    hand_x = g.box[g.category == CATEGORY["hand"]][:, 0] + 16  # centre crop left = 16
    np.testing.assert_allclose(hand_x.tolist(), [4 + 3 * k for k in (4, 13, 22, 31)])
    assert_hands_on_pixels(s)


def test_collate_with_workers(root: Path):
    ds = SomethingSomethingV2(root, "train", num_frames=4, size=48, decode_threads=1)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert [len(b.video_id) for b in batches] == [3, 1]
    b = batches[0]
    assert b.clip.shape == (3, 3, 4, 48, 48) and b.label.dtype == torch.long
    assert isinstance(b.graph, Batch) and b.graph.num_graphs == 3
    assert b.graph.batch.max().item() == 2 and b.graph.num_frames.tolist() == [4, 4, 4]
    assert b.graph.video_id == b.video_id and b.skipped == ()
    assert sorted(v for b in batches for v in b.video_id) == sorted(LENGTHS)


def test_multi_view(root: Path):
    ds = SomethingSomethingV2(root, "validation", num_frames=4, size=64, views=(2, 3))
    assert len(ds) == 4 * 6
    views = [ds[i] for i in range(6)]  # the six views of video 101
    assert [v.video_id for v in views] == ["101"] * 6 and [v.view for v in views] == list(range(6))
    # same clip, different crops: left and right crops differ; same crop, other clip: differs too
    assert not torch.equal(views[0].clip, views[2].clip)
    assert not torch.equal(views[0].clip, views[3].clip)
    for v in views:
        assert_hands_on_pixels(v)
    b = collate(views)
    assert b.view.tolist() == list(range(6))


def test_test_split_has_no_labels(root: Path):
    ds = SomethingSomethingV2(root, "test", num_frames=4, size=48)
    assert not ds.train and [ds[i].label for i in range(len(ds))] == [-1] * 4


def test_flip_is_off_by_default_and_swaps_labels(root: Path):
    plain = SomethingSomethingV2(root, "train", num_frames=4, size=48)
    assert not any(isinstance(t, HorizontalFlip) for t in plain._transforms[0].transforms)
    ds = SomethingSomethingV2(root, "train", num_frames=4, size=48, flip=True)
    torch.manual_seed(0)
    l2r = ds.labels["Pushing something from left to right"]
    r2l = ds.labels["Pushing something from right to left"]
    labels = {ds[2].label for _ in range(12)}  # video 103 pushes left to right
    assert labels == {l2r, r2l}


def test_boxes_options(root: Path, copy: Path):
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48)  # found and indexed
    index = copy / "bounding_box_smthsmth.index.sqlite"
    assert index.is_file() and len(ds.box_index) == 4
    by_index = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, boxes=index)
    assert torch.equal(by_index[0].graph.box, ds[0].graph.box)
    none = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, boxes=False)
    assert none[0].graph.num_nodes == 0
    with pytest.raises(PermissionError, match="give a writable path"):
        SomethingSomethingV2(copy, "validation", box_index=copy / "no" / "such" / "dir.sqlite")
    for f in copy.glob("bounding_box_smthsmth_part*.json"):
        f.unlink()
    with pytest.warns(UserWarning, match="no Something-Else box files"):
        SomethingSomethingV2(copy, "validation", num_frames=4, size=48)


# ---- bad input: one test each, under both policies ---------------------------------------


def test_missing_video_file(copy: Path):
    (copy / "20bn-something-something-v2" / "102.webm").unlink()
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48)
    with pytest.raises(FileNotFoundError, match=r"102\.webm"):
        ds[1]
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, on_error="skip")
    s = ds[1]
    assert isinstance(s, Skipped) and s.reason == "missing_video" and "102.webm" in s.message
    report = ds.error_report()
    assert report["skipped"]["missing_video"] == 1 and report["skipped_ids"]["missing_video"] == [
        "102"
    ]


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_corrupt_or_truncated_webm(copy: Path, damage: str):
    path = copy / "20bn-something-something-v2" / "104.webm"
    data = path.read_bytes()
    if damage == "corrupt":
        path.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8)
    else:
        path.write_bytes(data[: len(data) // 2])
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48)
    with pytest.raises(VideoDecodeError, match=r"104\.webm"):
        ds[3]
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, on_error="skip")
    assert isinstance(ds[0], Sample)
    s = ds[3]
    assert isinstance(s, Skipped) and s.reason == "decode_error" and "104.webm" in s.message
    assert ds.error_report()["skipped"] == {"missing_video": 0, "decode_error": 1, "no_boxes": 0}
    assert tuple(r for _, r in SomethingSomethingV2.skip_errors) == SKIP_REASONS  # one list


def test_video_without_box_entry(copy: Path):
    part = copy / "bounding_box_smthsmth_part1.json"  # holds 101 and 103
    data = json.loads(part.read_text())
    del data["103"]
    part.write_text(json.dumps(data))
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48)
    with pytest.raises(MissingBoxesError, match=r"video 103: no entry in the box index"):
        ds[2]
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, on_error="skip")
    s = ds[2]
    assert isinstance(s, Skipped) and s.reason == "no_boxes"
    assert ds.error_report()["skipped_ids"]["no_boxes"] == ["103"]


def test_boxes_outside_inverted_or_zero_area(copy: Path):
    part = copy / "bounding_box_smthsmth_part2.json"  # holds 102 and 104
    data = json.loads(part.read_text())
    bad = {0: (200.0, 40.0, 220.0, 50.0), 1: (70.0, 40.0, 60.0, 50.0), 2: (60.0, 40.0, 60.0, 50.0)}
    for k, entry in enumerate(data["104"]):
        entry["labels"][1]["box2d"] = dict(zip(("x1", "y1", "x2", "y2"), bad[k % 3], strict=True))
    part.write_text(json.dumps(data))
    kw = dict(num_frames=6, sampling="dense", stride=1, size=96)  # 6 consecutive frames
    ds = SomethingSomethingV2(copy, "validation", **kw)
    with pytest.raises(
        BadBoxError,
        match=r"video 104, annotation frame \d+: box .* is (outside frame|inverted|zero area)",
    ):
        ds[3]
    ds = SomethingSomethingV2(copy, "validation", on_error="skip", **kw)
    s = ds[3]
    assert isinstance(s, Sample)
    assert (s.graph.category == CATEGORY["object"]).sum() == 0  # every object box was bad
    assert (s.graph.category == CATEGORY["hand"]).sum() == 6
    dropped = ds.error_report()["dropped_boxes"]
    assert (dropped["outside_frame"], dropped["inverted"], dropped["zero_area"]) == (2, 2, 2)
    assert isinstance(ds[1], Sample) and ds.error_report()["dropped_boxes"]["inverted"] == 2
    assert ds.box_index.stats["inverted"] == 12 and ds.box_index.stats["zero_area"] == 12


def test_template_not_in_labels(copy: Path):
    split = copy / "labels" / "something-something-v2-validation.json"
    entries = json.loads(split.read_text())
    entries[2]["template"] = "Juggling [something]"
    split.write_text(json.dumps(entries))
    with pytest.raises(
        KeyError,
        match=r"validation\.json: entry 2 \(id 103\) has template 'Juggling \[something\]'",
    ):
        SomethingSomethingV2(copy, "validation", num_frames=4, size=48)
    ds = SomethingSomethingV2(copy, "validation", num_frames=4, size=48, on_error="skip")
    assert len(ds) == 3 and [r[0] for r in ds.records] == ["101", "102", "104"]
    assert ds.error_report()["unknown_templates"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "labels/something-something-v2-labels.json",
        "labels/something-something-v2-validation.json",
        "bounding_box_smthsmth_part2.json",
    ],
)
def test_malformed_json_names_file_and_position(copy: Path, name: str):
    path = copy / name
    text = path.read_text()
    pos = text.index(":")
    bad = text[:pos] + " " + text[pos + 1 :]  # drop the first ':'
    path.write_text(bad)
    at = pos + 1 + len(bad[pos + 1 :]) - len(bad[pos + 1 :].lstrip())  # the next token
    line, col = bad[:at].count("\n") + 1, at - bad.rfind("\n", 0, at)
    for on_error in ("raise", "skip"):
        with pytest.raises(
            MalformedJSONError,
            match=rf"{Path(name).name}: malformed JSON at line {line} column {col} \(char {at}\)",
        ):
            SomethingSomethingV2(copy, "validation", num_frames=4, size=48, on_error=on_error)


def test_skips_counted_across_workers(copy: Path):
    (copy / "20bn-something-something-v2" / "101.webm").unlink()
    (copy / "20bn-something-something-v2" / "104.webm").write_bytes(b"not a video" * 10)
    ds = SomethingSomethingV2(copy, "train", num_frames=4, size=48, on_error="skip")
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert sorted(v for b in batches for v in b.video_id) == ["102", "103"]
    assert sorted(s.video_id for b in batches for s in b.skipped) == ["101", "104"]
    report = ds.error_report()  # counted in the workers, read in the main process
    assert report["skipped"] == {"missing_video": 1, "decode_error": 1, "no_boxes": 0}
    ds.reset_errors()
    assert sum(ds.error_report()["skipped"].values()) == 0
    empty = collate([Skipped(0, "101", "missing_video", "gone")])
    assert empty.clip.shape[0] == 0 and empty.graph is None and len(empty.skipped) == 1


class _CrashOn(SomethingSomethingV2):
    """A reader whose decoder 'segfaults' on one video: the worker process dies mid-read."""

    crash_on = "101"  # the first: the worker dies before it has handed over any batch

    def _load(self, index, video_id, label, view):
        if video_id == self.crash_on:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super()._load(index, video_id, label, view)


def _read_all(ds: SomethingSomethingV2) -> str:
    it = iter(DataLoader(ds, batch_size=1, num_workers=1, collate_fn=collate))
    try:
        with name_dead_worker(ds):
            for _ in it:
                pass
    except WorkerDiedError as e:
        return str(e)
    finally:
        # Unregister the dead worker now: a live iterator keeps DataLoader's SIGCHLD handler
        # raising for it whenever any later child process exits.
        it._shutdown_workers()
    return ""


def test_dead_worker_names_the_video_it_was_reading(root: Path):
    ds = _CrashOn(root, "validation", num_frames=4, size=48, train=False)
    message = _read_all(ds)
    assert re.search(r"pid \d+ was reading index 0, video 101", message), message
    # other RuntimeErrors pass through untouched
    with pytest.raises(RuntimeError, match="^unrelated$"):
        with name_dead_worker(ds):
            raise RuntimeError("unrelated")


class _Detector:
    """A BoxSource that finds the white square in each decoded frame, with a made-up score."""

    def boxes(self, video_id: str, frames: torch.Tensor, times: np.ndarray) -> FrameBoxes | None:
        if video_id == "104":
            return None  # no entry for this video
        found = [(t, white_bbox(f.permute(2, 0, 1).float())) for t, f in enumerate(frames)]
        found = [(t, b) for t, b in found if b is not None]
        if not found:
            return FrameBoxes.empty()
        t = np.array([t for t, _ in found], dtype=np.int64)
        return FrameBoxes(
            frame=t,
            box=np.array([b for _, b in found], dtype=np.float32),
            score=np.linspace(0.5, 1.0, len(t), dtype=np.float32),
            category=np.full(len(t), 7, dtype=np.int64),  # a detector's own class code
            track=np.full(len(t), -1, dtype=np.int64),
        )


def test_any_box_source(root: Path):
    assert isinstance(_Detector(), BoxSource)
    ds = SomethingSomethingV2(
        root, "validation", num_frames=4, size=48, boxes=_Detector(), on_error="skip"
    )
    s = ds[0]
    assert s.graph.num_nodes == 4 and s.graph.category.tolist() == [7] * 4
    torch.testing.assert_close(s.graph.score, torch.linspace(0.5, 1.0, 4), rtol=0, atol=1e-6)
    frames = rgb255(s.clip)
    for n in range(s.graph.num_nodes):  # the detector's boxes went through the clip's transforms
        found = white_bbox(frames[:, int(s.graph.frame[n])])
        np.testing.assert_allclose(found, s.graph.box[n].tolist(), atol=1.6)  # as for the hands
    skipped = ds[3]
    assert isinstance(skipped, Skipped) and skipped.reason == "no_boxes"
    assert "box source" in skipped.message and "104" in skipped.message


def test_index_as_box_source_gives_annotation_scores(root: Path):
    ds = SomethingSomethingV2(root, "validation", num_frames=4, size=48)
    assert isinstance(ds.box_source, BoxIndex) and isinstance(ds.box_source, BoxSource)
    s = ds[1]
    assert torch.equal(s.graph.score, torch.ones(s.graph.num_nodes))
