"""Process-group set-up from torchrun's environment and the few collectives the loop needs.

`torchrun --nproc_per_node N script.py` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_distributed` reads them (``env://``), picks ``nccl`` on CUDA and ``gloo``
on the CPU, and returns a :class:`DistInfo`. Without those variables it returns a single-process
``DistInfo`` and every collective below is the identity, so the loop has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "cleanup_distributed",
    "init_distributed",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` in ``world_size`` processes, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes checkpoints and results."""
        return self.rank == 0


def init_distributed(device: str = "cpu", backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any.

    Args:
        device: ``"cpu"`` or ``"cuda"``; with CUDA each process takes GPU ``LOCAL_RANK``.
        backend: override the backend (default ``nccl`` for CUDA, ``gloo`` for CPU).

    Returns:
        The :class:`DistInfo` of this process (world size 1 when not launched by torchrun).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch.cuda.is_available() is False")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend=backend or ("nccl" if device == "cuda" else "gloo"), init_method="env://"
        )
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` (any shape) over all processes; returns a new tensor on the input's device.

    Metrics are reduced as sums (of correct predictions, of counts, of ``loss * count``) and divided
    afterwards, never as a mean of per-process means.
    """
    out = values.detach().clone()
    if _active():
        device = out.device
        if dist.get_backend() == "nccl" and device.type != "cuda":  # NCCL reduces GPU tensors only
            out = out.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out = out.to(device)
    return out


def all_gather_objects(obj: Any) -> list[Any]:
    """Gather one picklable object per process, in rank order (a one-element list when alone)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (identity when alone)."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every process (no-op when alone)."""
    if _active():
        dist.barrier()
