"""The synthetic set's distractor boxes: rendered, not annotated, recovered by rendering again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import stgcn.data.synthetic as S
from stgcn.data.box_source import FrameBoxes
from stgcn.data.synthetic.distractors import (
    DISTRACTOR_TRACK,
    WithDistractors,
    distractor_boxes,
    is_distractor,
)

SIZE = (32, 48)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distractors") / "ssv2"
    S.generate(root, 4, seed=3, size=SIZE, frames=(8, 10), splits=(0.5, 0.5, 0.0), workers=0)
    return root


def test_every_video_has_moving_distractors_inside_the_frame():
    for index in range(4):
        spec = S.VideoSpec(index, "1", S.CLASSES[index].template, "train", 12)
        video = S.render_video(spec, SIZE, 0)
        assert len(video.distractors) >= 1  # at least one moving distractor by construction
        for box in video.distractors.values():
            assert box.shape == (12, 4)
            ok = box[~np.isnan(box[:, 0])]
            assert (ok[:, 0] >= 0).all() and (ok[:, 2] <= SIZE[1]).all()
            assert (ok[:, 2] > ok[:, 0]).all() and (ok[:, 3] > ok[:, 1]).all()
        # the distractors are not among the annotated roles
        assert set(video.boxes) <= {"object hand", "object 0", "object 1"}


def test_reversed_class_reverses_its_distractors():
    pair = next(c for c in S.CLASSES if c.template in S.classes.REVERSED)
    fwd = S.render_video(S.VideoSpec(1, "1", pair.partner, "train", 12), SIZE, 0)
    rev = S.render_video(S.VideoSpec(1, "1", pair.template, "train", 12), SIZE, 0)
    assert set(fwd.distractors) == set(rev.distractors)
    for role, box in fwd.distractors.items():
        np.testing.assert_array_equal(rev.distractors[role], box[::-1])


def test_distractor_boxes_of_a_set_match_its_rendering(dataset: Path):
    boxes = distractor_boxes(dataset, "2")
    spec = next(
        s for s in S.layout.video_specs(4, 3, (8, 10), (0.5, 0.5, 0.0)) if s.video_id == "2"
    )
    video = S.render_video(spec, SIZE, 3)
    assert boxes.shape == (len(video.distractors), spec.num_frames, 4)
    np.testing.assert_array_equal(boxes[0], video.distractors["distractor 0"])


class _Fixed:
    def boxes(self, video_id: str, frames: object, times: np.ndarray) -> FrameBoxes | None:
        if video_id == "missing":
            return None
        return FrameBoxes(
            np.array([0]), np.array([[1, 1, 5, 5]], np.float32), np.ones(1, np.float32),
            np.array([1]), np.array([-1]), np.array([0]),
        )  # fmt: skip


def test_with_distractors_adds_them_on_the_clip_frames(dataset: Path):
    source = WithDistractors(dataset, _Fixed())
    times = np.array([0.0, 2 / 12, 5 / 12])  # frames 0, 2 and 5 of the video
    got = source.boxes("1", None, times)
    assert got.track[0] == -1 and not is_distractor(got.track[:1]).any()
    extra = distractor_boxes(dataset, "1")
    added = is_distractor(got.track)
    assert added.sum() == (~np.isnan(extra[:, [0, 2, 5], 0])).sum()
    assert (got.category[added] == 0).all()
    for k, t, box in zip(got.track[added], got.frame[added], got.box[added], strict=True):
        np.testing.assert_allclose(box, extra[k - DISTRACTOR_TRACK, [0, 2, 5][t]], rtol=1e-6)
    assert source.boxes("missing", None, times) is None


def test_bad_inputs_are_named(dataset: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="manifest"):
        distractor_boxes(tmp_path, "1")
    with pytest.raises(ValueError, match="no video '99'"):
        distractor_boxes(dataset, "99")
