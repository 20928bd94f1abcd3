"""benchmarks/ssv2_diagnose.py: its two commands run on the smoke set and report what they measure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


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


@pytest.mark.usefixtures("one_thread")
def test_train_starts_from_a_given_backbone(bench, tmp_path: Path) -> None:
    mod = bench("ssv2_diagnose")
    ssv2 = bench("ssv2")
    backbone = tmp_path / "backbone.pt"  # as the motion pre-training caches it: a bare state dict
    model = ssv2.build("i3d", 14, ssv2.PRESETS["smoke"])
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}, backbone)
    smoke = ["--", "--smoke", "--cache-dir", str(tmp_path / "cache"), "--threads", "1"]
    smoke += ["--init-from", str(backbone), "--freeze-backbone"]
    log = tmp_path / "log.jsonl"
    assert mod.main(["train", "--subset", "16", "--json", str(log), *smoke]) == 0
    (epoch,) = json.loads(log.read_text())["result"]["history"]
    assert epoch["grad_norm"]["fc"] > 0  # the head learns; the loaded backbone stays as it was
    assert all(epoch["grad_norm"][s] == 0 for s in mod.STAGES if s != "fc")
