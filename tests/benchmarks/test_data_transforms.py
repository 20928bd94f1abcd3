"""benchmarks/data.py --transforms at tiny size: v2 and hand-written transforms agree bit for bit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_paired_transforms_benchmark_runs_and_checks_exactness(bench):
    bench = bench("data")
    has_commit = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{bench.HANDWRITTEN}^{{commit}}"],
        capture_output=True,
    )
    if has_commit.returncode:
        pytest.skip(f"no commit {bench.HANDWRITTEN} in this checkout (shallow clone?)")
    row = bench.measure_transforms((24, 32), frames=2, size=16, clips=3, rounds=2)
    assert row["exact"] and row["clips"] == 3 and row["rounds"] == 2
    assert row["hand_ms_per_clip"] > 0 and row["v2_ms_per_clip"] > 0
    lo, hi = row["ratio_range"]
    assert lo <= row["ratio_v2_over_hand"] <= hi
