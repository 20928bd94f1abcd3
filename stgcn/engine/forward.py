"""How the loop calls a model on a batch: the ``takes_graph`` rule, autocast and the data loader.

Every model is called as ``model(clip, graph)``. Whether it gets the batch's region graph or
``None`` is decided here, in :func:`model_inputs`, and nowhere else, from one class attribute the
model must declare:

* ``takes_graph = True``: the model reads the boxes; it gets ``batch.graph`` on its device, and a
  batch without a graph is an error;
* ``takes_graph = False``: it gets ``None`` (the graph is not even moved to the device).

A model without the attribute is refused with a message that says how to declare it: a default
would silently feed graph models ``None`` or graph-free models graphs they ignore.

Which clip a model reads is its ``modality`` (:func:`modality`); the library's RGB models do not
declare it, and a model without it reads RGB:

* ``"rgb"`` (default): ``batch.clip`` ``[B, 3, T, H, W]``;
* ``"flow"`` (``tsn_flow``, ``i3d_flow``): ``batch.flow`` ``[B, 2L, T, H, W]`` (x, y of L
  stacked fields per frame), in the clip's place: ``model(flow, graph)``;
* ``("rgb", "flow")`` (``two_stream``): both, ``model(clip, flow)``; such a model cannot also
  take a graph.

One field per modality, whatever the dataset read: the RGB is always ``batch.clip`` and the flow
always ``batch.flow`` (the SSv2 reader with ``modality="flow"`` leaves ``clip`` None). A model
given a batch without the field it reads (absent or None) is an error that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from stgcn.engine.data_order import ResumableSampler, SeededDataset

__all__ = [
    "MODALITIES",
    "autocast",
    "default_collate",
    "make_loader",
    "modality",
    "model_inputs",
    "takes_graph",
    "unwrap",
]

MODALITIES: tuple[str | tuple[str, ...], ...] = ("rgb", "flow", ("rgb", "flow"))
"""What a model's ``modality`` may be."""


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def takes_graph(model: nn.Module) -> bool:
    """The model's ``takes_graph`` declaration (through a DDP wrapper); a clear error if absent."""
    net = unwrap(model)
    flag = getattr(net, "takes_graph", None)
    if not isinstance(flag, bool):
        raise TypeError(
            f"{type(net).__name__} does not declare whether it reads the region graph: give the "
            "class `takes_graph = True` (called as model(clip, graph)) or `takes_graph = False` "
            f"(called as model(clip, None)); got {flag!r}"
        )
    return flag


def modality(model: nn.Module) -> str | tuple[str, ...]:
    """The model's ``modality`` (through a DDP wrapper): "rgb" when undeclared, "flow", or
    ``("rgb", "flow")``; anything else is a ``TypeError``."""
    net = unwrap(model)
    value = getattr(net, "modality", "rgb")
    value = tuple(value) if isinstance(value, list) else value
    if value not in MODALITIES:
        raise TypeError(
            f"{type(net).__name__}.modality is {value!r}; expected one of {list(MODALITIES)}"
        )
    return value


def _flow(model: nn.Module, batch: Any) -> Tensor:
    flow = getattr(batch, "flow", None)
    if flow is None:
        raise ValueError(
            f"{type(unwrap(model)).__name__} reads optical flow but the batch has none "
            "(batch.flow; read the dataset with modality 'flow' or ('rgb', 'flow'))"
        )
    return flow


def _rgb(model: nn.Module, batch: Any) -> Tensor:
    clip = getattr(batch, "clip", None)
    if clip is None:
        raise ValueError(
            f"{type(unwrap(model)).__name__} reads RGB but the batch has no clip (batch.clip "
            "is None: a dataset read with modality 'flow'; use 'rgb' or ('rgb', 'flow'))"
        )
    return clip


def model_inputs(model: nn.Module, batch: Any, device: torch.device) -> tuple[Tensor, Any]:
    """The arguments of ``model`` for ``batch``, on ``device``: ``(clip or flow, graph or None)``
    by :func:`modality` and :func:`takes_graph`, or ``(clip, flow)`` for a two-stream model."""
    kind = modality(model)
    graph_too = takes_graph(model)
    if kind == ("rgb", "flow"):
        if graph_too:
            raise TypeError(
                f"{type(unwrap(model)).__name__} reads rgb and flow, so it is called as "
                "model(clip, flow) and cannot take a graph too"
            )
        flow = _flow(model, batch).to(device, non_blocking=True)
        return _rgb(model, batch).to(device, non_blocking=True), flow
    clip = _rgb(model, batch) if kind == "rgb" else _flow(model, batch)
    clip = clip.to(device, non_blocking=True)
    if not graph_too:
        return clip, None
    graph = getattr(batch, "graph", None)
    if graph is None:
        raise ValueError(
            f"{type(unwrap(model)).__name__} takes a region graph but the batch has none "
            "(a dataset without boxes?)"
        )
    return clip, graph.to(device)


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """Mixed precision: float16 on CUDA (with a ``GradScaler`` in training), bfloat16 on the CPU."""
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def default_collate() -> Callable:
    """:func:`stgcn.data.ssv2.collate`, imported on first use (it needs the ``video`` extra)."""
    from stgcn.data.ssv2 import collate

    return collate


def make_loader(
    dataset: Dataset,
    sampler: ResumableSampler,
    batch_size: int,
    workers: int,
    collate_fn: Callable,
    drop_last: bool,
    device: torch.device,
) -> DataLoader:
    """A ``DataLoader`` over ``SeededDataset(dataset)`` in the sampler's ``(index, seed)`` order."""
    return DataLoader(
        SeededDataset(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        pin_memory=device.type == "cuda",
    )
