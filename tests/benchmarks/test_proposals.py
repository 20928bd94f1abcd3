"""benchmarks/proposals.py: a smoke run (train a few steps, score each method) on a tiny set."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from stgcn.data.synthetic import generate

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "proposals.py"


def _module():
    spec = importlib.util.spec_from_file_location("proposals_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_smoke_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "ssv2"
    generate(root, 4, seed=5, size=(48, 64), frames=(12, 14), splits=(0.5, 0.5, 0.0), workers=0)
    args = ["--data-root", str(root), "--out", str(tmp_path / "det.pt"), "--json"]
    args += [str(tmp_path / "r.json"), "--steps", "2", "--batch-size", "2"]
    args += ["--frames-per-video", "2", "--val-every", "6", "--top-k", "10"]
    result = _module().main(args)
    out = capsys.readouterr().out
    assert re.search(r"training: [\d.]+ s in all .* for 2 steps\); (within|OVER) the 600 s", out)
    assert "validation: 2 videos" in out
    assert re.search(r"\| rpn \| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \| +[\d.]+ \| - \| [\d.]+ \|", out)
    num = r" +[\d.]+ \|"
    assert re.search(r"\| detector \|" + num * 5 + r" [\d.]+ \|", out)
    assert "torch" in out and "threads" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert [r["method"] for r in saved["methods"]] == [
        "rpn",
        "detector",
        "selective_search",
        "motion",
    ]
    for name in ("selective_search", "motion"):  # weight-free rows, no per-class AP
        assert re.search(rf"\| {name} \|" + num * 4 + r" - \| [\d.]+ \|", out)
    assert saved["training"]["steps"] == 2
    # a second run scores the saved checkpoint without training
    again = _module().main(
        ["--data-root", str(root), "--weights", str(tmp_path / "det.pt")]
        + ["--methods", "rpn", "--val-every", "6", "--top-k", "10"]
    )
    assert "training" not in again
    assert again["methods"][0]["ar50"] == pytest.approx(saved["methods"][0]["ar50"])


def test_methods_are_a_dict_of_builders() -> None:
    mod = _module()
    assert set(mod.METHODS) >= {"rpn", "detector"}
    assert all(callable(b) for b in mod.METHODS.values())


def test_weight_free_methods_train_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ssv2"
    generate(root, 4, seed=5, size=(48, 64), frames=(12, 14), splits=(0.5, 0.5, 0.0), workers=0)
    result = _module().main(
        ["--data-root", str(root), "--out", str(tmp_path / "never.pt"), "--val-every", "1"]
        + ["--methods", "motion", "motion_dis", "--top-k", "10"]
    )
    assert "training" not in result and not (tmp_path / "never.pt").exists()
    assert [r["method"] for r in result["methods"]] == ["motion", "motion_dis"]
    assert all(0 <= r["ar50"] <= 1 for r in result["methods"])


def test_missing_set_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no dataset at"):
        _module().main(["--data-root", str(tmp_path / "nothing"), "--steps", "1"])
