"""benchmarks/cora.py: the Kipf & Welling protocol reaches the paper's accuracy; the CLI works.

The loader, the model and the training are the library's (tests/data/test_planetoid.py,
tests/models/test_kipf_gcn.py, tests/engine/test_full_batch.py); these tests are the script's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stgcn.data import planetoid
from stgcn.data.planetoid import load_planetoid

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "cora.py"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cora_bench(bench):
    return bench("cora")


@pytest.fixture(scope="module")
def cora(planetoid_root: Path):
    return load_planetoid("Cora", planetoid_root)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reaches_paper_accuracy(cora_bench, cora, seed: int) -> None:
    """Kipf & Welling report 81.5 on Cora; each seed must reach 79.5 at the best-val epoch."""
    result = cora_bench.train_once(cora, "stgcn", seed)
    assert len(result.step_times) == 200
    assert 1 <= result.best_epoch <= 200
    assert result.test_acc >= 79.5, result


def test_ours_and_pyg_train_identically(cora_bench, cora) -> None:
    """Same seed -> same weights and dropout masks, interleaved or not: only the conv differs."""
    hyper = cora_bench.Hyper(epochs=15)
    both = cora_bench.train_interleaved(cora, ["stgcn", "pyg"], seed=3, hyper=hyper)
    alone = cora_bench.train_once(cora, "pyg", seed=3, hyper=hyper)
    fields = ("test_acc", "val_acc", "best_epoch")
    for f in fields:
        assert getattr(both["stgcn"], f) == getattr(both["pyg"], f) == getattr(alone, f)
    assert both["stgcn"].val_acc > 30  # learning happened: 7 classes, chance is ~14%


def test_offline_message_names_the_flags(cora_bench, tmp_path: Path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(planetoid, "Planetoid", offline)
    with pytest.raises(SystemExit, match=r"--root DIR .*ind\.cora\.\* in DIR/Cora/raw"):
        cora_bench.load("Cora", tmp_path, None)


def test_raw_dir_missing_files(cora_bench, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"missing Planetoid raw files .*ind\.citeseer\.x"):
        cora_bench.load("CiteSeer", tmp_path / "root", tmp_path)


def test_cli_json(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cora.json"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    cmd = [sys.executable, str(SCRIPT), "--runs", "2", "--epochs", "3", "--compare-pyg"]
    cmd += ["--root", str(tmp_path / "root"), "--json", str(out), "--device", "cpu"]
    cmd += ["--threads", "1"]
    cmd += ["--raw-dir", str(shared_dir / "data" / "planetoid" / "raw")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "time per step ours/PyG" in proc.stdout
    report = json.loads(out.read_text())
    assert report["dataset"] == "Cora" and report["seeds"] == [0, 1]
    assert report["hyper"]["epochs"] == 3
    for key in ("torch", "torch_geometric", "threads", "cpu", "platform"):
        assert report["machine"][key]
    for conv in ("stgcn", "pyg"):
        res = report["results"][conv]
        assert len(res["runs"]) == 2 and len(res["runs"][0]["step_times"]) == 3
        assert 0 <= res["mean"] <= 100 and res["median_step_ms"] > 0
    assert report["time_ratio"] > 0 and report["same_accuracies"] is True
