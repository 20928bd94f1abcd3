r"""3D-fused two-stream network: Carreira & Zisserman, *Quo Vadis, Action Recognition? A New Model
and the Kinetics Dataset*, CVPR 2017, Sec. 2.4 (architecture (d) of their Fig. 2), after
Feichtenhofer, Pinz & Zisserman (*Convolutional Two-Stream Network Fusion*, CVPR 2016).

An RGB and a flow 2D network read K = 5 time points spaced apart (the paper: "5 consecutive RGB
frames sampled 10 frames apart as well as the corresponding optical flow snippets"). Their last
convolutional maps, before the global pooling, are stacked along time and concatenated along
channels, and fused by a 3D convolution instead of at the softmax:

.. math::

    M_k = [F_{rgb}(I_k) \,\|\, F_{flow}(O_k)] \in \mathbb{R}^{2C \times h \times w}, \quad
    Y = \mathrm{MaxPool}_{3^3}(\mathrm{ReLU}(\mathrm{BN}(\mathrm{Conv}_{3^3}([M_1, \dots,
    M_K])))), \quad s = W \,\mathrm{avg}(Y) + b

with the 3x3x3 convolution of 512 output channels and the 3x3x3 max-pool (stride 2) of the
paper, then a global average and the classifier (the paper's "final fully connected layer";
the global average lets it run at any input size). The paper uses Inception-V1 streams and
initialises the new layers with Gaussian noise; here the streams are torchvision 2D ResNets
and the fusion layers use PyTorch's default initialisation, with BN after the fusion
convolution to train it from scratch.

The streams are two :class:`~stgcn.models.TSN` (their classifiers removed), so the clip layout,
the flow stacking and the cross-modality initialisation of the flow ``conv1`` are TSN's:
RGB ``[B, 3, K, H, W]`` (segment k's frame) and flow ``[B, 2L, K, H, W]`` (the L flow fields
from segment k's frame on, as 2L channels), the same frame indices for both, as the SSv2 reader
gives them for the ``("rgb", "flow")`` modality with ``flow_length`` L.

Shapes: ``(clip [B, 3, K, H, W], flow [B, 2L, K, H, W])`` -> logits ``[B, num_classes]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import ResNet

from stgcn.models.tsn import TSN

__all__ = ["FusedTwoStream", "resnet_conv_map"]


def resnet_conv_map(net: ResNet, x: Tensor) -> Tensor:
    """A torchvision ResNet's last convolutional map: ``[N, C_in, H, W]`` -> ``[N, C, H/32,
    W/32]`` (its forward without ``avgpool`` and ``fc``)."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


class FusedTwoStream(nn.Module):
    """Two 2D streams fused after their last convolution by a 3D conv (see the module docstring).

    Args:
        rgb: a :class:`TSN` of modality "rgb" (its ``fc`` is removed).
        flow: a :class:`TSN` of modality "flow" (stacks of ``new_length`` L flow fields).
        num_classes: outputs of the classifier.
        fusion_channels: output channels of the 3x3x3 fusion convolution (512 in the paper).
        dropout: before the classifier.

    Shapes: :meth:`fused_maps` ``[B, C_rgb + C_flow, K, h, w]``; :meth:`forward` ``[B,
    num_classes]``.
    """

    takes_graph = False
    modality = ("rgb", "flow")
    """What the engine feeds it: ``model(batch.clip, batch.flow)``."""

    def __init__(
        self,
        rgb: TSN,
        flow: TSN,
        num_classes: int,
        *,
        fusion_channels: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if rgb.modality != "rgb" or flow.modality != "flow":
            raise ValueError(
                f"FusedTwoStream: needs an rgb and a flow TSN, got {rgb.modality!r} and "
                f"{flow.modality!r}"
            )
        for stream in (rgb, flow):  # the streams end at their conv maps
            stream.fc, stream.dropout = nn.Identity(), nn.Identity()
        self.rgb, self.flow = rgb, flow
        channels = rgb.out_channels + flow.out_channels
        self.fusion = nn.Sequential(
            nn.Conv3d(channels, fusion_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(fusion_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(3, stride=2, padding=1),
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(fusion_channels, num_classes)
        self.num_classes, self.fusion_channels = num_classes, fusion_channels

    def _stream_map(self, stream: TSN, clip: Tensor) -> Tensor:
        x = stream.snippets(clip)  # [B * K, C', H, W]
        if stream.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        m = resnet_conv_map(stream.backbone, x)  # [B * K, C, h, w]
        b = clip.shape[0]
        return m.view(b, -1, *m.shape[1:]).transpose(1, 2)  # [B, C, K, h, w]

    def fused_maps(self, clip: Tensor, flow: Tensor) -> Tensor:
        """The two streams' last conv maps, concatenated: ``[B, C_rgb + C_flow, K, h, w]``
        (time point k of both streams at index k)."""
        rgb, mot = self._stream_map(self.rgb, clip), self._stream_map(self.flow, flow)
        if rgb.shape[2:] != mot.shape[2:]:
            raise ValueError(
                f"FusedTwoStream: the rgb and flow maps differ, {tuple(rgb.shape)} and "
                f"{tuple(mot.shape)}: give both clips the same frames and size"
            )
        return torch.cat([rgb, mot], dim=1)

    def forward(self, clip: Tensor, flow: Tensor | None = None) -> Tensor:
        """``(clip [B, 3, K, H, W], flow [B, 2L, K, H, W])`` -> logits ``[B, num_classes]``."""
        if flow is None:
            raise ValueError("FusedTwoStream: no flow clip (call model(rgb_clip, flow_clip))")
        y = self.fusion(self.fused_maps(clip, flow))
        return self.fc(self.dropout(y.mean(dim=(2, 3, 4))))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, fusion_channels={self.fusion_channels}"
