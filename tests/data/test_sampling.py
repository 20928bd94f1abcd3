"""Frame samplers: range, order, count and determinism as properties; the published formulas on
fixed cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stgcn.data.sampling import dense_indices, sample_indices, tsn_indices, uniform_indices

lengths = st.integers(1, 400)
counts = st.integers(1, 32)
seeds = st.integers(0, 2**32 - 1)
methods = st.sampled_from(["tsn", "uniform", "dense"])


def _views(draw_clips: int, clip: int) -> tuple[int, int]:
    return draw_clips, clip % draw_clips


@settings(max_examples=300, deadline=None)
@given(
    methods,
    lengths,
    counts,
    st.integers(1, 8),
    st.booleans(),
    seeds,
    st.integers(1, 5),
    st.integers(0, 4),
)
def test_indices_in_range_sorted_and_counted(method, n, t, stride, train, seed, clips, clip):
    num_clips, clip_idx = _views(clips, clip)
    idx = sample_indices(
        method, n, t, train, np.random.default_rng(seed), stride, clip_idx, num_clips
    )
    assert idx.dtype == np.int64
    assert idx.shape == (t,)
    assert idx.min() >= 0 and idx.max() < n
    assert np.all(np.diff(idx) >= 0)


@settings(max_examples=200, deadline=None)
@given(
    methods, lengths, counts, st.integers(1, 8), seeds, seeds, st.integers(1, 5), st.integers(0, 4)
)
def test_test_mode_is_deterministic(method, n, t, stride, seed_a, seed_b, clips, clip):
    num_clips, clip_idx = _views(clips, clip)
    a = sample_indices(
        method, n, t, False, np.random.default_rng(seed_a), stride, clip_idx, num_clips
    )
    b = sample_indices(
        method, n, t, False, np.random.default_rng(seed_b), stride, clip_idx, num_clips
    )
    c = sample_indices(method, n, t, False, None, stride, clip_idx, num_clips)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 16), seeds)
def test_tsn_train_offset_stays_in_its_segment(n, k, seed):
    idx = tsn_indices(n, k, True, np.random.default_rng(seed))
    avg = n // k
    if avg > 0:
        seg = np.arange(k)
        assert np.all(idx >= seg * avg) and np.all(idx < (seg + 1) * avg)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 400), st.integers(1, 16), st.integers(1, 4), seeds)
def test_tsn_new_length_gives_consecutive_frames(n, k, new_length, seed):
    idx = tsn_indices(n, k, True, np.random.default_rng(seed), new_length=new_length)
    assert idx.shape == (k * new_length,)
    assert idx.min() >= 0 and idx.max() < n
    snippets = idx.reshape(k, new_length)
    assert np.all(np.diff(snippets, axis=1) <= 1)


def test_tsn_published_formulas():
    # test: int(tick / 2 + tick * k), tick = n / K
    np.testing.assert_array_equal(tsn_indices(30, 3, False), [5, 15, 25])
    np.testing.assert_array_equal(tsn_indices(10, 4, False), [1, 3, 6, 8])
    # train with avg = 30 // 3 = 10: k * 10 + randint(10)
    rng = np.random.default_rng(0)
    expect = np.arange(3) * 10 + np.random.default_rng(0).integers(10, size=3)
    np.testing.assert_array_equal(tsn_indices(30, 3, True, rng), expect)


def test_short_video_rules():
    # TSN, n < K: segment centres repeat frames evenly instead of TSN's zeros(K)
    np.testing.assert_array_equal(
        tsn_indices(3, 6, True, np.random.default_rng(0)), [0, 0, 1, 1, 2, 2]
    )
    # dense, n < (T - 1) * s + 1: squeezed onto the whole video
    np.testing.assert_array_equal(
        dense_indices(5, 4, 2, True, np.random.default_rng(0)), [0, 1, 3, 4]
    )
    # uniform repeats by construction (numpy rounds half to even: round(0.5) = 0)
    np.testing.assert_array_equal(uniform_indices(2, 4, False), [0, 0, 0, 1])
    np.testing.assert_array_equal(uniform_indices(3, 4, False), [0, 0, 1, 2])
    assert tsn_indices(1, 8, False).tolist() == [0] * 8


def test_uniform_matches_pyslowfast_loop():
    n, t = 47, 8
    seg = (n - 1) / t
    expect = [(int(np.round(seg * i)) + int(np.round(seg * (i + 1)))) // 2 for i in range(t)]
    np.testing.assert_array_equal(uniform_indices(n, t, False), expect)


def test_dense_centre_and_views():
    # span = 7 * 2 + 1 = 15 of 40: delta 25, centre start 12, views at 0, 12/13, 25
    np.testing.assert_array_equal(dense_indices(40, 8, 2, False), 12 + 2 * np.arange(8))
    starts = [dense_indices(40, 8, 2, False, clip_idx=c, num_clips=3)[0] for c in range(3)]
    assert starts == [0, 12, 25]


def test_train_draws_vary():
    draws = {tuple(tsn_indices(100, 8, True, np.random.default_rng(s))) for s in range(20)}
    assert len(draws) > 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="0 frames"):
        tsn_indices(0, 8, False)
    with pytest.raises(ValueError, match="rng"):
        uniform_indices(100, 8, True, None)
    with pytest.raises(ValueError, match="unknown sampling"):
        sample_indices("random", 10, 4, False)
    with pytest.raises(ValueError, match="clip_idx"):
        dense_indices(10, 4, 1, False, clip_idx=3, num_clips=3)
