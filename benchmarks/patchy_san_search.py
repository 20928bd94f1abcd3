"""PATCHY-SAN's batch size and learning rate on MUTAG: every setting, and the setting chosen inside
the training folds (nested), against the epoch chosen on the test folds.

    python benchmarks/patchy_san_search.py                      # 4 batch sizes x 3 lrs, 3 CVs
    python benchmarks/patchy_san_search.py --edges --json search.json

The paper tuned "the number of epochs and the batch size" without saying on what data. This script
trains ``benchmarks/patchy_san.py``'s PATCHY-SAN (5 members per fold, the same folds and seeds) with
every (batch size, RMSprop lr) of the grid, and reports, per setting and averaged over the
cross-validations:

* ``honest``: the benchmark's figure, each member read at its own best validation epoch;
* ``final``: the members' average after the last epoch;
* ``optimistic``: the epoch where the mean test accuracy over the folds is highest (GIN's paper's
  protocol; it chooses on the test folds);

and the **nested** figure: in each fold, the (setting, epoch) whose members' mean validation
accuracy is highest (ties: the lower mean validation loss, then the earlier setting and epoch), the
members' average tested at that epoch. Validation graphs come from the training fold only, so the
nested figure is an honest estimate of "tuning the batch size and the epochs".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
import patchy_san as bench  # noqa: E402

from stgcn.graphs import PatchySAN  # noqa: E402
from stgcn.io import atomic_path  # noqa: E402


def nested(settings: Sequence[list[dict]]) -> list[dict]:
    """Per fold, the (setting, epoch) of highest members' mean validation accuracy (ties: lower
    mean validation loss, then the earlier setting, then the earlier epoch) and the test accuracy
    of the members' average there. ``settings[s][f]``: fold f of setting s, as
    ``train_patchy_folds`` returns it. -> per fold {"acc", "setting", "epoch"}."""
    out = []
    for f in range(len(settings[0])):
        key, pick = None, (0, 0)
        for s, folds in enumerate(settings):
            row = folds[f]
            for t, (acc, loss) in enumerate(
                zip(row["val_curve"], row["val_loss_curve"], strict=True)
            ):
                k = (-acc, loss, s, t)
                if key is None or k < key:
                    key, pick = k, (s, t)
        s, t = pick
        out.append({"acc": settings[s][f]["curve"][t], "setting": s, "epoch": t + 1})
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    p.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3])
    p.add_argument("--repeats", type=int, default=3, help="cross-validations (fold seeds 0..R-1)")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--edges", action="store_true", help="the k = 10^E variant (node + edge fields)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--root", type=Path, default=None, help="dataset root (default: a temporary one)"
    )
    p.add_argument(
        "--raw-dir", type=Path, default=None, help="MUTAG's TU files (default: ../shared)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def run(args: argparse.Namespace, root: Path) -> dict:
    plain = bench.load("MUTAG", root, args.raw_dir)
    w = round(sum(d.num_nodes for d in plain) / len(plain))
    dataset, prep_s, _ = bench.preprocess(root, "MUTAG", PatchySAN(w, args.k, 1))
    x = torch.cat([d.patchy_x for d in dataset])
    e = torch.cat([d.patchy_edge_attr for d in dataset]) if args.edges else None
    y = torch.cat([d.y for d in dataset])
    y_np = y.numpy()
    cvs = [
        list(
            StratifiedKFold(args.folds, shuffle=True, random_state=args.seed + r).split(y_np, y_np)
        )
        for r in range(args.repeats)
    ]
    grid = [(b, lr) for lr in args.lrs for b in args.batch_sizes]
    info = bench.machine()
    print(
        f"MUTAG, PATCHY-SAN k = {args.k}{'^E' if args.edges else ''}, w = {w}, {args.members} "
        f"members, {args.repeats} × {args.folds}-fold CV | torch {info['torch']}, "
        f"{info['threads']} threads, {info['cpu']}",
        flush=True,
    )
    print("| batch | lr | honest | per CV | final epoch | optimistic | s |")
    print("|---|---|---|---|---|---|---|")
    trained: list[list[dict]] = []  # [setting][all folds of all CVs]
    rows = []
    for batch, lr in grid:
        a = argparse.Namespace(**{**vars(args), "batch_size": batch, "lr": lr})
        tic = time.perf_counter()
        folds: list[dict] = []
        for r, cv in enumerate(cvs):
            folds += bench.train_patchy_folds(x, e, y, cv, a, args.seed + 1000 * r)
        s = bench.summarise(folds, args.folds)
        final = statistics.mean(f["curve"][-1] for f in folds)
        row = {
            "batch_size": batch,
            "lr": lr,
            "honest": s["mean"],
            "per_repeat": s["per_repeat"],
            "final": final,
            "optimistic": s["test_selected"]["mean"],
            "seconds": time.perf_counter() - tic,
        }
        rows.append(row)
        trained.append(folds)
        per_cv = ", ".join(f"{v:.2f}" for v in s["per_repeat"])
        print(
            f"| {batch} | {lr:g} | {s['mean']:.2f} | {per_cv} | {final:.2f} | "
            f"{row['optimistic']:.2f} | {row['seconds']:.0f} |",
            flush=True,
        )
    picks = nested(trained)
    s = bench.summarise(picks, args.folds)
    chosen = [f"{grid[p['setting']][0]}/{grid[p['setting']][1]:g}@{p['epoch']}" for p in picks]
    print(
        f"\nnested (batch, lr and epoch chosen in each training fold): {s['mean']:.2f} ± "
        f"{s['std']:.2f} (per CV {', '.join(f'{v:.2f}' for v in s['per_repeat'])})"
    )
    return {
        "dataset": "MUTAG",
        "edges": args.edges,
        "w": w,
        "k": args.k,
        "folds": args.folds,
        "repeats": args.repeats,
        "members": args.members,
        "preprocessing_s": prep_s,
        "settings": rows,
        "nested": {**{k: s[k] for k in ("mean", "std", "per_repeat", "per_fold")}, "picks": chosen},
        "machine": info,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="patchy_search_") as tmp:
        report = run(args, args.root or Path(tmp))
    if args.json:
        with atomic_path(args.json) as tmp_path:
            tmp_path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
