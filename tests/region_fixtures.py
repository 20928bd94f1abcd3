"""A tiny generated SSv2-format set and tiny random region-model checkpoints, written as
``benchmarks/ssv2.py`` writes them: what the tests of ``stgcn.extract`` and
``benchmarks/region_cache.py`` run on. (``tests/`` is on ``sys.path`` through its conftest.)"""

from __future__ import annotations

from pathlib import Path

import torch

from stgcn.engine import save_checkpoint
from stgcn.models import build_model

TINY = {"depth": 18, "width": 4, "frames": 4, "region_channels": 8, "gcn_layers": 1}
"""A region model small enough for a test: 4 frames, 8-d nodes, one GCN layer."""


def tiny_set(root: Path, videos: int = 12) -> Path:
    """``videos`` generated videos of 32x48 pixels, half train, half validation."""
    from stgcn.data.synthetic import generate

    generate(root, videos, seed=0, size=(32, 48), frames=(8, 12), splits=(0.5, 0.5, 0.0), workers=0)
    return root


def tiny_checkpoint(path: Path, root: Path, name: str = "i3d_gcn", extra: bool = True) -> Path:
    """A randomly initialised (seed 0) tiny ``name`` for the classes of ``root``, with the
    ``extra`` that rebuilds it (``model_name``, ``model_config``, ``classes``) unless ``extra``
    is False."""
    from stgcn.data.ssv2 import SomethingSomethingV2

    classes = SomethingSomethingV2(root, "validation", boxes=False).classes
    torch.manual_seed(0)
    model = build_model(name, len(classes), **TINY)
    state = {"model": model.state_dict()}
    if extra:
        state["extra"] = {"model_name": name, "model_config": TINY, "classes": list(classes)}
    return save_checkpoint(state, path)
