"""benchmarks/explain.py: a smoke run on a tiny generated set with a tiny random i3d_gcn."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from stgcn.data.synthetic import generate
from stgcn.engine import save_checkpoint
from stgcn.models import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _checkpoint(path: Path, name: str = "i3d_gcn") -> Path:
    config = asdict(ModelConfig(depth=18, width=8, frames=8, region_channels=16, gcn_layers=1))
    torch.manual_seed(0)
    model = build_model(name, 14, **config)
    extra = {"model_name": name, "model_config": config, "classes": [f"c{k}" for k in range(14)]}
    extra["clips"] = {"sampling": "tsn", "stride": 2, "size": 48}  # as benchmarks/ssv2.py records
    return save_checkpoint({"model": model.state_dict(), "extra": extra}, path)


def test_smoke_run(bench, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "ssv2"
    generate(root, 6, seed=2, size=(48, 64), frames=(16, 18), splits=(0.0, 1.0, 0.0), workers=0)
    ckpt = _checkpoint(tmp_path / "ckpt.pt")
    args = ["--checkpoint", str(ckpt), "--data-root", str(root), "--videos", "3", "--epochs", "5"]
    args += ["--figures", str(tmp_path / "figs"), "--num-figures", "1"]
    result = bench("explain").main(args)
    out = capsys.readouterr().out
    assert 1 <= result["videos"] <= 3 and result["asked"] == 3
    assert result["clips"] == {"sampling": "tsn", "stride": 2, "size": 48}  # the checkpoint's
    rows = result["rows"]
    share = sum(r["relevant"] / r["nodes"] for r in rows) / len(rows)
    assert result["random"]["all"] == pytest.approx(share)
    assert 0 < share < 1  # every counted video has both kinds of node
    assert result["all"]["predicted"] == sum(r["predicted"] for r in rows) / len(rows)
    assert result["accuracy"] == sum(r["prediction"] == r["class"] for r in rows) / len(rows)
    assert all(r["predicted"] == r["true"] for r in rows if r["correct"])
    assert re.search(r"\| random ranking \(expected, exact\) \| [\d.]+% \|", out)
    assert re.search(
        r"\| GNNExplainer, predicted class \(5 epochs, seed 0\) \| [\d.]+% ± [\d.]+% \|", out
    )
    assert "threads" in out and "torch" in out
    assert len(list((tmp_path / "figs").glob("explain-*.png"))) == 1


def test_refuses_a_model_without_a_graph(bench, tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "roi.pt", "i3d_roi")
    with pytest.raises(ValueError, match="no region graph"):
        bench("explain").load_model(ckpt)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        bench("explain").load_model(tmp_path / "missing.pt")
