"""What the attention-style layers' tests share: the same-video mask, its edge list, and a gradcheck
through the input and every parameter."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call


def same_video(batch: torch.Tensor) -> torch.Tensor:
    """``[N, N]`` bool: nodes ``i`` and ``j`` are in the same video (``batch [N]``)."""
    return batch[:, None] == batch[None, :]


def all_pairs(batch: torch.Tensor) -> torch.Tensor:
    """``edge_index [2, E]`` (source, target) of every ordered pair in the same video, self-loops
    included: the complete graph of each video."""
    dst, src = same_video(batch).nonzero().t()
    return torch.stack([src, dst])


def gradcheck_with_parameters(m: nn.Module, x: torch.Tensor, *args: object) -> bool:
    """``torch.autograd.gradcheck`` of ``m(x, *args)`` with respect to ``x`` and every parameter
    of ``m`` (float64 expected), through :func:`torch.func.functional_call`."""
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]

    def fn(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return functional_call(m, dict(zip(names, ps, strict=True)), (x, *args))

    return torch.autograd.gradcheck(fn, (x, *params), fast_mode=True)


def assert_each_video_alone(m: nn.Module, x: torch.Tensor, batch: torch.Tensor) -> None:
    """``m(x, batch=batch)`` equals ``m`` run on each video's nodes alone (no video sees another;
    float64 expected)."""
    out = m(x, batch=batch)
    for v in batch.unique():
        sel = batch == v
        torch.testing.assert_close(out[sel], m(x[sel]), atol=1e-10, rtol=1e-10)
