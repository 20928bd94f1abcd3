"""Semi-supervised node classification on Planetoid (Kipf & Welling 2017; PyG examples/gcn.py).

The library does the work: stgcn.data.planetoid.load_planetoid, stgcn.models.KipfGCN and
stgcn.engine.FullBatchTrainer; this script seeds, interleaves, times and prints. KipfGCN is two
SpectralGCNConv layers with 16 hidden units, dropout 0.5 on the input and hidden layer,
Adam (lr 0.01, weight decay 5e-4 on the first layer only), row-normalised features, 200 epochs;
the reported test accuracy is the one at the epoch of best validation accuracy. As in Kipf's code,
the input dropout acts on the non-zero features only (the same distribution as dense dropout).

    python benchmarks/cora.py --runs 10 --compare-pyg --json cora.json
    python benchmarks/cora.py --dataset CiteSeer --root /tmp/planetoid --raw-dir ../shared/data/planetoid/raw

With ``--compare-pyg`` the same model with ``torch_geometric.nn.GCNConv`` in place of
SpectralGCNConv trains on the same seeds in the same process: the two models start from the same
weights and draw the same dropout masks (each keeps its own RNG state), and their epochs are
interleaved so that machine load hits both alike. Only the train step (forward, loss, backward,
optimiser step) is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from _machine import machine
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from stgcn.data.planetoid import PLANETOID_DATASETS, default_root, load_planetoid
from stgcn.engine import FullBatchTrainer, kipf_adam
from stgcn.layers import SpectralGCNConv
from stgcn.models import KipfGCN

CONVS: dict[str, type[nn.Module]] = {"stgcn": SpectralGCNConv, "pyg": GCNConv}


def load(name: str, root: Path, raw_dir: Path | None) -> Data:
    """:func:`stgcn.data.planetoid.load_planetoid`, with its errors as a message for the CLI."""
    try:
        return load_planetoid(name, root, raw_dir)
    except FileNotFoundError as err:
        raise SystemExit(
            f"{err}\nOn the command line: --root DIR with the raw files ind.{name.lower()}.* in "
            f"DIR/{name}/raw/, or --raw-dir DIR_WITH_RAW_FILES to copy them there."
        ) from err


@dataclass
class Hyper:
    """The protocol's hyper-parameters (defaults: Kipf & Welling)."""

    epochs: int = 200
    hidden: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5


@dataclass
class RunResult:
    """One training run: accuracies in percent, step times in seconds."""

    conv: str
    seed: int
    test_acc: float = 0.0
    val_acc: float = 0.0
    best_epoch: int = 0
    step_times: list[float] = field(default_factory=list)

    @property
    def median_step(self) -> float:
        return statistics.median(self.step_times)


def make_trainer(conv: str, data: Data, seed: int, hyper: Hyper) -> FullBatchTrainer:
    """A KipfGCN with ``conv`` ("stgcn" or "pyg") seeded by ``seed``, and its trainer."""
    torch.manual_seed(seed)
    num_classes = int(data.y.max()) + 1
    model = KipfGCN(
        data.num_features, num_classes, hyper.hidden, hyper.dropout, conv=CONVS[conv], cached=True
    ).to(data.x.device)
    return FullBatchTrainer(model, data, kipf_adam(model, hyper.lr, hyper.weight_decay))


def run_result(conv: str, seed: int, trainer: FullBatchTrainer) -> RunResult:
    r = trainer.result
    return RunResult(conv, seed, r.test_acc, r.val_acc, r.best_epoch, r.step_times)


def train_once(
    data: Data, conv: str = "stgcn", seed: int = 0, hyper: Hyper | None = None
) -> RunResult:
    """Train the two-layer GCN with ``conv`` ("stgcn" or "pyg") on ``data`` for one seed."""
    hyper = hyper or Hyper()
    trainer = make_trainer(conv, data, seed, hyper)
    for _ in range(hyper.epochs):
        trainer.step()
    return run_result(conv, seed, trainer)


def train_interleaved(
    data: Data, convs: Sequence[str], seed: int, hyper: Hyper
) -> dict[str, RunResult]:
    """Train one model per conv on the same seed, alternating which steps first each epoch.

    Each trainer keeps its own RNG state, so both draw the dropout masks they would draw alone.
    """
    trainers = [make_trainer(c, data, seed, hyper) for c in convs]
    for epoch in range(hyper.epochs):
        for t in trainers[epoch % 2 :] + trainers[: epoch % 2]:
            t.step()
    return {c: run_result(c, seed, t) for c, t in zip(convs, trainers, strict=True)}


def summary(results: list[RunResult]) -> dict[str, float]:
    accs = [r.test_acc for r in results]
    steps = [t for r in results for t in r.step_times]
    return {
        "mean": statistics.mean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "median_step_ms": 1e3 * statistics.median(steps),
    }


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark described by the parsed flags; print a table and return the report."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    data = load(args.dataset, args.root, args.raw_dir).to(device)
    hyper = Hyper(args.epochs, args.hidden, args.lr, args.weight_decay, args.dropout)
    convs = ["stgcn", "pyg"] if args.compare_pyg else ["stgcn"]
    info = machine()
    print(
        f"{args.dataset}: {data.num_nodes} nodes, {data.num_edges} edges, "
        f"{data.num_features} features | {args.runs} runs x {hyper.epochs} epochs on {device} | "
        f"torch {info['torch']}, PyG {info['torch_geometric']}, {info['threads']} threads, "
        f"{info['cpu']}, {info['platform']}"
    )
    header = "run  seed" + "".join(f"  {c + ' test':>10}  {c + ' ms/step':>13}" for c in convs)
    print(header)
    results: dict[str, list[RunResult]] = {c: [] for c in convs}
    for i in range(args.runs):
        seed = args.seed + i
        out = train_interleaved(data, convs, seed, hyper)
        row = f"{i + 1:>3}  {seed:>4}"
        for c in convs:
            results[c].append(out[c])
            row += f"  {out[c].test_acc:>10.1f}  {1e3 * out[c].median_step:>13.3f}"
        print(row, flush=True)

    report: dict = {
        "dataset": args.dataset,
        "device": str(device),
        "hyper": asdict(hyper),
        "runs": args.runs,
        "seeds": [args.seed + i for i in range(args.runs)],
        "machine": info,
        "results": {},
    }
    for c in convs:
        s = summary(results[c])
        report["results"][c] = {**s, "runs": [asdict(r) for r in results[c]]}
        print(
            f"{c:>5}: test accuracy {s['mean']:.1f} ± {s['std']:.1f} (mean ± std of {args.runs} "
            f"runs), median train step {s['median_step_ms']:.3f} ms"
        )
    if args.compare_pyg:
        ours, pyg = report["results"]["stgcn"], report["results"]["pyg"]
        report["time_ratio"] = ours["median_step_ms"] / pyg["median_step_ms"]
        same = all(
            a.test_acc == b.test_acc for a, b in zip(results["stgcn"], results["pyg"], strict=True)
        )
        report["same_accuracies"] = same
        print(
            f"time per step ours/PyG: {report['time_ratio']:.3f}; per-run test accuracies "
            f"{'identical' if same else 'differ'} (same initial weights and dropout masks)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=PLANETOID_DATASETS, default="Cora")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4, help="on the first layer only")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument(
        "--root",
        type=Path,
        default=default_root(),
        help="Planetoid root; raw files live in <root>/<Dataset>/raw (default: %(default)s)",
    )
    p.add_argument(
        "--raw-dir",
        type=Path,
        default=None,
        help="copy the Planetoid raw files ind.<dataset>.* from here into <root>/<Dataset>/raw",
    )
    p.add_argument("--compare-pyg", action="store_true", help="also train torch_geometric GCNConv")
    p.add_argument("--json", type=Path, default=None, help="write the full report here")
    p.add_argument("--seed", type=int, default=0, help="run i uses seed + i")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:i]")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.epochs < 1:
        p.error("--runs and --epochs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
