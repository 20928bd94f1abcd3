"""IoU + Hungarian tracking: the optimal assignment (checked by brute force), ids by first
appearance, gaps, categories, row order kept."""

import itertools

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import CATEGORY
from stgcn.proposals import IoUTracker


def fb(frame, box, category=None) -> FrameBoxes:
    n = len(frame)
    return FrameBoxes(
        frame=np.asarray(frame, np.int64),
        box=np.asarray(box, np.float32).reshape(-1, 4),
        score=np.ones(n, np.float32),
        category=np.asarray(category if category is not None else [2] * n, np.int64),
        track=np.full(n, -1, np.int64),
    )


def test_two_objects_keep_their_ids_and_rows_keep_their_order():
    a = [[10 + 3 * t, 10, 30 + 3 * t, 30] for t in range(5)]
    b = [[60 - 3 * t, 50, 80 - 3 * t, 70] for t in range(5)]
    # frame-major input, b listed before a in odd frames
    frame, box = [], []
    for t in range(5):
        pair = [a[t], b[t]] if t % 2 == 0 else [b[t], a[t]]
        frame += [t, t]
        box += pair
    boxes = fb(frame, box)
    out = IoUTracker()(boxes)
    np.testing.assert_array_equal(out.box, boxes.box)  # same rows, same order
    np.testing.assert_array_equal(out.frame, boxes.frame)
    expect = [0, 1, 1, 0, 0, 1, 1, 0, 0, 1]  # a is 0 (first seen first), b is 1
    np.testing.assert_array_equal(out.track, expect)


def test_hungarian_beats_greedy():
    # greedy would give A the box it overlaps most (b1) and leave B with nothing it overlaps
    # enough; the optimal assignment gives A b2 and B b1, continuing both tracks
    A, B = [10, 0, 20, 10], [15, 0, 25, 10]
    b1, b2 = [12, 0, 22, 10], [6, 0, 16, 10]
    boxes = fb([0, 0, 1, 1], [A, B, b1, b2])
    iou = box_iou(
        torch.tensor([A, B], dtype=torch.float), torch.tensor([b1, b2], dtype=torch.float)
    )
    assert iou[0, 0] == iou.max() and iou[1, 1] < 0.3 <= min(iou[1, 0], iou[0, 1])  # the trap
    out = IoUTracker(iou_threshold=0.3)(boxes)
    np.testing.assert_array_equal(out.track, [0, 1, 1, 0])


@pytest.mark.parametrize("seed", range(5))
def test_assignment_is_optimal(seed):
    # all boxes share a common region, so every pair may be linked: the tracker's total cost
    # sum(1 - IoU) over linked pairs must be the brute-force minimum over all permutations
    rng = np.random.default_rng(seed)
    n = 5
    lo = rng.uniform(0, 40, size=(2, n, 2))
    hi = rng.uniform(60, 100, size=(2, n, 2))
    box = np.concatenate([lo, hi], axis=2)  # [2 frames, n, 4], all cover (40..60)^2
    boxes = fb([0] * n + [1] * n, box.reshape(-1, 4))
    out = IoUTracker(iou_threshold=1e-6)(boxes)
    cost = 1 - box_iou(torch.from_numpy(box[0]), torch.from_numpy(box[1])).double().numpy()
    first, second = out.track[:n], out.track[n:]
    assert sorted(second) == sorted(first)  # everything linked
    ours = sum(cost[i, int(np.flatnonzero(second == first[i])[0])] for i in range(n))
    best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))
    assert ours == pytest.approx(best, abs=1e-9)


def test_max_age_bridges_a_gap():
    box = [[0, 0, 10, 10], [1, 0, 11, 10]]
    boxes = fb([0, 2], box)  # missing in frame 1
    assert IoUTracker(max_age=1)(boxes).track.tolist() == [0, 1]
    assert IoUTracker(max_age=2)(boxes).track.tolist() == [0, 0]


def test_categories_do_not_mix():
    hand, obj = CATEGORY["hand"], CATEGORY["object"]
    boxes = fb([0, 1], [[0, 0, 10, 10], [0, 0, 10, 10]], category=[hand, obj])
    assert IoUTracker()(boxes).track.tolist() == [0, 1]
    assert IoUTracker(match_category=False)(boxes).track.tolist() == [0, 0]


def test_low_iou_starts_a_new_track_and_empty_input():
    boxes = fb([0, 1], [[0, 0, 10, 10], [8, 8, 18, 18]])
    assert IoUTracker(iou_threshold=0.3)(boxes).track.tolist() == [0, 1]
    assert IoUTracker()(FrameBoxes.empty()).num_boxes == 0
    with pytest.raises(ValueError, match="iou_threshold"):
        IoUTracker(iou_threshold=0)
    with pytest.raises(ValueError, match="max_age"):
        IoUTracker(max_age=0)
