r"""C3D (Tran et al., *Learning Spatiotemporal Features with 3D Convolutional Networks*, ICCV
2015), in the version of Carreira & Zisserman, *Quo Vadis, Action Recognition? A New Model and
the Kinetics Dataset*, CVPR 2017, Sec. 2.2 (architecture (b) of their Fig. 2).

Eight 3x3x3 convolutions (stride 1, padding 1), five max-pools, two fully connected layers of
4096 and the classifier::

    conv1a 64  pool1 | conv2a 128  pool2 | conv3a,b 256  pool3 | conv4a,b 512  pool4
    | conv5a,b 512  pool5 | fc6 4096  fc7 4096 | fc8 num_classes

pool1 is 1x2x2 and the others 2x2x2 in the original; Carreira & Zisserman use a temporal
stride of 2 in pool1 too ("which reduces the memory footprint and allows for bigger batches")
and batch normalisation "after all convolutional and fully connected layers"; both are the
defaults here (``pool1_temporal=2``, ``batch_norm=True``). With ``pool1_temporal=1,
batch_norm=False`` it is the original network.

Input sizes: at the original 16x112x112, pool5 leaves a 1x4x4 map (its 2x2x2 window with
padding (0, 1, 1): 7x7 -> 4x4), whose 512 x 16 = 8192 values feed fc6. An adaptive max-pool to
that 1x4x4 grid sits before fc6, so the network keeps the original fc6 shape and also runs on
smaller clips (CPU benchmarks): at 16x112x112 it is the identity; below, it repeats the last
map's cells (adaptive pooling with a larger output than input). The pools use ``ceil_mode``, so
a temporal extent of 1 survives the later 2x2x2 pools instead of failing.

``width`` scales every channel count (64 = the paper; fc6/fc7 scale with it, 4096 * width/64),
to build CPU-sized versions with the same layout.

Shapes: clip ``[B, in_channels, T, H, W]`` -> logits ``[B, num_classes]``.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["C3D", "c3d"]

_STAGES = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
"""(convolutions, channels at width 64) per stage; a pool ends each stage."""

FC_CHANNELS = 4096
POOL5_GRID = (1, 4, 4)
"""pool5's output at the original 16x112x112 input, what fc6 reads."""


def _conv(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv3d(cin, cout, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm3d(cout))
    return [*layers, nn.ReLU(inplace=True)]


def _fc(cin: int, cout: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(cin, cout, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(cout))
    return [*layers, nn.ReLU(inplace=True), nn.Dropout(dropout)]


class C3D(nn.Module):
    """C3D; see the module docstring for the layers, the input sizes and the I3D paper's changes.

    Args:
        num_classes: outputs of fc8.
        width: channels of conv1a (64 in the paper); every other width scales with it.
        in_channels: 3 for RGB.
        batch_norm: BN after every convolution and after fc6/fc7 (the I3D paper's version;
            convolutions and fc6/fc7 then have no bias).
        pool1_temporal: temporal stride (and window) of pool1: 2 (I3D paper) or 1 (original).
        dropout: after fc6 and fc7 (0.5 in C3D).

    Shapes: ``[B, in_channels, T, H, W]`` -> ``[B, num_classes]``.
    """

    takes_graph = False
    """The engine's declaration: ``forward(clip, graph)`` ignores the graph."""

    def __init__(
        self,
        num_classes: int,
        *,
        width: int = 64,
        in_channels: int = 3,
        batch_norm: bool = True,
        pool1_temporal: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if width < 1 or pool1_temporal not in (1, 2):
            raise ValueError(
                f"C3D: width >= 1 and pool1_temporal 1 or 2 needed, got {width}, {pool1_temporal}"
            )
        layers: list[nn.Module] = []
        cin = in_channels
        for stage, (convs, channels) in enumerate(_STAGES):
            cout = channels * width // 64
            for _ in range(convs):
                layers += _conv(cin, cout, batch_norm)
                cin = cout
            kernel = (pool1_temporal, 2, 2) if stage == 0 else (2, 2, 2)
            padding = (0, 1, 1) if stage == len(_STAGES) - 1 else 0  # pool5: 7x7 -> 4x4
            layers.append(nn.MaxPool3d(kernel, kernel, padding, ceil_mode=True))
        layers.append(nn.AdaptiveMaxPool3d(POOL5_GRID))
        self.features = nn.Sequential(*layers)
        fc = FC_CHANNELS * width // 64
        grid = POOL5_GRID[0] * POOL5_GRID[1] * POOL5_GRID[2]
        self.classifier = nn.Sequential(
            *_fc(cin * grid, fc, batch_norm, dropout), *_fc(fc, fc, batch_norm, dropout)
        )
        self.fc8 = nn.Linear(fc, num_classes)
        self.num_classes, self.width, self.batch_norm = num_classes, width, batch_norm
        self.pool1_temporal = pool1_temporal

    def forward(self, clip: Tensor, graph: object | None = None) -> Tensor:
        """Clip ``[B, C, T, H, W]`` -> logits ``[B, num_classes]``; ``graph`` is ignored."""
        if clip.dim() != 5:
            raise ValueError(f"C3D: expected a clip [B, C, T, H, W], got {tuple(clip.shape)}")
        return self.fc8(self.classifier(self.features(clip).flatten(1)))

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, width={self.width}, batch_norm={self.batch_norm}, "
            f"pool1_temporal={self.pool1_temporal}"
        )


def c3d(num_classes: int, **kwargs: object) -> C3D:
    """The I3D paper's C3D (BN, pool1 temporal stride 2); ``kwargs`` go to :class:`C3D`.
    ``c3d(487, batch_norm=False, pool1_temporal=1)`` is Tran et al.'s Sports-1M network."""
    return C3D(num_classes, **kwargs)  # type: ignore[arg-type]
