"""What a model costs: learnable parameters and multiply-accumulates of a forward pass."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_gmacs", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (weights, biases, BN affine; not BN running stats)."""
    return sum(p.numel() for p in model.parameters())


def count_gmacs(model: nn.Module, *inputs: Any) -> float:
    """Multiply-accumulates of ``model(*inputs)`` in eval mode, in G (10^9).

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode`: convolutions, matmuls and
    attention; RoIAlign, pooling and element-wise ops are not counted. Pass one clip
    (``[1, 3, T, H, W]``, and its graph for a model that takes one) for the per-clip figure.
    The model's train/eval mode is restored afterwards.
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was)
    return counter.get_total_flops() / 2e9
