"""The per-step schedule: linear warm-up, then cosine to min_lr or steps at the milestones."""

from __future__ import annotations

import math

import pytest
import torch

from stgcn.engine.optim import OptimConfig, build_optimizer, build_scheduler


def _lrs(cfg: OptimConfig, steps_per_epoch: int, epochs: int) -> list[float]:
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch, epochs)
    out = []
    for _ in range(steps_per_epoch * epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine() -> None:
    cfg = OptimConfig(lr=0.1, warmup_epochs=1, warmup_factor=0.1, min_lr=0.001)
    lrs = _lrs(cfg, 10, 5)
    assert lrs[0] == pytest.approx(0.01)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11], strict=True))  # rising warm-up
    assert lrs[10] == pytest.approx(0.1)
    # cosine over the 40 remaining steps: lr(t) = min + (max - min) (1 + cos(pi t / 40)) / 2
    for t in (5, 20, 39):
        want = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 40)) / 2
        assert lrs[10 + t] == pytest.approx(want, rel=1e-6)


def test_multistep_counts_milestones_from_the_start() -> None:
    cfg = OptimConfig(lr=0.1, schedule="multistep", milestones=[3, 4], gamma=0.1, warmup_epochs=1)
    lrs = _lrs(cfg, 4, 5)
    assert lrs[4] == pytest.approx(0.1) and lrs[11] == pytest.approx(0.1)
    assert lrs[12] == pytest.approx(0.01) and lrs[16] == pytest.approx(0.001)


def test_frozen_parameters_are_left_out_and_bad_config_rejected() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[0].requires_grad_(False)
    opt = build_optimizer(model, OptimConfig())
    assert len(opt.param_groups[0]["params"]) == 2
    with pytest.raises(ValueError, match="schedule"):
        OptimConfig(schedule="linear")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        build_optimizer(model, OptimConfig())
