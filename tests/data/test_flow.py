"""Optical flow: each method against a known motion, the uint8 storage round trip, the reader's
frame mapping, and the CLI's resume and skipping of bad videos."""

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from stgcn.data import flow as flow_mod
from stgcn.data.flow import (
    BOUND,
    METHODS,
    FlowFile,
    FlowFileError,
    dequantize,
    extract,
    extract_video,
    main,
    quantize,
    read_flow,
    video_flow,
)
from stgcn.data.video import VideoReader

H = W = 64
SIDE, X0, Y0 = 24, 8, 8  # the moving square and where it starts
DX, DY = 2, 1  # its true motion, px per frame


def _texture(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Smooth random texture in 25..225: gradients everywhere, so flow is defined everywhere."""
    import cv2

    t = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigma)
    return ((t - t.min()) / (t.max() - t.min()) * 200 + 25).astype(np.uint8)


def moving_square(n: int = 6, seed: int = 0) -> np.ndarray:
    """``[n, H, W, 3]`` uint8: a textured square moving (DX, DY) px a frame over a static
    textured background."""
    rng = np.random.default_rng(seed)
    grey = np.repeat(_texture(rng, H, W, 2.0)[None], n, axis=0)
    square = _texture(rng, SIDE, SIDE, 1.5)
    for k in range(n):
        x, y = X0 + DX * k, Y0 + DY * k
        grey[k, y : y + SIDE, x : x + SIDE] = square
    return np.repeat(grey[..., None], 3, axis=-1)


def write_video(path: Path, frames: np.ndarray) -> Path:
    """Lossless FFV1 in Matroska through PyAV: decoding gives the frames back exactly."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=12)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv444p"
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.parametrize("method", METHODS)
def test_flow_of_a_moving_square(method: str):
    frames = moving_square()
    flow, sources = video_flow(frames, method)
    assert flow.shape == (5, 2, H, W) and flow.dtype == np.float32
    assert sources.tolist() == [0, 1, 2, 3, 4]
    speed = float(np.hypot(DX, DY))
    for k, t in enumerate(sources.tolist()):
        x, y = X0 + DX * t, Y0 + DY * t
        inside = flow[k, :, y + 4 : y + SIDE - 4, x + 4 : x + SIDE - 4].mean((1, 2))
        np.testing.assert_allclose(inside, [DX, DY], rtol=0.15)
        # the background, 6 px or more from the square in this frame and the next
        far = np.ones((H, W), dtype=bool)
        far[max(0, y - 6) : y + SIDE + DY + 6, max(0, x - 6) : x + SIDE + DX + 6] = False
        assert far.sum() > H * W / 4
        assert np.abs(flow[k][:, far]).mean() < 0.1 * speed


def test_every_and_size():
    frames = moving_square(7)
    flow, sources = video_flow(frames, "tvl1", every=3, size=32)
    assert sources.tolist() == [0, 3] and flow.shape == (2, 2, 32, 32)
    # half the size, half the pixels moved
    x, y = (X0 + 4) // 2, (Y0 + 4) // 2
    np.testing.assert_allclose(
        flow[0, :, y : y + SIDE // 2 - 4, x : x + SIDE // 2 - 4].mean((1, 2)),
        [DX / 2, DY / 2],
        rtol=0.15,
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown flow method 'lk'"):
        video_flow(moving_square(), "lk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown tvl1 parameter\(s\) \['warp'\]"):
        video_flow(moving_square(), "tvl1", warp=3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        video_flow(moving_square(1), "dis")


def test_quantisation_round_trip():
    rng = np.random.default_rng(1)
    f = rng.uniform(-30, 30, size=(4, 2, 8, 8)).astype(np.float32)
    q = quantize(f)
    assert q.dtype == np.uint8
    back = dequantize(q)
    step = 2 * BOUND / 255
    err = (back - torch.from_numpy(np.clip(f, -BOUND, BOUND))).abs()
    assert err.max() <= step / 2 + 1e-5
    assert quantize(np.array([-BOUND, BOUND, -100.0])).tolist() == [0, 255, 0]
    # zero flow reads back within half a step of zero (127.5 is not representable)
    assert abs(float(dequantize(quantize(np.zeros(1))))) <= step / 2 + 1e-6


def test_file_contents_and_reader(tmp_path: Path):
    frames = moving_square(6)
    video = write_video(tmp_path / "square.mkv", frames)
    out = tmp_path / "square.npz"
    written = extract_video(video, out, "farneback", every=2)
    ff = read_flow(out)
    assert ff.method == "farneback" and ff.bound == BOUND and ff.num_frames == 6
    assert ff.size == (H, W) and ff.frames.tolist() == [0, 2, 4] and len(ff.times) == 6
    assert ff.params["every"] == 2 and ff.params["winsize"] == 15
    np.testing.assert_array_equal(ff.flow, written.flow)
    # the flow of the decoded frames, stored exactly as quantize() gives it, read back within
    # half a quantisation step
    with VideoReader(video) as r:
        decoded, _ = r.read(np.arange(6))
    direct, _ = video_flow(decoded, "farneback", every=2)
    np.testing.assert_array_equal(ff.flow, quantize(direct))
    got = ff.at([0, 2, 4])
    assert got.shape == (3, 2, H, W)
    err = (got - torch.from_numpy(np.clip(direct, -BOUND, BOUND))).abs().max()
    assert err <= BOUND / 255 + 1e-5
    # frame t is served by the last stored flow at or before t; the last frame by the one before
    assert ff.index([0, 1, 2, 3, 5]).tolist() == [0, 0, 1, 1, 2]
    # stacking L flows: frames t..t+L-1 as channels x_t, y_t, x_t+1, ...
    stacked = ff.at([1, 4], length=2)
    assert stacked.shape == (2, 4, H, W)
    torch.testing.assert_close(stacked[0, 2:], ff.at([2])[0])
    torch.testing.assert_close(stacked[1, 2:], ff.at([5])[0])
    # resized to twice the size: values doubled
    big = ff.at([0], size=(2 * H, 2 * W))
    assert big.shape == (1, 2, 2 * H, 2 * W)
    x, y = X0 + 4, Y0 + 4
    inside = big[0, :, 2 * y : 2 * (y + SIDE - 8), 2 * x : 2 * (x + SIDE - 8)].mean((1, 2))
    torch.testing.assert_close(
        inside,
        2 * ff.at([0])[0, :, y : y + SIDE - 8, x : x + SIDE - 8].mean((1, 2)),
        rtol=0.05,
        atol=0.05,
    )


def test_reader_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        read_flow(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(FlowFileError, match="bad.npz"):
        read_flow(tmp_path / "bad.npz")


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    """A folder of 3 good videos (one in a sub-folder), a corrupt one and a 1-frame one."""
    d = tmp_path / "videos"
    (d / "sub").mkdir(parents=True)
    for k, name in enumerate(["a.mkv", "b.mkv", "sub/c.mkv"]):
        write_video(d / name, moving_square(4, seed=k))
    (d / "corrupt.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4)
    write_video(d / "short.mkv", moving_square(1))
    return d


def _arrays(out: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(out)): read_flow(p).flow for p in sorted(out.rglob("*.npz"))}


def test_cli_skips_and_counts_bad_videos(videos: Path, tmp_path: Path, capsys):
    out = tmp_path / "flow"
    report = main([str(videos), "--out", str(out), "--method", "dis", "--no-progress"])
    assert report["videos"] == 5 and report["done"] == 3
    assert report["skipped"] == {"decode_error": 1, "too_short": 1}
    assert set(report["errors"]) == {str(videos / "corrupt.mkv"), str(videos / "short.mkv")}
    assert sorted(_arrays(out)) == ["a.npz", "b.npz", "sub/c.npz"]
    assert json.loads((out / "flow_report.json").read_text())["skipped"] == report["skipped"]
    printed = capsys.readouterr().out
    assert "3 written" in printed and "corrupt.mkv" in printed
    assert not list(out.rglob("*.tmp"))


def test_resumed_run_equals_uninterrupted(videos: Path, tmp_path: Path, monkeypatch):
    whole = tmp_path / "whole"
    extract([videos], whole, "dis", progress=False)
    # a run killed while writing its second video: part of the temporary file is on disk
    resumed = tmp_path / "resumed"
    real, calls = flow_mod.np.savez_compressed, []

    def dying(f, **arrays):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"PK\x03\x04 half a file")
            raise KeyboardInterrupt
        real(f, **arrays)

    monkeypatch.setattr(flow_mod.np, "savez_compressed", dying)
    with pytest.raises(KeyboardInterrupt):
        extract([videos], resumed, "dis", progress=False)
    monkeypatch.undo()
    assert sorted(_arrays(resumed)) == ["a.npz"]  # nothing half-written under a final name
    first = (resumed / "a.npz").stat().st_mtime_ns
    report = extract([videos], resumed, "dis", progress=False)
    assert report["existing"] == 1 and report["done"] == 2
    assert (resumed / "a.npz").stat().st_mtime_ns == first  # not redone
    a, b = _arrays(whole), _arrays(resumed)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # another method in the same folder is refused, not mixed in
    with pytest.raises(ValueError, match="another --out"):
        extract([videos], resumed, "farneback", progress=False)


def test_pool_and_shards(videos: Path, tmp_path: Path):
    out = tmp_path / "flow"
    reports = [
        extract([videos], out, "farneback", workers=2, shard=(i, 2), progress=False)
        for i in range(2)
    ]
    assert sum(r["videos"] for r in reports) == 5
    assert sum(r["done"] for r in reports) == 3
    assert sorted(_arrays(out)) == ["a.npz", "b.npz", "sub/c.npz"]
    assert (out / "flow_report.shard1of2.json").is_file()
    with pytest.raises(ValueError, match="shard 2/2"):
        extract([videos], out, shard=(2, 2), progress=False)


def test_flowfile_repr():
    ff = FlowFile(
        np.zeros((2, 2, 4, 5), np.uint8), np.arange(2), np.zeros(3), 3, (8, 10), BOUND, "dis", {}
    )
    assert repr(ff) == "FlowFile(dis, 2 flows of 4x5 for 3 frames of 8x10, bound=20.0)"
