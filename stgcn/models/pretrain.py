r"""Self-supervised pre-training of a video backbone from optical flow: no labels, no boxes.

:class:`MotionPretext` puts a 1x1x1 convolution on the output of chosen stages of a
:class:`~stgcn.models.ResNet3D` and trains the backbone, from the RGB clip alone, to predict in every
cell of each stage's map the *directional motion energy* of the clip's optical flow inside that cell
(:func:`motion_energy`), scaled to unit root mean square over the batch:

.. math::
    E(t, y, x) = \frac{1}{|\Omega_{t,y,x}|} \sum_{(t', y', x') \in \Omega_{t,y,x}}
    \big([u]_+, [-u]_+, [v]_+, [-v]_+\big)(t', y', x'),

where :math:`(u, v)` is the flow (x right, y down) and :math:`\Omega_{t,y,x}` the block of clip
positions that cell covers (an adaptive average pool onto the map's grid). The loss
(:meth:`MotionPretext.loss`) is, per stage, the mean squared error against
:math:`E / \mathrm{rms}_{batch}(E)`, averaged over the stages: 1 for a backbone that predicts
nothing, 0 for a perfect one, whatever the flow's units. (The scale matters: in the cached clips'
units, flow / 20 px, a cell's energy is ~0.01, and an unscaled target leaves the heads' first
outputs, of order 1, hundreds of times too large.)

With ``summary_grid`` (default ``(4, 2, 2)``) a linear layer on the backbone's *global average*
pooled feature also predicts :math:`E` on that coarse grid of the whole clip (4 time bins x 2 x 2
quadrants): the time course of where the clip moves which way, the motion statistics that Wang et
al. (*Self-supervised Spatio-temporal Representation Learning for Videos by Predicting Motion and
Appearance Statistics*, CVPR 2019) regress from a pooled feature. The per-stage heads shape the maps;
this one shapes the very vector a global-pooling classifier reads, and with it the order in time,
which an average over time otherwise loses.

Why the four rectified components and not the signed flow: a cell where one thing moves right and
another left has zero mean flow but two clear motions; the rectified means keep both, and they are
non-negative like the ReLU features a global average pool reads.

Why at all: on the synthetic SSv2-format set the class is carried by how the hand and the objects
move, and they cover ~7 % of the frame (``docs/baseline-diagnosis.md``); a randomly initialised
I3D trained through a global average pool gets no usable gradient about them and collapses. A
dense motion target gives every cell, and so the moving ones, a gradient. The flow is computed from
the pixels alone (:mod:`stgcn.data.flow`), so the stage sees nothing the baseline may not: neither
labels nor boxes. Afterwards ``pretext.backbone.state_dict()`` initialises any model with that
backbone, I3D, NL-I3D or STRG, through :func:`stgcn.models.init_from` (non-local blocks, which the
pre-trained I3D lacks, keep their identity initialisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgcn.models.resnet3d import ResNet3D

__all__ = ["MOTION_CHANNELS", "MotionPretext", "motion_energy"]

MOTION_CHANNELS = 4
"""Channels of :func:`motion_energy`: mean of ``[u]+``, ``[-u]+``, ``[v]+``, ``[-v]+``."""


def motion_energy(flow: Tensor, size: Sequence[int]) -> Tensor:
    """The directional motion energy of ``flow`` on a coarser grid.

    Args:
        flow: ``[B, 2, T, H, W]``, channels (u, v) = (x right, y down), any units.
        size: the grid ``(T', H', W')``.

    Returns:
        ``[B, 4, T', H', W']``: the mean over each cell of ``relu(u)``, ``relu(-u)``,
        ``relu(v)``, ``relu(-v)`` (``adaptive_avg_pool3d``).
    """
    if flow.dim() != 5 or flow.shape[1] != 2:
        raise ValueError(f"motion_energy: expected flow [B, 2, T, H, W], got {tuple(flow.shape)}")
    rectified = torch.cat([F.relu(flow), F.relu(-flow)], 1)[:, [0, 2, 1, 3]]
    return F.adaptive_avg_pool3d(rectified.float(), tuple(size))


class MotionPretext(nn.Module):
    """A backbone and one 1x1x1 convolution per chosen stage that predicts :func:`motion_energy`
    on that stage's grid from the RGB clip (module docstring).

    Args:
        backbone: a :class:`~stgcn.models.ResNet3D` (its ``fc`` is not used).
        stages: 0-based indices of the stages whose maps are read: 0..3 = res2..res5
            (:meth:`ResNet3D.forward_stages`); default all four.
        summary_grid: ``(t, h, w)`` of the prediction from the global average pooled feature
            (a ``Linear(C, 4 t h w)``); None: none.

    Shapes: ``forward(clip [B, 3, T, H, W])`` -> one prediction ``[B, 4, T_i, H_i, W_i]`` per
    stage, the grid of that stage's map, then ``[B, 4, t, h, w]`` from the pooled feature;
    ``loss(predictions, flow [B, 2L, T, H, W])`` -> scalar.
    """

    takes_graph = False
    """It reads the RGB clip only (the flow is the target, given to :meth:`loss`)."""

    def __init__(
        self,
        backbone: ResNet3D,
        stages: Sequence[int] = (0, 1, 2, 3),
        summary_grid: Sequence[int] | None = (4, 2, 2),
    ) -> None:
        super().__init__()
        if not stages or any(not 0 <= s < 4 for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(
                f"MotionPretext: stages must be distinct indices in 0..3, got {stages}"
            )
        self.backbone = backbone
        self.stages = tuple(stages)
        self.heads = nn.ModuleList(
            nn.Conv3d(backbone.stage_channels[s], MOTION_CHANNELS, kernel_size=1) for s in stages
        )
        self.summary_grid = tuple(summary_grid) if summary_grid else None
        self.summary = None
        if self.summary_grid is not None:
            if len(self.summary_grid) != 3 or min(self.summary_grid) < 1:
                raise ValueError(
                    f"MotionPretext: summary_grid must be (t, h, w), got {summary_grid}"
                )
            cells = (
                MOTION_CHANNELS * self.summary_grid[0] * self.summary_grid[1] * self.summary_grid[2]
            )
            self.summary = nn.Linear(backbone.out_channels, cells)

    def forward(self, clip: Tensor, graph: object | None = None) -> list[Tensor]:
        """Clip ``[B, 3, T, H, W]`` -> the motion-energy predictions, one per stage."""
        maps = self.backbone.forward_stages(clip)
        out = [head(maps[s]) for s, head in zip(self.stages, self.heads, strict=True)]
        if self.summary is not None:
            pooled = self.backbone.pool(maps[-1])
            out.append(self.summary(pooled).view(-1, MOTION_CHANNELS, *self.summary_grid))
        return out

    def loss(self, predictions: Sequence[Tensor], flow: Tensor | None) -> Tensor:
        """Mean over stages of the mean squared error between ``pred`` and ``E / rms(E)``, E =
        :func:`motion_energy` of the first flow field (channels 0, 1 of ``flow`` ``[B, 2L, T, H,
        W]``: the flow from each sampled frame to the next) on the prediction's grid, its root
        mean square taken over the whole batch. Equals ``||pred * rms(E) - E||^2 / ||E||^2``."""
        if flow is None:
            raise ValueError(
                "MotionPretext.loss needs the clips' optical flow (batch.flow is None: read the "
                "dataset with modality ('rgb', 'flow'))"
            )
        flow = flow[:, :2].to(predictions[0].device)
        terms = []
        for pred in predictions:
            target = motion_energy(flow, pred.shape[2:])
            target = target / target.pow(2).mean().sqrt().clamp_min(1e-12)
            terms.append(F.mse_loss(pred.float(), target))
        return torch.stack(terms).mean()
