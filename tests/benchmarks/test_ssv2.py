"""benchmarks/ssv2.py: -h, the CI smoke run and its outputs, presets and flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from stgcn.engine import load_checkpoint
from stgcn.models import build_model, count_parameters

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "ssv2.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", "CI": "1"}


def test_help_documents_every_flag() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "-h"], env=ENV, capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--epochs", "--batch-size", "--lr", "--evaluate", "--resume", "--start-epoch", "--model",
        "--frames", "--size", "--workers", "--device", "--amp", "--seed", "--seeds", "--out",
        "--views", "--data-root", "--boxes", "--preset", "--init-from", "--freeze-backbone",
        "--synthetic-videos", "--smoke", "torchrun", "--pretrain-epochs", "--pretrain-lr",
    ):  # fmt: skip
        assert flag in out, flag


def test_flags_override_the_preset(bench) -> None:
    mod = bench("ssv2")
    args = mod.build_parser().parse_args(
        ["--preset", "paper", "--frames", "16", "--views", "3x3", "--lr", "0.1", "--clip-grad", "0"]
    )
    preset = mod.resolve(args)
    m, data = preset.model, preset.data
    assert (m.frames, data.size, m.depth, m.region_channels, m.gcn_layers) == (16, 224, 50, 512, 3)
    assert m.res5_stride == 1 and data.views == (3, 3) and data.sampling == "dense"
    assert preset.optim.lr == 0.1 and preset.optim.clip_grad_norm is None  # --clip-grad 0: off
    assert preset.optim.milestones == [20.0, 25.0] and preset.train.epochs == 30
    assert mod.resolve(mod.build_parser().parse_args([])).model.frames == 8
    strg = mod.build("i3d_nl_gcn", 174, preset)  # the paper preset's model builds
    assert strg.takes_graph and count_parameters(strg) > 30e6
    with pytest.raises(SystemExit):
        mod.build_parser().parse_args(["--views", "2by3"])


def test_smoke_preset_is_cpu_with_a_few_fields_changed(bench) -> None:
    mod = bench("ssv2")
    cpu, smoke = mod.PRESETS["cpu"], mod.PRESETS["smoke"]
    assert smoke.optim == replace(cpu.optim, warmup_epochs=0.0)
    assert smoke.train == replace(cpu.train, epochs=1)
    assert (smoke.model.depth, smoke.model.res5_stride) == (cpu.model.depth, cpu.model.res5_stride)
    assert smoke.data.sampling == cpu.data.sampling and smoke.data.size == 32
    assert cpu.pretrain.epochs > 0 and smoke.pretrain == replace(cpu.pretrain, epochs=1)
    assert mod.PRESETS["paper"].pretrain.epochs == 0  # the paper's I3D comes pre-trained otherwise
    with pytest.raises(TypeError):  # a misspelt field is an error, not a new field
        mod.with_fields(cpu, {"model.frame": 4})


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("ssv2")
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out")]
    cmd += ["--cache-dir", str(tmp / "cache"), "--checkpoint-every", "2"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, proc.stdout


def test_full_preset_plans_every_row_over_three_seeds(bench) -> None:
    mod = bench("ssv2")
    args = mod.build_parser().parse_args(["--preset", "full"])
    rows = mod.plan(args)
    assert rows == list(mod.FULL_PLAN) and mod.resolve(args) == mod.PRESETS["cpu"]
    labels = [r.label for r in rows]
    assert len(set(labels)) == len(labels) and len({r.slug for r in rows}) == len(rows)
    assert {"i3d", "i3d_nl", "i3d_gcn", "i3d_nl_gcn", "i3d_roi"} <= set(labels)
    assert {r.boxes for r in rows} == {"gt", "detector", "motion"}
    stage2 = [r for r in rows if r.init is not None]
    assert {r.freeze for r in stage2} == {True, False}
    for r in stage2:  # stage 1 runs first, in the same seed's pass
        assert labels.index(r.init) < labels.index(r.label)
    every_pair = {a for pair in mod.PAIRS for a in pair}
    assert every_pair <= set(labels)  # the paired tests name rows that exist
    with pytest.raises(SystemExit):
        mod.plan(mod.build_parser().parse_args(["--preset", "full", "--model", "i3d"]))
    plain = mod.plan(mod.build_parser().parse_args(["--box-source", "motion"]))
    assert [r.label for r in plain] == [f"{m} (motion boxes)" for m in mod.TABLE4]


def test_start_line_counts_the_boxes_still_to_propose(bench, tmp_path, monkeypatch) -> None:
    mod = bench("ssv2")
    preset = mod.PRESETS["smoke"]
    # the detector's ~500 training steps cost more than proposing the 64 videos' boxes
    proposing = mod.box_file_seconds("detector", preset, 5, train_detector=False)
    assert mod.box_file_seconds("detector", preset, 5, train_detector=True) > proposing > 0
    assert mod.box_file_seconds("motion", preset, 5, train_detector=False) > 0
    assert mod.seconds_per_clip(preset, "i3d_gcn", boxes=5, steps=1) > 0  # a region model's clock

    calls = []

    def fake(source, preset, top_k, train_detector):
        calls.append((source, train_detector))
        return 1000.0

    monkeypatch.setattr(mod, "box_file_seconds", fake)
    args = mod.build_parser().parse_args(["--smoke", "--cache-dir", str(tmp_path)])

    def estimate(rows: list, seeds: tuple = (0,), graph_cost: float = 1.0) -> float:
        clock = {"i3d": 0.01, "i3d_gcn": 0.01 * graph_cost}
        return mod.estimate_seconds(rows, list(seeds), args, preset, lambda r: clock[r.model])

    name = "ssv2-synthetic-n64-32x48-seed0"
    plain, detected = [mod.Row("i3d_gcn")], [mod.Row("i3d_gcn"), mod.Row("i3d_gcn", "detector")]
    fresh = estimate(plain)
    (tmp_path / name).mkdir()
    (tmp_path / name / "synthetic_manifest.json").write_text("{}")  # the set is there now
    base = estimate(plain)  # 1 run, 1 pre-training
    assert fresh > base > 0 and not calls
    assert estimate(plain * 2, (0, 1)) > 3 * base  # 4 runs, 2 pre-trainings
    assert estimate(plain, graph_cost=2) > base  # each row on its own clock
    assert estimate(detected) > 2 * base + 999
    assert calls == [("detector", True)]
    (tmp_path / "detectors").mkdir()  # a trained detector: proposing only
    (tmp_path / "detectors" / f"{name}-cpu-abc.pt").write_bytes(b"")
    estimate(detected + [mod.Row("i3d_gcn", "motion")])
    assert calls[1:] == [("detector", False), ("motion", False)]
    (tmp_path / "boxes").mkdir()  # a cached box file: nothing left to propose
    (tmp_path / "boxes" / f"{name}-detector-abc.recall.json").write_text("{}")
    assert estimate(detected) < 2 * base and len(calls) == 3
    line = mod.start_line(detected, [0], args, preset, mod.init_distributed("cpu"))
    assert line.startswith("ssv2.py: 2 model(s) (i3d_gcn, i3d_gcn (detector boxes)) x 1 seed(s)")
    assert "estimated ~" in line and "ms per training clip of i3d" in line


def test_paired_differences_against_a_hand_computed_t_test(bench) -> None:
    mod = bench("ssv2")
    rows = [
        {"model": m, "seed": s, "top1": v}
        for m, vals in {"i3d": (10.0, 20.0, 30.0), "i3d_gcn": (11.0, 22.0, 33.0)}.items()
        for s, v in enumerate(vals)
    ]
    (d,) = mod.paired_differences(rows)
    assert (d["a"], d["b"], d["seeds"], d["per_seed"]) == ("i3d_gcn", "i3d", [0, 1, 2], [1, 2, 3])
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641 on 2 degrees of freedom;
    # two-sided p = 1 - t / sqrt(t^2 + 2) for 2 degrees of freedom = 0.07418
    t = 2 / (1 / 3**0.5)
    assert d["mean"] == 2.0 and d["std"] == 1.0
    assert d["p_value"] == pytest.approx(1 - t / (t * t + 2) ** 0.5, rel=1e-9)
    assert "| i3d_gcn − i3d | +1.0, +2.0, +3.0 (seeds 0, 1, 2) | +2.0 ± 1.0 | 0.074 |" in (
        mod.differences_table([d])
    )
    one = mod.paired_differences(rows[:1] + rows[3:4])[0]  # one seed: no spread, no test
    assert one["p_value"] is None
    assert "| +1.0 (seeds 0) | +1.0 | - |" in mod.differences_table([one])


def test_smoke_run_writes_results_and_prints_the_table(smoke: tuple[Path, str]) -> None:
    tmp, stdout = smoke
    first = stdout.splitlines()[0]  # what runs and how long, before any data work
    assert first.startswith("ssv2.py: 4 model(s) (i3d, i3d_nl, i3d_gcn, i3d_nl_gcn) x 1 seed(s)")
    assert "estimated ~" in first and "ms per training clip" in first
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
    # every model started from the one motion pre-trained backbone (no fc in it)
    (weights,) = (tmp / "cache" / "pretrain").glob("motion-*/backbone.pt")
    assert "motion pre-training" in stdout and str(weights) in stdout
    n = len(torch.load(weights, weights_only=True))
    assert all(r["init_from"]["loaded"] == n and not r["init_from"]["skipped"] for r in res["runs"])


def test_resume_auto_reuses_finished_runs(smoke: tuple[Path, str]) -> None:
    tmp, _ = smoke
    first = json.loads((tmp / "out" / "results.json").read_text())
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out"), "--model", "i3d_gcn"]
    cmd += ["--cache-dir", str(tmp / "cache"), "--resume", "auto"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True, timeout=600)
    assert "pre-trained backbone (seed 0) reused" in proc.stdout
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
    trained = load_checkpoint(stage2 / "runs" / "i3d_gcn-seed0" / "checkpoint.pt")
    source = load_checkpoint(ck)["model"]
    frozen = [k for k in source if k.startswith("stem.conv1.")]
    assert frozen
    for k in frozen:
        match = [t for t in trained["model"] if t.endswith(k)]
        assert match and torch.equal(trained["model"][match[0]], source[k])


def test_checkpoint_rebuilds_its_model(smoke: tuple[Path, str]) -> None:
    """A checkpoint alone (weights_only) names the model, its build arguments and its classes."""
    tmp, _ = smoke
    res = json.loads((tmp / "out" / "results.json").read_text())
    for name in ("i3d", "i3d_gcn"):
        ck = load_checkpoint(tmp / "out" / "runs" / f"{name}-seed0" / "checkpoint.pt")
        extra = ck["extra"]
        assert extra["model_name"] == name and extra["classes"] == res["classes"]
        assert extra["clips"] == {"sampling": "tsn", "stride": 2, "size": 32}  # the smoke preset
        model = build_model(name, len(extra["classes"]), **extra["model_config"])
        model.load_state_dict(ck["model"])  # strict: every tensor has its place


def test_motion_box_rows_read_proposals_not_ground_truth(smoke: tuple[Path, str]) -> None:
    """--box-source motion: boxes proposed once for the whole set, cached, scored, and read."""
    tmp, _ = smoke
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "motion"), "--model"]
    cmd += ["i3d_gcn", "--box-source", "motion", "--cache-dir", str(tmp / "cache")]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp / "motion" / "results.json").read_text())
    (run,) = res["runs"]
    assert (run["model"], run["architecture"], run["boxes"]) == (
        "i3d_gcn (motion boxes)",
        "i3d_gcn",
        "motion",
    )
    rec = res["proposals"]["motion"]
    assert 0.0 <= rec["ar10"] <= rec["ar50"] <= 1.0
    folder = tmp / "cache" / "boxes"
    (boxes,) = [p for p in folder.glob("*-motion-*.json") if not p.name.endswith(".recall.json")]
    assert json.loads(boxes.with_suffix(".recall.json").read_text()) == rec
    entries = json.loads(boxes.read_text())
    assert len(entries) == 64  # every video of the smoke set, train and validation
    assert (tmp / "motion" / "runs" / "i3d_gcn-motion-seed0" / "checkpoint.pt").is_file()
    assert "motion boxes on the validation split" in proc.stdout
