r"""3D ResNets for video: I3D, C2D and non-local I3D.

One configurable :class:`ResNet3D` and a few-line builder per variant, after the non-local paper
(Wang, Girshick, Gupta & He, *Non-local Neural Networks*, CVPR 2018, Table 1) and PySlowFast's
``I3D_8x8_R50`` / ``I3D_NLN_8x8_R50`` / ``C2D_8x8_R50`` configs:

- stem (:func:`video_stem`, pluggable as in torchvision's ``VideoResNet``): conv 5x7x7 (C2D: 1x7x7),
  stride (1, 2, 2), BN, ReLU, max-pool 1x3x3 stride (1, 2, 2); ``in_channels`` is 3 for RGB, 2 for
  optical flow (x, y), or any other count;
- a temporal max-pool 2x1x1, stride (2, 1, 1), after res2 (``layer1``);
- temporal kernel sizes per residual block, ``I3D_TEMPORAL_KERNELS``:
  res2 [3, 3, 3], res3 [3, 1, 3, 1], res4 [3, 1, 3, 1, 3, 1], res5 [1, 3, 1]. In a bottleneck the
  temporal kernel goes into the first 1x1 conv (k x 1 x 1); in a :class:`BasicBlock3D` (R18), which
  has no 1x1 conv, it goes into the first 3x3 conv (k x 3 x 3). C2D sets every temporal kernel to 1.
  R18 takes the first blocks of each stage's R50 pattern: [3, 3], [3, 1], [3, 1], [1, 3];
- non-local blocks after the 0-based blocks ``NONLOCAL_POSITIONS`` = res3 {1, 3} and res4 {1, 3, 5}
  (every other block, 5 in all; PySlowFast ``NONLOCAL.LOCATION: [[[]], [[1, 3]], [[1, 3, 5]], [[]]]``).
  For R18 the same rule gives res3 {1} and res4 {1}. The block is
  :class:`stgcn.layers.non_local.NonLocalGraphConv` on its dense grid path, so there is one copy of
  the non-local math in the package. Its affinities are scaled by ``nonlocal_scale``, default
  :math:`1/\sqrt{d_{inner}}` as in the authors' released code (see :class:`ResNet3D`);
- ``res5_stride`` sets the spatial stride of res5: 2 as in ResNet (224 -> 7x7), 1 in STRG (224 -> 14x14);
- temporal padding is zeros, as in PySlowFast: frames within the receptive field of a clip border see
  zeros. (This is why the "boring video" check in the tests compares interior frames.)

Module names follow torchvision's ``ResNet`` (``stem.conv1``, ``stem.bn1``, ``layer1``..``layer4``,
``downsample``, ``fc``) so :func:`stgcn.models.inflate.inflate_2d_weights` maps a torchvision state dict
one to one (the ``stem.`` prefix dropped). A non-local block lives inside the block it follows, as ``layerK.i.nonlocal_block``, so
it does not shift the block indices.

Nothing is downloaded: weights are loaded by the caller (see ``inflate_2d_weights``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from stgcn.layers.non_local import NonLocalGraphConv

I3D_TEMPORAL_KERNELS: tuple[tuple[int, ...], ...] = (
    (3, 3, 3),
    (3, 1, 3, 1),
    (3, 1, 3, 1, 3, 1),
    (1, 3, 1),
)
NONLOCAL_POSITIONS: tuple[tuple[int, ...], ...] = ((), (1, 3), (1, 3, 5), ())
NO_NONLOCAL: tuple[tuple[int, ...], ...] = ((), (), (), ())


def _conv3d(
    in_channels: int, out_channels: int, kernel: tuple[int, int, int], spatial_stride: int = 1
) -> nn.Conv3d:
    """A bias-free Conv3d with "same" padding and stride (1, s, s)."""
    return nn.Conv3d(
        in_channels,
        out_channels,
        kernel_size=kernel,
        stride=(1, spatial_stride, spatial_stride),
        padding=tuple(k // 2 for k in kernel),
        bias=False,
    )


class BasicBlock3D(nn.Module):
    """ResNet basic block with a k x 3 x 3 first conv (k = ``temporal_kernel``), then 1 x 3 x 3.

    Input [B, inplanes, T, H, W] -> output [B, planes, T, H/s, W/s] (s = ``stride``).
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        temporal_kernel: int = 3,
        downsample: nn.Module | None = None,
        nonlocal_block: NonLocalGraphConv | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3d(inplanes, planes, (temporal_kernel, 3, 3), stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = _conv3d(planes, planes, (1, 3, 3))
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.nonlocal_block = nonlocal_block

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.relu(out + identity)
        if self.nonlocal_block is not None:
            out = self.nonlocal_block.forward_grid(out)
        return out


class Bottleneck3D(nn.Module):
    """ResNet bottleneck (torchvision v1.5: stride on the 3x3) with a k x 1 x 1 first conv.

    conv1 k x 1 x 1 -> conv2 1 x 3 x 3 (stride (1, s, s)) -> conv3 1 x 1 x 1, k = ``temporal_kernel``.
    Input [B, inplanes, T, H, W] -> output [B, 4 * planes, T, H/s, W/s].
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        temporal_kernel: int = 3,
        downsample: nn.Module | None = None,
        nonlocal_block: NonLocalGraphConv | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3d(inplanes, planes, (temporal_kernel, 1, 1))
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = _conv3d(planes, planes, (1, 3, 3), stride)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = _conv3d(planes, planes * self.expansion, (1, 1, 1))
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.nonlocal_block = nonlocal_block

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.relu(out + identity)
        if self.nonlocal_block is not None:
            out = self.nonlocal_block.forward_grid(out)
        return out


Block = type[BasicBlock3D] | type[Bottleneck3D]
StemFactory = Callable[[int, int, int], nn.Module]
"""``stem(in_channels, out_channels, temporal_kernel) -> nn.Module``: [B, in, T, H, W] ->
[B, out, T, H/4, W/4]."""


def video_stem(in_channels: int, out_channels: int, temporal_kernel: int) -> nn.Sequential:
    """The ResNet stem inflated to video: conv k x 7 x 7 stride (1, 2, 2), BN, ReLU, max-pool
    1 x 3 x 3 stride (1, 2, 2) (k = ``temporal_kernel``; 5 in I3D, 1 in C2D).

    [B, in_channels, T, H, W] -> [B, out_channels, T, H/4, W/4]. The children are named as in
    torchvision's ``ResNet`` (``conv1``, ``bn1``, ``relu``, ``maxpool``), so 2D weights map to
    ``stem.conv1`` / ``stem.bn1`` by name.
    """
    conv = nn.Conv3d(
        in_channels,
        out_channels,
        kernel_size=(temporal_kernel, 7, 7),
        stride=(1, 2, 2),
        padding=(temporal_kernel // 2, 3, 3),
        bias=False,
    )
    return nn.Sequential(
        OrderedDict(
            conv1=conv,
            bn1=nn.BatchNorm3d(out_channels),
            relu=nn.ReLU(inplace=True),
            maxpool=nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
    )


class ResNet3D(nn.Module):
    r"""A 3D ResNet (I3D / C2D / NL-I3D), laid out like torchvision's ``ResNet``.

    Args:
        block: :class:`Bottleneck3D` (R50) or :class:`BasicBlock3D` (R18).
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        temporal_kernels: one temporal kernel size per block of each stage (see module docstring).
        stem_temporal_kernel: temporal size of the 7x7 stem conv (5 for I3D, 1 for C2D).
        nonlocal_positions: per stage, the 0-based block indices followed by a non-local block.
        res5_stride: spatial stride of res5 (``layer4``); 2 in ResNet, 1 in STRG.
        width: channels of the stem (64 in ResNet); stage i has ``width * 2**i`` planes, so the
            output has ``width * 8 * block.expansion`` channels. Small widths make test models.
        num_classes: size of the linear classifier ``fc``; ``None`` gives ``fc = Identity`` and
            :meth:`forward` returns the pooled feature.
        dropout: dropout before ``fc`` (0.5 in the non-local paper).
        temporal_pool: the 2x1x1 max-pool after res2.
        nonlocal_mode, nonlocal_subsample: passed to ``NonLocalGraphConv`` (``mode``,
            ``subsample`` = 1x2x2 max-pool on the phi/g side, as in the non-local paper).
        nonlocal_scale: scale :math:`\theta^\top\phi` by :math:`1/\sqrt{d_{inner}}` before the
            softmax of every non-local block (``NonLocalGraphConv(scale=...)``). ``True``
            (default) follows the authors' released code, facebookresearch/video-nonlocal-net:
            ``lib/models/nonlocal_helper.py`` (``spacetime_nonlocal``) multiplies the affinity
            by ``dim_inner**-.5`` when ``cfg.NONLOCAL.USE_SCALE`` is set, and
            ``lib/core/config.py`` sets it to ``True``. ``False`` is the paper's eq. (6),
            unscaled. The non-softmax modes (dot product, concatenation) take no scale.
        zero_init_residual: zero the last BN scale of every block (Goyal et al.).
        in_channels: channels of the input clip: 3 for RGB, 2 for optical flow (x, y).
        stem: factory of the stem (see :data:`StemFactory`); default :func:`video_stem`.
            It must reduce space by 4 and keep time, as the default does (``feature_stride``
            assumes it).
        channels_last: keep the weights in ``torch.channels_last_3d`` and convert the input
            clip to it in :meth:`forward_features`, so callers need not. On the reference CPU
            (oneDNN) R50 at 32x224^2 ran at 45.9-64.6 % of peak in channels_last_3d against
            29.6-35.8 % contiguous (``benchmarks/backbone.py``); :func:`stgcn.models.build_model`
            turns it on by default.

    Shapes: clip [B, in_channels, T, H, W] -> :meth:`forward_features` [B, C, T/2, H/16 or H/32,
    ...] -> :meth:`forward` [B, num_classes]. ``feature_stride`` and ``temporal_stride`` give the
    strides of the feature map with respect to the input clip; ``out_channels`` is C;
    ``stage_channels`` the channels of res2..res5 (:meth:`forward_stages`).
    """

    takes_graph = False
    """Whether ``forward`` needs the region graph: the one flag the engine reads."""

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        temporal_kernels: Sequence[Sequence[int]],
        stem_temporal_kernel: int = 5,
        nonlocal_positions: Sequence[Sequence[int]] = NO_NONLOCAL,
        res5_stride: int = 2,
        width: int = 64,
        num_classes: int | None = 400,
        dropout: float = 0.5,
        temporal_pool: bool = True,
        nonlocal_mode: str = "embedded_gaussian",
        nonlocal_subsample: bool = True,
        nonlocal_scale: bool = True,
        zero_init_residual: bool = False,
        in_channels: int = 3,
        stem: StemFactory = video_stem,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(temporal_kernels) != 4 or len(nonlocal_positions) != 4:
            raise ValueError(
                "ResNet3D: layers, temporal_kernels and nonlocal_positions need 4 stages"
            )
        for stage, (n, kernels, nl) in enumerate(
            zip(layers, temporal_kernels, nonlocal_positions, strict=True)
        ):
            if len(kernels) != n:
                raise ValueError(
                    f"ResNet3D: stage res{stage + 2} has {n} blocks but {len(kernels)} temporal "
                    f"kernels {tuple(kernels)}"
                )
            if any(not 0 <= i < n for i in nl):
                raise ValueError(
                    f"ResNet3D: non-local positions {tuple(nl)} out of range for res{stage + 2} "
                    f"with {n} blocks"
                )
        if res5_stride not in (1, 2):
            raise ValueError(f"ResNet3D: res5_stride must be 1 or 2, got {res5_stride}")
        if in_channels < 1:
            raise ValueError(f"ResNet3D: in_channels must be >= 1, got {in_channels}")

        self.in_channels = in_channels
        self.nonlocal_mode = nonlocal_mode
        self.nonlocal_subsample = nonlocal_subsample
        self.nonlocal_scale = nonlocal_scale
        self.inplanes = width
        self.stem = stem(in_channels, width, stem_temporal_kernel)
        self.temporal_pool = (
            nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))
            if temporal_pool
            else nn.Identity()
        )
        strides = (1, 2, 2, res5_stride)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._make_layer(block, width * 2**i, n, strides[i], kernels, nl)
            for i, (n, kernels, nl) in enumerate(
                zip(layers, temporal_kernels, nonlocal_positions, strict=True)
            )
        )
        self.stage_channels = tuple(width * 2**i * block.expansion for i in range(4))
        self.out_channels = self.stage_channels[-1]
        self.feature_stride = 16 * res5_stride
        self.temporal_stride = 2 if temporal_pool else 1
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc: nn.Module = (
            nn.Linear(self.out_channels, num_classes) if num_classes else nn.Identity()
        )
        self.num_classes = num_classes
        self.reset_parameters(zero_init_residual)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last_3d)

    def _make_layer(
        self,
        block: Block,
        planes: int,
        blocks: int,
        stride: int,
        temporal_kernels: Sequence[int],
        nonlocal_positions: Sequence[int],
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv3d(self.inplanes, planes * block.expansion, (1, 1, 1), stride),
                nn.BatchNorm3d(planes * block.expansion),
            )
        layers = []
        for i in range(blocks):
            nl = None
            if i in nonlocal_positions:
                nl = _nonlocal_block(
                    planes * block.expansion,
                    self.nonlocal_mode,
                    self.nonlocal_subsample,
                    self.nonlocal_scale,
                )
            layers.append(
                block(
                    self.inplanes,
                    planes,
                    stride=stride if i == 0 else 1,
                    temporal_kernel=temporal_kernels[i],
                    downsample=downsample if i == 0 else None,
                    nonlocal_block=nl,
                )
            )
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def reset_parameters(self, zero_init_residual: bool = False) -> None:
        """He init (fan_out) for the residual convs, unit BN, as torchvision; non-local blocks
        re-initialise themselves (their last BN scale starts at 0, so they start as identity)."""
        for name, m in self.named_modules():
            if ".nonlocal_block" in name:
                continue
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                m.reset_parameters()
        for m in self.modules():
            if isinstance(m, BasicBlock3D | Bottleneck3D) and m.nonlocal_block is not None:
                m.nonlocal_block.reset_parameters()
            if zero_init_residual and isinstance(m, Bottleneck3D):
                nn.init.zeros_(m.bn3.weight)
            elif zero_init_residual and isinstance(m, BasicBlock3D):
                nn.init.zeros_(m.bn2.weight)

    def forward_features(self, clip: Tensor) -> Tensor:
        """Clip [B, in_channels, T, H, W] -> feature map [B, C, T', H', W'].

        T' = T // ``temporal_stride``; H' = H / ``feature_stride`` when H is a multiple of 32.
        With ``channels_last`` the clip is converted here and the map comes out channels-last.
        """
        return self.forward_stages(clip)[-1]

    def forward_stages(self, clip: Tensor) -> list[Tensor]:
        """Clip [B, in_channels, T, H, W] -> the output of every stage, res2..res5 (``layer1``
        after the temporal pool, ``layer2``, ``layer3``, ``layer4``): ``[B, width * 2**i *
        expansion, T', H / 2**(i+2), W / 2**(i+2)]`` for stage i (res5: its ``res5_stride``).
        What a dense objective on intermediate maps reads (:class:`stgcn.models.MotionPretext`).
        """
        if clip.dim() != 5 or clip.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNet3D: expected a clip [B, {self.in_channels}, T, H, W], "
                f"got {tuple(clip.shape)}"
            )
        if clip.shape[2] < self.temporal_stride:
            raise ValueError(
                f"ResNet3D: a clip of {clip.shape[2]} frame(s) is shorter than the temporal "
                f"stride {self.temporal_stride}"
            )
        if self.channels_last:
            clip = clip.contiguous(memory_format=torch.channels_last_3d)
        stages = [self.temporal_pool(self.layer1(self.stem(clip)))]
        for layer in (self.layer2, self.layer3, self.layer4):
            stages.append(layer(stages[-1]))
        return stages

    def pool(self, features: Tensor) -> Tensor:
        """Feature map [B, C, T', H', W'] -> global average [B, C]."""
        return self.avgpool(features).flatten(1)

    def forward(self, clip: Tensor, graph: object | None = None) -> Tensor:
        """Clip [B, in_channels, T, H, W] -> logits [B, num_classes] (pooled [B, C] if
        ``num_classes`` is None). ``graph`` is accepted for the common model interface and ignored."""
        return self.fc(self.dropout(self.pool(self.forward_features(clip))))


def _nonlocal_block(channels: int, mode: str, subsample: bool, scale: bool) -> NonLocalGraphConv:
    """A backbone non-local block; ``scale`` as :class:`ResNet3D`'s ``nonlocal_scale`` (only the
    softmax modes take a scale, as in the released code)."""
    softmax = mode in ("embedded_gaussian", "gaussian")
    return NonLocalGraphConv(channels, mode=mode, subsample=subsample, scale=scale and softmax)


R18_NONLOCAL_POSITIONS: tuple[tuple[int, ...], ...] = ((), (1,), (1,), ())

_DEPTHS: dict[str, tuple[Block, tuple[int, ...]]] = {
    "r18": (BasicBlock3D, (2, 2, 2, 2)),
    "r50": (Bottleneck3D, (3, 4, 6, 3)),
}


def _video_resnet(kind: str, depth: str, num_classes: int | None, **kwargs: object) -> ResNet3D:
    """The named builders' one helper (torchvision's ``_video_resnet`` pattern).

    ``kind``: "c2d" (every temporal kernel 1, stem 1x7x7), "i3d" (the non-local paper's 3x1x1
    pattern, stem 5x7x7; R18 keeps the first two kernels of each R50 stage's list) or "i3d_nl"
    (i3d with non-local blocks: 5 for R50, 2 for R18). ``depth``: "r18" | "r50".
    """
    block, layers = _DEPTHS[depth]
    if kind == "c2d":
        kernels: tuple[tuple[int, ...], ...] = tuple((1,) * n for n in layers)
    elif depth == "r50":
        kernels = I3D_TEMPORAL_KERNELS
    else:
        kernels = tuple(tuple(k[:2]) for k in I3D_TEMPORAL_KERNELS)
    nonlocal_positions = NO_NONLOCAL
    if kind == "i3d_nl":
        nonlocal_positions = NONLOCAL_POSITIONS if depth == "r50" else R18_NONLOCAL_POSITIONS
    stem_t = 1 if kind == "c2d" else 5
    return ResNet3D(
        block, layers, kernels, stem_t, nonlocal_positions, num_classes=num_classes, **kwargs
    )


def i3d_r50(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """I3D ResNet-50 (3x1x1 inflation pattern of the non-local paper); ``kwargs`` go to ResNet3D."""
    return _video_resnet("i3d", "r50", num_classes, **kwargs)


def i3d_nl_r50(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """I3D ResNet-50 with 5 non-local blocks (res3 {1, 3}, res4 {1, 3, 5})."""
    return _video_resnet("i3d_nl", "r50", num_classes, **kwargs)


def c2d_r50(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """C2D ResNet-50: every temporal kernel 1 (stem 1x7x7), temporal max-pool kept."""
    return _video_resnet("c2d", "r50", num_classes, **kwargs)


def i3d_r18(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """I3D ResNet-18: temporal kernels [3, 3], [3, 1], [3, 1], [1, 3] in the first 3x3 conv."""
    return _video_resnet("i3d", "r18", num_classes, **kwargs)


def i3d_nl_r18(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """I3D ResNet-18 with non-local blocks after block 1 of res3 and of res4."""
    return _video_resnet("i3d_nl", "r18", num_classes, **kwargs)


def c2d_r18(num_classes: int | None = 400, **kwargs: object) -> ResNet3D:
    """C2D ResNet-18: every temporal kernel 1 (stem 1x7x7)."""
    return _video_resnet("c2d", "r18", num_classes, **kwargs)


__all__ = [
    "BasicBlock3D",
    "Bottleneck3D",
    "ResNet3D",
    "I3D_TEMPORAL_KERNELS",
    "NONLOCAL_POSITIONS",
    "StemFactory",
    "c2d_r18",
    "c2d_r50",
    "i3d_nl_r18",
    "i3d_nl_r50",
    "i3d_r18",
    "i3d_r50",
    "video_stem",
]
