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
    for method in ("patchy_san", "patchy_san_edges", "gin"):  # epochs chosen on the test folds
        opt = report[method]["test_selected"]
        assert opt["mean"] >= report[method]["mean"] and 1 <= opt["epochs"][0] <= 2
    assert "test_selected" not in report["wl_svm"]
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


def test_member_splits_cover_the_training_fold(patchy) -> None:
    y = np.array([0] * 60 + [1] * 40)
    train = np.arange(0, 100, 2)  # 30 of class 0, 20 of class 1
    splits = patchy.member_splits(y, train, 5, seed=0)
    vals = np.concatenate([val for _, val in splits])
    assert sorted(vals.tolist()) == train.tolist()  # every training graph validates once
    for fit, val in splits:
        assert len(val) == 10 and int(y[val].sum()) == 4  # stratified: 6 + 4
        assert set(fit).isdisjoint(val) and sorted([*fit, *val]) == train.tolist()
    ((fit, val),) = patchy.member_splits(y, train, 1, seed=0)
    assert len(val) == 5 and set(fit).isdisjoint(val)


def test_stacked_models_train_as_if_alone(patchy) -> None:
    """train_patchy_models (vmap over stacked models) against one model trained in a plain loop:
    same initialisation, batches, RMSprop updates, and selected epoch."""
    import torch
    import torch.nn.functional as F

    from stgcn.models import PatchySANNet

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(40, 6, 3, 4, generator=gen)
    e = torch.rand(40, 6, 3, 3, 2, generator=gen)
    y = (x[:, 0, 0, 0] > 0.5).long()
    args = patchy.parse_args(["--epochs", "4", "--batch-size", "8", "--lr", "0.01"])
    splits = [
        (np.arange(0, 30), np.arange(30, 35), np.arange(35, 40)),
        (np.arange(5, 40), np.arange(0, 5), np.arange(30, 35)),  # 5 batches of 8, vs 4
    ]
    got = patchy.train_patchy_models(x, e, y, splits, [7, 8], args, dropout=0.0)
    for (fit, val, test), seed, r in zip(splits, [7, 8], got, strict=True):
        torch.manual_seed(seed)
        model = PatchySANNet(4, 2, 6, 3, edge_channels=2, dropout=0.0)
        opt = torch.optim.RMSprop(model.parameters(), lr=0.01)
        order = torch.Generator().manual_seed(seed)
        best, key = None, (-1.0, 0.0)
        for epoch in range(1, 5):
            for idx in torch.as_tensor(fit)[torch.randperm(len(fit), generator=order)].split(8):
                opt.zero_grad()
                F.cross_entropy(model(x[idx], e[idx]), y[idx]).backward()
                opt.step()
            with torch.no_grad():
                p_val = model(x[val], e[val]).softmax(-1)
                acc = float((p_val.argmax(-1) == y[val]).float().mean())
                k = (acc, -float(F.nll_loss(p_val.log(), y[val])))
                if k > key:
                    key, best = k, (epoch, model(x[test], e[test]).softmax(-1))
        if seed == 8:  # the longest fit set (5 batches): the same updates, float tolerance
            assert r["epoch"] == best[0]
            torch.testing.assert_close(r["prob"], best[1], rtol=1e-4, atol=1e-5)
        else:  # 4 batches and an empty one, whose zero step still decays RMSprop's average
            assert r["prob"].shape == (5, 2) and 1 <= r["epoch"] <= 4


def test_summarise_repeats(patchy) -> None:
    rows = [{"acc": a} for a in (80.0, 100.0, 90.0, 90.0)]  # two 2-fold repetitions
    s = patchy.summarise(rows, folds=2)
    assert s["mean"] == 90.0 and s["per_repeat"] == [90.0, 90.0] and s["repeat_std"] == 0.0
    assert s["std"] == 5.0  # (10 + 0) / 2: the folds' spread, averaged over repetitions


def test_summarise_test_selected_is_the_best_epoch_of_the_fold_mean(patchy) -> None:
    """The optimistic figure: per repetition, the epoch whose mean over the folds is highest
    (not each fold's own best epoch, which would give 100 here)."""
    curves = [[50.0, 100.0, 60.0], [100.0, 50.0, 80.0], [60.0, 90.0, 70.0], [80.0, 70.0, 70.0]]
    rows = [{"acc": 70.0, "curve": c} for c in curves]  # two 2-fold repetitions
    opt = patchy.summarise(rows, folds=2)["test_selected"]
    # Means over the folds: [75, 75, 70] (a tie: the earlier epoch) and [70, 80, 70].
    assert opt["epochs"] == [1, 2] and opt["per_repeat"] == [75.0, 80.0]
    assert opt["mean"] == 77.5
    assert "test_selected" not in patchy.summarise([{"acc": 70.0}] * 2, folds=2)


def test_wl_svm_chooses_the_depth_inside_the_training_fold(patchy) -> None:
    """Depth 0 is noise, depth 1 separates the classes: the grid search inside the training
    fold picks h = 1 (test graphs play no part), and the depth-1 map classifies the test fold."""
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 30)
    noise = rng.random((60, 3))
    signal = np.stack([y, 1 - y], axis=1).astype(float)
    train, test = np.arange(40), np.arange(40, 60)
    r = patchy.train_wl_svm([noise, signal], y, (train[:30], train[30:], test), seed=0)
    assert r["h"] == 1 and r["acc"] == 100.0
    # With the labels of the test graphs scrambled, the choice is the same: made on training only.
    y_bad = y.copy()
    y_bad[test] = rng.permutation(y_bad[test])
    assert patchy.train_wl_svm([noise, signal], y_bad, (train[:30], train[30:], test), 0)["h"] == 1
