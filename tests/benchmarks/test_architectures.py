"""benchmarks/architectures.py: the flow stand-in, the flow batches, the CI smoke run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stgcn.data.clip_dataset import Skipped
from stgcn.data.ssv2 import Sample
from stgcn.graphs.video_graph import VideoGraph

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "architectures.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", "CI": "1"}


def test_normal_flow_of_a_ramp_moving_right(bench) -> None:
    """I(x, t) = x - t: I_t = -1, I_x = 1, I_y = 0, so u = -I_t I_x / (I_x^2 + eps) =
    1 / (1 + 0.01) px and v = 0, divided by the bound."""
    mod = bench("architectures")
    x = torch.arange(16.0).view(1, 1, 16)
    clip = torch.stack([(x - t).expand(3, 8, 16) for t in range(4)], dim=1)  # [3, T, H, W]
    flow = mod.normal_flow(clip, bound=20.0)
    assert flow.shape == (2, 4, 8, 16)
    torch.testing.assert_close(flow[0], torch.full((4, 8, 16), 1 / 1.01 / 20))
    torch.testing.assert_close(flow[1], torch.zeros(4, 8, 16))
    assert mod.normal_flow(clip[:, :1]).abs().sum() == 0  # one frame: no motion


def test_flow_batches_keep_skipped_items_out(bench) -> None:
    mod = bench("architectures")
    g = VideoGraph(box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long), num_frames=2)
    items = [Sample(torch.zeros(3, 2, 4, 4), 1, g, "a"), Skipped(1, "b", "decode_error", "bad")]
    ds = mod.WithFlow(items, lambda clip: clip[:2] + 1)
    assert isinstance(ds[0], mod.FlowSample) and ds[1] is items[1]
    batch = mod.collate_flow([ds[0], ds[1]])
    assert batch.flow.shape == (1, 2, 2, 4, 4) and batch.flow.min() == 1
    assert batch.clip.shape == (1, 3, 2, 4, 4)
    assert batch.video_id == ["a"] and len(batch.skipped) == 1


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
    assert res["machine"]["threads"] >= 1 and res["budget"]["frames"] == 4


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
