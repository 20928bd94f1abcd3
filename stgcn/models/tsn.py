r"""Temporal Segment Networks (Wang et al., *Temporal Segment Networks: Towards Good Practices for
Deep Action Recognition*, ECCV 2016): a 2D network applied to K snippets, averaged.

.. math::

    \mathrm{TSN}(T_1, \dots, T_K) = \frac{1}{K} \sum_{k=1}^{K} F(T_k; W)

with :math:`F` a torchvision 2D ResNet (dropout, then a new ``fc``) and :math:`T_k` the snippet of
segment k: one RGB frame, or a stack of L optical-flow fields (the temporal stream of Simonyan &
Zisserman, *Two-Stream Convolutional Networks*, NIPS 2014). The consensus is the average of the
per-segment **logits**, as in TSN's released code (``SegmentConsensus('avg')`` before the loss).

Clip layout: the one :class:`stgcn.data.ssv2.SomethingSomethingV2` gives (``Sample.clip`` and
``Sample.flow``), one time step per sampled frame, K = T frames = K segments (TSN sampling,
``sampling="tsn"``, takes one frame per segment):

- RGB ``[B, 3, K, H, W]``: frame k is segment k's snippet.
- flow ``[B, 2L, K, H, W]``: time step k holds the L consecutive flow fields that start at segment
  k's sampled frame, as channels ``(x_1, y_1, x_2, y_2, ..., x_L, y_L)`` (the reader's
  ``flow_length`` = L), TSN's stacking order (its loader appends the x and y image of each frame
  in turn). That is exactly the 2L-channel image ``conv1`` reads, so segment k is ``flow[:, :,
  k]``; with L = 1 it is also the flow I3D's input ``[B, 2, T, H, W]``.

Cross-modality initialisation (TSN Sec. 3.2): the flow network's ``conv1`` [64, 2L, 7, 7] is the
RGB ``conv1`` averaged over its 3 colour channels and replicated 2L times
(:func:`stgcn.models.inflate.cross_modality_kernel`); it is applied to whatever weights the 2D
backbone holds when the TSN is built (ImageNet weights when the caller asks for them, random
otherwise).

Partial BN (TSN Sec. 3.2): every BatchNorm but the first (``backbone.bn1``, after ``conv1``) keeps
its ImageNet statistics and affine parameters: their parameters are frozen at construction and
:meth:`TSN.train` keeps them in eval mode (which ``stgcn.engine``'s ``train_mode`` also does for
BN layers whose parameters are all frozen).

Nothing downloads unless a builder is given ``weights`` (a torchvision weights enum or its name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision.models import ResNet, resnet18, resnet50

from stgcn.models.inflate import cross_modality_kernel

Modality = Literal["rgb", "flow"]

__all__ = ["TSN", "tsn_r18", "tsn_r50"]


class TSN(nn.Module):
    r"""A TSN over a torchvision 2D ResNet; see the module docstring for the equation and layout.

    Args:
        backbone: a torchvision :class:`~torchvision.models.ResNet` (its ``fc`` is replaced).
        num_classes: outputs of the new classifier.
        modality: ``"rgb"`` (3-channel frames) or ``"flow"`` (2L-channel flow stacks; ``conv1``
            is rebuilt with the cross-modality initialisation).
        new_length: L, the flow stack length (5 or 10 in TSN): ``conv1`` reads 2L channels. An
            RGB TSN reads one frame per segment (L = 1).
        dropout: before the classifier (TSN: 0.8 RGB, 0.7 flow).
        partial_bn: freeze every BatchNorm but the first (see the module docstring).
        channels_last: weights and inputs in ``torch.channels_last``.

    Shapes: clip ``[B, 3, K, H, W]`` (RGB) or ``[B, 2L, K, H, W]`` (flow) -> :meth:`segment_logits`
    ``[B, K, num_classes]`` -> :meth:`forward` ``[B, num_classes]`` (their mean over K).
    """

    takes_graph = False
    """The engine's declaration: ``forward(clip, graph)`` ignores the graph."""

    def __init__(
        self,
        backbone: ResNet,
        num_classes: int,
        *,
        modality: Modality = "rgb",
        new_length: int = 1,
        dropout: float = 0.8,
        partial_bn: bool = True,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if modality not in ("rgb", "flow"):
            raise ValueError(f"TSN: modality must be 'rgb' or 'flow', got {modality!r}")
        if new_length < 1 or (modality == "rgb" and new_length != 1):
            raise ValueError(
                f"TSN({modality}): new_length must be >= 1, and 1 for RGB (one frame per "
                f"segment; new_length is the flow stack length), got {new_length}"
            )
        self.modality: Modality = modality
        self.new_length = new_length
        self.in_channels = 3 if modality == "rgb" else 2 * new_length
        if modality == "flow":
            old = backbone.conv1
            conv = nn.Conv2d(
                2 * new_length,
                old.out_channels,
                old.kernel_size,
                old.stride,
                old.padding,
                bias=old.bias is not None,
            )
            with torch.no_grad():
                conv.weight.copy_(cross_modality_kernel(old.weight, 2 * new_length))
                if old.bias is not None:
                    conv.bias.copy_(old.bias)
            backbone.conv1 = conv
        self.out_channels = backbone.fc.in_features
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.out_channels, num_classes)
        self.num_classes = num_classes
        nn.init.normal_(self.fc.weight, std=0.001)  # TSN's init of the new classifier
        nn.init.zeros_(self.fc.bias)
        self.partial_bn = partial_bn
        if partial_bn:
            for bn in self.frozen_norms():
                bn.requires_grad_(False)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def frozen_norms(self) -> list[nn.BatchNorm2d]:
        """The BatchNorm layers partial BN freezes: all but the first (empty without it)."""
        norms = [m for m in self.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
        return norms[1:] if self.partial_bn else []

    def train(self, mode: bool = True) -> TSN:
        """``nn.Module.train``, then, with partial BN, every BatchNorm but the first back in eval
        mode (running statistics fixed)."""
        super().train(mode)
        if mode:
            for bn in self.frozen_norms():
                bn.eval()
        return self

    def snippets(self, clip: Tensor) -> Tensor:
        """Clip ``[B, C, K, H, W]`` -> per-segment images ``[B * K, C, H, W]``: C = 3 (RGB) or 2L
        (flow, ordered x_1, y_1, ..., x_L, y_L, as the reader stacks them)."""
        if clip.dim() != 5 or clip.shape[1] != self.in_channels or clip.shape[2] == 0:
            what = "3" if self.modality == "rgb" else f"2L = {self.in_channels}"
            raise ValueError(
                f"TSN({self.modality}, new_length={self.new_length}): expected a clip "
                f"[B, {what}, K, H, W] with K >= 1 segments, got {tuple(clip.shape)}"
            )
        b, c, k, h, w = clip.shape
        return clip.transpose(1, 2).reshape(b * k, c, h, w)

    def segment_logits(self, clip: Tensor) -> Tensor:
        """Clip ``[B, C, K, H, W]`` -> per-segment logits ``[B, K, num_classes]``."""
        x = self.snippets(clip)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.fc(self.dropout(self.backbone(x)))
        return logits.view(clip.shape[0], -1, self.num_classes)

    def forward(self, clip: Tensor, graph: object | None = None) -> Tensor:
        """Clip ``[B, C, K, H, W]`` -> segmental consensus ``[B, num_classes]``: the mean of
        the K per-segment logits. ``graph`` is accepted for the common interface and ignored."""
        return self.segment_logits(clip).mean(dim=1)

    def extra_repr(self) -> str:
        return (
            f"modality={self.modality}, new_length={self.new_length}, partial_bn={self.partial_bn}"
        )


_BACKBONES: dict[str, Callable[..., ResNet]] = {"r18": resnet18, "r50": resnet50}


def _tsn(depth: str, num_classes: int, weights: object, **kwargs: object) -> TSN:
    """The builders' one helper: torchvision's ResNet of ``depth`` (with ``weights``, which
    downloads through torchvision when not cached) wrapped in a :class:`TSN`."""
    return TSN(_BACKBONES[depth](weights=weights), num_classes, **kwargs)  # type: ignore[arg-type]


def tsn_r18(num_classes: int, *, weights: object = None, **kwargs: object) -> TSN:
    """TSN on ResNet-18; ``weights``: a ``torchvision.models.ResNet18_Weights`` (or its name,
    e.g. ``"IMAGENET1K_V1"``), None for random; ``kwargs`` go to :class:`TSN`."""
    return _tsn("r18", num_classes, weights, **kwargs)


def tsn_r50(num_classes: int, *, weights: object = None, **kwargs: object) -> TSN:
    """TSN on ResNet-50; ``weights``: a ``torchvision.models.ResNet50_Weights`` (or its name),
    None for random; ``kwargs`` go to :class:`TSN`."""
    return _tsn("r50", num_classes, weights, **kwargs)
