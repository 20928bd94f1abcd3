"""Metrics against hand-computed values and a loop written out in plain python."""

from __future__ import annotations

import math

import pytest
import torch

from stgcn.engine.metrics import (
    aggregate_views,
    classification_report,
    confusion_matrix,
    topk_correct,
)


def test_topk_correct_matches_a_python_loop() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 7, generator=g)
    target = torch.randint(7, (50,), generator=g)
    got = topk_correct(logits, target, (1, 3, 5, 10))
    for k in (1, 3, 5, 10):
        expected = sum(
            int(t in sorted(range(7), key=lambda c, r=r: -r[c])[:k])
            for r, t in zip(logits.tolist(), target.tolist(), strict=True)
        )
        assert got[k] == expected
    assert got[10] == 50  # k > C: everything is in the top k


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 0, 1, 2]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_aggregate_views_averages_softmax_per_video() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    ids = ["b", "a", "b", "a"]
    vids, mean, labels = aggregate_views(ids, probs, torch.tensor([1, 0, 1, 0]))
    assert vids == ["b", "a"]
    assert torch.allclose(mean, torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
    assert labels.tolist() == [1, 0]


def test_aggregate_views_rejects_disagreeing_labels() -> None:
    with pytest.raises(ValueError, match="'a'"):
        aggregate_views(["a", "a"], torch.ones(2, 3) / 3, torch.tensor([0, 1]))


def test_report_per_class_and_groups() -> None:
    # 3 classes; group "rev" = {0, 1}; class 2 is the rest
    probs = torch.tensor(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]]
    )
    labels = torch.tensor([0, 1, 1, 2, 2])
    rep = classification_report(probs, labels, {"rev": [0, 1]}, ks=(1, 2))
    assert rep["top1"] == pytest.approx(300 / 5)
    assert rep["top2"] == pytest.approx(400 / 5)  # video 4's class 2 is third
    assert rep["per_class"] == pytest.approx([1.0, 0.5, 0.5])
    assert rep["groups"]["rev"] == {"top1": pytest.approx(200 / 3), "num_videos": 3}
    assert rep["groups"]["rest"] == {"top1": pytest.approx(50.0), "num_videos": 2}
    assert sum(map(sum, rep["confusion"])) == 5


def test_absent_class_gives_nan_not_zero() -> None:
    rep = classification_report(torch.tensor([[0.9, 0.1, 0.0]]), torch.tensor([0]))
    assert rep["per_class"][0] == 1.0 and math.isnan(rep["per_class"][1])
