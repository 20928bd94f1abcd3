"""benchmarks/two_stream.py: direction pairs, pair accuracy and late fusion on hand-made scores;
the CI smoke run (flow extracted, both streams trained through the engine, fused) and an
--evaluate --resume auto rerun that reuses the extracted flow and scores the same. The runs call
the script's ``main`` in this process (no second interpreter to start)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from stgcn.engine import EvalResult

CLASSES = [
    "Moving something down",
    "Moving something up",
    "Picking something up",
    "Pushing something from left to right",
    "Pushing something from right to left",
]


def test_direction_pairs_and_their_accuracy(bench) -> None:
    mod = bench("two_stream")
    assert mod.direction_pairs(CLASSES) == [(1, 0), (3, 4)]  # "Picking something up" has none
    labels = torch.tensor([3, 3, 4, 4, 0])
    pred = torch.tensor([3, 4, 3, 2, 0])  # one right, two swapped, one elsewhere
    probs = torch.nn.functional.one_hot(pred, 5).float()
    got = mod.pair_accuracy(probs, labels, (3, 4))
    assert got == {"num_videos": 4, "top1": 25.0, "swapped": 50.0}


def test_fusion_weights_flow_one_and_a_half_times(bench) -> None:
    """RGB says class 0 at 0.6, flow says class 1 at 0.5: (0.6 + 1.5 * 0.3) / 2.5 = 0.42 for
    class 0 and (0.2 + 1.5 * 0.5) / 2.5 = 0.38 for class 1; fusion picks 0. Two streams scored on
    different videos are refused."""
    mod = bench("two_stream")
    rgb = torch.tensor([[0.6, 0.2, 0.2]])
    flow = torch.tensor([[0.3, 0.5, 0.2]])
    labels = torch.tensor([0])
    evals = {
        "rgb": EvalResult(["a"], rgb, labels, {}, 0.0),
        "flow": EvalResult(["a"], flow, labels, {}, 0.0),
    }
    row, probs = mod.fuse(evals, ["x", "y", "z"], {})
    torch.testing.assert_close(probs["fusion"], torch.tensor([[0.42, 0.38, 0.2]]))
    assert row["top1"] == 100.0 and probs["rgb"] is rgb
    evals["flow"] = EvalResult(["b"], flow, labels, {}, 0.0)
    with pytest.raises(RuntimeError, match="different videos"):
        mod.fuse(evals, ["x", "y", "z"], {})


def run_script(bench, tmp: Path, *flags: str) -> str:
    """``benchmarks/two_stream.py --smoke ... flags`` in this process; returns what it printed."""
    argv = ["--smoke", "--out", str(tmp / "out"), "--cache-dir", str(tmp / "cache")]
    argv += ["--workers", "0", "--flow-workers", "0", *flags]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench("two_stream").main(argv) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def smoke(bench, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("two_stream")
    return tmp, run_script(bench, tmp)


def test_smoke_run_trains_both_streams_and_fuses(smoke: tuple[Path, str]) -> None:
    tmp, stdout = smoke
    res = json.loads((tmp / "out" / "results.json").read_text())
    rows = res["streams"]
    assert list(rows) == ["rgb", "flow", "fusion"]
    assert [rows[s]["model"] for s in ("rgb", "flow")] == ["tsn", "tsn_flow"]
    for r in rows.values():
        assert 0.0 <= r["top1"] <= r["top5"] <= 100.0
        assert set(r["groups"]) == {"temporal_reversal", "relational", "rest"}
    assert rows["rgb"]["train_time_s"] > 0 and rows["flow"]["params"] > rows["rgb"]["params"]
    assert [p["pair"][1] for p in res["direction_pairs"]] == [
        "Moving something down",
        "Pushing something from right to left",
    ]
    best = max(rows["rgb"]["top1"], rows["flow"]["top1"])
    gap = res["expectations"]["fusion_top1_minus_best_stream"]
    assert gap == pytest.approx(rows["fusion"]["top1"] - best)
    stages = res["stages_s"]
    assert {"flow_extraction", "rgb_stream", "flow_stream", "fusion", "total"} <= set(stages)
    assert len(list((tmp / "cache" / "flow").glob("*-dis-*/*.npz"))) == 64
    md = (tmp / "out" / "results.md").read_text()
    for text in (stdout, md):
        assert "| fusion | tsn + tsn_flow |" in text and "machine:" in text
        assert "direction pair" in text


def test_evaluate_resumes_the_streams_and_reuses_the_flow(bench, smoke: tuple[Path, str]) -> None:
    tmp, _ = smoke
    first = json.loads((tmp / "out" / "results.json").read_text())
    stdout = run_script(bench, tmp, "--evaluate", "--resume", "auto")
    assert "0 videos extracted now, 64 there already" in stdout
    again = json.loads((tmp / "out" / "eval-results.json").read_text())
    for s in ("rgb", "flow", "fusion"):
        assert again["streams"][s]["top1"] == first["streams"][s]["top1"], s
        assert again["streams"][s]["top5"] == first["streams"][s]["top5"], s


def test_one_stream_reports_without_the_comparisons(bench) -> None:
    """--stream flow has no rgb to beat and no fusion: the checks are left out, not failed."""
    mod = bench("two_stream")
    pairs = [{"pair": ["a up", "a down"], "flow": {"top1": 50.0}}]
    assert mod.expectations({"flow": {"top1": 50.0}}, pairs) == {}
    both = [{**pairs[0], "rgb": {"top1": 25.0}}]
    rows = {"rgb": {"top1": 20.0}, "flow": {"top1": 30.0}, "fusion": {"top1": 31.0}}
    got = mod.expectations(rows, both)
    assert got["flow_beats_rgb_on_pairs"] == {"a up / a down": True}
    assert got["fusion_top1_minus_best_stream"] == pytest.approx(1.0)
