"""benchmarks/flow.py runs end to end at a tiny size and writes consistent JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_tiny_run(bench, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "flow.json"
    rows = bench("flow").main(
        ["--size", "32", "--frames", "3", "--repeats", "1", "--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert "OpenCV" in printed and "synthetic 32x43" in printed
    result = json.loads(out.read_text())
    assert (
        [r["method"] for r in result["rows"]]
        == ["tvl1", "farneback", "dis"]
        == [r["method"] for r in rows]
    )
    assert result["environment"]["opencv_threads"] == 1
    for r in result["rows"]:
        assert r["frames"] == 3 and r["frames_per_s"] > 0
        assert r["ms_per_frame"] == pytest.approx(1000 / r["frames_per_s"])
