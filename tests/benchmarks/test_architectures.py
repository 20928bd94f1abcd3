"""benchmarks/architectures.py: the CI smoke run on the extracted flow, and its resume."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "architectures.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", "CI": "1"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("architectures")
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out")]
    cmd += ["--cache-dir", str(tmp / "cache"), "--workers", "0"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, proc.stdout


def test_smoke_run_has_the_five_architectures(smoke: tuple[Path, str]) -> None:
    tmp, stdout = smoke
    res = json.loads((tmp / "out" / "results.json").read_text())
    runs = {r["model"]: r for r in res["runs"]}
    assert list(runs) == ["cnn_lstm", "c3d", "two_stream", "fused_two_stream", "two_stream_i3d"]
    for r in runs.values():
        assert 0.0 <= r["top1"] <= r["top5"] <= 100.0
        assert r["params"] > 0 and r["gmacs"] > 0 and r["train_time_s"] > 0
    for arch, streams in (
        ("two_stream", ("tsn", "tsn_flow")),
        ("two_stream_i3d", ("i3d", "i3d_flow")),
    ):
        r = runs[arch]
        assert [s["model"] for s in r["streams"]] == list(streams)
        assert r["rgb_top1"] == r["streams"][0]["top1"]
        assert r["flow_top1"] == r["streams"][1]["top1"]
        # the fused model is the two trained streams: their parameters and MACs add up
        assert r["params"] == sum(s["params"] for s in r["streams"])
        assert math.isclose(r["gmacs"], sum(s["gmacs"] for s in r["streams"]), rel_tol=1e-9)
        assert r["train_time_s"] == pytest.approx(sum(s["train_time_s"] for s in r["streams"]))
    assert (
        "rgb_top1" not in runs["fused_two_stream"] and "combined_top1" in runs["fused_two_stream"]
    )
    md = (tmp / "out" / "results.md").read_text()
    for text in (stdout, md):
        assert "| two_stream_i3d |" in text and "RGB+flow top-1" in text and "machine:" in text
        # the paper's Table 2 beside ours: two-stream I3D, UCF-101 and HMDB-51 split 1
        assert "| 84.5 / 90.6 / 93.4 | 49.8 / 61.9 / 66.4 |" in text
        assert "| 51.6 / - / - | 24.3 / - / - |" in text  # C3D: RGB only, from scratch
    assert res["machine"]["threads"] >= 1 and res["budget"]["frames"] == 4
    assert res["flow_method"] == "dis"  # the cached extraction, read by the SSv2 reader
    flows = list((tmp / "cache" / "flow").glob("ssv2-synthetic-n64-*-dis-*/*.npz"))
    assert len(flows) == 64


def test_a_second_run_resumes_the_finished_checkpoint(smoke: tuple[Path, str]) -> None:
    tmp, _ = smoke
    first = json.loads((tmp / "out" / "results.json").read_text())
    cmd = [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp / "out"), "--arch", "c3d"]
    cmd += ["--cache-dir", str(tmp / "cache"), "--workers", "0"]
    subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True, timeout=600)
    again = json.loads((tmp / "out" / "results.json").read_text())
    old = next(r for r in first["runs"] if r["model"] == "c3d")
    assert [r["model"] for r in again["runs"]] == ["c3d"]
    assert again["runs"][0]["top1"] == old["top1"]
    assert again["runs"][0]["train_time_s"] == pytest.approx(old["train_time_s"])
