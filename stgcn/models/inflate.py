"""2D -> 3D weight inflation (Carreira & Zisserman, *Quo Vadis, Action Recognition?*, CVPR 2017).

A 2D kernel W [out, in, kh, kw] becomes W3 [out, in, kt, kh, kw] with W3[:, :, t] = W / kt, so a
clip made of one repeated image ("boring video") gives the 2D network's activations at every frame
whose temporal receptive field stays inside the clip.

On a user's machine (this downloads, so it is never done on import)::

    from torchvision.models import ResNet50_Weights, resnet50
    model = i3d_r50(num_classes=400)
    report = inflate_2d_weights(model, resnet50(weights=ResNet50_Weights.IMAGENET1K_V2).state_dict())

or from a local file: ``inflate_2d_weights(model, torch.load(path, map_location="cpu"))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn


class InflationReport(NamedTuple):
    """What :func:`inflate_2d_weights` did, by state-dict key.

    ``loaded``: 3D keys filled from the 2D state dict (inflated or copied);
    ``missing``: 3D keys with no 2D counterpart, left as initialised (e.g. non-local blocks);
    ``skipped``: keys of the classifier whose shapes differ (e.g. 1000 vs 400 classes), left as
    initialised; ``unexpected``: 2D keys with no 3D counterpart.
    """

    loaded: list[str]
    missing: list[str]
    skipped: list[str]
    unexpected: list[str]


def inflate_kernel(weight_2d: Tensor, time: int) -> Tensor:
    """[out, in, kh, kw] -> [out, in, time, kh, kw], repeated over time and divided by ``time``."""
    return weight_2d.unsqueeze(2).expand(-1, -1, time, -1, -1) / time


@torch.no_grad()
def inflate_2d_weights(
    model3d: nn.Module,
    state_dict_2d: Mapping[str, Tensor],
    classifier_prefix: str = "fc.",
) -> InflationReport:
    """Fill ``model3d`` (a :class:`~stgcn.models.resnet3d.ResNet3D`) from a 2D ResNet state dict.

    Names must match one to one (torchvision's ``conv1``/``bn1``/``layerK.i.convJ``/
    ``downsample.0``/``fc``). A 5-D 3D weight whose 2D counterpart is 4-D is inflated with
    :func:`inflate_kernel`; everything else (BN weight, bias, running stats, ``fc``) is copied.
    Keys under ``classifier_prefix`` whose shapes differ are skipped and reported; any other shape
    mismatch means the architectures differ and raises ``ValueError``. Works in place and returns an
    :class:`InflationReport`.
    """
    target = model3d.state_dict()
    loaded: list[str] = []
    missing: list[str] = []
    skipped: list[str] = []
    for key, dst in target.items():
        if key not in state_dict_2d:
            missing.append(key)
            continue
        src = state_dict_2d[key]
        if dst.dim() == 5 and src.dim() == 4:
            expected = dst.shape[:2] + dst.shape[3:]
            if src.shape != expected:
                raise ValueError(
                    f"inflate_2d_weights: {key}: 2D kernel {tuple(src.shape)} cannot inflate to "
                    f"{tuple(dst.shape)}"
                )
            dst.copy_(inflate_kernel(src, dst.shape[2]))
        elif src.shape == dst.shape:
            dst.copy_(src)
        elif key.startswith(classifier_prefix):
            skipped.append(key)
            continue
        else:
            raise ValueError(
                f"inflate_2d_weights: {key}: 2D shape {tuple(src.shape)} does not match 3D "
                f"shape {tuple(dst.shape)} (different depth or width?)"
            )
        loaded.append(key)
    unexpected = [k for k in state_dict_2d if k not in target]
    return InflationReport(loaded, missing, skipped, unexpected)
