"""benchmarks/region_cache.py: a smoke run on a tiny generated set with a tiny random checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from region_fixtures import tiny_checkpoint, tiny_set

pytestmark = pytest.mark.usefixtures("one_thread")


def test_smoke_run_prints_both_pipelines(bench, tmp_path: Path, capsys) -> None:
    root = tiny_set(tmp_path / "set", videos=8)
    ckpt = tiny_checkpoint(tmp_path / "ckpt.pt", root)
    out = tmp_path / "out"
    argv = [
        "--checkpoint", str(ckpt), "--data-root", str(root), "--out", str(out), "--size", "32",
        "--videos", "4", "--val-videos", "4", "--epochs", "2", "--batch-size", "2",
    ]  # fmt: skip
    assert bench("region_cache").main(argv) == 0
    printed = capsys.readouterr().out
    for text in ("cached features (STRGHead)", "end-to-end, frozen backbone", "speed-up", "torch"):
        assert text in printed, text
    r = json.loads((out / "results.json").read_text())
    assert (r["train_videos"], r["val_videos"], r["epochs"]) == (4, 4, 2)
    assert len(r["cached_epoch_s"]) == len(r["e2e_epoch_s"]) == 2 and r["extract_s"] > 0
    assert r["machine"]["torch"] == torch.__version__
    # same start, same data order, same operations: the two trainings agree
    assert r["head_weight_gap"] <= 1e-4 * r["head_weight_max"]
    assert r["cached_top1"] == r["e2e_top1"]
    assert (out / "results.md").is_file()
