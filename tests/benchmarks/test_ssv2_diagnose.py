"""benchmarks/ssv2_diagnose.py: its two commands run on the smoke set and report what they measure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.usefixtures("one_thread")
def test_probe_and_train_run_on_the_smoke_set(bench, tmp_path: Path) -> None:
    mod = bench("ssv2_diagnose")
    smoke = ["--", "--smoke", "--cache-dir", str(tmp_path / "cache"), "--threads", "1"]
    log = tmp_path / "log.jsonl"
    assert mod.main(["probe", "--json", str(log), *smoke]) == 0
    assert (
        mod.main(["train", "--subset", "16", "--fc-std", "0.01", "--json", str(log), *smoke]) == 0
    )
    probe, train = (json.loads(line)["result"] for line in log.read_text().splitlines())
    probes = [v for v in probe.values() if isinstance(v, dict)]
    assert probes and all(0.0 <= r[k] <= 100.0 for r in probes for k in ("train_top1", "val_top1"))
    (epoch,) = train["history"]
    assert set(epoch["grad_norm"]) == set(mod.STAGES)
    assert all(v >= 0 for v in epoch["grad_norm"].values())
