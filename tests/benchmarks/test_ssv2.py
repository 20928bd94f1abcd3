"""benchmarks/ssv2.py: -h, the CI smoke run and its outputs, presets and flags."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "ssv2.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", "CI": "1"}


def _module():
    spec = importlib.util.spec_from_file_location("bench_ssv2", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


def test_help_documents_every_flag() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "-h"], env=ENV, capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--epochs", "--batch-size", "--lr", "--evaluate", "--resume", "--start-epoch", "--model",
        "--frames", "--size", "--workers", "--device", "--amp", "--seed", "--seeds", "--out",
        "--views", "--data-root", "--boxes", "--preset", "--init-from", "--freeze-backbone",
        "--synthetic-videos", "--smoke", "torchrun",
    ):  # fmt: skip
        assert flag in out, flag


def test_flags_override_the_preset() -> None:
    mod = _module()
    args = mod.build_parser().parse_args(["--preset", "paper", "--frames", "16", "--views", "3x3"])
    preset = mod.resolve(args)
    assert (preset.frames, preset.size, preset.depth, preset.graph_dim, preset.gcn_layers) == (
        16, 224, 50, 512, 3,
    )  # fmt: skip
    assert preset.res5_stride == 1 and preset.views == (3, 3) and preset.sampling == "dense"
    assert mod.resolve(mod.build_parser().parse_args([])).frames == 8
    strg = mod.build("i3d_nl_gcn", 174, preset)  # the paper preset's model builds
    assert strg.graph_required and mod.count_parameters(strg) > 30e6
    with pytest.raises(SystemExit):
        mod.build_parser().parse_args(["--views", "2by3"])


def test_class_groups_follow_the_templates() -> None:
    mod = _module()
    names = ["Moving something up", "Putting something next to something", "Picking something up"]
    assert mod.class_groups_of(names) == {"temporal_reversal": [0], "relational": [1]}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("ssv2")
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out")]
    cmd += ["--cache-dir", str(tmp / "cache"), "--checkpoint-every", "2"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, proc.stdout


def test_smoke_run_writes_results_and_prints_the_table(smoke: tuple[Path, str]) -> None:
    tmp, stdout = smoke
    out = tmp / "out"
    res = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in res["runs"]] == ["i3d", "i3d_nl", "i3d_gcn", "i3d_nl_gcn"]
    for r in res["runs"]:
        assert 0.0 <= r["top1"] <= r["top5"] <= 100.0
        assert r["params"] > 0 and r["gmacs"] > 0 and r["train_time_s"] > 0
        assert set(r["groups"]) >= {"temporal_reversal", "relational", "rest"}
        assert len(r["confusion"]) == len(res["classes"])
        assert sum(map(sum, r["confusion"])) == r["num_videos"]
    gcn = {r["model"]: r["params"] for r in res["runs"]}
    assert gcn["i3d_gcn"] > gcn["i3d"]  # the graph head adds parameters
    md = (out / "results.md").read_text()
    for text in (stdout, md):
        assert "| i3d_nl_gcn |" in text and "46.1" in text and "v1" in text
    for png in ["curves.png"] + [f"confusion_{m}.png" for m in gcn]:
        assert (out / png).read_bytes()[:4] == b"\x89PNG", png
    lines = (out / "runs" / "i3d-seed0" / "predictions.csv").read_text().splitlines()
    assert len(lines) == 1 + res["runs"][0]["num_videos"]


def test_resume_auto_reuses_finished_runs(smoke: tuple[Path, str]) -> None:
    tmp, _ = smoke
    first = json.loads((tmp / "out" / "results.json").read_text())
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out"), "--model", "i3d_gcn"]
    cmd += ["--cache-dir", str(tmp / "cache"), "--resume", "auto"]
    subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True, timeout=600)
    again = json.loads((tmp / "out" / "results.json").read_text())
    old = next(r for r in first["runs"] if r["model"] == "i3d_gcn")
    assert again["runs"][0]["top1"] == old["top1"]
    assert again["runs"][0]["history"] == old["history"]


def _strict(constant: str) -> None:
    raise ValueError(f"results JSON holds {constant}, which strict JSON readers reject")


def test_evaluate_multiview_and_stage_two(smoke: tuple[Path, str]) -> None:
    """--evaluate with 2x3 views, then the paper's second stage from the i3d checkpoint."""
    tmp, _ = smoke
    base = [sys.executable, str(SCRIPT), "--smoke", "--cache-dir", str(tmp / "cache")]
    ck = tmp / "out" / "runs" / "i3d-seed0" / "checkpoint.pt"
    subprocess.run(
        [*base, "--out", str(tmp / "out"), "--model", "i3d", "--evaluate", "--resume", str(ck),
         "--views", "2x3"],
        env=ENV, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    ev = json.loads((tmp / "out" / "eval-results.json").read_text(), parse_constant=_strict)
    assert ev["views"] == [2, 3] and ev["runs"][0]["num_videos"] == 10
    assert ev["runs"][0]["train_time_s"] is None and ev["runs"][0]["eval_time_s"] > 0
    stage2 = tmp / "stage2"
    subprocess.run(
        [*base, "--out", str(stage2), "--model", "i3d_gcn", "--init-from", str(ck),
         "--freeze-backbone"],
        env=ENV, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    run = json.loads((stage2 / "results.json").read_text())["runs"][0]
    assert run["init_from"]["loaded"] > 0 and run["init_from"]["frozen_parameters"] > 0
    trained = torch.load(stage2 / "runs" / "i3d_gcn-seed0" / "checkpoint.pt", weights_only=False)
    source = torch.load(ck, weights_only=False)["model"]
    frozen = [k for k in source if k.startswith("stem.conv1.")]
    assert frozen
    for k in frozen:
        match = [t for t in trained["model"] if t.endswith(k)]
        assert match and torch.equal(trained["model"][match[0]], source[k])
