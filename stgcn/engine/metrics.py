"""Classification metrics: top-k, per-class and per-group accuracy, confusion matrix, multi-view.

Everything here works on plain tensors gathered from all processes, so the numbers are the same
whether they came from one process or several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["aggregate_views", "classification_report", "confusion_matrix", "topk_correct"]


def topk_correct(logits: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """Number of rows of ``logits`` [N, C] whose ``target`` [N] is among the top ``k`` scores.

    ``k`` larger than ``C`` counts as ``C`` (every prediction is then correct).
    """
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"logits must be [N, C] and target [N]; got {logits.shape}, {target.shape}"
        )
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices  # [N, kmax]
    hit = top.eq(target.view(-1, 1))
    return {k: int(hit[:, : min(k, kmax)].any(dim=1).sum()) for k in ks}


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """[C, C] long counts, row = true class, column = predicted class."""
    idx = target.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def aggregate_views(
    video_ids: Sequence[str], probs: Tensor, labels: Tensor
) -> tuple[list[str], Tensor, Tensor]:
    """Average the softmax of every view (clip x crop) of a video.

    Args:
        video_ids: N ids, one per view; the views of one video share its id.
        probs: [N, C] softmax scores.
        labels: [N] labels (all views of a video must agree).

    Returns:
        ``(ids, mean_probs [V, C], labels [V])`` over the V distinct videos, in first-seen order.
    """
    order: dict[str, int] = {}
    inverse = torch.tensor([order.setdefault(v, len(order)) for v in video_ids], dtype=torch.long)
    num_videos = len(order)
    summed = torch.zeros(num_videos, probs.shape[1], dtype=probs.dtype).index_add_(
        0, inverse, probs
    )
    counts = torch.bincount(inverse, minlength=num_videos).to(probs.dtype)
    video_labels = torch.full((num_videos,), -1, dtype=torch.long).scatter_(
        0, inverse, labels.long()
    )
    if not torch.equal(video_labels[inverse], labels.long()):
        bad = int((video_labels[inverse] != labels.long()).nonzero()[0])
        raise ValueError(f"views of video {video_ids[bad]!r} carry different labels")
    return list(order), summed / counts.unsqueeze(1), video_labels


def classification_report(
    probs: Tensor,
    labels: Tensor,
    class_groups: Mapping[str, Sequence[int]] | None = None,
    ks: Sequence[int] = (1, 5),
) -> dict:
    """Top-k accuracy (percent), per-class accuracy, confusion matrix and per-group accuracy.

    Args:
        probs: [V, C] scores of V videos.
        labels: [V] true classes.
        class_groups: optional ``{"temporal_reversal": [class ids], ...}``; each group's accuracy is
            over the videos whose true class is in it, and ``"rest"`` covers the classes in no group.

    Returns:
        ``{"top1", "top5", "num_videos", "per_class": [C] (NaN for absent classes),
        "confusion": [[C x C]], "groups": {name: {"top1", "num_videos"}}}`` as plain python.
    """
    num, num_classes = probs.shape
    if num == 0:
        raise ValueError("no predictions to evaluate")
    correct = topk_correct(probs, labels, ks)
    pred = probs.argmax(dim=1)
    cm = confusion_matrix(pred, labels, num_classes)
    support = cm.sum(dim=1)
    per_class = (cm.diagonal().double() / support.double()).tolist()  # NaN where support is 0
    report = {f"top{k}": 100.0 * correct[k] / num for k in ks}
    report.update(num_videos=num, per_class=per_class, confusion=cm.tolist())
    if class_groups:
        hit = pred.eq(labels)
        covered = torch.zeros(num_classes, dtype=torch.bool)
        groups = {}
        for name, classes in class_groups.items():
            member = torch.zeros(num_classes, dtype=torch.bool)
            member[list(classes)] = True
            covered |= member
            groups[name] = _group_accuracy(hit, member[labels])
        if "rest" not in groups:
            groups["rest"] = _group_accuracy(hit, ~covered[labels])
        report["groups"] = groups
    return report


def _group_accuracy(hit: Tensor, mask: Tensor) -> dict:
    n = int(mask.sum())
    return {"top1": 100.0 * int(hit[mask].sum()) / n if n else float("nan"), "num_videos": n}
