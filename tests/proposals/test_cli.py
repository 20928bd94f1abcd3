"""``python -m stgcn.proposals``: output read by the SSv2 reader, real videos in their own pixels,
resume after SIGKILL, shards + merge = one run, workers, and each kind of bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from proposal_videos import write_video, write_zero_frame_video

from stgcn.data.ssv2 import SomethingSomethingV2
from stgcn.data.synthetic import VIDEOS_DIR, generate
from stgcn.data.video import VideoDecodeError, VideoReader
from stgcn.proposals import IoUTracker
from stgcn.proposals.cli import Options, find_videos, main, merge, progress_path, run

REPO = Path(__file__).resolve().parents[2]
QUIET = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def syn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic SSv2 set (12 videos of 12-16 frames, 48x64)."""
    root = tmp_path_factory.mktemp("syn")
    generate(root, 12, seed=5, size=(48, 64), frames=(12, 16), workers=0)
    return root


def videos_of(root: Path) -> Path:
    return root / VIDEOS_DIR


def entries_of(path: Path) -> dict:
    return json.loads(path.read_text())


def test_output_loads_with_the_ssv2_reader(syn: Path, tmp_path: Path):
    out = tmp_path / "boxes.json"
    summary = run([videos_of(syn)], out, Options(method="motion"), **QUIET)
    assert summary["done"] == 12 and summary["skipped"] == {}
    boxes = entries_of(out)
    assert list(boxes) == sorted(p.stem for p in videos_of(syn).glob("*.webm"))
    for vid, entries in boxes.items():
        with VideoReader(videos_of(syn) / f"{vid}.webm") as r:
            assert len(entries) == r.count_frames()  # 12-fps webm: one entry per frame
        assert entries[0]["name"] == f"{vid}/0001.jpg"
    assert summary["boxes"] > 0
    for split in ("train", "validation"):
        ds = SomethingSomethingV2(
            syn, split, num_frames=6, train=False, size=48, boxes=out, box_index=tmp_path / "i.db"
        )
        samples = [ds[i] for i in range(len(ds))]
        assert sum(s.graph.num_nodes for s in samples) > 0
        report = ds.error_report()
        assert sum(report["skipped"].values()) == 0
        assert report["dropped_boxes"]["outside_frame"] == 0
        assert report["dropped_boxes"]["zero_area"] == 0


@pytest.mark.parametrize("method", ["motion", "selective_search"])
def test_real_videos_in_their_own_pixels(videos_dir: Path, tmp_path: Path, method: str):
    out = tmp_path / "real.json"
    run([videos_dir], out, Options(method=method, every=12, top_k=20), **QUIET)
    boxes = entries_of(out)
    assert sorted(boxes) == ["bigbuckbunny", "carphone_pristine"]
    for vid, (w, h) in {"bigbuckbunny": (1280, 720), "carphone_pristine": (176, 144)}.items():
        with VideoReader(videos_dir / f"{vid}.mp4") as r:
            n, fps = r.num_frames, r.fps
        assert len(boxes[vid]) == round(n * 12 / fps)  # 12 entries per second of video
        xyxy = np.array(
            [
                [lb["box2d"][k] for k in ("x1", "y1", "x2", "y2")]
                for e in boxes[vid]
                for lb in e["labels"]
            ]
        )
        assert len(xyxy) > 0
        assert (xyxy[:, :2] >= 0).all() and (xyxy[:, 2] <= w).all() and (xyxy[:, 3] <= h).all()
        assert (xyxy[:, 2] > xyxy[:, 0]).all() and (xyxy[:, 3] > xyxy[:, 1]).all()
        if vid == "bigbuckbunny":  # in the video's pixels, not the reduced ones the method used
            assert xyxy[:, 2].max() > 320


def test_every_n_gives_the_nearest_processed_frame(syn: Path, tmp_path: Path):
    one = sorted(videos_of(syn).glob("*.webm"))[0]
    run([one], tmp_path / "e3.json", Options(method="selective_search", every=3), **QUIET)
    entries = entries_of(tmp_path / "e3.json")[one.stem]
    for k, e in enumerate(entries):
        p = min(3 * round(k / 3 - 1e-9), 3 * ((len(entries) - 1) // 3))  # nearest, ties earlier
        assert e["labels"] == entries[p]["labels"], k
        assert e["name"] == f"{one.stem}/{k + 1:04d}.jpg"


@pytest.mark.parametrize("method", ["motion", "selective_search"])
def test_chunks_do_not_change_the_boxes(syn: Path, method: str):
    # decoding in pieces (with the proposer's context frames of overlap) is invisible in the output
    from stgcn.proposals.cli import build_proposer
    from stgcn.proposals.pipeline import propose_video

    video = sorted(videos_of(syn).glob("*.webm"))[1]
    proposer = build_proposer(Options(method=method))
    results = [
        propose_video(video, proposer, tracker=IoUTracker(), every=every, chunk=chunk)
        for every, chunk in ((1, 64), (1, 3), (1, 1), (2, 64), (2, 2))
    ]
    assert results[0].entries == results[1].entries == results[2].entries
    assert results[3].entries == results[4].entries
    assert results[0].num_proposed == results[0].num_frames
    assert results[3].num_proposed == (results[3].num_frames + 1) // 2


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stgcn.proposals", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_file(syn: Path, tmp_path: Path):
    args = [str(videos_of(syn)), "--method", "selective_search", "--every", "2", "--no-progress"]
    reference = tmp_path / "ref" / "boxes.json"
    reference.parent.mkdir()
    run([videos_of(syn)], reference, Options(method="selective_search", every=2), **QUIET)

    out = tmp_path / "run" / "boxes.json"
    out.parent.mkdir()
    side = progress_path(out)
    proc = subprocess.Popen(_cli(*args, "--out", str(out)), env=_env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # kill once 2 videos are recorded, mid-way
            if side.exists() and side.read_bytes().count(b"\n") >= 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert not out.exists()  # never half-written: the file appears only when complete
    recorded = side.read_bytes().count(b"\n") - 1
    assert 2 <= recorded < 12
    # a kill can also tear the line being written: simulate one
    with open(side, "ab") as f:
        f.write(b'{"video":"torn","status":"do')
    done = subprocess.run(
        _cli(*args, "--out", str(out)), env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert f"12 videos done ({recorded} from an earlier run)" in done.stderr
    assert out.read_bytes() == reference.read_bytes()
    # and once more (in this process, same options): nothing left to do, same file
    lines: list[str] = []
    run(
        [videos_of(syn)],
        out,
        Options(method="selective_search", every=2),
        progress=False,
        log=lines.append,
    )
    assert "12 videos done (12 from an earlier run)" in lines[0]
    assert out.read_bytes() == reference.read_bytes()


def test_shards_merged_equal_one_run(syn: Path, tmp_path: Path):
    whole = tmp_path / "all.json"
    run([videos_of(syn)], whole, Options(method="motion"), **QUIET)
    parts = []
    for i in (1, 2, 3):
        part = tmp_path / f"part{i}.json"
        s = run([videos_of(syn)], part, Options(method="motion", shard=(i, 3)), **QUIET)
        assert s["done"] == 4
        parts.append(part)
    assert main(["merge", *map(str, parts[::-1]), "--out", str(tmp_path / "merged.json")]) == 0
    assert (tmp_path / "merged.json").read_bytes() == whole.read_bytes()
    with pytest.raises(ValueError, match="is in both"):
        merge([parts[0], parts[0]], tmp_path / "dup.json")
    unsorted = tmp_path / "unsorted.json"
    unsorted.write_text(json.dumps({"b": [], "a": []}))
    with pytest.raises(ValueError, match="sorted order"):
        merge([unsorted], tmp_path / "x.json")


@pytest.mark.slow
def test_workers_give_the_same_file(syn: Path, tmp_path: Path):
    videos = sorted(videos_of(syn).glob("*.webm"))[:4]
    run(videos, tmp_path / "w1.json", Options(method="motion"), **QUIET)
    run(videos, tmp_path / "w2.json", Options(method="motion"), workers=2, **QUIET)
    assert (tmp_path / "w1.json").read_bytes() == (tmp_path / "w2.json").read_bytes()


# ----------------------------------------------------------------------------- bad input


@pytest.fixture()
def bad_dir(syn: Path, tmp_path: Path) -> Path:
    d = tmp_path / "videos"
    d.mkdir()
    for p in sorted(videos_of(syn).glob("*.webm"))[:2]:
        shutil.copy(p, d / p.name)
    return d


def _skips_then_raises(folder: Path, tmp_path: Path, stem: str, reason: str, match: str):
    lines: list[str] = []
    s = run(
        [folder],
        tmp_path / "skip.json",
        Options(),
        on_error="skip",
        progress=False,
        log=lines.append,
    )
    assert s["done"] == 2 and s["skipped"] == {reason: 1}
    assert [v[:2] for v in s["skipped_videos"]] == [(stem, reason)]
    assert f"2 videos done (0 from an earlier run), 1 skipped ({reason}: 1)" in lines[0]
    assert stem not in entries_of(tmp_path / "skip.json")
    with pytest.raises(VideoDecodeError, match=match):
        run([folder], tmp_path / "raise.json", Options(), **QUIET)


def test_unreadable_video(bad_dir: Path, tmp_path: Path):
    (bad_dir / "garbage.mp4").write_bytes(b"this is not a video" * 50)
    _skips_then_raises(bad_dir, tmp_path, "garbage", "decode_error", r"garbage\.mp4: cannot open")


def test_truncated_video(bad_dir: Path, syn: Path, tmp_path: Path):
    src = sorted(videos_of(syn).glob("*.webm"))[-1].read_bytes()
    (bad_dir / "cut.webm").write_bytes(src[: len(src) * 6 // 10])
    _skips_then_raises(bad_dir, tmp_path, "cut", "decode_error", r"cut\.webm: truncated")


def test_zero_frame_video(bad_dir: Path, tmp_path: Path):
    write_zero_frame_video(bad_dir / "empty.mp4")
    _skips_then_raises(bad_dir, tmp_path, "empty", "no_frames", r"empty\.mp4")


def test_frame_without_boxes_is_an_empty_entry(tmp_path: Path):
    still = np.full((10, 48, 64, 3), 128, np.uint8)  # nothing moves: motion finds nothing
    still[:, 10:20, 10:30] = 200
    video = write_video(tmp_path / "still.mp4", still)
    s = run([video], tmp_path / "b.json", Options(method="motion"), **QUIET)
    assert s["done"] == 1 and s["boxes"] == 0
    entries = entries_of(tmp_path / "b.json")["still"]
    assert len(entries) == 10
    assert all(e["labels"] == [] and e["nr_instances"] == 0 for e in entries)


def test_checkpoint_for_another_architecture(syn: Path, tmp_path: Path):
    from stgcn.proposals import CPU_CONFIG, CheckpointError, build_detector, save_detector

    ckpt = tmp_path / "det.pt"
    save_detector(build_detector(CPU_CONFIG), CPU_CONFIG, ckpt)
    args = [str(videos_of(syn)), "--out", str(tmp_path / "b.json"), "--method", "detector"]
    with pytest.raises(CheckpointError, match="expected fasterrcnn_resnet50_fpn_v2"):
        main([*args, "--weights", str(ckpt), "--arch", "fasterrcnn_resnet50_fpn_v2"])
    with pytest.raises(ValueError, match="needs --weights"):
        main(args)
    assert not progress_path(tmp_path / "b.json").exists()  # failed before touching anything


def test_rpn_through_the_cli(syn: Path, tmp_path: Path):
    # plumbing only: an untrained detector's RPN still gives top-k boxes in the frame
    from stgcn.proposals import CPU_CONFIG, build_detector, save_detector

    ckpt = tmp_path / "det.pt"
    save_detector(build_detector(CPU_CONFIG), CPU_CONFIG, ckpt)
    one = sorted(videos_of(syn).glob("*.webm"))[0]
    out = tmp_path / "rpn.json"
    args = [str(one), "--out", str(out), "--method", "rpn", "--weights", str(ckpt)]
    assert main([*args, "--every", "4", "--top-k", "7", "--no-progress"]) == 0
    entries = entries_of(out)[one.stem]
    assert max(e["nr_instances"] for e in entries) == 7
    record = json.loads(progress_path(out).read_text().splitlines()[0])["options"]
    assert len(record["weights_sha256"]) == 64  # other weights at the same path do not resume


def test_inputs_and_options_are_checked(syn: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_videos([tmp_path / "nope"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = sorted(videos_of(syn).glob("*.webm"))[0]
    shutil.copy(one, tmp_path / "a" / "x.webm")
    shutil.copy(one, tmp_path / "b" / "x.mp4")
    with pytest.raises(ValueError, match="share the stem 'x'"):
        find_videos([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no video"):
        find_videos([tmp_path / "empty"])
    with pytest.raises(SystemExit):
        main([str(one), "--out", str(tmp_path / "o.json"), "--shard", "0/2"])
    out = tmp_path / "o.json"
    run([one], out, Options(method="motion"), **QUIET)
    with pytest.raises(ValueError, match="other options .*every: 1 there, 2 now"):
        run([one], out, Options(method="motion", every=2), **QUIET)
