"""Training and evaluation: loop, checkpoints, distributed, metrics."""

from stgcn.engine.checkpoint import load_checkpoint, save_checkpoint
from stgcn.engine.distributed import DistInfo, init_distributed
from stgcn.engine.metrics import aggregate_views, classification_report, topk_correct
from stgcn.engine.optim import OptimConfig, build_optimizer, build_scheduler
from stgcn.engine.plots import plot_confusion, plot_curves
from stgcn.engine.trainer import (
    EvalResult,
    FitResult,
    TrainConfig,
    evaluate,
    fit,
    write_predictions,
)

__all__ = [
    "DistInfo",
    "EvalResult",
    "FitResult",
    "OptimConfig",
    "TrainConfig",
    "aggregate_views",
    "build_optimizer",
    "build_scheduler",
    "classification_report",
    "evaluate",
    "fit",
    "init_distributed",
    "load_checkpoint",
    "plot_confusion",
    "plot_curves",
    "save_checkpoint",
    "topk_correct",
    "write_predictions",
]
