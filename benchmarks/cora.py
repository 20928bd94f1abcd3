"""Semi-supervised node classification on Planetoid (Kipf & Welling 2017; PyG examples/gcn.py).

Two SpectralGCNConv layers with 16 hidden units, dropout 0.5 on the input and hidden layer,
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
import os
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from _machine import machine
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCNConv

from stgcn.layers import SpectralGCNConv

DATASETS = ("Cora", "CiteSeer", "PubMed")
RAW_NAMES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
CONVS: dict[str, type[nn.Module]] = {"stgcn": SpectralGCNConv, "pyg": GCNConv}


def default_root() -> Path:
    """Where Planetoid downloads to by default: ``$XDG_CACHE_HOME/stgcn/planetoid``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "stgcn" / "planetoid"


def copy_raw(raw_dir: Path, root: Path, name: str) -> Path:
    """Copy the Planetoid raw files ``ind.<name>.*`` from ``raw_dir`` into ``<root>/<name>/raw``."""
    files = [raw_dir / f"ind.{name.lower()}.{n}" for n in RAW_NAMES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"--raw-dir {raw_dir}: missing Planetoid raw files {missing}")
    dst = root / name / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, dst / f.name)
    return dst


def load_planetoid(name: str, root: Path | str, raw_dir: Path | str | None = None) -> Data:
    """The public split of ``name`` with row-normalised features, via PyG's Planetoid.

    Planetoid downloads the raw files into ``<root>/<name>/raw`` when they are not there; offline,
    put them there yourself (or pass ``raw_dir`` to copy them) and nothing is downloaded.
    """
    root = Path(root)
    if raw_dir is not None:
        copy_raw(Path(raw_dir), root, name)
    raw = root / name / "raw"
    have_raw = all((raw / f"ind.{name.lower()}.{n}").is_file() for n in RAW_NAMES)
    if have_raw:
        return Planetoid(str(root), name, transform=T.NormalizeFeatures())[0]
    try:
        dataset = Planetoid(str(root), name, transform=T.NormalizeFeatures())
    except Exception as err:  # fsspec/urllib raise many types when offline; all end here.
        raise SystemExit(
            f"Could not download {name} into {raw} ({type(err).__name__}: {err}).\n"
            f"Offline, pass --root DIR with the Planetoid raw files ind.{name.lower()}.* in "
            f"DIR/{name}/raw/, or --raw-dir DIR_WITH_RAW_FILES to copy them there "
            f"(e.g. --raw-dir ../shared/data/planetoid/raw)."
        ) from err
    return dataset[0]


class GCN(nn.Module):
    """Two graph convolutions of class ``conv`` with ReLU and dropout (Kipf & Welling's model).

    x [N, in_channels] (dense, or a coalesced sparse COO tensor), edge_index [2, E]
    -> logits [N, out_channels].
    """

    def __init__(
        self,
        conv: type[nn.Module],
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv1 = conv(in_channels, hidden_channels, cached=True)
        self.conv2 = conv(hidden_channels, out_channels, cached=True)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if x.is_sparse:
            # Kipf & Welling's sparse dropout. Dropout keeps a zero at zero, so dropping only the
            # stored values has the distribution of F.dropout on the dense matrix, and on
            # bag-of-words features (1% non-zero) it costs a few ms instead of most of the step.
            values = F.dropout(x.values(), p=self.dropout, training=self.training)
            x = torch.sparse_coo_tensor(
                x.indices(), values, x.shape, is_coalesced=True, check_invariants=False
            ).to_dense()
        else:
            x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


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


class Trainer:
    """Trains one GCN epoch by epoch, with its own RNG state so that runs can be interleaved."""

    def __init__(self, conv: str, data: Data, seed: int, hyper: Hyper) -> None:
        self.data = data
        self.x = data.x.to_sparse().coalesce()
        self.cuda = data.x.is_cuda
        torch.manual_seed(seed)
        num_classes = int(data.y.max()) + 1
        self.model = GCN(CONVS[conv], data.num_features, hyper.hidden, num_classes, hyper.dropout)
        self.model.to(data.x.device)
        self.optimizer = torch.optim.Adam(
            [
                dict(params=self.model.conv1.parameters(), weight_decay=hyper.weight_decay),
                dict(params=self.model.conv2.parameters(), weight_decay=0.0),
            ],
            lr=hyper.lr,
        )
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state() if self.cuda else None
        self.result = RunResult(conv, seed)
        self.epoch = 0

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def step(self) -> None:
        """One timed training step, then evaluation; keeps the test accuracy at the best val."""
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

        self.epoch += 1
        model.eval()
        with torch.no_grad():
            pred = model(self.x, data.edge_index).argmax(dim=-1)
        val, test = (
            100.0 * int((pred[m] == data.y[m]).sum()) / int(m.sum())
            for m in (data.val_mask, data.test_mask)
        )
        if val > self.result.val_acc:
            self.result.val_acc, self.result.test_acc = val, test
            self.result.best_epoch = self.epoch


def train_once(
    data: Data, conv: str = "stgcn", seed: int = 0, hyper: Hyper | None = None
) -> RunResult:
    """Train the two-layer GCN with ``conv`` ("stgcn" or "pyg") on ``data`` for one seed."""
    hyper = hyper or Hyper()
    trainer = Trainer(conv, data, seed, hyper)
    for _ in range(hyper.epochs):
        trainer.step()
    return trainer.result


def train_interleaved(
    data: Data, convs: Sequence[str], seed: int, hyper: Hyper
) -> dict[str, RunResult]:
    """Train one model per conv on the same seed, alternating which steps first each epoch."""
    trainers = [Trainer(c, data, seed, hyper) for c in convs]
    for epoch in range(hyper.epochs):
        for t in trainers[epoch % 2 :] + trainers[: epoch % 2]:
            t.step()
    return {t.result.conv: t.result for t in trainers}


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
    data = load_planetoid(args.dataset, args.root, args.raw_dir).to(device)
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
    p.add_argument("--dataset", choices=DATASETS, default="Cora")
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
