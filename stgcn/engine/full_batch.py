"""Full-batch semi-supervised node classification (Kipf & Welling 2017; PyG ``examples/gcn.py``).

The whole graph goes through the model at every step (transductive): the loss is the
cross-entropy on the labelled nodes ``data.train_mask`` only, and after each step the model is
evaluated on ``data.val_mask`` and ``data.test_mask``. The reported test accuracy is the one at the
epoch of best validation accuracy (the first such epoch), Kipf & Welling's model selection;
the weights are those of the last epoch.

:func:`fit_full_batch` trains a model for a number of epochs; :class:`FullBatchTrainer` is its
epoch-by-epoch form, which keeps its own torch RNG state so that several trainers can alternate
epochs (a benchmark that interleaves two models to share machine load) and each still draws the
dropout masks it would draw alone. :func:`kipf_adam` is the paper's optimiser: Adam with weight
decay on the first layer only, as in Kipf's code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from stgcn.models.kipf_gcn import KipfGCN

__all__ = ["FullBatchResult", "FullBatchTrainer", "fit_full_batch", "kipf_adam"]


def kipf_adam(model: KipfGCN, lr: float = 0.01, weight_decay: float = 5e-4) -> torch.optim.Adam:
    """Adam with L2 weight decay on the first layer's parameters only (Kipf's code)."""
    if not isinstance(model, KipfGCN):
        raise TypeError(
            f"kipf_adam decays the first layer of a KipfGCN, got {type(model).__name__}; "
            "pass your own optimizer for other models"
        )
    return torch.optim.Adam(
        [
            dict(params=model.conv1.parameters(), weight_decay=weight_decay),
            dict(params=model.conv2.parameters(), weight_decay=0.0),
        ],
        lr=lr,
    )


@dataclass
class FullBatchResult:
    """What a full-batch run measured; accuracies in percent, step times in seconds.

    ``val_acc``/``test_acc`` are taken at ``best_epoch`` (1-based), the first epoch of best
    validation accuracy; the lists hold one entry per epoch: the training loss of the step, the
    validation and test accuracy after it, and the time of the train step (forward, loss,
    backward, optimiser step; CUDA synchronised).
    """

    val_acc: float = 0.0
    test_acc: float = 0.0
    best_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    val_accs: list[float] = field(default_factory=list)
    test_accs: list[float] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.losses)


def _accuracy(pred: Tensor, y: Tensor, mask: Tensor) -> float:
    return 100.0 * int((pred[mask] == y[mask]).sum()) / int(mask.sum())


class FullBatchTrainer:
    """Trains ``model(x, edge_index) -> logits [N, C]`` on one graph, one epoch per :meth:`step`.

    ``data`` holds ``x`` [N, F], ``edge_index`` [2, E], ``y`` [N] and the boolean masks
    ``train_mask``, ``val_mask``, ``test_mask`` [N], all on the model's device. With
    ``sparse_features`` the features are passed as a coalesced sparse COO tensor, which gives
    :class:`~stgcn.models.KipfGCN` Kipf's sparse input dropout. ``optimizer`` defaults to
    :func:`kipf_adam` with ``lr`` and ``weight_decay``.

    The torch (and CUDA) RNG state at construction is the trainer's own: seed torch before
    building the model, and each step restores the trainer's state and saves it afterwards.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Data,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        lr: float = 0.01,
        weight_decay: float = 5e-4,
        sparse_features: bool = True,
    ) -> None:
        keys = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")
        missing = [k for k in keys if getattr(data, k, None) is None]
        if missing:
            raise ValueError(f"data lacks {missing}; full-batch training needs all of {keys}")
        self.model = model
        self.data = data
        self.x = (
            data.x.to_sparse().coalesce() if sparse_features and not data.x.is_sparse else data.x
        )
        self.optimizer = optimizer if optimizer is not None else kipf_adam(model, lr, weight_decay)
        self.cuda = data.x.is_cuda
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state() if self.cuda else None
        self.result = FullBatchResult()

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def train_step(self) -> Tensor:
        """One optimisation step on the training nodes with the trainer's RNG; returns the loss
        (a detached scalar tensor) and appends the step's time to ``result.step_times``."""
        torch.set_rng_state(self.rng)
        if self.cuda:
            torch.cuda.set_rng_state(self.cuda_rng)
        data, model = self.data, self.model
        self._sync()
        start = time.perf_counter()
        model.train()
        self.optimizer.zero_grad()
        out = model(self.x, data.edge_index)
        loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
        loss.backward()
        self.optimizer.step()
        self._sync()
        self.result.step_times.append(time.perf_counter() - start)
        self.rng = torch.get_rng_state()
        if self.cuda:
            self.cuda_rng = torch.cuda.get_rng_state()
        return loss.detach()

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Validation and test accuracy (percent) of the model in eval mode."""
        self.model.eval()
        pred = self.model(self.x, self.data.edge_index).argmax(dim=-1)
        return tuple(
            _accuracy(pred, self.data.y, m) for m in (self.data.val_mask, self.data.test_mask)
        )

    def step(self) -> FullBatchResult:
        """Train one epoch, evaluate, keep the test accuracy at the best validation epoch."""
        loss = self.train_step()
        val, test = self.evaluate()
        result = self.result
        result.losses.append(float(loss))
        result.val_accs.append(val)
        result.test_accs.append(test)
        if result.best_epoch == 0 or val > result.val_acc:
            result.val_acc, result.test_acc, result.best_epoch = val, test, result.epochs
        return result


def fit_full_batch(
    model: nn.Module,
    data: Data,
    *,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    optimizer: torch.optim.Optimizer | None = None,
    sparse_features: bool = True,
) -> FullBatchResult:
    """Train ``model`` on ``data`` for ``epochs`` full-batch steps (defaults: Kipf & Welling's
    200 epochs of Adam, lr 0.01, weight decay 5e-4 on the first layer).

    ``data``: ``x`` [N, F], ``edge_index`` [2, E], ``y`` [N], boolean ``train_mask``,
    ``val_mask``, ``test_mask`` [N]. Seed torch before building the model for a reproducible run.
    Returns the test accuracy at the best validation epoch and the per-epoch curves
    (:class:`FullBatchResult`); the model is left in eval mode with its last-epoch weights.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    trainer = FullBatchTrainer(
        model, data, optimizer, lr=lr, weight_decay=weight_decay, sparse_features=sparse_features
    )
    for _ in range(epochs):
        trainer.step()
    return trainer.result
