"""Training curves and confusion matrices as PNG files.

Figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot: nothing needs a
display, and importing this module leaves the user's matplotlib backend alone (a notebook keeps its
inline backend).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_curves"]


def plot_curves(
    histories: Mapping[str, Sequence[Mapping[str, float]]], path: str | os.PathLike
) -> Path:
    """Loss and top-1 per epoch for one or more runs, on two panels.

    Args:
        histories: ``{run name: [{"epoch", "train_loss", "train_top1", "val_top1"?}, ...]}`` as
            recorded by :func:`stgcn.engine.trainer.fit`.
        path: the PNG to write.
    """
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for (name, hist), color in zip(histories.items(), _colors(len(histories)), strict=True):
        epochs = [h["epoch"] + 1 for h in hist]
        ax_loss.plot(epochs, [h["train_loss"] for h in hist], color=color, label=name)
        ax_acc.plot(epochs, [h["train_top1"] for h in hist], color=color, ls="--", alpha=0.6)
        val = [(h["epoch"] + 1, h["val_top1"]) for h in hist if h.get("val_top1") is not None]
        if val:
            ax_acc.plot(*zip(*val, strict=True), color=color, marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="top-1: validation (o), training (--)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion(
    confusion: Sequence[Sequence[int]],
    class_names: Sequence[str] | None,
    path: str | os.PathLike,
    title: str = "confusion matrix",
) -> Path:
    """A row-normalised confusion matrix (rows: true class, columns: predicted class)."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = cm.shape[0]
    size = min(4 + 0.35 * n, 40)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.subplots()
    im = ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if n <= 60:
        ax.set_xticks(range(n), [_short(s) for s in names], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [_short(s) for s in names], fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def _short(name: str, width: int = 38) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _colors(n: int) -> list:
    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
