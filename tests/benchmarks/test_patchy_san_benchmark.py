"""benchmarks/patchy_san.py: a 2-fold, few-epoch smoke run of the whole protocol, and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def patchy(bench):
    return bench("patchy_san")


def test_smoke_two_folds(patchy, shared_dir: Path, tmp_path: Path, capsys) -> None:
    raw = shared_dir / "data" / "TUDataset" / "MUTAG" / "raw"
    out = tmp_path / "patchy.json"
    argv = ["--folds", "2", "--epochs", "2", "--gin-epochs", "2", "--perms", "1"]
    argv += ["--root", str(tmp_path / "root"), "--raw-dir", str(raw), "--json", str(out)]
    patchy.main(argv)
    report = json.loads(out.read_text())
    assert report["dataset"] == "MUTAG" and report["folds"] == 2 and report["w"] == 18
    for method in ("patchy_san", "patchy_san_edges", "gin", "wl_svm"):
        r = report[method]
        assert len(r["per_fold"]) == 2 and 0 <= r["mean"] <= 100 and r["std"] >= 0
    # Every graph is tested exactly once, and all methods share the folds.
    tested = sorted(i for fold in report["fold_test_indices"] for i in fold)
    assert tested == list(range(188))
    assert report["preprocessing_cached"] is False and report["preprocessing_s"] > 0
    c = report["canonicity"]
    assert c["fields"] == 188 * 18 and 0 <= c["fields_differing"] <= c["fields"]
    printed = capsys.readouterr().out
    assert "| PATCHY-SAN, k = 10^E (nodes + edges) |" in printed and "92.63 ± 4.21" in printed

    # The receptive fields are cached under the root: a second run reads them, same figures.
    again = patchy.main(argv[:-2] + ["--perms", "0"])
    assert again["preprocessing_cached"] is True
    assert again["patchy_san"]["per_fold"] == report["patchy_san"]["per_fold"]
    assert "canonicity" not in again


def test_select_epoch_uses_validation_only(patchy) -> None:
    val_acc, val_loss = [80.0, 90.0, 90.0, 90.0, 70.0], [0.3, 0.5, 0.4, 0.4, 0.1]
    epoch, acc = patchy.select_epoch(val_acc, val_loss, [10.0, 20.0, 30.0, 40.0, 100.0])
    # Best validation accuracy, then lowest validation loss, then the earlier epoch: epoch 3.
    assert (epoch, acc) == (3, 30.0)


def test_inner_split_is_stratified_and_disjoint(patchy) -> None:
    y = np.array([0] * 60 + [1] * 40)
    train = np.arange(100)
    fit, val = patchy.inner_split(y, train, seed=0)
    assert len(val) == 10 and int(y[val].sum()) == 4
    assert set(fit).isdisjoint(val) and len(fit) + len(val) == 100


def test_missing_raw_files(patchy, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no MUTAG_\*\.txt files"):
        patchy.copy_raw(tmp_path, tmp_path / "root", "MUTAG")
