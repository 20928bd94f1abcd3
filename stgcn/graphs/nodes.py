r"""Choosing the nodes of a region graph: the top-K boxes of each frame.

Wang & Gupta (ECCV 2018, sec. 4) take the top 50 region proposals of each frame as nodes. The
functions here are pure and vectorised: one sort over all boxes of a batch, no loop over boxes,
frames or videos.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["top_k_per_frame"]


def top_k_per_frame(
    frame: Tensor, k: int, score: Tensor | None = None, batch: Tensor | None = None
) -> Tensor:
    """Indices of the (at most) ``k`` highest-scoring boxes of each (video, frame).

    Where there are no scores, or scores tie, the earlier box in node (file) order wins. Nodes
    may come in any order.

    Args:
        frame: ``[N]`` long frame index of each box, local to its video.
        k: boxes to keep per (video, frame), ``>= 0``.
        score: ``[N]`` float score of each box (higher is kept first), or ``None`` for file order.
            Must be finite.
        batch: ``[N]`` long video index of each box; ``None`` means one video.

    Returns:
        ``[M]`` long indices of the kept boxes, ascending (file order), ``M <= N``: index
        ``x[keep]``, ``box[keep]``, ... with it.
    """
    if frame.dim() != 1:
        raise ValueError(f"top_k_per_frame: frame must have shape [N], got {list(frame.shape)}")
    n = frame.numel()
    if k < 0:
        raise ValueError(f"top_k_per_frame: k must be >= 0, got {k}")
    if batch is not None and batch.shape != (n,):
        raise ValueError(f"top_k_per_frame: batch must have shape [{n}], got {list(batch.shape)}")
    if score is not None:
        if score.shape != (n,):
            raise ValueError(
                f"top_k_per_frame: score must have shape [{n}], got {list(score.shape)}"
            )
        if not bool(torch.isfinite(score).all()):
            bad = int((~torch.isfinite(score)).nonzero()[0])
            raise ValueError(f"top_k_per_frame: score must be finite, box {bad} has {score[bad]}")
    if n == 0:
        return frame.new_zeros(0, dtype=torch.long)
    if int(frame.min()) < 0 or (batch is not None and int(batch.min()) < 0):
        raise ValueError("top_k_per_frame: frame and batch indices must be >= 0")
    group = frame if batch is None else batch * (int(frame.max()) + 1) + frame
    # Best first within a group: sort by score (stable, so ties keep file order), then stably by
    # group, which keeps that order inside each group.
    order = torch.arange(n, device=frame.device)
    if score is not None:
        order = torch.sort(score, descending=True, stable=True).indices
    order = order[torch.sort(group[order], stable=True).indices]
    sorted_group = group[order]
    # Rank inside the group: position minus the position where the group starts.
    start = torch.searchsorted(sorted_group, sorted_group, right=False)
    rank = torch.arange(n, device=frame.device) - start
    return torch.sort(order[rank < k]).values
