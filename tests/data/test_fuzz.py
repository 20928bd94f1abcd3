"""Fuzzed bad input: damaged webm, label and box files never get past the reader's policy.

A short seeded run here (a few seconds); the long run is ``python -m stgcn.data.fuzz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stgcn.data.fuzz import (
    JSON_MUTATIONS,
    VIDEO_MUTATIONS,
    fuzz_json,
    fuzz_videos,
    mutate_json,
    mutate_video,
    png_bytes,
)
from stgcn.data.ssv2 import Sample, SomethingSomethingV2
from stgcn.data.synthetic import encode_webm, generate
from stgcn.data.video import VideoDecodeError, VideoReader


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 12 videos, 10 in train: each round of the video fuzz damages each with one of the 9 kinds
    root = tmp_path_factory.mktemp("fuzz") / "ssv2"
    generate(root, 12, seed=3, size=(32, 48), frames=(12, 20), workers=1)
    return root


def test_mutations_change_the_file_as_named():
    rng = np.random.default_rng(0)
    data = encode_webm(rng.integers(0, 256, (6, 32, 48, 3), dtype=np.uint8))
    assert mutate_video(data, "empty", rng) == b""
    header = mutate_video(data, "header_only", rng)
    assert 0 < len(header) < len(data) and data.startswith(header)
    flipped = mutate_video(data, "flip_header", rng)
    diff = np.flatnonzero(np.frombuffer(flipped, np.uint8) != np.frombuffer(data, np.uint8))
    assert len(flipped) == len(data) and 0 < len(diff) and diff.max() < 4096
    assert mutate_video(data, "png", rng).startswith(b"\x89PNG\r\n\x1a\n")
    assert b"ftyp" in mutate_video(data, "mp4", rng)[:16]
    raw = b'{"a": [1, {"b": "c"}]}'
    assert mutate_json(raw, "not_utf8", rng) != raw
    with pytest.raises(ValueError, match="unknown video mutation"):
        mutate_video(data, "nope", rng)


def test_png_and_mp4_decode_as_videos(tmp_path: Path):
    # "a valid file of another format" must really be valid: FFmpeg reads it
    rng = np.random.default_rng(1)
    path = tmp_path / "x.webm"
    for kind in ("png", "mp4"):
        path.write_bytes(mutate_video(b"", kind, rng))
        with VideoReader(path) as r:
            assert r.read(np.array([0]))[0].shape[0] == 1


def test_metadata_not_utf8_is_read_not_fatal(root: Path, tmp_path: Path):
    # the reproduced bug: bytes of the stream's DURATION tag no longer UTF-8 made av.open raise
    # UnicodeDecodeError out of __getitem__; the tag is not needed to decode the frames
    src = next((root / "20bn-something-something-v2").glob("*.webm"))
    data = src.read_bytes()
    tag = data.index(b"00:00:0")
    path = tmp_path / src.name
    path.write_bytes(data[:tag] + b"\xff\xfe\xff" + data[tag + 3 :])
    with VideoReader(path) as r, VideoReader(src) as ref:
        assert "\ufffd" in r._stream.metadata["DURATION"]
        a, _ = r.read(np.arange(4))
        b, _ = ref.read(np.arange(4))
        assert np.array_equal(a, b)


def test_damaged_videos_are_samples_or_counted_skips(root: Path):
    report = fuzz_videos(root, reads=20, seed=0)  # 2 rounds of 10 videos
    assert report.escaped == [] and report.violations == []
    assert report.reads == report.mutated == 20
    assert report.samples + sum(report.skipped.values()) == report.reads
    assert set(report.by_kind) == set(VIDEO_MUTATIONS)
    for kind in ("empty", "random_bytes", "header_only"):  # nothing to decode: always skipped
        assert set(report.by_kind[kind]) == {"skipped:decode_error"}, kind
    for kind in ("png", "mp4"):  # valid videos under the wrong name: read
        assert set(report.by_kind[kind]) == {"sample"}, kind


def test_undamaged_set_reads_whole(root: Path):
    # the fuzz's baseline: every video of the set is a sample before any damage
    ds = SomethingSomethingV2(root, "train", num_frames=4, size=32, train=False, on_error="raise")
    assert all(isinstance(ds[i], Sample) for i in range(len(ds)))


@settings(
    max_examples=24,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(JSON_MUTATIONS))
def test_damaged_json_is_a_clear_error_or_read(root: Path, seed: int, kind: str):
    report = fuzz_json(root, rounds=1, seed=seed, kinds=(kind,))
    assert report.escaped == [] and report.violations == []
    assert report.mutated == 1


def test_damaged_json_outcomes(root: Path):
    report = fuzz_json(root, rounds=24, seed=0)
    assert report.escaped == [] and report.violations == []
    outcomes = {k for counts in report.by_kind.values() for k in counts}
    assert {"malformed", "clear_error", "built"} <= outcomes  # each outcome really happens


def test_short_reads_of_a_file_are_decode_errors(tmp_path: Path):
    # every prefix length class of one small webm: open or decode fails as VideoDecodeError only
    rng = np.random.default_rng(2)
    data = encode_webm(rng.integers(0, 256, (8, 32, 48, 3), dtype=np.uint8))
    path = tmp_path / "v.webm"
    for cut in (0, 1, 4, 40, 200, len(data) // 3, len(data) - 1):
        path.write_bytes(data[:cut])
        try:
            with VideoReader(path) as r:
                r.read(np.arange(8))
        except VideoDecodeError as e:
            assert e.path == str(path)
    path.write_bytes(png_bytes(16, 16, rng))
    with VideoReader(path) as r:
        assert r.read(np.array([0]))[0].shape == (1, 16, 16, 3)
