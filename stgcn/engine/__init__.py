"""Training and evaluation: the loop, checkpoints, seeding, distributed runs, metrics, plots.

Needs the ``train`` extra (``pip install "stgcn[train]"``: tqdm for progress bars, matplotlib for
the plots); importing this package without it raises an ImportError that says so.

Modules and what they hold:

* :mod:`~stgcn.engine.trainer`: :class:`TrainConfig`, :func:`fit`, :class:`FitResult`, ``train_mode``,
  :func:`classification_loss` (per-step outputs ``[B, S, C]`` of a recurrent model too);
* :mod:`~stgcn.engine.full_batch`: :func:`fit_full_batch`, :class:`FullBatchTrainer`,
  :func:`kipf_adam`: full-batch node classification on one graph (Kipf & Welling's protocol);
* :mod:`~stgcn.engine.evaluation`: :func:`evaluate`, :class:`EvalResult`, :func:`write_predictions`;
* :mod:`~stgcn.engine.forward`: the ``takes_graph`` and ``modality`` rules (:func:`model_inputs`), autocast, loaders;
* :mod:`~stgcn.engine.checkpoint`: :func:`save_checkpoint`, :func:`load_checkpoint` (``weights_only``);
* :mod:`~stgcn.engine.seeding`: :func:`derive_seed`, :func:`seed_everything`, RNG state;
* :mod:`~stgcn.engine.data_order`: the resumable sampler and per-sample seeding;
* :mod:`~stgcn.engine.distributed`: :class:`DistInfo`, process-group set-up and collectives;
* :mod:`~stgcn.engine.optim`: :class:`OptimConfig`, SGD and the learning-rate schedule;
* :mod:`~stgcn.engine.metrics`: top-k, multi-view averaging, the classification report;
* :mod:`~stgcn.engine.plots`: training curves and confusion matrices as PNG.
"""

try:
    import matplotlib  # noqa: F401
    import tqdm  # noqa: F401
except ImportError as err:  # a core install: say which extra brings the missing package
    raise ImportError(
        f"stgcn.engine needs {err.name!r}, which comes with the 'train' extra: "
        'pip install "stgcn[train]"'
    ) from err

from stgcn.engine.checkpoint import UnsafeFileError, load_checkpoint, save_checkpoint
from stgcn.engine.distributed import (
    DistInfo,
    barrier,
    broadcast_object,
    cleanup_distributed,
    init_distributed,
)
from stgcn.engine.evaluation import EvalResult, evaluate, write_predictions
from stgcn.engine.forward import modality, model_inputs, takes_graph
from stgcn.engine.full_batch import FullBatchResult, FullBatchTrainer, fit_full_batch, kipf_adam
from stgcn.engine.metrics import aggregate_views, classification_report, topk_correct
from stgcn.engine.optim import OptimConfig, build_optimizer, build_scheduler
from stgcn.engine.plots import plot_confusion, plot_curves
from stgcn.engine.seeding import derive_seed, rng_state, seed_everything, set_rng_state
from stgcn.engine.trainer import FitResult, TrainConfig, classification_loss, fit, train_mode

__all__ = [
    "DistInfo",
    "EvalResult",
    "FitResult",
    "FullBatchResult",
    "FullBatchTrainer",
    "OptimConfig",
    "TrainConfig",
    "UnsafeFileError",
    "aggregate_views",
    "barrier",
    "broadcast_object",
    "build_optimizer",
    "build_scheduler",
    "classification_loss",
    "classification_report",
    "cleanup_distributed",
    "derive_seed",
    "evaluate",
    "fit",
    "fit_full_batch",
    "init_distributed",
    "kipf_adam",
    "load_checkpoint",
    "modality",
    "model_inputs",
    "plot_confusion",
    "plot_curves",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "takes_graph",
    "topk_correct",
    "train_mode",
    "write_predictions",
]
