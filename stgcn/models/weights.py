"""Stage-2 weights: start a model from a checkpoint's matching tensors, optionally freeze its backbone.

The paper trains STRG in two stages: an I3D backbone first, then the graph head on top of it with
the backbone frozen. :func:`init_from` loads the tensors of a checkpoint whose names and shapes
match the model (a plain I3D checkpoint into the ``backbone`` of an STRG model as well) and
:func:`freeze_backbone` stops the gradient of the backbone; its BatchNorm statistics stay fixed too
because :func:`stgcn.engine.trainer.train_mode` keeps frozen normalisation layers in eval mode.
Files are read with ``weights_only=True`` (:func:`stgcn.io.load_safe`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from stgcn.io import load_safe

__all__ = ["freeze_backbone", "init_from"]


def init_from(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, Tensor],
    freeze: bool = False,
) -> dict[str, Any]:
    """Load the tensors of ``source`` whose names and shapes match ``model``; others are skipped.

    Args:
        model: the model to initialise, e.g. an STRG (``model.backbone``) or a ResNet3D.
        source: a checkpoint written by :func:`stgcn.engine.fit` (its ``"model"`` entry is used),
            a path to a bare state dict, or a state dict. A state dict without ``backbone.`` keys
            loaded into a model with a ``backbone`` goes into the backbone (the paper's stage 1
            I3D into stage 2's STRG).
        freeze: also :func:`freeze_backbone`.

    Returns:
        ``{"loaded": number of tensors loaded, "skipped": sorted names not loaded,
        "frozen_parameters": number of parameters that do not require a gradient}``.
    """
    state = load_safe(source) if isinstance(source, str | os.PathLike) else source
    if isinstance(state.get("model"), Mapping):  # a whole training checkpoint
        state = state["model"]
    backbone = getattr(model, "backbone", None)
    target = model
    if backbone is not None and not any(k.startswith("backbone.") for k in state):
        target = backbone
    own = target.state_dict()
    loadable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(loadable, strict=False)
    if freeze:
        freeze_backbone(model)
    return {
        "loaded": len(loadable),
        "skipped": sorted(set(state) - set(loadable)),
        "frozen_parameters": sum(p.numel() for p in model.parameters() if not p.requires_grad),
    }


def freeze_backbone(model: nn.Module) -> int:
    """Stop the gradient of ``model.backbone`` (or, for a model without one, of everything but its
    classifier ``fc``); returns the number of parameters frozen."""
    backbone = getattr(model, "backbone", None)
    frozen = 0
    for name, p in (backbone or model).named_parameters():
        if backbone is not None or not name.startswith("fc."):
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen
