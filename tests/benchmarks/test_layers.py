"""benchmarks/layers.py runs end to end at its --quick size and writes consistent JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "layers.py"


@pytest.fixture(scope="module")
def layers_bench():
    spec = importlib.util.spec_from_file_location("bench_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_quick_run_writes_rows(layers_bench, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "layers.json"
    rows = layers_bench.main(["--quick", "--repeats", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "torch-scatter installed" in printed and "st-memory growth" in printed
    result = json.loads(out.read_text())
    assert result["environment"]["torch"] == torch.__version__
    assert result["environment"]["threads"] == torch.get_num_threads()
    sections = [r["section"] for r in result["rows"]]
    assert sections == [
        "layer",
        "layer",
        "branch",
        "branch",
        "st-memory",
        "st-memory",
        "propagation",
        "propagation",
        "construction",
    ]
    for row in result["rows"]:
        assert row["ours_ms"] > 0 and row["ref_ms"] > 0
        assert row["time_ratio"] == pytest.approx(row["ours_ms"] / row["ref_ms"])
        assert row["edges"] > 0 and row["nodes"] > 0
        assert row["met"] is None  # targets are judged at the real sizes only
        if row["section"] != "construction":
            assert row["ours_mb"] > 0 and row["ref_mb"] > 0
    assert [r.section for r in rows] == sections


def test_loop_reference_and_dense_reference_agree(layers_bench) -> None:
    size = layers_bench.QUICK_LARGE
    inp = layers_bench.make_inputs(size, seed=3)
    front, back = layers_bench.loop_st_graph(inp["rois"])
    assert torch.allclose(front.sum(-1)[front.sum(-1) > 0], torch.tensor(1.0))
    # float64, so that the two orders of summation agree to ~1e-15 of the output's size
    model = layers_bench.SpaceTimeGCN(size.channels).double()
    dense = layers_bench.DenseReference(model)
    front, back = layers_bench.loop_st_graph(inp["rois"].double())
    xd = inp["x"].double().view(size.videos, size.frames * size.boxes, size.channels)
    ours = model(inp["x"].double(), inp["box"].double(), inp["frame"], inp["batch"])
    ref = dense(xd, front, back).reshape_as(ours)
    torch.testing.assert_close(ref, ours, atol=1e-10, rtol=1e-10)
    assert ours.abs().max() > 0.1  # LayerNorm keeps it O(1): the comparison is not of zeros


def test_dense_reference_refuses_other_forms(layers_bench) -> None:
    for kwargs in ({"joint": True}, {"similarity": "per_layer"}, {"norm": False}, {"bias": True}):
        with pytest.raises(ValueError, match="DenseReference mirrors"):
            layers_bench.DenseReference(layers_bench.SpaceTimeGCN(8, **kwargs))
