r"""Edges of the space-time region graph (Wang & Gupta, *Videos as Space-Time Region Graphs*, 2018).

Spatial-temporal graph: box i at clip frame t is joined to box j at frame t+1 of the same video by
their IoU :math:`\sigma_{ij}`,

.. math::
    G^{front}_{ij} = \frac{\sigma_{ij}}{\sum_k \sigma_{ik}}, \qquad
    G^{back}_{ji} = \frac{\sigma_{ij}}{\sum_k \sigma_{kj}},

the front graph row-normalised over the boxes k at t+1, the back graph the transpose of the IoU
graph row-normalised again (over the boxes k at t), as in the paper's eq. (4)-(5). (The
unofficial reimplementation jd730/STRG, not the authors' code, builds its IoU graph with a Python
loop over boxes.) Every function is vectorised: nodes are sorted by (video, frame), padded per
(video, frame) with ``to_dense_batch``, and ``torchvision.ops.box_iou`` runs once, batched over all
consecutive frame pairs of all videos. Nodes may come in any order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter, to_dense_batch
from torchvision.ops import box_iou

__all__ = [
    "SpaceTimeEdges",
    "back_edges",
    "complete_edges",
    "row_normalize",
    "space_time_edges",
    "space_time_graph",
    "space_time_iou",
]


class SpaceTimeEdges(NamedTuple):
    """Front and back spatial-temporal graphs over one edge list.

    ``edge_index[0]`` is box i at frame t, ``edge_index[1]`` box j at t+1. ``front_weight`` is
    :math:`G^{front}_{ij}` (sums to 1 over each i that has edges); ``back_weight`` is
    :math:`G^{back}_{ji}` (sums to 1 over each j that has edges).
    """

    edge_index: Tensor
    front_weight: Tensor
    back_weight: Tensor


def _check_boxes(box: Tensor, frame: Tensor, batch: Tensor | None) -> Tensor:
    if box.dim() != 2 or box.size(-1) != 4:
        raise ValueError(f"box must have shape [N, 4], got {list(box.shape)}")
    n = box.size(0)
    if frame.shape != (n,):
        raise ValueError(f"frame must have shape [{n}] (one per box), got {list(frame.shape)}")
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=box.device)
    elif batch.shape != (n,):
        raise ValueError(f"batch must have shape [{n}] (one per box), got {list(batch.shape)}")
    if n and (int(frame.min()) < 0 or int(batch.min()) < 0):
        raise ValueError("frame and batch indices must be >= 0")
    return batch


def space_time_iou(
    box: Tensor, frame: Tensor, batch: Tensor | None = None, iou_threshold: float = 0.0
) -> tuple[Tensor, Tensor]:
    r"""The thresholded IoU graph :math:`\sigma`: every pair (i at t, j at t+1, same video) whose IoU
    is > ``iou_threshold``.

    Args:
        box: ``[N, 4]`` float boxes ``(x1, y1, x2, y2)``.
        frame: ``[N]`` long frame index of each box, local to its video (``VideoGraph.frame``).
        batch: ``[N]`` long video index of each box; ``None`` means one video.
        iou_threshold: keep pairs with IoU strictly above this, in ``[0, 1)``.

    Returns:
        ``edge_index`` ``[2, E]`` (row 0: i at t, row 1: j at t+1), ``iou`` ``[E]`` in
        ``(iou_threshold, 1]``. Edges are ordered by video, frame, then node order within a frame.
        Zero-area boxes overlap nothing. Differentiable in ``box``.
    """
    if not 0.0 <= iou_threshold < 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}")
    batch = _check_boxes(box, frame, batch)
    if box.size(0) == 0:
        return box.new_zeros(2, 0, dtype=torch.long), box.new_zeros(0)
    num_frames = int(frame.max()) + 1
    num_videos = int(batch.max()) + 1
    if num_frames < 2:
        return box.new_zeros(2, 0, dtype=torch.long), box.new_zeros(0)
    # One group per (video, frame); to_dense_batch needs the group vector sorted.
    group = batch * num_frames + frame
    group, perm = torch.sort(group, stable=True)
    num_groups = num_videos * num_frames
    dense_box, mask = to_dense_batch(box[perm], group, batch_size=num_groups)
    # Pad with unit boxes rather than zeros, so that pad-vs-pad IoU is not 0/0 (a NaN gradient).
    dense_box = torch.where(mask[..., None], dense_box, dense_box.new_tensor([0.0, 0.0, 1.0, 1.0]))
    dense_idx, _ = to_dense_batch(perm, group, fill_value=-1, batch_size=num_groups)
    k = dense_box.size(1)
    dense_box = dense_box.view(num_videos, num_frames, k, 4)
    mask = mask.view(num_videos, num_frames, k)
    dense_idx = dense_idx.view(num_videos, num_frames, k)
    # IoU of every box at t with every box at t+1, for all videos and t at once: [V, T-1, K, K].
    iou = box_iou(dense_box[:, :-1], dense_box[:, 1:])
    # 0/0 (two zero-area boxes) means no overlap.
    iou = torch.nan_to_num(iou, nan=0.0)
    keep = mask[:, :-1, :, None] & mask[:, 1:, None, :] & (iou > iou_threshold)
    video, step, a, b = keep.nonzero(as_tuple=True)  # one nonzero; the rest is gathers
    src = dense_idx[video, step, a]
    dst = dense_idx[video, step + 1, b]
    return torch.stack([src, dst]), iou[video, step, a, b]


def row_normalize(edge_index: Tensor, edge_weight: Tensor, num_nodes: int | None = None) -> Tensor:
    r"""``edge_weight / (sum of edge_weight over edges with the same edge_index[0])``: the
    row-normalised weights :math:`w_{ij} / \sum_k w_{ik}` ``[E]``. Weights must be > 0 (a row
    has edges only where it has weight), so there is never a 0/0."""
    deg = scatter(edge_weight, edge_index[0], dim=0, dim_size=num_nodes, reduce="sum")
    return edge_weight / deg[edge_index[0]]


def space_time_edges(
    box: Tensor, frame: Tensor, batch: Tensor | None = None, iou_threshold: float = 0.0
) -> tuple[Tensor, Tensor]:
    r"""The front graph :math:`G^{front}_{ij} = \sigma_{ij} / \sum_k \sigma_{ik}`.

    An edge i -> j exists when box i is at frame t and box j at frame t+1 of the same video and
    their IoU is > ``iou_threshold``; weights are normalised over the kept j of each i (the
    thresholded IoU row). Boxes with no overlap at t+1 (and boxes in a video's last frame) have no
    edges. Shapes and arguments as in :func:`space_time_iou`; returns ``edge_index`` ``[2, E]``
    (row 0: i at t, row 1: j at t+1) and ``edge_weight`` ``[E]``.

    The back graph is :func:`back_edges` applied to :func:`space_time_iou`, or use
    :func:`space_time_graph` for both at once.
    """
    edge_index, iou = space_time_iou(box, frame, batch, iou_threshold)
    return edge_index, row_normalize(edge_index, iou, box.size(0))


def back_edges(
    edge_index: Tensor, iou: Tensor, num_nodes: int | None = None
) -> tuple[Tensor, Tensor]:
    r"""The back graph: the transpose of the IoU graph, row-normalised again,
    :math:`G^{back}_{ji} = \sigma_{ij} / \sum_k \sigma_{kj}` (edges j at t+1 -> i at t).

    Args:
        edge_index: ``[2, E]`` IoU edges from :func:`space_time_iou` (i at t, j at t+1).
        iou: ``[E]`` the *raw* IoU :math:`\sigma` from :func:`space_time_iou`. (Passing the
            already normalised front weights instead would give a different, non-paper graph.)
        num_nodes: N.

    Returns:
        ``edge_index`` ``[2, E]`` flipped (row 0: j at t+1, row 1: i at t), ``edge_weight`` ``[E]``.
    """
    flipped = edge_index.flip(0)
    return flipped, row_normalize(flipped, iou, num_nodes)


def space_time_graph(
    box: Tensor, frame: Tensor, batch: Tensor | None = None, iou_threshold: float = 0.0
) -> SpaceTimeEdges:
    """Front and back graphs from one IoU computation, over one shared edge list (i at t, j at
    t+1): what :class:`stgcn.layers.SpatialTemporalGraphConv` takes. Arguments as in
    :func:`space_time_iou`; ``front_weight`` and ``back_weight`` are ``[E]``."""
    edge_index, iou = space_time_iou(box, frame, batch, iou_threshold)
    n = box.size(0)
    return SpaceTimeEdges(
        edge_index,
        row_normalize(edge_index, iou, n),
        row_normalize(edge_index.flip(0), iou, n),
    )


def complete_edges(batch: Tensor) -> Tensor:
    """All ordered pairs (i, j) of nodes of the same video, self pairs included.

    Args:
        batch: ``[N]`` long video index of each node (any order).

    Returns:
        ``edge_index`` ``[2, sum_v n_v^2]``, grouped by video, then by i, then by j in node order.
    """
    if batch.dim() != 1:
        raise ValueError(f"batch must have shape [N], got {list(batch.shape)}")
    if batch.numel() == 0:
        return batch.new_zeros(2, 0, dtype=torch.long)
    batch, perm = torch.sort(batch, stable=True)
    idx, mask = to_dense_batch(perm, batch, fill_value=-1)
    pair = mask[:, :, None] & mask[:, None, :]
    src = idx[:, :, None].expand_as(pair)[pair]
    dst = idx[:, None, :].expand_as(pair)[pair]
    return torch.stack([src, dst])
