"""The training and evaluation loop: ``fit`` and ``evaluate`` for any ``model(clip, graph)``.

A dataset yields :class:`stgcn.data.ssv2.Sample`-like items (``clip``, ``label``, ``graph``,
``video_id``, optionally ``view``) and a collate function batches them. The loop:

* trains with SGD + warm-up/cosine or multistep (:mod:`stgcn.engine.optim`), gradient clipping and
  optional AMP (``torch.autocast``; a ``GradScaler`` only for float16 on CUDA);
* runs under DDP when launched by torchrun (:mod:`stgcn.engine.distributed`): ``batch_size`` is the
  *global* batch, split evenly over the processes; training sums (loss x count, correct, count) are
  all-reduced; evaluation gathers every process's predictions, drops the sampler's padding repeats
  and scores the union, so the metrics are those of one process;
* writes an atomic checkpoint (:mod:`stgcn.engine.checkpoint`) after every epoch and, optionally,
  every ``checkpoint_every`` steps; ``resume`` continues exactly, mid-epoch included: the data order
  and augmentations depend on ``(seed, epoch, index)`` (:mod:`stgcn.engine.data_order`) and the
  model's own randomness (dropout) on ``(seed, epoch, step, rank)``, since torch's generator is
  re-seeded before every step.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from stgcn.engine.checkpoint import (
    derive_seed,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from stgcn.engine.data_order import ResumableSampler, SeededDataset, batched
from stgcn.engine.distributed import DistInfo, all_gather_objects, all_reduce_sum, barrier
from stgcn.engine.metrics import aggregate_views, classification_report, topk_correct
from stgcn.engine.optim import OptimConfig, build_optimizer, build_scheduler

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainConfig:
    """How to train: budget, batching, checkpoints, logging.

    ``batch_size`` is the global batch (all processes together) and must be divisible by the
    world size. ``checkpoint_every`` > 0 also checkpoints every that many optimisation steps (on top
    of every epoch end). ``progress`` None shows a tqdm bar only on an interactive terminal outside
    CI. ``eval_every`` evaluates every that many epochs (0: only after the last one). Normalisation
    layers whose parameters are all frozen (``requires_grad=False``) stay in eval mode while
    training, so a frozen backbone keeps its BatchNorm statistics too.
    """

    epochs: int = 10
    batch_size: int = 8
    eval_batch_size: int | None = None
    workers: int = 0
    seed: int = 0
    amp: bool = False
    out_dir: str | None = None
    checkpoint_every: int = 0
    eval_every: int = 1
    progress: bool | None = None
    tensorboard: bool = False
    find_unused_parameters: bool = False
    sync_bn: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(
                f"epochs >= 0 and batch_size >= 1 needed, got {self.epochs}, {self.batch_size}"
            )


@dataclass
class EvalResult:
    """Per-video scores after multi-view averaging, and the report of :func:`classification_report`."""

    video_ids: list[str]
    probs: Tensor
    labels: Tensor
    report: dict
    loss: float


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch history, the last evaluation and the training time."""

    history: list[dict] = field(default_factory=list)
    eval: EvalResult | None = None
    train_time: float = 0.0
    checkpoint: Path | None = None


# ---------------------------------------------------------------------------------------------------
# helpers


def train_mode(model: nn.Module) -> None:
    """``model.train()``, except that normalisation layers whose parameters are all frozen stay in
    eval mode: a frozen backbone keeps its running statistics (the paper's second stage)."""
    model.train()
    for m in model.modules():
        params = list(m.parameters(recurse=False))
        if isinstance(m, nn.modules.batchnorm._NormBase) and params:
            if not any(p.requires_grad for p in params):
                m.eval()


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _forward(model: nn.Module, batch: Any, device: torch.device) -> Tensor:
    """``model(clip, graph)`` with the batch moved to ``device``; no graph for graph-free models."""
    clip = batch.clip.to(device, non_blocking=True)
    graph = None
    if (
        getattr(_unwrap(model), "graph_required", True)
        and getattr(batch, "graph", None) is not None
    ):
        graph = batch.graph.to(device)
    return model(clip, graph)


def _autocast(device: torch.device, enabled: bool):
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def _show_progress(cfg: TrainConfig, dist: DistInfo) -> bool:
    if not dist.is_main:
        return False
    if cfg.progress is not None:
        return cfg.progress
    return sys.stderr.isatty() and not os.environ.get("CI")


def _default_collate() -> Callable:
    from stgcn.data.ssv2 import collate

    return collate


def _loader(
    dataset: Dataset,
    sampler: ResumableSampler,
    batch_size: int,
    workers: int,
    collate_fn: Callable,
    drop_last: bool,
    device: torch.device,
) -> DataLoader:
    return DataLoader(
        SeededDataset(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        pin_memory=device.type == "cuda",
    )


# ---------------------------------------------------------------------------------------------------
# evaluation


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

    Under DDP each process scores its shard of a padded ``DistributedSampler`` order; the shards are
    gathered, the padding repeats dropped by dataset index, and every process computes the same
    report. ``batch_size`` is per process.

    Returns:
        :class:`EvalResult` with ``probs`` [V, C] and ``labels`` [V] for the V distinct videos.
    """
    dist = dist or DistInfo()
    collate_fn = collate_fn or _default_collate()
    net = _unwrap(model)
    was_training = net.training
    net.eval()
    sampler = ResumableSampler(
        len(dataset), dist.world_size, dist.rank, shuffle=False, seed=0, drop_last=False
    )
    loader = _loader(dataset, sampler, batch_size, workers, collate_fn, False, dist.device)
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
        with _autocast(dist.device, amp):
            logits = _forward(net, batch, dist.device)
        indices += idx
        logits_all.append(logits.float().cpu())
        labels_all.append(batch.label.cpu())
        ids += list(batch.video_id)
    net.train(was_training)
    if logits_all:
        shard = (indices, torch.cat(logits_all), torch.cat(labels_all), ids)
    else:
        shard = (indices, torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), ids)
    seen: dict[int, int] = {}
    rows: list[Tensor] = []
    labels: list[Tensor] = []
    video_ids: list[str] = []
    for r_idx, r_logits, r_labels, r_ids in all_gather_objects(shard):
        if not r_idx:
            continue
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


# ---------------------------------------------------------------------------------------------------
# training


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    cfg: TrainConfig,
    optim_cfg: OptimConfig,
    dist: DistInfo | None = None,
    collate_fn: Callable | None = None,
    class_groups: Mapping[str, Sequence[int]] | None = None,
    resume: str | os.PathLike | None = None,
    start_epoch: int = 0,
    extra_state: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` for ``cfg.epochs`` epochs, evaluating on ``val_set`` and checkpointing.

    Args:
        model: any ``nn.Module`` called as ``model(clip [B,3,T,H,W], graph | None) -> [B, classes]``;
            already on ``dist.device``.
        train_set, val_set: datasets of Sample-like items (``val_set`` may be None).
        resume: a checkpoint written by an earlier ``fit``; training continues at its epoch and
            step with its optimiser, scheduler, scaler, RNG states, history and partial-epoch sums.
        start_epoch: without ``resume``, start at this epoch (the schedule is advanced to it).
        extra_state: plain data stored in every checkpoint (e.g. the model's configuration).

    Returns:
        :class:`FitResult` (identical on every process).
    """
    dist = dist or DistInfo()
    collate_fn = collate_fn or _default_collate()
    device = dist.device
    world = dist.world_size
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the world size {world}")
    local_bs = cfg.batch_size // world

    def validate(progress: bool = False) -> EvalResult:
        return evaluate(
            net,
            val_set,
            cfg.eval_batch_size or local_bs,
            dist,
            collate_fn,
            cfg.workers,
            class_groups,
            cfg.amp,
            progress=progress,
        )

    steps_per_epoch = len(train_set) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(train_set)} training samples are fewer than one batch of {cfg.batch_size}"
        )

    net = model
    if cfg.sync_bn and dist.distributed:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    optimizer = build_optimizer(net, optim_cfg)
    scheduler = build_scheduler(optimizer, optim_cfg, steps_per_epoch, cfg.epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    if dist.distributed:
        net = DistributedDataParallel(
            net,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.find_unused_parameters,
        )

    epoch, step_in_epoch, global_step = start_epoch, 0, 0
    # loss x count, correct, count, skipped samples of the current epoch (this process's part)
    sums = torch.zeros(4, dtype=torch.float64)
    history: list[dict] = []
    train_time = 0.0
    if resume is not None:
        state = load_checkpoint(resume, map_location=device)
        if (
            state.get("steps_per_epoch") != steps_per_epoch
            or state.get("batch_size") != cfg.batch_size
        ):
            raise ValueError(
                f"{resume}: checkpoint was written with batch_size {state.get('batch_size')} and "
                f"{state.get('steps_per_epoch')} steps/epoch; this run has {cfg.batch_size} and "
                f"{steps_per_epoch}: resuming would change the data order"
            )
        _unwrap(net).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        epoch, step_in_epoch, global_step = (
            state["epoch"],
            state["step_in_epoch"],
            state["global_step"],
        )
        history = state["history"]
        train_time = state["train_time"]
        if dist.is_main:  # the saved sums are already global; the other ranks add their own part
            sums = state["epoch_sums"].cpu().clone()
        set_rng_state(state["rng"])
    elif start_epoch:
        with warnings.catch_warnings():
            # fast-forwarding warns "lr_scheduler.step() before optimizer.step()"
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start_epoch * steps_per_epoch):
                scheduler.step()
        global_step = start_epoch * steps_per_epoch

    out_dir = Path(cfg.out_dir) if cfg.out_dir else None
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir else None
    writer = _tensorboard(out_dir) if cfg.tensorboard and dist.is_main and out_dir else None
    show = _show_progress(cfg, dist)
    sampler = ResumableSampler(len(train_set), world, dist.rank, shuffle=True, seed=cfg.seed)
    result = FitResult(history=history, train_time=train_time, checkpoint=ckpt_path)

    def checkpoint(epoch_: int, step_: int, epoch_sums: Tensor) -> None:
        if ckpt_path is None:
            return
        global_sums = all_reduce_sum(epoch_sums)  # every rank takes part in the collective
        if dist.is_main:
            save_checkpoint(
                {
                    "model": _unwrap(net).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "epoch": epoch_,
                    "step_in_epoch": step_,
                    "global_step": global_step,
                    "steps_per_epoch": steps_per_epoch,
                    "batch_size": cfg.batch_size,
                    "epoch_sums": global_sums.cpu(),
                    "history": history,
                    "train_time": result.train_time,
                    "rng": rng_state(),
                    "train_config": asdict(cfg),
                    "optim_config": asdict(optim_cfg),
                    "world_size": world,
                    "finished": epoch_ >= cfg.epochs,
                    "extra": dict(extra_state or {}),
                },
                ckpt_path,
            )
        barrier()

    while epoch < cfg.epochs:
        train_mode(net)
        sampler.set_epoch(epoch, skip=step_in_epoch * local_bs)
        loader = _loader(train_set, sampler, local_bs, cfg.workers, collate_fn, True, device)
        bar = tqdm(
            total=steps_per_epoch,
            initial=step_in_epoch,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not show,
            unit="step",
            dynamic_ncols=True,
        )
        tic = time.perf_counter()
        data_iter = iter(loader)
        for step in range(step_in_epoch, steps_per_epoch):
            batch = next(data_iter)
            torch.manual_seed(derive_seed(cfg.seed, epoch, step, dist.rank))
            label = batch.label.to(device, non_blocking=True)
            n = label.numel()
            num_skipped = len(getattr(batch, "skipped", ()))
            if n == 0:  # every item of this batch was skipped by the dataset (on_error="skip")
                if dist.distributed:
                    raise RuntimeError(
                        f"epoch {epoch} step {step}: every sample of rank {dist.rank}'s batch was "
                        "skipped; under DDP all processes must take part in each step"
                    )
                scheduler.step()
                global_step += 1
                sums[3] += num_skipped
                continue
            with _autocast(device, cfg.amp):
                logits = _forward(net, batch, device)
                loss = F.cross_entropy(logits.float(), label, label_smoothing=cfg.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at epoch {epoch} step {step} (videos {list(batch.video_id)})"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if optim_cfg.clip_grad_norm:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(net.parameters(), optim_cfg.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            global_step += 1
            correct = topk_correct(logits.detach().float(), label, (1,))[1]
            sums += torch.tensor([loss.item() * n, correct, n, num_skipped], dtype=torch.float64)
            elapsed = time.perf_counter() - tic
            result.train_time += elapsed
            tic = time.perf_counter()
            if show:
                bar.update(1)
                bar.set_postfix(
                    loss=f"{loss.item():.3f}",
                    clips_s=f"{n * world / max(elapsed, 1e-9):.1f}",
                    lr=f"{optimizer.param_groups[0]['lr']:.2e}",
                )
            if writer is not None:
                writer.add_scalar("train/loss", loss.item(), global_step)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], global_step)
            if cfg.checkpoint_every and global_step % cfg.checkpoint_every == 0:
                checkpoint(epoch, step + 1, sums)
        bar.close()
        del data_iter, loader

        total = all_reduce_sum(sums)
        entry = {
            "epoch": epoch,
            "train_loss": float(total[0] / total[2]),
            "train_top1": float(100.0 * total[1] / total[2]),
            "lr": optimizer.param_groups[0]["lr"],
            "train_time": result.train_time,
            "skipped": int(total[3]),
        }
        last = epoch + 1 == cfg.epochs
        if val_set is not None and (last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
            ev = validate(progress=show)
            entry.update(
                val_loss=ev.loss, val_top1=ev.report["top1"], val_top5=ev.report.get("top5")
            )
            result.eval = ev
        history.append(entry)
        if dist.is_main:
            msg = ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if isinstance(v, float))
            if entry["skipped"]:
                msg += f", skipped {entry['skipped']} samples"
            print(f"epoch {epoch + 1}/{cfg.epochs}: {msg}", file=sys.stderr, flush=True)
            if writer is not None:
                for k, v in entry.items():
                    if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                        writer.add_scalar(f"epoch/{k}", v, epoch + 1)
        epoch, step_in_epoch = epoch + 1, 0
        sums = torch.zeros(4, dtype=torch.float64)
        checkpoint(epoch, 0, sums)

    if result.eval is None and val_set is not None:  # resumed from a finished run, or epochs == 0
        result.eval = validate()
    if writer is not None:
        writer.close()
    return result


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # tensorboard is an optional extra
        raise ImportError(
            "tensorboard logging needs the tensorboard package: pip install tensorboard"
        ) from err
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))
