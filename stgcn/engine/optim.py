"""SGD with momentum and weight decay, and a per-step schedule: linear warm-up, then cosine or steps."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    SequentialLR,
)

__all__ = ["OptimConfig", "build_optimizer", "build_scheduler"]


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule.

    ``lr`` is the peak rate for the global batch. The schedule is stepped once per optimisation step:
    ``warmup_epochs`` of linear warm-up from ``warmup_factor * lr``, then ``"cosine"`` down to
    ``min_lr`` at the last step, or ``"multistep"`` multiplying by ``gamma`` at each epoch of
    ``milestones`` (counted from the start of training, warm-up included).
    """

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.1
    min_lr: float = 0.0
    milestones: list[float] = field(default_factory=list)
    gamma: float = 0.1
    clip_grad_norm: float | None = None

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "multistep", "constant"):
            raise ValueError(
                f"schedule must be cosine, multistep or constant; got {self.schedule!r}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.SGD:
    """SGD over the parameters that require a gradient (a frozen backbone is left out)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int, epochs: int
) -> LRScheduler:
    """The per-step schedule described in :class:`OptimConfig`, as a ``SequentialLR``."""
    total = max(1, steps_per_epoch * epochs)
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    rest = total - warmup
    if cfg.schedule == "cosine":
        main: LRScheduler = CosineAnnealingLR(optimizer, T_max=rest, eta_min=cfg.min_lr)
    elif cfg.schedule == "multistep":
        steps = [max(1, int(round(m * steps_per_epoch)) - warmup) for m in cfg.milestones]
        main = MultiStepLR(optimizer, milestones=steps, gamma=cfg.gamma)
    else:
        main = LinearLR(optimizer, start_factor=1.0, end_factor=1.0, total_iters=1)
    if warmup == 0:
        return main
    ramp = LinearLR(optimizer, start_factor=cfg.warmup_factor, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [ramp, main], milestones=[warmup])
