"""The training loop: ``fit`` for any ``model(clip, graph)`` that declares ``takes_graph``.

A dataset yields :class:`stgcn.data.ssv2.Sample`-like items (``clip``, ``label``, ``graph``,
``video_id``, optionally ``view``) and a collate function batches them. :func:`fit`:

* trains with SGD + warm-up/cosine or multistep (:mod:`stgcn.engine.optim`), gradient clipping and
  optional AMP (``torch.autocast``; a ``GradScaler`` only for float16 on CUDA);
* runs under DDP when launched by torchrun (:mod:`stgcn.engine.distributed`): ``batch_size`` is the
  *global* batch, split evenly over the processes; training sums (loss x count, correct, count) are
  all-reduced; evaluation is :func:`stgcn.engine.evaluation.evaluate`;
* writes an atomic checkpoint (:mod:`stgcn.engine.checkpoint`) after every epoch and, optionally,
  every ``checkpoint_every`` steps; ``resume`` continues exactly, mid-epoch included: the data order
  and augmentations depend on ``(seed, epoch, index)`` (:mod:`stgcn.engine.data_order`) and the
  model's own randomness (dropout) on ``(seed, epoch, step, rank)``, since torch's generator is
  re-seeded before every step.

The steps are the methods of :class:`_Run`: :meth:`~_Run.restore` (or
:meth:`~_Run.skip_to`), then per epoch :meth:`~_Run.train_epoch` and :meth:`~_Run.end_epoch`, each
writing what :meth:`~_Run.checkpoint_state` returns.
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
from torch.utils.data import Dataset
from tqdm import tqdm

from stgcn.engine.checkpoint import load_checkpoint, save_checkpoint
from stgcn.engine.data_order import ResumableSampler
from stgcn.engine.distributed import DistInfo, all_reduce_sum, barrier
from stgcn.engine.evaluation import EvalResult, evaluate
from stgcn.engine.forward import autocast, default_collate, make_loader, model_inputs, unwrap
from stgcn.engine.metrics import topk_correct
from stgcn.engine.optim import OptimConfig, build_optimizer, build_scheduler
from stgcn.engine.seeding import derive_seed, rng_state, set_rng_state

__all__ = [
    "CHECKPOINT_NAME",
    "FitResult",
    "TrainConfig",
    "classification_loss",
    "fit",
    "train_mode",
]

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
class FitResult:
    """What :func:`fit` returns: the per-epoch history, the last evaluation and the training time."""

    history: list[dict] = field(default_factory=list)
    eval: EvalResult | None = None
    train_time: float = 0.0
    checkpoint: Path | None = None


def train_mode(model: nn.Module) -> None:
    """``model.train()``, except that normalisation layers whose parameters are all frozen stay in
    eval mode: a frozen backbone keeps its running statistics (the paper's second stage)."""
    model.train()
    for m in model.modules():
        params = list(m.parameters(recurse=False))
        if isinstance(m, nn.modules.batchnorm._NormBase) and params:
            if not any(p.requires_grad for p in params):
                m.eval()


def classification_loss(logits: Tensor, label: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """The training loss of a batch: cross-entropy of ``logits`` ``[B, C]`` against ``label``
    ``[B]``; per-step outputs ``[B, S, C]`` (a recurrent model in training mode, e.g.
    :class:`~stgcn.models.CNNLSTM`, which supervises every step) give the mean over the B x S
    steps of each step's cross-entropy against its clip's label."""
    if logits.dim() == 3:
        steps = logits.shape[1]
        # cross_entropy's K-dimensional form: classes on dim 1, one target per step
        return F.cross_entropy(
            logits.transpose(1, 2),
            label[:, None].expand(-1, steps),
            label_smoothing=label_smoothing,
        )
    return F.cross_entropy(logits, label, label_smoothing=label_smoothing)


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
    loss_fn: Callable[[Any, Any], Tensor] | None = None,
) -> FitResult:
    """Train ``model`` for ``cfg.epochs`` epochs, evaluating on ``val_set`` and checkpointing.

    Args:
        model: an ``nn.Module`` with a ``takes_graph`` class attribute, called as
            ``model(clip [B,3,T,H,W], graph | None) -> [B, classes]`` (a flow or two-stream
            model gets what its ``modality`` says: :func:`stgcn.engine.model_inputs`); already
            on ``dist.device``.
        train_set, val_set: datasets of Sample-like items (``val_set`` may be None).
        resume: a checkpoint written by an earlier ``fit``; training continues at its epoch and
            step with its optimiser, scheduler, scaler, RNG states, history and partial-epoch sums.
        start_epoch: without ``resume``, start at this epoch (the schedule is advanced to it).
        extra_state: plain data (dicts, lists, strings, numbers, tensors) stored in every
            checkpoint under ``"extra"``, e.g. how to rebuild the model.
        loss_fn: ``loss_fn(output, batch) -> scalar``, the training loss of a batch from the
            model's output (whatever it returns) and the collated batch; default
            :func:`classification_loss` of the logits against ``batch.label``. With it, the
            history has no ``train_top1`` (the output need not be logits): a self-supervised
            objective such as :class:`stgcn.models.MotionPretext` (its ``val_set`` is None).

    Returns:
        :class:`FitResult` (identical on every process).
    """
    run = _Run(
        model,
        train_set,
        val_set,
        cfg,
        optim_cfg,
        dist or DistInfo(),
        collate_fn,
        class_groups,
        extra_state,
        loss_fn,
    )
    if resume is not None:
        run.restore(resume)
    elif start_epoch:
        run.skip_to(start_epoch)
    try:
        while run.epoch < cfg.epochs:
            run.train_epoch()
            run.end_epoch()
        if run.result.eval is None and val_set is not None:  # resumed finished, or epochs == 0
            run.result.eval = run.validate()
    finally:
        if run.writer is not None:
            run.writer.close()
    return run.result


class _Run:
    """The live state of one :func:`fit` call and the steps that advance it.

    ``epoch``/``step_in_epoch``/``global_step`` say where training stands; ``sums`` holds this
    process's (loss x count, correct, count, skipped) of the current epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        val_set: Dataset | None,
        cfg: TrainConfig,
        optim_cfg: OptimConfig,
        dist: DistInfo,
        collate_fn: Callable | None,
        class_groups: Mapping[str, Sequence[int]] | None,
        extra_state: Mapping[str, Any] | None,
        loss_fn: Callable[[Any, Any], Tensor] | None = None,
    ) -> None:
        world = dist.world_size
        if cfg.batch_size % world:
            raise ValueError(
                f"batch_size {cfg.batch_size} is not divisible by the world size {world}"
            )
        self.steps_per_epoch = len(train_set) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{len(train_set)} training samples are fewer than one batch of {cfg.batch_size}"
            )
        self.cfg, self.optim_cfg, self.dist = cfg, optim_cfg, dist
        self.train_set, self.val_set = train_set, val_set
        self.collate_fn = collate_fn or default_collate()
        self.class_groups = class_groups
        self.extra_state = dict(extra_state or {})
        self.loss_fn = loss_fn
        self.local_bs = cfg.batch_size // world

        net = model
        if cfg.sync_bn and dist.distributed:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.optimizer = build_optimizer(net, optim_cfg)
        self.scheduler = build_scheduler(
            self.optimizer, optim_cfg, self.steps_per_epoch, cfg.epochs
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and dist.device.type == "cuda")
        if dist.distributed:
            net = DistributedDataParallel(
                net,
                device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters,
            )
        self.net = net

        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.sums = torch.zeros(4, dtype=torch.float64)
        out_dir = Path(cfg.out_dir) if cfg.out_dir else None
        self.ckpt_path = out_dir / CHECKPOINT_NAME if out_dir else None
        self.writer = (
            _tensorboard(out_dir) if cfg.tensorboard and dist.is_main and out_dir else None
        )
        self.show = _show_progress(cfg, dist)
        self.sampler = ResumableSampler(
            len(train_set), world, dist.rank, shuffle=True, seed=cfg.seed
        )
        self.result = FitResult(checkpoint=self.ckpt_path)

    # -- starting point ----------------------------------------------------------------------

    def restore(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint of an earlier run with the same batch size and data."""
        state = load_checkpoint(path, map_location=self.dist.device)
        if (
            state.get("steps_per_epoch") != self.steps_per_epoch
            or state.get("batch_size") != self.cfg.batch_size
        ):
            raise ValueError(
                f"{path}: checkpoint was written with batch_size {state.get('batch_size')} and "
                f"{state.get('steps_per_epoch')} steps/epoch; this run has {self.cfg.batch_size} "
                f"and {self.steps_per_epoch}: resuming would change the data order"
            )
        unwrap(self.net).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step = state["global_step"]
        self.result.history = state["history"]
        self.result.train_time = state["train_time"]
        if self.dist.is_main:  # the saved sums are already global; the other ranks add their own
            self.sums = state["epoch_sums"].cpu().clone()
        set_rng_state(state["rng"])

    def skip_to(self, start_epoch: int) -> None:
        """Start a fresh run at ``start_epoch``, with the schedule advanced to it."""
        with warnings.catch_warnings():
            # fast-forwarding warns "lr_scheduler.step() before optimizer.step()"
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start_epoch * self.steps_per_epoch):
                self.scheduler.step()
        self.epoch = start_epoch
        self.global_step = start_epoch * self.steps_per_epoch

    # -- one epoch ---------------------------------------------------------------------------

    def train_epoch(self) -> None:
        """Run the remaining steps of the current epoch (all of them unless resumed mid-epoch)."""
        cfg, device, epoch = self.cfg, self.dist.device, self.epoch
        train_mode(self.net)
        self.sampler.set_epoch(epoch, skip=self.step_in_epoch * self.local_bs)
        loader = make_loader(
            self.train_set, self.sampler, self.local_bs, cfg.workers, self.collate_fn, True, device
        )
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=self.step_in_epoch,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not self.show,
            unit="step",
            dynamic_ncols=True,
        )
        tic = time.perf_counter()
        data_iter = iter(loader)
        for step in range(self.step_in_epoch, self.steps_per_epoch):
            batch = next(data_iter)
            torch.manual_seed(derive_seed(cfg.seed, epoch, step, self.dist.rank))
            loss, n = self._step(batch, epoch, step)
            self.global_step += 1
            if loss is None:  # nothing to learn from: every item was skipped
                continue
            elapsed = time.perf_counter() - tic
            self.result.train_time += elapsed
            tic = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            if self.show:
                bar.update(1)
                bar.set_postfix(
                    loss=f"{loss:.3f}",
                    lr=f"{lr:.2e}",
                    clips_s=f"{n * self.dist.world_size / max(elapsed, 1e-9):.1f}",
                )
            if self.writer is not None:
                self.writer.add_scalar("train/loss", loss, self.global_step)
                self.writer.add_scalar("train/lr", lr, self.global_step)
            if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                self.save(epoch, step + 1, self.sums)
        bar.close()

    def _step(self, batch: Any, epoch: int, step: int) -> tuple[float | None, int]:
        """One optimisation step on ``batch``; adds to ``sums``; returns (loss, batch size)."""
        device = self.dist.device
        label = batch.label.to(device, non_blocking=True)
        n = label.numel()
        num_skipped = len(getattr(batch, "skipped", ()))
        if n == 0:  # every item of this batch was skipped by the dataset (on_error="skip")
            if self.dist.distributed:
                raise RuntimeError(
                    f"epoch {epoch} step {step}: every sample of rank {self.dist.rank}'s batch "
                    "was skipped; under DDP all processes must take part in each step"
                )
            self.scheduler.step()
            self.sums[3] += num_skipped
            return None, 0
        with autocast(device, self.cfg.amp):
            output = self.net(*model_inputs(self.net, batch, device))
            if self.loss_fn is None:
                loss = classification_loss(output.float(), label, self.cfg.label_smoothing)
            else:
                loss = self.loss_fn(output, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at epoch {epoch} step {step} (videos {list(batch.video_id)})"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.optim_cfg.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.net.parameters(), self.optim_cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        correct = 0
        if self.loss_fn is None:
            last = output[:, -1] if output.dim() == 3 else output  # per-step: the last step
            correct = topk_correct(last.detach().float(), label, (1,))[1]
        self.sums += torch.tensor([loss.item() * n, correct, n, num_skipped], dtype=torch.float64)
        return loss.item(), n

    def end_epoch(self) -> None:
        """Reduce the epoch's sums, evaluate when due, log, and checkpoint the next epoch's start."""
        cfg, epoch = self.cfg, self.epoch
        total = all_reduce_sum(self.sums)
        entry = {
            "epoch": epoch,
            "train_loss": float(total[0] / total[2]),
            "train_top1": float(100.0 * total[1] / total[2]),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_time": self.result.train_time,
            "skipped": int(total[3]),
        }
        if self.loss_fn is not None:  # the output was not logits: no accuracy to report
            del entry["train_top1"]
        last = epoch + 1 == cfg.epochs
        due = last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)
        if self.val_set is not None and due:
            ev = self.validate(progress=self.show)
            entry.update(
                val_loss=ev.loss, val_top1=ev.report["top1"], val_top5=ev.report.get("top5")
            )
            self.result.eval = ev
        self.result.history.append(entry)
        if self.dist.is_main:
            self._log(entry)
        self.epoch, self.step_in_epoch = epoch + 1, 0
        self.sums = torch.zeros(4, dtype=torch.float64)
        self.save(self.epoch, 0, self.sums)

    def validate(self, progress: bool = False) -> EvalResult:
        """:func:`evaluate` on the validation set with the run's batch size, workers and AMP."""
        return evaluate(
            self.net,
            self.val_set,
            self.cfg.eval_batch_size or self.local_bs,
            self.dist,
            self.collate_fn,
            self.cfg.workers,
            self.class_groups,
            self.cfg.amp,
            progress=progress,
        )

    def _log(self, entry: dict) -> None:
        msg = ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if isinstance(v, float))
        if entry["skipped"]:
            msg += f", skipped {entry['skipped']} samples"
        print(f"epoch {entry['epoch'] + 1}/{self.cfg.epochs}: {msg}", file=sys.stderr, flush=True)
        if self.writer is not None:
            for k, v in entry.items():
                if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                    self.writer.add_scalar(f"epoch/{k}", v, entry["epoch"] + 1)

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_state(self, epoch: int, step: int, global_sums: Tensor) -> dict[str, Any]:
        """Everything :meth:`restore` needs, as tensors and plain data (``weights_only`` loads it)."""
        return {
            "model": unwrap(self.net).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step_in_epoch": step,
            "global_step": self.global_step,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.cfg.batch_size,
            "epoch_sums": global_sums.cpu(),
            "history": self.result.history,
            "train_time": self.result.train_time,
            "rng": rng_state(),
            "train_config": asdict(self.cfg),
            "optim_config": asdict(self.optim_cfg),
            "world_size": self.dist.world_size,
            "finished": epoch >= self.cfg.epochs,
            "extra": self.extra_state,
        }

    def save(self, epoch: int, step: int, sums: Tensor) -> None:
        """Checkpoint the position ``(epoch, step)`` with this process's partial ``sums``."""
        if self.ckpt_path is None:
            return
        global_sums = all_reduce_sum(sums)  # every rank takes part in the collective
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_state(epoch, step, global_sums), self.ckpt_path)
        barrier()


def _show_progress(cfg: TrainConfig, dist: DistInfo) -> bool:
    if not dist.is_main:
        return False
    if cfg.progress is not None:
        return cfg.progress
    return sys.stderr.isatty() and not os.environ.get("CI")


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # tensorboard is an optional extra
        raise ImportError(
            "tensorboard logging needs the tensorboard package: pip install tensorboard"
        ) from err
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))
