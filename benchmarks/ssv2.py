"""Train and evaluate the paper's Table 4 rows (I3D, I3D+NL, I3D+GCN, I3D+NL+GCN) on SSv2-format data.

With no arguments it generates (or reuses) a synthetic Something-Something v2 set in a cache folder
(1,500 train / 300 validation videos in the official layout, with Something-Else boxes), extracts
their optical flow (DIS) and decodes every clip once into a cache, pre-trains the I3D backbone on the
train split to predict the flow's motion from the RGB (self-supervised: no labels, no boxes;
:class:`stgcn.models.MotionPretext`, once per seed, cached), trains and evaluates the four models from
it with the same budget and seed in a CPU-sized configuration, and prints a table with the paper's
SSv1 numbers beside it. ``--pretrain-epochs 0`` trains them from random weights instead. Outputs go to
``--out``: ``results.json``, ``results.md``, ``curves.png``, ``confusion_<model>.png``, and per run
(``runs/<model>-seed<k>/``) the checkpoint and the per-video predictions. ``--evaluate`` writes
``eval-results.*``, ``eval-confusion_<model>.png`` and ``eval-predictions.csv`` instead.

It starts with one line that says what will run and roughly how long it takes on this machine
(a few training steps are timed to make the estimate), and prints each epoch's line as it ends.
``--box-source detector|motion`` trains and evaluates the region models on proposed boxes instead
of the ground truth (a Faster R-CNN trained here on the train split, or weight-free motion boxes;
proposed once per video and cached); ``--boxes FILE`` without ``--data-root`` reads a box file
made elsewhere (``python -m stgcn.proposals``) in place of the ground truth. ``--preset full`` runs every row of the README's table over
3 seeds: the ground-truth-box rows, the detected- and motion-box rows, and the paper's two stages;
the results add a paired test (per-seed differences, ``scipy.stats.ttest_rel``) of the key
differences.

Given ``--data-root`` (and ``--boxes``) it runs on the real SSv2 with Something-Else boxes;
``--preset paper`` is the paper's configuration. Under ``torchrun --nproc_per_node N`` it trains with
DDP (gloo on CPU, nccl on CUDA); ``--batch-size`` is then the global batch.

Examples::

    python benchmarks/ssv2.py                                    # the default CPU benchmark
    python benchmarks/ssv2.py --smoke --out /tmp/smoke           # CI-sized, well under a minute
    python benchmarks/ssv2.py --model i3d --model i3d_gcn --seeds 3   # the i3d_gcn vs i3d target
    python benchmarks/ssv2.py --model i3d_roi --model i3d_gcn --seeds 3   # what the graph adds
    python benchmarks/ssv2.py --model i3d_gcn --box-source detector      # detected boxes
    python benchmarks/ssv2.py --preset full                      # the README's whole table
    torchrun --nproc_per_node 8 benchmarks/ssv2.py --preset paper --device cuda \\
        --data-root /data/ssv2 --boxes /data/bounding_box_smthsmth_part*.json --model i3d
    torchrun --nproc_per_node 8 benchmarks/ssv2.py --preset paper --device cuda \\
        --data-root /data/ssv2 --boxes /data/bbox/*.json --model i3d_gcn \\
        --init-from out/runs/i3d-seed0/checkpoint.pt --freeze-backbone
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils.data import Dataset
from torch_geometric.data import Batch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from _machine import machine  # noqa: E402

from stgcn.data.cached import FORMAT as CACHE_FORMAT  # noqa: E402
from stgcn.data.cached import CachedClips  # noqa: E402
from stgcn.data.synthetic import class_groups  # noqa: E402
from stgcn.engine import (  # noqa: E402
    DistInfo,
    OptimConfig,
    TrainConfig,
    barrier,
    broadcast_object,
    cleanup_distributed,
    evaluate,
    fit,
    init_distributed,
    load_checkpoint,
    model_inputs,
    plot_confusion,
    plot_curves,
    seed_everything,
    write_predictions,
)
from stgcn.engine.trainer import CHECKPOINT_NAME  # noqa: E402
from stgcn.extract import parse_views  # noqa: E402  (--views, shared with python -m stgcn.extract)
from stgcn.graphs import VideoGraph  # noqa: E402
from stgcn.io import atomic_path, save_atomic  # noqa: E402
from stgcn.models import (  # noqa: E402
    ModelConfig,
    build_model,
    count_gmacs,
    count_parameters,
    init_from,
)

MODELS = ("i3d", "i3d_nl", "i3d_gcn", "i3d_nl_gcn", "c2d", "i3d_roi")
TABLE4 = ("i3d", "i3d_nl", "i3d_gcn", "i3d_nl_gcn")
PAPER_SSV1_TOP1 = {"i3d": 41.6, "i3d_nl": 44.4, "i3d_gcn": 43.3, "i3d_nl_gcn": 46.1}
"""Wang & Gupta (ECCV 2018), Table 4: top-1 on Something-Something **v1** validation, ResNet-50
I3D backbones, 32 frames at 224 px. Another dataset and another scale: shown for the ordering only."""

BOX_SOURCES = ("gt", "detector", "motion")
"""Where a region model's boxes come from: ``gt`` the set's Something-Else boxes (ground truth);
``detector`` the trained Faster R-CNN's detections (hand / object), ``motion`` the weight-free
frame-difference boxes (:mod:`stgcn.proposals`), both proposed for every video of the set once and
cached as a Something-Else box file."""


@dataclass(frozen=True)
class Row:
    """One row of the table: a model, the boxes it reads, and what initialises it.

    ``init`` names another row of the plan (same seed) whose final checkpoint initialises this
    one (the paper's second stage: ``stgcn.models.init_from``); ``freeze`` then trains only the
    layers the backbone does not have."""

    model: str
    boxes: str = "gt"
    init: str | None = None
    freeze: bool = False

    @property
    def label(self) -> str:
        """The table's name: the model, then what differs from a plain run."""
        extra = []
        if self.boxes != "gt":
            extra.append(f"{self.boxes} boxes")
        if self.init is not None:
            extra.append(f"from {self.init}, {'frozen' if self.freeze else 'fine-tuned'}")
        return self.model + (f" ({'; '.join(extra)})" if extra else "")

    @property
    def slug(self) -> str:
        """The run folder's name (``runs/<slug>-seed<k>``)."""
        parts = [self.model] + ([self.boxes] if self.boxes != "gt" else [])
        if self.init is not None:
            parts += [f"from-{self.init}", "frozen" if self.freeze else "finetuned"]
        return "-".join(parts)


FULL_PLAN = (
    Row("i3d"),
    Row("i3d_nl"),
    Row("i3d_roi"),
    Row("i3d_gcn"),
    Row("i3d_nl_gcn"),
    Row("i3d_roi", boxes="detector"),
    Row("i3d_gcn", boxes="detector"),
    Row("i3d_gcn", boxes="motion"),
    Row("i3d_gcn", init="i3d", freeze=True),
    Row("i3d_gcn", init="i3d"),
)
"""``--preset full``: every row of the README's table (3 seeds unless ``--seeds`` says otherwise).
Ground-truth boxes, the detected- and motion-box rows, and the paper's two stages (stage 1 is the
plain ``i3d`` row; stage 2 trains ``i3d_gcn`` from its checkpoint, backbone frozen or fine-tuned)."""

PAIRS = (
    ("i3d_gcn", "i3d"),
    ("i3d_nl", "i3d"),
    ("i3d_nl_gcn", "i3d_gcn"),
    ("i3d_gcn", "i3d_roi"),
    ("i3d_gcn (detector boxes)", "i3d_gcn"),
    ("i3d_roi (detector boxes)", "i3d_roi"),
    ("i3d_gcn (motion boxes)", "i3d_gcn"),
    ("i3d_gcn (from i3d, frozen)", "i3d_gcn"),
    ("i3d_gcn (from i3d, fine-tuned)", "i3d_gcn"),
)
"""The differences the results test seed by seed (a paired test), where both rows ran."""


@dataclass(frozen=True)
class Clips:
    """What the dataset reads (the clip length is ``ModelConfig.frames``) and the generated set."""

    sampling: str
    stride: int
    size: int
    views: tuple[int, int]
    synthetic_videos: int
    synthetic_size: tuple[int, int]
    cache_clips: bool


@dataclass(frozen=True)
class Pretrain:
    """The self-supervised stage that runs before the models (:func:`pretrain_backbone`).

    The I3D backbone learns to predict, from the RGB clip, the directional motion energy of the
    clip's DIS optical flow in every cell of its res2..res5 maps (:class:`stgcn.models.MotionPretext`),
    on the train split alone: no labels, no boxes. Once per seed, cached under
    ``<cache-dir>/pretrain/`` by a key of its settings; every model of the run then starts from it
    (``init_from``), as the paper's models start from a pre-trained I3D. Same batch and schedule
    as the models (``optim`` with this ``lr``). ``epochs`` 0: off.
    """

    epochs: int = 0
    lr: float = 0.05
    summary: bool = True  # also predict the clip's motion on a 4x2x2 grid from the pooled feature


@dataclass(frozen=True)
class Preset:
    """One configuration: the library's own configs for model, training and optimiser, plus the
    data and the pre-training stage. Command-line flags override single fields (:data:`FLAGS`)."""

    model: ModelConfig
    train: TrainConfig
    optim: OptimConfig
    data: Clips
    pretrain: Pretrain = Pretrain()


def with_fields(preset: Preset, changes: Mapping[str, Any]) -> Preset:
    """``preset`` with the fields named ``"section.field"`` (e.g. ``"model.frames"``) replaced."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    return replace(preset, **{s: replace(getattr(preset, s), **kw) for s, kw in sections.items()})


# The default run: 4 models x this budget must fit in 15 minutes on 2 CPU cores, install included,
# with or without AVX-512. 48 px (0.117 GMACs/clip against 0.468 at 96 px) and 6 epochs, after a
# shared 6-epoch motion pre-training of the backbone on the train split (its DIS flow extracted
# once, cached): 4 x 6 + 6 = 30 epochs of 0.117 GMACs, 3.5 GMAC-epochs per clip against 15.0 for
# the earlier 8 epochs of the four models at 96 px. lr 0.01: at 0.05 the global-pooling I3D
# collapses even from the pre-trained backbone (docs/baseline-diagnosis.md, section 8).
CPU = Preset(
    model=ModelConfig(
        depth=18, width=16, res5_stride=1, frames=8, region_channels=64, gcn_layers=2
    ),
    train=TrainConfig(epochs=6, batch_size=8),
    optim=OptimConfig(
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
        warmup_epochs=0.5,
        clip_grad_norm=10.0,
    ),
    data=Clips(
        sampling="tsn",
        stride=2,
        size=48,
        views=(1, 1),
        synthetic_videos=1875,  # 80 / 16 / 4 %: 1,500 train, 300 validation, 75 test
        synthetic_size=(96, 128),
        cache_clips=True,
    ),
    pretrain=Pretrain(epochs=6, lr=0.05),
)
PRESETS = {
    "cpu": CPU,
    # every row of the README's table (FULL_PLAN), 3 seeds, in the CPU configuration
    "full": CPU,
    # CI: a few seconds per model.
    "smoke": with_fields(
        CPU,
        {
            "model.frames": 4,
            "model.width": 4,
            "model.region_channels": 8,
            "model.gcn_layers": 1,
            "train.epochs": 1,
            "optim.warmup_epochs": 0.0,
            "data.size": 32,
            "data.synthetic_videos": 64,
            "data.synthetic_size": (32, 48),
            "pretrain.epochs": 1,
        },
    ),
    # The paper: ResNet-50 I3D, 32 frames at stride 2, 224 px, res5 stride 1, 512-d graph, 3 GCN
    # layers. The schedule is ours (the paper does not list one for SSv2).
    "paper": Preset(
        model=ModelConfig(
            depth=50, width=64, res5_stride=1, frames=32, region_channels=512, gcn_layers=3
        ),
        train=TrainConfig(epochs=30, batch_size=64),
        optim=OptimConfig(
            lr=0.02,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="multistep",
            warmup_epochs=1.0,
            milestones=[20.0, 25.0],
            clip_grad_norm=10.0,
        ),
        data=Clips(
            sampling="dense",
            stride=2,
            size=224,
            views=(2, 3),
            synthetic_videos=1875,
            synthetic_size=(240, 320),
            cache_clips=False,
        ),
    ),
}

FLAGS = {
    "frames": "model.frames",
    "depth": "model.depth",
    "width": "model.width",
    "graph_dim": "model.region_channels",
    "gcn_layers": "model.gcn_layers",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "optim.lr",
    "momentum": "optim.momentum",
    "weight_decay": "optim.weight_decay",
    "warmup_epochs": "optim.warmup_epochs",
    "schedule": "optim.schedule",
    "milestones": "optim.milestones",
    "clip_grad": "optim.clip_grad_norm",
    "sampling": "data.sampling",
    "stride": "data.stride",
    "size": "data.size",
    "views": "data.views",
    "synthetic_videos": "data.synthetic_videos",
    "cache_clips": "data.cache_clips",
    "pretrain_epochs": "pretrain.epochs",
    "pretrain_lr": "pretrain.lr",
}
"""Command-line flag (argparse ``dest``) -> the preset field it overrides."""


# ---------------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/ssv2.py",
        description=__doc__.split("\n\n")[0],
        epilog="examples:" + __doc__.split("Examples::")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("what to run")
    g.add_argument(
        "--model",
        action="append",
        choices=(*MODELS, "all"),
        help="model to train (repeatable); 'all' = the four Table 4 rows "
        "(default: i3d, i3d_nl, i3d_gcn, i3d_nl_gcn); i3d_roi is an ablation that is not in the "
        "paper: i3d_gcn's boxes and RoIAlign nodes, mean-pooled with no graph",
    )
    g.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="configuration: cpu (default), smoke (CI, same as --smoke) or paper "
        "(ResNet-50 I3D, 32 frames at stride 2, 224 px, res5 stride 1, 512-d graph, 3 GCN layers)",
    )
    g.add_argument(
        "--smoke", action="store_true", help="tiny configuration for CI (well under a minute)"
    )
    g.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    g.add_argument(
        "--seeds",
        type=int,
        help="number of seeds, seed .. seed+N-1 (default 1; --preset full: 3)",
    )
    g.add_argument(
        "--box-source",
        choices=BOX_SOURCES,
        default="gt",
        help="boxes of the region models: gt (the set's Something-Else boxes, default), detector "
        "(the trained Faster R-CNN's detections; --detector), motion (weight-free frame-difference "
        "boxes); proposed once per video of the synthetic set and cached",
    )
    g.add_argument(
        "--detector",
        type=Path,
        metavar="CKPT",
        help="detector checkpoint for --box-source detector (stgcn.proposals.train / "
        "benchmarks/proposals.py); default: trained here once on the train split and cached",
    )
    g.add_argument(
        "--box-top-k",
        type=int,
        default=5,
        help="detected / motion boxes kept per frame (default 5; the set has 2-3 real ones)",
    )
    g.add_argument(
        "--out",
        type=Path,
        default=Path("ssv2-results"),
        help="output folder (default ssv2-results)",
    )

    g = p.add_argument_group("training (the seed's two-stream script conventions)")
    g.add_argument("--epochs", type=int, help="number of epochs (preset: cpu 6, smoke 1, paper 30)")
    g.add_argument(
        "-b",
        "--batch-size",
        type=int,
        help="global mini-batch size, over all processes (preset: cpu 8, smoke 8, paper 64)",
    )
    g.add_argument(
        "--lr",
        "--learning-rate",
        type=float,
        dest="lr",
        help="peak learning rate (preset: cpu 0.01, paper 0.02)",
    )
    g.add_argument(
        "--wd",
        "--weight-decay",
        type=float,
        dest="weight_decay",
        help="weight decay (preset: 1e-4)",
    )
    g.add_argument("--momentum", type=float, help="SGD momentum (preset: 0.9)")
    g.add_argument(
        "--warmup-epochs",
        type=float,
        help="linear warm-up length in epochs (preset: cpu 0.5, paper 1)",
    )
    g.add_argument(
        "--schedule",
        choices=("cosine", "multistep"),
        help="learning-rate schedule after warm-up (preset: cpu cosine, paper multistep)",
    )
    g.add_argument(
        "--milestones",
        type=float,
        nargs="*",
        help="multistep: epochs where lr is x0.1 (paper: 20 25)",
    )
    g.add_argument("--clip-grad", type=float, help="gradient-norm clipping (0: off; preset: 10)")
    g.add_argument(
        "--resume",
        default="",
        metavar="PATH",
        help="continue from this checkpoint exactly (one model and seed), or 'auto': every run "
        "resumes from its own <out>/runs/<model>-seed<k>/checkpoint.pt when present",
    )
    g.add_argument(
        "--start-epoch",
        type=int,
        default=0,
        help="manual epoch to start at (ignored with --resume)",
    )
    g.add_argument(
        "-e",
        "--evaluate",
        action="store_true",
        help="only evaluate the --resume (or --init-from) weights on the validation split, with "
        "--views multi-view testing, and write per-video predictions",
    )
    g.add_argument(
        "--init-from",
        metavar="CKPT",
        help="initialise weights from a checkpoint (stage 2); skips the pre-training stage",
    )
    g.add_argument(
        "--pretrain-epochs",
        type=int,
        help="epochs of the self-supervised motion pre-training of the backbone on the train "
        "split (optical flow as the target; no labels, no boxes), shared by all models of a seed "
        "and cached (0: off; preset: cpu 6, smoke 1, paper 0)",
    )
    g.add_argument("--pretrain-lr", type=float, help="peak lr of the pre-training (preset: 0.05)")
    g.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="freeze the backbone (its BatchNorm statistics too) and train the rest: the paper's second stage",
    )
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="also checkpoint every N steps (0: epochs only)",
    )
    g.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision (bfloat16 on CPU, float16 + GradScaler on CUDA)",
    )
    g.add_argument(
        "--tensorboard", action="store_true", help="log to <run>/tensorboard (needs tensorboard)"
    )

    g = p.add_argument_group("data")
    g.add_argument("--data-root", type=Path, help="root of the real SSv2 in the official layout")
    g.add_argument(
        "--boxes",
        type=Path,
        nargs="+",
        help="Something-Else box JSON file(s): the four parts or one merged; without --data-root "
        "they replace the synthetic set's ground truth (e.g. python -m stgcn.proposals output)",
    )
    g.add_argument("--frames", type=int, help="frames per clip (preset: cpu 8, paper 32)")
    g.add_argument("--size", type=int, help="crop size in pixels (preset: cpu 48, paper 224)")
    g.add_argument(
        "--sampling",
        choices=("tsn", "uniform", "dense"),
        help="frame sampling (paper: dense, stride 2)",
    )
    g.add_argument("--stride", type=int, help="frame stride of dense sampling")
    g.add_argument(
        "--views", type=parse_views, help="multi-view testing CLIPSxCROPS, e.g. 2x3 (default 1x1)"
    )
    g.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    g.add_argument(
        "--synthetic-videos",
        type=int,
        help="size of the generated set (80%% train, 16%% validation, 4%% test; default 1875)",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("STGCN_CACHE", Path.home() / ".cache" / "stgcn")),
        help="where the synthetic set and the decoded-clip caches live ($STGCN_CACHE, ~/.cache/stgcn)",
    )
    g.add_argument(
        "--cache-clips",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode every clip once and train from the cache (default: on for synthetic data)",
    )

    g = p.add_argument_group("model")
    g.add_argument("--depth", type=int, choices=(18, 50), help="ResNet depth (cpu 18, paper 50)")
    g.add_argument("--width", type=int, help="stem channels of the ResNet (64 = standard; cpu 16)")
    g.add_argument(
        "--graph-dim", type=int, help="node feature size of the region graph (paper 512)"
    )
    g.add_argument("--gcn-layers", type=int, help="graph convolution layers (paper 3)")
    g.add_argument(
        "--inflate-from",
        type=Path,
        metavar="PATH",
        help="a torchvision 2D ResNet state dict (e.g. ResNet50_Weights saved with torch.save) to "
        "inflate into the backbone; nothing is downloaded",
    )

    g = p.add_argument_group("machine")
    g.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (default) or cuda")
    g.add_argument(
        "--sync-bn",
        action="store_true",
        help="SyncBatchNorm across processes under torchrun (CUDA only; default: per-process BN)",
    )
    g.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads per process (0: torch's default)"
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tqdm bar (default: only on a terminal, not in CI)",
    )
    return p


def resolve(args: argparse.Namespace) -> Preset:
    """The preset with the flags that were given applied on top."""
    preset = PRESETS["smoke" if args.smoke else args.preset or "cpu"]
    given = {field: getattr(args, dest) for dest, field in FLAGS.items()}
    given = {k: v for k, v in given.items() if v is not None}
    if "optim.clip_grad_norm" in given:
        given["optim.clip_grad_norm"] = given["optim.clip_grad_norm"] or None  # 0: off
    if args.data_root is not None and args.cache_clips is None:
        given["data.cache_clips"] = False
    return with_fields(preset, given)


# ---------------------------------------------------------------------------------------------------
# data


def prepare_synthetic(args: argparse.Namespace, preset: Preset, dist: DistInfo) -> Path:
    """Generate (rank 0) or reuse the synthetic set; returns its root."""
    from stgcn.data.synthetic import generate

    n = preset.data.synthetic_videos
    h, w = preset.data.synthetic_size
    root = args.cache_dir / f"ssv2-synthetic-n{n}-{h}x{w}-seed0"
    if dist.is_main:
        tic = time.perf_counter()
        manifest = generate(root, n, seed=0, size=(h, w), splits=(0.8, 0.16, 0.04))
        took = time.perf_counter() - tic
        print(
            f"synthetic set: {root} ({sum(manifest['counts']['train'].values())} train, "
            f"{sum(manifest['counts']['validation'].values())} validation videos; "
            f"{'generated' if took > 1 else 'reused'} in {took:.1f} s)",
            flush=True,
        )
    barrier()
    return root


def cached(dataset: Dataset, path: Path, workers: int, dist: DistInfo) -> CachedClips:
    """``dataset`` decoded once into ``path`` (by rank 0, if not there yet), read by every rank."""
    if dist.is_main and not path.exists():
        tic = time.perf_counter()
        done = CachedClips.write(dataset, path, workers)
        print(
            f"decoded {done['clips']} clips of {dataset.split} once into {path.name} "
            f"({done['mib']:.0f} MiB, {time.perf_counter() - tic:.1f} s"
            + (f", {done['skipped']} skipped" if done["skipped"] else "")
            + ")",
            flush=True,
        )
    barrier()
    return CachedClips.load(path)


@dataclass(frozen=True)
class FlowData:
    """Optical flow beside the RGB (``benchmarks/two_stream.py``, ``benchmarks/architectures.py``):
    extracted once per video by :func:`stgcn.data.flow.extract` with ``method`` into a cache folder
    (resumable), read by the SSv2 reader (``modality=("rgb", "flow")``, ``flow_length`` =
    ``length``), and cached with the decoded clips."""

    method: str = "dis"
    length: int = 1
    workers: int = 2


def prepare_flow(root: Path, flow: FlowData, args: argparse.Namespace, dist: DistInfo) -> Path:
    """The flow of every video of ``root`` (rank 0 extracts what is missing; a killed run
    resumes); returns its folder. The folder is keyed by the set's signature and the method, so
    a regenerated set gets its flow extracted again. ``--flow-dir`` (``args.flow_dir``) names it
    instead (real data)."""
    from stgcn.data.flow import extract
    from stgcn.data.ssv2 import VIDEO_DIR

    out = getattr(args, "flow_dir", None)
    if out is None:
        key = hashlib.sha256(_dataset_signature(root).encode()).hexdigest()[:12]
        out = args.cache_dir / "flow" / f"{Path(root).name}-{flow.method}-{key}"
    if dist.is_main:
        tic = time.perf_counter()
        report = extract(
            [Path(root) / VIDEO_DIR], out, method=flow.method, workers=flow.workers, progress=False
        )
        skipped = sum(report["skipped"].values())
        print(
            f"optical flow ({flow.method}): {out} ({report['done']} videos extracted now, "
            f"{report['existing']} there already"
            + (f", {skipped} skipped" if skipped else "")
            + f"; {time.perf_counter() - tic:.1f} s)",
            flush=True,
        )
    barrier()
    return Path(out)


class Data(NamedTuple):
    train: Dataset
    val: Dataset
    classes: list[str]
    groups: dict[str, list[int]]
    root: Path


def build_data(
    args: argparse.Namespace,
    preset: Preset,
    dist: DistInfo,
    flow: FlowData | None = None,
    boxes: Path | None = None,
) -> Data:
    """Train and validation datasets (cached clips for the synthetic default); with ``flow``,
    each sample also carries its optical flow ``[2L, T, H, W]`` (``Sample.flow``); ``boxes``: a
    Something-Else box file read instead of the synthetic set's own (:func:`box_file`)."""
    from stgcn.data.ssv2 import SomethingSomethingV2

    if args.data_root is not None:
        root = args.data_root
        boxes = [str(b) for b in args.boxes] if args.boxes else None
        box_index = args.cache_dir / "bounding_box_smthsmth.index.sqlite" if boxes else None
    else:
        root = prepare_synthetic(args, preset, dist)
        # proposals (box_file) or --boxes FILE... instead of the set's boxes: an index of their own
        files = [boxes] if boxes is not None else list(args.boxes or [])
        boxes, box_index = None, None
        if files:
            boxes = [str(f) for f in files]
            box_index = args.cache_dir / "boxes" / f"{_files_signature(files)}.index.sqlite"
    if dist.is_main and box_index is not None:
        box_index.parent.mkdir(parents=True, exist_ok=True)
    clips = preset.data
    common = dict(
        num_frames=preset.model.frames,
        sampling=clips.sampling,
        stride=clips.stride,
        size=clips.size,
        boxes=boxes,
        box_index=box_index,
        on_error="skip",
    )
    if flow is not None:
        flow_dir = prepare_flow(Path(root), flow, args, dist)
        common.update(modality=("rgb", "flow"), flow_dir=flow_dir, flow_length=flow.length)
    if dist.is_main:  # build the box index once, before the other ranks open it
        SomethingSomethingV2(root, "validation", **common)
    barrier()
    train = SomethingSomethingV2(root, "train", **common)
    val = SomethingSomethingV2(root, "validation", views=clips.views, **common)
    classes = list(train.classes)
    if clips.cache_clips:
        what = [
            str(Path(root).resolve()),
            _dataset_signature(root),
            preset.model.frames,
            clips.sampling,
            clips.stride,
            clips.size,
            clips.views,
            CACHE_FORMAT,
        ]
        if flow is not None:  # (an RGB-only key stays what it was)
            what += [str(common["flow_dir"]), flow.length]
        if boxes is not None:  # likewise a ground-truth-box key; a rewritten file is new
            what += [_files_signature(boxes)]
        key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
        cache = args.cache_dir / "clips"
        train_eval = SomethingSomethingV2(root, "train", train=False, **common)
        train = cached(train_eval, cache / f"train-{key}.pt", args.workers, dist)
        val = cached(val, cache / f"validation-{key}.pt", args.workers, dist)
    return Data(train, val, classes, class_groups(classes), Path(root))


def cached_detector(root: Path, args: argparse.Namespace, dist: DistInfo) -> Path:
    """A detector trained once on the train split of ``root`` (:func:`stgcn.proposals.train.
    train_detector`, the CPU default) and cached by the set's signature; ``--detector`` instead
    names one (e.g. from ``benchmarks/proposals.py``)."""
    if args.detector is not None:
        return Path(args.detector)
    from stgcn.proposals.detector import CPU_CONFIG
    from stgcn.proposals.train import TrainConfig, train_detector

    # keyed by what the checkpoint is trained from and how: a new default is a new detector
    what = [_dataset_signature(root), CPU_CONFIG.to_dict(), asdict(TrainConfig())]
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    out = args.cache_dir / "detectors" / f"{Path(root).name}-cpu-{key}.pt"
    if dist.is_main and not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tic = time.perf_counter()
        print(f"training the detector on {root}'s train split (stgcn.proposals.train)", flush=True)
        train_detector(root, out, log=lambda line: print(line, flush=True))
        print(f"detector: {out} ({time.perf_counter() - tic:.0f} s)", flush=True)
    barrier()
    return out


def box_file(
    source: str, root: Path, args: argparse.Namespace, dist: DistInfo
) -> tuple[Path, dict[str, Any]]:
    """The Something-Else box file of ``source`` (``detector`` or ``motion``) for every video of
    the set ``root``, proposed once (:func:`stgcn.proposals.cli.run`: resumable, atomic) and
    cached by the set's signature and the options; with the proposer's recall on the validation
    split (every 4th frame, every frame for motion; up to 50 boxes per frame: AR@10 and AR@50,
    COCO's IoU 0.5-0.95)."""
    from stgcn.data.ssv2 import VIDEO_DIR
    from stgcn.proposals.cli import Options, build_proposer
    from stgcn.proposals.cli import run as propose
    from stgcn.proposals.metrics import annotated_videos, evaluate

    if source == "detector":
        weights = cached_detector(root, args, dist)
        options = Options(method="detector", weights=str(weights), top_k=args.box_top_k)
    elif source == "motion":
        options = Options(method="motion", top_k=args.box_top_k)
    else:
        raise ValueError(f"unknown box source {source!r} (choose from {', '.join(BOX_SOURCES)})")
    what = [_dataset_signature(root), options.record()]
    if options.weights is not None:  # the checkpoint's bytes, not its name
        what.append(hashlib.sha256(Path(options.weights).read_bytes()).hexdigest())
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    out = args.cache_dir / "boxes" / f"{Path(root).name}-{source}-{key}.json"
    scores = out.with_suffix(".recall.json")
    if dist.is_main and not scores.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tic = time.perf_counter()
        propose([Path(root) / VIDEO_DIR], out, options, workers=1, on_error="skip", progress=False)
        took = time.perf_counter() - tic
        proposer = build_proposer(replace(options, top_k=50))
        every = 1 if source == "motion" else 4  # motion compares the frames it is given
        rec = evaluate(proposer, list(annotated_videos(root, "validation", every=every)))
        info = {k: rec[k] for k in ("ap50", "ar10", "ar50")}
        info |= {"every": every, "propose_s": took}
        with atomic_path(scores) as tmp:
            tmp.write_text(json.dumps(info, indent=1))
        print(
            f"{source} boxes: {out} ({took:.0f} s); validation AR@10 {100 * info['ar10']:.1f}, "
            f"AR@50 {100 * info['ar50']:.1f}, AP@0.5 {100 * info['ap50']:.1f}",
            flush=True,
        )
    barrier()
    return out, json.loads(scores.read_text())


def _files_signature(paths: list[Path] | list[str]) -> str:
    """A short hash of files' resolved paths, sizes and modification times."""
    stats = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in map(Path, paths)]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


def _dataset_signature(root: Path) -> str:
    manifest = Path(root) / "synthetic_manifest.json"
    if manifest.is_file():
        return hashlib.sha256(manifest.read_bytes()).hexdigest()  # rewritten on each generation
    labels = Path(root) / "labels"
    return ",".join(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(labels.glob("*.json"))
    )


# ---------------------------------------------------------------------------------------------------
# runs


def model_arguments(preset: Preset) -> dict[str, Any]:
    """Keyword arguments of ``stgcn.models.build_model`` (plain data, stored in checkpoints)."""
    return asdict(replace(preset.model, inflate_from=None))


def clip_arguments(preset: Preset) -> dict[str, Any]:
    """How the model's clips are sampled and cropped (plain data, stored in checkpoints)."""
    clips = preset.data
    return {"sampling": clips.sampling, "stride": clips.stride, "size": clips.size}


def build(
    name: str, num_classes: int, preset: Preset, inflate_from: Path | None = None
) -> nn.Module:
    kwargs = {**model_arguments(preset), "inflate_from": inflate_from}
    return build_model(name, num_classes, **kwargs)


PRETEXT_VERSION = 1
"""Part of the pre-training cache key: bump it when :class:`stgcn.models.MotionPretext` changes."""


def pretrain_backbone(
    args: argparse.Namespace, preset: Preset, data: Data, dist: DistInfo, seed: int
) -> Path:
    """The backbone pre-trained by :class:`stgcn.models.MotionPretext` on ``data.train`` (its
    clips and their optical flow; the labels and boxes are not read) with ``seed``: trained now
    (resumably) or found in ``<cache-dir>/pretrain/`` under a key of everything that shapes it.
    Returns the path of its state dict (I3D's names, no ``fc``) for :func:`stgcn.models.init_from`."""
    from stgcn.models import MotionPretext

    config = model_arguments(preset)
    backbone_config = {k: config[k] for k in ("depth", "width", "res5_stride", "frames")}
    what = [
        _dataset_signature(data.root),
        backbone_config,
        clip_arguments(preset),
        str(args.inflate_from),
        asdict(preset.pretrain),
        preset.train.batch_size,
        asdict(replace(preset.optim, lr=preset.pretrain.lr)),
        seed,
        PRETEXT_VERSION,
    ]
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    out = args.cache_dir / "pretrain" / f"motion-{key}"
    weights = out / "backbone.pt"
    if weights.is_file():
        if dist.is_main:
            print(f"pre-trained backbone (seed {seed}) reused: {weights}", flush=True)
        return weights
    seed_everything(seed)
    backbone = build("i3d", len(data.classes), preset, args.inflate_from)
    summary = (4, 2, 2) if preset.pretrain.summary else None
    pretext = MotionPretext(backbone, summary_grid=summary).to(dist.device)
    cfg = replace(
        preset.train,
        epochs=preset.pretrain.epochs,
        workers=0 if preset.data.cache_clips else args.workers,
        seed=seed,
        amp=args.amp,
        out_dir=str(out),
        progress=args.progress,
    )
    if dist.is_main:
        print(
            f"== motion pre-training of the i3d backbone (seed {seed}): {preset.pretrain.epochs} "
            f"epochs on {len(data.train)} train clips and their optical flow -> {weights}",
            flush=True,
        )
    resume = out / CHECKPOINT_NAME
    res = fit(
        pretext,
        data.train,
        None,
        cfg,
        replace(preset.optim, lr=preset.pretrain.lr),
        dist=dist,
        resume=resume if resume.is_file() else None,
        loss_fn=lambda output, batch: pretext.loss(output, batch.flow),
    )
    if dist.is_main:
        state = {k: v for k, v in pretext.backbone.state_dict().items() if not k.startswith("fc.")}
        save_atomic(state, weights)
        print(
            f"pre-training done in {res.train_time:.0f} s: normalised error "
            + " -> ".join(f"{h['train_loss']:.3f}" for h in res.history),
            flush=True,
        )
    barrier()
    return weights


def run_one(
    row: Row,
    seed: int,
    args: argparse.Namespace,
    preset: Preset,
    data: Data,
    dist: DistInfo,
    init_path: Path | None = None,
) -> dict[str, Any]:
    """Train (or only evaluate) one row with one seed; returns its results. ``init_path``: the
    checkpoint that initialises it (``--init-from``, the pre-trained backbone, or a stage-2 row's
    stage-1 checkpoint; ``row.freeze``: backbone frozen)."""
    from stgcn.data.ssv2 import collate

    name = row.model
    run_dir = args.out / "runs" / f"{row.slug}-seed{seed}"
    seed_everything(seed)
    model = build(name, len(data.classes), preset, args.inflate_from).to(dist.device)
    init = init_from(model, init_path, row.freeze) if init_path else None
    params = count_parameters(model)
    gmacs = float("nan")
    if dist.is_main:
        gmacs = count_gmacs(model, *model_inputs(model, collate([data.val[0]]), dist.device))
    resume = None
    if args.resume == "auto":
        resume = run_dir / "checkpoint.pt" if (run_dir / "checkpoint.pt").is_file() else None
    elif args.resume:
        resume = Path(args.resume)

    cfg = replace(
        preset.train,
        workers=0 if preset.data.cache_clips else args.workers,
        seed=seed,
        amp=args.amp,
        out_dir=str(run_dir),
        checkpoint_every=args.checkpoint_every,
        progress=args.progress,
        tensorboard=args.tensorboard,
        find_unused_parameters=row.freeze,
        sync_bn=args.sync_bn,
    )
    if args.evaluate:
        if resume is None and init is None:
            raise SystemExit("--evaluate needs weights: --resume CKPT or --init-from CKPT")
        if resume is not None:
            model.load_state_dict(load_checkpoint(resume)["model"])
        tic = time.perf_counter()
        ev = evaluate(
            model,
            data.val,
            max(1, cfg.batch_size // dist.world_size),
            dist,
            workers=cfg.workers,
            class_groups=data.groups,
            amp=args.amp,
        )
        history, train_time, eval_time = [], None, time.perf_counter() - tic  # JSON null
    else:
        if dist.is_main:
            print(
                f"== {row.label} (seed {seed}): {params / 1e6:.2f} M parameters, "
                f"{gmacs:.2f} GMACs/clip",
                flush=True,
            )
        # what rebuilds the model from the checkpoint alone: build_model(name, **arguments)
        rebuild = {
            "model_name": name,
            "model_config": model_arguments(preset),
            "classes": list(data.classes),
            # how a clip is made for it (python -m stgcn.predict reads these)
            "clips": clip_arguments(preset),
        }
        res = fit(
            model,
            data.train,
            data.val,
            cfg,
            preset.optim,
            dist=dist,
            class_groups=data.groups,
            resume=resume,
            start_epoch=args.start_epoch,
            extra_state=rebuild,
        )
        ev, history, train_time = res.eval, res.history, res.train_time
        eval_time = None  # not timed apart: fit() runs the final evaluation
    report = ev.report
    if dist.is_main:
        name_csv = "eval-predictions.csv" if args.evaluate else "predictions.csv"
        write_predictions(ev, run_dir / name_csv, data.classes)
    return {
        "model": row.label,
        "architecture": name,
        "boxes": row.boxes,
        "seed": seed,
        "top1": report["top1"],
        "top5": report["top5"],
        "groups": {k: v["top1"] for k, v in report.get("groups", {}).items()},
        "per_class": report["per_class"],
        "confusion": report["confusion"],
        "num_videos": report["num_videos"],
        "params": params,
        "gmacs": gmacs,
        "train_time_s": train_time,
        "eval_time_s": eval_time,
        "history": history,
        "init_from": init,
    }


def seconds_per_clip(preset: Preset, name: str = "i3d", boxes: int = 3, steps: int = 3) -> float:
    """This machine's training time per clip of the model ``name`` under ``preset``: the mean of
    ``steps`` SGD steps on random clips of the preset's shape, after one warm-up step; a region
    model reads ``boxes`` boxes on every frame. A clock for the start line's estimate."""
    model = build(name, 14, preset)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    b, m, size = preset.train.batch_size, preset.model, preset.data.size
    clip = torch.randn(b, 3, m.frames, size, size)
    label = torch.arange(b) % 14
    inputs: tuple[Any, ...] = (clip,)
    if model.takes_graph:
        g = torch.Generator().manual_seed(0)
        frame = torch.arange(m.frames).repeat_interleave(boxes)
        corner = torch.rand(len(frame), 2, generator=g) * size / 2
        box = torch.cat([corner, corner + size / 2], 1)
        video = VideoGraph(box=box, frame=frame, num_frames=m.frames)
        inputs += (Batch.from_data_list([video] * b),)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(*inputs), label).backward()
        opt.step()

    step()
    tic = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - tic) / (steps * b)


def box_file_seconds(source: str, preset: Preset, top_k: int, train_detector: bool) -> float:
    """Roughly how long :func:`box_file` takes here to make ``source``'s boxes for the synthetic
    set: the detector's training if ``train_detector`` (:class:`stgcn.proposals.train.
    TrainConfig`'s steps, timed on two steps of a freshly built detector), then proposing every
    frame of the set and scoring the validation split's (timed on 8 frames of a moving square).
    The set has (24 + 60) / 2 frames per video on average (``generate``'s default lengths)."""
    from stgcn.proposals.cli import Options, build_proposer
    from stgcn.proposals.detector import CPU_CONFIG, FasterRCNNProposer, build_detector
    from stgcn.proposals.train import TrainConfig as DetectorTrain

    h, w = preset.data.synthetic_size
    frames = torch.zeros(8, h, w, 3, dtype=torch.uint8)
    for t in range(8):  # a 16-px square moving right, 2 px per frame
        frames[t, h // 3 : h // 3 + 16, 8 + 2 * t : 24 + 2 * t] = 200
    seconds = 0.0
    if source == "detector":
        model = build_detector(CPU_CONFIG)
        if train_detector:
            train = DetectorTrain()
            opt = torch.optim.AdamW(model.parameters(), lr=train.lr)
            images = [f.permute(2, 0, 1).float() / 255 for f in frames[: train.batch_size]]
            box = torch.tensor([[8.0, h / 3, 24.0, h / 3 + 16]])
            targets = [{"boxes": box, "labels": torch.tensor([1])} for _ in images]
            model.train()

            def step() -> None:
                opt.zero_grad(set_to_none=True)
                sum(model(images, targets).values()).backward()
                opt.step()

            step()
            tic = time.perf_counter()
            step(), step()
            seconds += (time.perf_counter() - tic) / 2 * train.steps
        proposer = FasterRCNNProposer(model, "detector", top_k=top_k)
        scored = 0.16 / 4  # the validation split, every 4th frame
    else:
        proposer = build_proposer(Options(method=source, top_k=top_k))
        scored = 0.16  # the validation split, every frame
    proposer(frames)
    tic = time.perf_counter()
    proposer(frames)
    per_frame = (time.perf_counter() - tic) / len(frames)
    return seconds + per_frame * preset.data.synthetic_videos * (24 + 60) / 2 * (1 + scored)


def estimate_seconds(
    rows: list[Row],
    seeds: list[int],
    args: argparse.Namespace,
    preset: Preset,
    per_clip: Callable[[Row], float],
) -> float:
    """Roughly how long the run takes on the synthetic set, given each row's training seconds
    per clip (``per_clip(Row("i3d"))`` also clocks the pre-training).

    Each row's :func:`seconds_per_clip` times the clips it trains on (``epochs x train``), plus the
    per-epoch validation (a forward pass costs about a third of a training step) and the motion
    pre-training, plus the set's generation, optical flow and decoding, and the detected or motion
    boxes (:func:`box_file_seconds`), when the cache does not have them yet: rough (+-30 %), but
    measured on this machine, so a CPU without AVX-512 gets its own figure."""
    t, clips = preset.train, preset.data
    n = clips.synthetic_videos
    train, val = round(0.8 * n), round(0.16 * n)
    views = clips.views[0] * clips.views[1]
    one = sum(t.epochs * per_clip(r) * (train + val * views / 3) for r in rows)
    total = len(seeds) * (0 if args.evaluate else one)
    pretraining = preset.pretrain.epochs and not (args.init_from or args.evaluate)
    if pretraining:  # once per seed; its heads cost little beside the backbone
        total += len(seeds) * preset.pretrain.epochs * per_clip(Row("i3d")) * train
    h, w = clips.synthetic_size
    name = f"ssv2-synthetic-n{n}-{h}x{w}-seed0"
    if not (args.cache_dir / name / "synthetic_manifest.json").is_file():
        # generation and decoding: ~1 min for the default 1,875 videos; DIS flow ~75 s more
        total += (60 + (75 if pretraining else 0)) * n / 1875
    trained = args.detector is not None or any(
        (args.cache_dir / "detectors").glob(f"{name}-cpu-*.pt")
    )
    for source in dict.fromkeys(r.boxes for r in rows if r.boxes != "gt"):
        if not any((args.cache_dir / "boxes").glob(f"{name}-{source}-*.recall.json")):
            total += box_file_seconds(source, preset, args.box_top_k, not trained)
    return total


def start_line(
    rows: list[Row], seeds: list[int], args: argparse.Namespace, preset: Preset, dist: DistInfo
) -> str:
    """What will run and roughly how long it takes here (:func:`estimate_seconds`; printed first,
    before any data work)."""
    t, m, clips = preset.train, preset.model, preset.data
    timed: dict[tuple[str, int], float] = {}

    def per_clip(row: Row) -> float:  # region models timed with the boxes they will read
        key = (row.model, 3 if row.boxes == "gt" else args.box_top_k)  # the set has 2-3 per frame
        if key not in timed:
            timed[key] = seconds_per_clip(preset, *key) / dist.world_size
        return timed[key]

    names = [r.label for r in rows]
    plan = (
        f"ssv2.py: {len(names)} model(s) ({', '.join(names)}) x {len(seeds)} seed(s), "
        f"{t.epochs} epochs, ResNet-{m.depth} width {m.width}, {m.frames} frames at {clips.size} px, "
        f"batch {t.batch_size}, {torch.get_num_threads()} thread(s)"
    )
    if args.data_root is not None:  # the real set's size is known only once it is read
        i3d = per_clip(Row("i3d"))
        return f"{plan}; ~{i3d * 1000 / 60:.1f} min per epoch of i3d per 1,000 training clips here"
    total = estimate_seconds(rows, seeds, args, preset, per_clip)
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    return (
        f"{plan}; estimated ~{total / 60:.0f} min on this machine ({per_clip(Row('i3d')) * 1e3:.1f} "
        f"ms per training clip of i3d, timed just now; ONEDNN_MAX_CPU_ISA={isa})"
    )


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds, per model."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        s: dict[str, float] = {
            "seeds": len(mine),
            "params": mine[0]["params"],
            "gmacs": mine[0]["gmacs"],
        }
        for key in ("top1", "top5", "train_time_s"):
            vals = [r[key] for r in mine]
            if any(v is None for v in vals):  # not measured (--evaluate has no training time)
                s[key], s[key + "_std"] = None, None
                continue
            s[key] = statistics.fmean(vals)
            s[key + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        for g in mine[0]["groups"]:
            s["group_" + g] = statistics.fmean(r["groups"][g] for r in mine)
        out[name] = s
    return out


def paired_differences(rows: list[dict]) -> list[dict[str, Any]]:
    """For each pair of :data:`PAIRS` whose rows both ran: the top-1 difference seed by seed, its
    mean and standard deviation, and a paired t-test's two-sided p-value (``scipy.stats.
    ttest_rel``; None with fewer than 2 seeds or no spread)."""
    from scipy.stats import ttest_rel

    top1 = {(r["model"], r["seed"]): r["top1"] for r in rows}
    out = []
    for a, b in PAIRS:
        seeds = sorted(s for (m, s) in top1 if m == a and (b, s) in top1)
        if not seeds:
            continue
        x, y = [top1[a, s] for s in seeds], [top1[b, s] for s in seeds]
        diff = [u - v for u, v in zip(x, y, strict=True)]
        p = None
        if len(seeds) > 1 and statistics.pstdev(diff) > 0:
            p = float(ttest_rel(x, y).pvalue)
        out.append(
            {
                "a": a,
                "b": b,
                "seeds": seeds,
                "per_seed": diff,
                "mean": statistics.fmean(diff),
                "std": statistics.stdev(diff) if len(diff) > 1 else 0.0,
                "p_value": p,
            }
        )
    return out


def differences_table(differences: list[dict[str, Any]]) -> str:
    """The paired differences as a markdown table."""
    lines = [
        "| difference (top-1 points) | per seed | mean ± std | paired t-test p |",
        "|---|---|---|---|",
    ]
    for d in differences:
        per_seed = ", ".join(f"{v:+.1f}" for v in d["per_seed"])
        p = "-" if d["p_value"] is None else f"{d['p_value']:.3f}"
        lines.append(
            f"| {d['a']} − {d['b']} | {per_seed} (seeds {', '.join(map(str, d['seeds']))}) "
            f"| {d['mean']:+.1f}"
            + (f" ± {d['std']:.1f}" if len(d["seeds"]) > 1 else "")
            + f" | {p} |"
        )
    return "\n".join(lines)


def _no_nan(obj: Any) -> Any:
    """``obj`` with every NaN float as ``None``: a class or group without validation videos has no
    accuracy, and strict JSON (``null``, not ``NaN``) keeps results.json readable everywhere."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_no_nan(v) for v in obj]
    return obj


def _fmt(v: float, std: float | None = None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}" + (f" ± {std:.{digits}f}" if std else "")


def table(summary: dict[str, dict[str, float]], groups: list[str]) -> str:
    """The results as a markdown table, the paper's SSv1 numbers in the last column."""
    head = ["model", "top-1 (%)", "top-5 (%)", "params (M)", "GMACs/clip", "train time (s)"]
    head += [f"{g} top-1" for g in groups] + ["paper top-1, SSv1 (other dataset)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        cells = [
            name,
            _fmt(s["top1"], s["top1_std"]),
            _fmt(s["top5"], s["top5_std"]),
            f"{s['params'] / 1e6:.2f}",
            "-" if math.isnan(s["gmacs"]) else f"{s['gmacs']:.3g}",
            _fmt(s["train_time_s"], digits=0),
        ]
        cells += [_fmt(s.get("group_" + g)) for g in groups]
        cells.append(_fmt(PAPER_SSV1_TOP1.get(name)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plan(args: argparse.Namespace) -> list[Row]:
    """The rows to run: ``--preset full``'s :data:`FULL_PLAN`, or the ``--model`` rows (default:
    the four Table 4 rows) on ``--box-source`` boxes."""
    if args.preset == "full":
        if args.model or args.init_from or args.box_source != "gt":
            raise SystemExit(
                "--preset full runs its own rows: drop --model / --init-from / --box-source"
            )
        return list(FULL_PLAN)
    names = dict.fromkeys(
        m for given in (args.model or ["all"]) for m in (TABLE4 if given == "all" else [given])
    )
    return [Row(n, boxes=args.box_source, freeze=args.freeze_backbone) for n in names]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    preset = resolve(args)
    rows_plan = plan(args)
    seeds = [args.seed + k for k in range(args.seeds or (3 if args.preset == "full" else 1))]
    if args.resume and args.resume != "auto" and len(rows_plan) * len(seeds) > 1:
        raise SystemExit(
            "--resume PATH continues one run: give one --model and one seed (or --resume auto)"
        )
    if args.freeze_backbone and not args.init_from:
        raise SystemExit("--freeze-backbone needs --init-from CKPT (the backbone to freeze)")
    if args.sync_bn and args.device != "cuda":
        raise SystemExit("--sync-bn needs --device cuda (SyncBatchNorm has no CPU kernel)")
    if args.data_root is not None and args.box_source != "gt":
        raise SystemExit("--box-source is for the synthetic set; give real boxes with --boxes")
    if args.threads:
        torch.set_num_threads(args.threads)
    dist = init_distributed(args.device)
    wall = time.perf_counter()
    if dist.is_main and args.device == "cpu":
        print(start_line(rows_plan, seeds, args, preset, dist), flush=True)
    pretraining = bool(preset.pretrain.epochs) and not (args.init_from or args.evaluate)
    # the pre-training reads the clips' optical flow (its target); the models do not
    data = {"gt": build_data(args, preset, dist, FlowData() if pretraining else None)}
    proposals: dict[str, dict[str, Any]] = {}
    for source in dict.fromkeys(r.boxes for r in rows_plan if r.boxes != "gt"):
        boxes, proposals[source] = box_file(source, data["gt"].root, args, dist)
        data[source] = build_data(args, preset, dist, boxes=boxes)
    data_time = time.perf_counter() - wall
    pretrained = {
        s: pretrain_backbone(args, preset, data["gt"], dist, s) for s in seeds if pretraining
    }
    by_label = {r.label: r for r in rows_plan}
    rows = []
    for s in seeds:
        for r in rows_plan:
            init = Path(args.init_from) if args.init_from else pretrained.get(s)
            if r.init is not None:  # the paper's stage 2: the stage-1 row's final weights
                init = args.out / "runs" / f"{by_label[r.init].slug}-seed{s}" / "checkpoint.pt"
            rows.append(run_one(r, s, args, preset, data[r.boxes], dist, init))
    rows = broadcast_object(rows)
    if dist.is_main:
        write_results(
            args, preset, data["gt"], rows, dist, data_time, time.perf_counter() - wall, proposals
        )
    cleanup_distributed()
    return 0


def write_results(
    args: argparse.Namespace,
    preset: Preset,
    data: Data,
    rows: list[dict],
    dist: DistInfo,
    data_time: float,
    wall: float,
    proposals: dict[str, dict[str, Any]] | None = None,
) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    prefix = (
        "eval-" if args.evaluate else ""
    )  # an evaluation does not overwrite a training's results
    summary = summarise(rows)
    groups = list(rows[0]["groups"])
    tab = table(summary, groups)
    info = machine()
    m, clips = preset.model, preset.data
    dataset = (
        f"real SSv2 at {data.root}"
        if args.data_root
        else f"synthetic SSv2-format set at {data.root}"
    )
    if args.boxes:
        dataset += f" with the boxes of {', '.join(map(str, args.boxes))}"
    header = (
        f"{dataset}: {len(data.train)} train clips, {rows[0]['num_videos']} validation videos, "
        f"{len(data.classes)} classes; {m.frames} frames ({clips.sampling}) at {clips.size} px, "
        f"ResNet-{m.depth} width {m.width}, {preset.train.epochs} epochs, batch {preset.train.batch_size}, "
        f"views {clips.views[0]}x{clips.views[1]}, seeds {sorted({r['seed'] for r in rows})}\n"
        f"machine: {info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, {info['threads']} threads, "
        f"{dist.world_size} process(es) on {args.device}; data preparation {data_time:.0f} s, total {wall:.0f} s"
    )
    note = (
        "The last column is the paper's (Wang & Gupta, ECCV 2018, Table 4): top-1 on "
        "Something-Something **v1** with ResNet-50 I3D backbones at 32x224x224. It is another dataset "
        "and another scale, shown only for the ordering of the rows."
    )
    target = None
    if "i3d" in summary and "i3d_gcn" in summary:
        gap = summary["i3d_gcn"]["top1"] - summary["i3d"]["top1"]
        n = min(summary["i3d"]["seeds"], summary["i3d_gcn"]["seeds"])
        target = {"i3d_gcn_minus_i3d": gap, "seeds": n, "met": gap >= 3.0 if n >= 3 else None}
    differences = paired_differences(rows)
    if differences:
        note += "\n\n" + differences_table(differences)
    for source, rec in (proposals or {}).items():
        note += (
            f"\n\n{source} boxes on the validation split (up to 50 per frame, every "
            f"{'' if rec['every'] == 1 else str(rec['every']) + 'th '}frame): "
            f"AR@10 {100 * rec['ar10']:.1f}, AR@50 {100 * rec['ar50']:.1f}, "
            f"AP@0.5 {100 * rec['ap50']:.1f} (%); the models read the top {args.box_top_k}."
        )
    text = f"{header}\n\n{tab}\n\n{note}\n"
    print("\n" + text, flush=True)
    (out / f"{prefix}results.md").write_text(
        f"# SSv2 benchmark\n\n```\n{' '.join(sys.argv)}\n```\n\n{text}"
    )
    result = {
        "command": sys.argv,
        "dataset": str(data.root),
        "real_data": args.data_root is not None,
        "boxes": [str(b) for b in args.boxes] if args.boxes else None,
        "classes": data.classes,
        "class_groups": data.groups,
        "preset": asdict(preset),
        "views": list(preset.data.views),
        "world_size": dist.world_size,
        "machine": info,
        "data_time_s": data_time,
        "wall_time_s": wall,
        "summary": summary,
        "target": target,
        "differences": differences,
        "proposals": proposals or {},
        "paper_ssv1_top1": PAPER_SSV1_TOP1,
        "runs": rows,
    }
    text = json.dumps(_no_nan(result), indent=1, default=float, allow_nan=False)
    (out / f"{prefix}results.json").write_text(text)
    first: dict[str, dict] = {}
    for r in rows:  # the first seed of each model, in table order
        first.setdefault(r["model"], r)
    if any(r["history"] for r in first.values()):
        plot_curves({n: r["history"] for n, r in first.items() if r["history"]}, out / "curves.png")
    for name, r in first.items():
        plot_confusion(
            r["confusion"],
            data.classes,
            out / f"{prefix}confusion_{name}.png",
            title=f"{name} (seed {r['seed']}): top-1 {r['top1']:.1f}%",
        )


if __name__ == "__main__":
    sys.exit(main())
