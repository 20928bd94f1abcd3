"""PyAV decoding: real footage from ../shared and generated VP9 webm, early stop, timestamps,
corrupt and truncated files."""

from pathlib import Path

import numpy as np
import pytest
import torch
from ssv2_fixtures import HAND, hand_box, render, write_webm

from stgcn.data.video import VideoDecodeError, VideoReader, annotation_frames


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "30.webm"
    write_webm(path, render(30))
    return path


def test_real_mp4_frames_and_times(videos_dir: Path):
    with VideoReader(videos_dir / "carphone_pristine.mp4") as r:
        assert (r.num_frames, r.width, r.height) == (120, 176, 144)
        assert r.fps == pytest.approx(30000 / 1001)
        frames, times = r.read(np.array([0, 30, 30, 60]))
        assert frames.shape == (4, 144, 176, 3) and frames.dtype == torch.uint8
        # pts * time_base is exact in float64 up to its last bits at ~2 s
        np.testing.assert_allclose(
            times, np.array([0, 30, 30, 60]) * 1001 / 30000, rtol=0, atol=1e-12
        )
        assert r.decoded == 61  # stopped after the last frame it needed
        assert np.array_equal(frames[1], frames[2])
        assert not np.array_equal(frames[0], frames[3])
        # 29.97 fps frames mapped to a 12 fps annotation
        np.testing.assert_array_equal(annotation_frames(times, 12.0), [0, 12, 12, 24])


def test_real_mp4_is_the_same_decoded_twice(videos_dir: Path):
    with VideoReader(videos_dir / "carphone_pristine.mp4") as r:
        a, _ = r.read(np.array([5, 100]))
        b, _ = r.read(np.array([5]))  # frame 5 was passed without being kept: reopened
        assert np.array_equal(a[0], b[0])
    with VideoReader(videos_dir / "carphone_pristine.mp4", threads=1) as r:
        assert r.count_frames() == 120
        c, _ = r.read(np.array([5, 100]))
        assert np.array_equal(a, c)


def test_generated_webm_frames_are_in_order(webm: Path):
    with VideoReader(webm) as r:
        assert r.num_frames == 30 and r.fps == 12
        idx = np.array([0, 7, 13, 29])
        frames, times = r.read(idx)
        # Matroska stores millisecond timestamps: k / 12 s is rounded to the nearest 1 ms
        np.testing.assert_allclose(times, idx / 12, rtol=0, atol=5e-4 + 1e-12)
        np.testing.assert_array_equal(annotation_frames(times, 12.0), idx)
        for f, k in zip(frames.numpy(), idx, strict=True):
            x1, y1, x2, y2 = map(int, hand_box(k))
            assert (
                f[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].mean() > 200
            )  # the hand is where frame k has it
            assert f[y1 + HAND // 2, x2 + 3].mean() < 80


def test_annotation_frames_clamped_to_annotated_range():
    np.testing.assert_array_equal(
        annotation_frames(np.array([0.0, 0.04, 0.05, 1.0, 9.0]), 12.0, num_annotated=20),
        [0, 0, 1, 12, 19],
    )


def test_missing_file_names_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.webm"):
        VideoReader(tmp_path / "nope.webm")


def test_corrupt_file_names_it(tmp_path: Path):
    path = tmp_path / "garbage.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError, match="garbage.webm") as e:
        with VideoReader(path) as r:
            r.read(np.arange(4))
    assert e.value.path == str(path)


def test_truncated_webm_is_detected(webm: Path, tmp_path: Path):
    data = webm.read_bytes()
    path = tmp_path / "trunc.webm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match=r"trunc.webm: truncated or corrupt.*~30 frames"):
        with VideoReader(path) as r:
            assert r.num_frames == 30  # the header still promises the whole video
            r.read(np.array([0, 10, 20, 29]))


def test_decode_error_pickles_with_path_and_reason():
    import pickle

    e = pickle.loads(pickle.dumps(VideoDecodeError("/v/1.webm", "cannot open: EOF")))
    assert (e.path, e.reason, str(e)) == (
        "/v/1.webm",
        "cannot open: EOF",
        "/v/1.webm: cannot open: EOF",
    )
