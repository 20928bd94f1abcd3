"""benchmarks/patchy_san_search.py: the nested choice of setting and epoch, and a smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def search(bench):
    return bench("patchy_san_search")


def _fold(val: list[float], loss: list[float], test: list[float]) -> dict:
    return {"val_curve": val, "val_loss_curve": loss, "curve": test}


def test_nested_chooses_on_validation_only(search) -> None:
    # Two settings, two folds, three epochs. Fold 0: setting 1's epoch 2 has the best validation
    # accuracy; fold 1: a tie at 90 between setting 0 epoch 3 and setting 1 epoch 1, broken by the
    # lower validation loss. The test curves (best elsewhere) play no part.
    settings = [
        [
            _fold([80, 85, 70], [0.5, 0.4, 0.6], [100, 100, 100]),
            _fold([60, 70, 90], [0.5, 0.4, 0.3], [10, 20, 30]),
        ],
        [
            _fold([70, 95, 90], [0.5, 0.4, 0.3], [40, 50, 60]),
            _fold([90, 80, 70], [0.2, 0.4, 0.6], [70, 80, 90]),
        ],
    ]
    picks = search.nested(settings)
    assert [(p["setting"], p["epoch"], p["acc"]) for p in picks] == [(1, 2, 50), (1, 1, 70)]


def test_smoke(search, shared_dir: Path, tmp_path: Path, capsys) -> None:
    raw = shared_dir / "data" / "TUDataset" / "MUTAG" / "raw"
    out = tmp_path / "search.json"
    argv = ["--batch-sizes", "8", "16", "--lrs", "1e-3", "--repeats", "1", "--folds", "2"]
    argv += ["--epochs", "2", "--root", str(tmp_path / "root"), "--raw-dir", str(raw)]
    search.main([*argv, "--json", str(out)])
    report = json.loads(out.read_text())
    assert [(r["batch_size"], r["lr"]) for r in report["settings"]] == [(8, 1e-3), (16, 1e-3)]
    for r in report["settings"]:
        assert 0 <= r["honest"] <= 100 and r["optimistic"] >= r["final"] - 1e-9
    nested = report["nested"]
    assert len(nested["per_fold"]) == 2 and len(nested["picks"]) == 2
    assert "nested (batch, lr and epoch chosen in each training fold)" in capsys.readouterr().out
