"""2D -> 3D weight inflation (Carreira & Zisserman, *Quo Vadis, Action Recognition?*, CVPR 2017).

A 2D kernel W [out, in, kh, kw] becomes W3 [out, in, kt, kh, kw] with W3[:, :, t] = W / kt, so a
clip made of one repeated image ("boring video") gives the 2D network's activations at every frame
whose temporal receptive field stays inside the clip.

On a user's machine (this downloads, so it is never done on import)::

    from torchvision.models import ResNet50_Weights, resnet50
    model = i3d_r50(num_classes=400)
    report = inflate_2d_weights(model, resnet50(weights=ResNet50_Weights.IMAGENET1K_V2).state_dict())

or from a local file: ``inflate_2d_weights(model, torch.load(path, map_location="cpu"))``.

A backbone whose input is not RGB (``ResNet3D(in_channels=2)`` for optical flow) takes the
cross-modality initialisation of TSN (Wang et al., *Temporal Segment Networks*, ECCV 2016,
Sec. 3.2): the first convolution's weights are averaged over the three colour channels and the
average is replicated over the new input channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn


class InflationReport(NamedTuple):
    """What :func:`inflate_2d_weights` did, by state-dict key.

    ``loaded``: 3D keys filled from the 2D state dict (inflated or copied);
    ``cross_modality``: the subset of ``loaded`` whose input channels differ from the 2D kernel's
    (averaged over them and replicated, TSN's rule; the first conv of a flow network);
    ``missing``: 3D keys with no 2D counterpart, left as initialised (e.g. non-local blocks);
    ``skipped``: keys of the classifier whose shapes differ (e.g. 1000 vs 400 classes), left as
    initialised; ``unexpected``: 2D keys with no 3D counterpart.
    """

    loaded: list[str]
    missing: list[str]
    skipped: list[str]
    unexpected: list[str]
    cross_modality: list[str] = []


def inflate_kernel(weight_2d: Tensor, time: int) -> Tensor:
    """[out, in, kh, kw] -> [out, in, time, kh, kw], repeated over time and divided by ``time``."""
    return weight_2d.unsqueeze(2).expand(-1, -1, time, -1, -1) / time


def cross_modality_kernel(weight_2d: Tensor, in_channels: int) -> Tensor:
    """[out, c, kh, kw] -> [out, in_channels, kh, kw]: the mean over the c input channels,
    replicated ``in_channels`` times (TSN's cross-modality initialisation, e.g. RGB -> flow)."""
    return weight_2d.mean(dim=1, keepdim=True).expand(-1, in_channels, -1, -1).contiguous()


def _name_2d(key: str) -> str:
    """The torchvision name of a :class:`ResNet3D` key: the stem's children sit at the top level."""
    return key.removeprefix("stem.")


@torch.no_grad()
def inflate_2d_weights(
    model3d: nn.Module,
    state_dict_2d: Mapping[str, Tensor],
    classifier_prefix: str = "fc.",
) -> InflationReport:
    """Fill ``model3d`` (a :class:`~stgcn.models.resnet3d.ResNet3D`) from a 2D ResNet state dict.

    Names must match one to one (torchvision's ``conv1``/``bn1``/``layerK.i.convJ``/
    ``downsample.0``/``fc``; the 3D stem's ``stem.conv1``/``stem.bn1`` match ``conv1``/``bn1``).
    A 5-D 3D weight whose 2D counterpart is 4-D is inflated with :func:`inflate_kernel`; when
    only its input channels differ (a flow backbone's first conv), the 2D kernel first goes
    through :func:`cross_modality_kernel`. Everything else (BN weight, bias, running stats,
    ``fc``) is copied.
    Keys under ``classifier_prefix`` whose shapes differ are skipped and reported; any other shape
    mismatch means the architectures differ and raises ``ValueError``. Works in place and returns an
    :class:`InflationReport`.
    """
    target = model3d.state_dict()
    loaded: list[str] = []
    missing: list[str] = []
    skipped: list[str] = []
    cross: list[str] = []
    for key, dst in target.items():
        name = _name_2d(key)
        if name not in state_dict_2d:
            missing.append(key)
            continue
        src = state_dict_2d[name]
        if dst.dim() == 5 and src.dim() == 4:
            expected = dst.shape[:2] + dst.shape[3:]
            if src.shape[1] == 3 != dst.shape[1] and src.shape[0] == dst.shape[0]:
                src = cross_modality_kernel(src, dst.shape[1])
                cross.append(key)
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
    names = {_name_2d(k) for k in target}
    unexpected = [k for k in state_dict_2d if k not in names]
    return InflationReport(loaded, missing, skipped, unexpected, cross)
