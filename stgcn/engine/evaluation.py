"""Evaluation: score a dataset, average the views of each video, write per-video predictions.

Under DDP each process scores its shard of a padded ``DistributedSampler`` order; the shards are
gathered, the padding repeats dropped by dataset index, and every process computes the same report
as one process would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from stgcn.engine.data_order import ResumableSampler, batched
from stgcn.engine.distributed import DistInfo, all_gather_objects
from stgcn.engine.forward import autocast, default_collate, make_loader, model_inputs, unwrap
from stgcn.engine.metrics import aggregate_views, classification_report

__all__ = ["EvalResult", "evaluate", "write_predictions"]


@dataclass
class EvalResult:
    """Per-video scores after multi-view averaging, and the report of :func:`classification_report`."""

    video_ids: list[str]
    probs: Tensor
    labels: Tensor
    report: dict
    loss: float


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 8,
    dist: DistInfo | None = None,
    collate_fn: Callable | None = None,
    workers: int = 0,
    class_groups: Mapping[str, Sequence[int]] | None = None,
    amp: bool = False,
    progress: bool = False,
) -> EvalResult:
    """Score every item of ``dataset`` and average the softmax over the views of each video.

    ``batch_size`` is per process. Items the dataset skipped (``on_error="skip"``) are left out.

    Returns:
        :class:`EvalResult` with ``probs`` [V, C] and ``labels`` [V] for the V distinct videos.
    """
    dist = dist or DistInfo()
    collate_fn = collate_fn or default_collate()
    net = unwrap(model)
    was_training = net.training
    net.eval()
    sampler = ResumableSampler(
        len(dataset), dist.world_size, dist.rank, shuffle=False, seed=0, drop_last=False
    )
    loader = make_loader(dataset, sampler, batch_size, workers, collate_fn, False, dist.device)
    index_batches = batched(sampler.indices(), batch_size, drop_last=False)
    indices: list[int] = []
    logits_all: list[Tensor] = []
    labels_all: list[Tensor] = []
    ids: list[str] = []
    for idx, batch in zip(
        index_batches, tqdm(loader, desc="eval", disable=not progress, leave=False), strict=True
    ):
        skipped = {s.index for s in getattr(batch, "skipped", ())}
        if skipped:  # items the dataset skipped (on_error="skip") are not in the batch
            idx = [i for i in idx if i not in skipped]
        if not idx:
            continue
        with autocast(dist.device, amp):
            logits = net(*model_inputs(net, batch, dist.device))
        indices += idx
        logits_all.append(logits.float().cpu())
        labels_all.append(batch.label.cpu())
        ids += list(batch.video_id)
    net.train(was_training)
    if logits_all:
        shard = (indices, torch.cat(logits_all), torch.cat(labels_all), ids)
    else:
        shard = (indices, torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), ids)
    return _report(all_gather_objects(shard), class_groups)


def _report(
    shards: list[tuple[list[int], Tensor, Tensor, list[str]]],
    class_groups: Mapping[str, Sequence[int]] | None,
) -> EvalResult:
    """Merge the processes' shards (first occurrence of each dataset index), in index order."""
    seen: dict[int, int] = {}
    rows: list[Tensor] = []
    labels: list[Tensor] = []
    video_ids: list[str] = []
    for r_idx, r_logits, r_labels, r_ids in shards:
        for j, i in enumerate(r_idx):
            if i not in seen:  # DistributedSampler pads the last shard with repeats
                seen[i] = len(rows)
                rows.append(r_logits[j])
                labels.append(r_labels[j])
                video_ids.append(r_ids[j])
    if not seen:
        raise ValueError("evaluation produced no predictions: every item was skipped")
    perm = sorted(seen)
    logits = torch.stack([rows[seen[i]] for i in perm])
    label_t = torch.stack([labels[seen[i]] for i in perm]).long()
    vid = [video_ids[seen[i]] for i in perm]
    loss = float(F.cross_entropy(logits, label_t))
    vids, probs, vlabels = aggregate_views(vid, logits.softmax(dim=1), label_t)
    report = classification_report(probs, vlabels, class_groups)
    report["loss"] = loss
    return EvalResult(video_ids=vids, probs=probs, labels=vlabels, report=report, loss=loss)


def write_predictions(
    result: EvalResult, path: str | os.PathLike, class_names: Sequence[str] | None = None
) -> Path:
    """One CSV row per video: id, true label, predicted label, correct, top-5 classes and score."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    k = min(5, result.probs.shape[1])
    top = result.probs.topk(k, dim=1)
    lines = [
        "video_id,label,pred,correct,top5,score" + (",label_name,pred_name" if class_names else "")
    ]
    for vid, label, scores, classes in zip(
        result.video_ids, result.labels.tolist(), top.values, top.indices.tolist(), strict=True
    ):
        row = f"{vid},{label},{classes[0]},{int(label == classes[0])},{' '.join(map(str, classes))},{float(scores[0]):.6f}"
        if class_names:
            row += f',"{class_names[label]}","{class_names[classes[0]]}"'
        lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return path
