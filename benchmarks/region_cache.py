"""STRG's second stage from cached region features against end-to-end with a frozen backbone.

The paper trains the graph head on a backbone that is already trained. With the backbone frozen,
its output is the same every epoch, so ``python -m stgcn.extract`` computes it once and
:class:`stgcn.models.STRGHead` trains on the cache. This script measures what that saves, in one
run, on the same videos, from the same checkpoint and the same initial head:

1. decode the clips once (evaluation mode: deterministic sampling and crop; not counted below);
2. extract the region features of the train and validation videos (timed);
3. train STRGHead on the cache for N epochs through :func:`stgcn.engine.fit` (timed per epoch);
4. train the whole STRG for N epochs with its backbone and 1x1x1 reduction conv frozen (the
   parameters the cache holds fixed), on the same decoded clips (timed per epoch);

and prints the epoch times of both, the speed-up, the extraction time, the number of epochs after
which extracting has paid for itself, and the validation top-1 of both. Both runs start from the
checkpoint's backbone and reduction conv and a fresh head drawn with the same seed, and see the
same data in the same order: their top-1 should agree, and the largest difference between their
trained classifier weights is printed as a check.

Examples::

    python benchmarks/region_cache.py --checkpoint out/runs/i3d_gcn-seed0/checkpoint.pt \\
        --data-root ~/.cache/stgcn/ssv2-synthetic-n1875-96x128-seed0 --epochs 3
    nice python benchmarks/region_cache.py --checkpoint ckpt.pt --data-root DATA \\
        --videos 100 --epochs 1 --threads 1                    # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from _machine import machine  # noqa: E402

from stgcn.data.cached import CachedClips, RegionFeatureDataset, collate_regions  # noqa: E402
from stgcn.engine import OptimConfig, TrainConfig, fit, load_checkpoint, seed_everything  # noqa: E402
from stgcn.extract import extract_regions, load_region_model  # noqa: E402
from stgcn.models import STRG, STRGHead, build_model, init_from  # noqa: E402
from stgcn.predict import add_clip_arguments, clip_arguments, clip_settings  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/region_cache.py",
        description=__doc__.split("\n\n")[0],
        epilog="examples:" + __doc__.split("Examples::")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a trained region model (i3d_gcn, i3d_nl_gcn, i3d_roi) of benchmarks/ssv2.py",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        required=True,
        help="SSv2 root in the official layout with Something-Else boxes (real or synthetic)",
    )
    p.add_argument("--out", type=Path, default=Path("region-cache-results"), help="output folder")
    p.add_argument(
        "--videos", type=int, default=0, help="train videos to use (0: the whole train split)"
    )
    p.add_argument(
        "--val-videos",
        type=int,
        default=0,
        help="validation videos (0: a quarter of --videos, or the whole split without --videos)",
    )
    p.add_argument("--epochs", type=int, default=3, help="epochs of each training (default 3)")
    p.add_argument("-b", "--batch-size", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the head and the data order")
    p.add_argument("--frames", type=int, help="frames per clip (default: the checkpoint's)")
    add_clip_arguments(p)
    p.add_argument("--shard-size", type=int, default=256, help="items per cache shard")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p


def first(dataset: Dataset, n: int) -> Dataset:
    """The first ``n`` items (all for 0), keeping ``classes`` for :class:`CachedClips`."""
    if not n or n >= len(dataset):
        return dataset
    subset = Subset(dataset, range(n))
    subset.classes = dataset.classes
    return subset


def stage_two_model(extra: dict[str, Any], state: dict[str, Any], seed: int) -> STRG:
    """The checkpoint's STRG with its backbone and reduction conv loaded and frozen, and a fresh
    head drawn from ``seed`` (the same head every call)."""
    seed_everything(seed)
    model = build_model(extra["model_name"], len(extra["classes"]), **extra["model_config"])
    fixed = {k: v for k, v in state["model"].items() if k.startswith(("backbone.", "region."))}
    init_from(model, fixed, freeze=True)
    for p in model.region.parameters():
        p.requires_grad_(False)
    return model


def epoch_times(history: list[dict]) -> list[float]:
    """Training seconds of each epoch from ``fit``'s cumulative ``train_time``."""
    cumulative = [h["train_time"] for h in history]
    return [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the table shows, as plain data."""
    from stgcn.data.ssv2 import SomethingSomethingV2

    device = torch.device(args.device)
    state = load_checkpoint(args.checkpoint)
    model, extra = load_region_model(args.checkpoint, device)
    frames = args.frames or extra["model_config"]["frames"]
    clip = clip_settings(
        args.checkpoint, extra, clip_arguments(args)
    )  # the checkpoint's, unless given
    common = dict(num_frames=frames, **clip, train=False, on_error="skip")
    val_n = args.val_videos or (max(args.batch_size, args.videos // 4) if args.videos else 0)
    sets = {
        "train": first(SomethingSomethingV2(args.data_root, "train", **common), args.videos),
        "validation": first(SomethingSomethingV2(args.data_root, "validation", **common), val_n),
    }
    tic = time.perf_counter()
    clips = {}
    for split, dataset in sets.items():
        path = args.out / f"clips-{split}.pt"
        CachedClips.write(dataset, path, args.workers)
        clips[split] = CachedClips.load(path)
    decode_s = time.perf_counter() - tic

    regions = args.out / "regions"
    shutil.rmtree(regions, ignore_errors=True)  # a cache left by an earlier run would not be timed
    tic = time.perf_counter()
    for split, dataset in clips.items():
        manifest = {
            "checkpoint": str(args.checkpoint),
            "classes": extra["classes"],
            "split": split,
            "frames": frames,
        }
        extract_regions(model, dataset, regions / split, manifest, args.shard_size, device=device)
    extract_s = time.perf_counter() - tic
    cached = {split: RegionFeatureDataset(regions / split) for split in clips}

    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, progress=False
    )
    optim = OptimConfig(lr=args.lr, momentum=0.9, weight_decay=1e-4, clip_grad_norm=10.0)

    strg_cached = stage_two_model(extra, state, args.seed).to(device)
    head = STRGHead.from_strg(strg_cached)
    res_cached = fit(
        head, cached["train"], cached["validation"], cfg, optim, collate_fn=collate_regions
    )
    strg_e2e = stage_two_model(extra, state, args.seed).to(device)
    res_e2e = fit(strg_e2e, clips["train"], clips["validation"], cfg, optim)

    weight_gap = max(
        (a - b).abs().max().item()
        for a, b in zip(head.parameters(), STRGHead.from_strg(strg_e2e).parameters(), strict=True)
    )
    t_cached, t_e2e = epoch_times(res_cached.history), epoch_times(res_e2e.history)
    return {
        "command": sys.argv,
        "machine": machine(),
        "device": str(device),
        "checkpoint": str(args.checkpoint),
        "model_name": extra["model_name"],
        "data_root": str(args.data_root),
        "train_videos": len(clips["train"]),
        "val_videos": len(clips["validation"]),
        "frames": frames,
        "size": clip["size"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "decode_s": decode_s,
        "extract_s": extract_s,
        "cache_mib": sum(p.stat().st_size for p in regions.rglob("*.pt")) / 2**20,
        "cached_epoch_s": t_cached,
        "e2e_epoch_s": t_e2e,
        "cached_top1": res_cached.eval.report["top1"],
        "e2e_top1": res_e2e.eval.report["top1"],
        "head_weight_gap": weight_gap,
        "head_weight_max": max(p.abs().max().item() for p in head.parameters()),
        "trainable_parameters": sum(p.numel() for p in head.parameters() if p.requires_grad),
    }


def table(r: dict[str, Any]) -> str:
    """The results as a markdown table with a machine line and the derived ratios."""
    cached, e2e = statistics.fmean(r["cached_epoch_s"]), statistics.fmean(r["e2e_epoch_s"])
    saved = e2e - cached
    paid = r["extract_s"] / saved if saved > 0 else float("inf")
    m = r["machine"]
    rows = [
        "| training | epoch time (s), per epoch | mean (s) | validation top-1 (%) |",
        "|---|---|---|---|",
        f"| cached features (STRGHead) | {', '.join(f'{t:.2f}' for t in r['cached_epoch_s'])} "
        f"| {cached:.2f} | {r['cached_top1']:.1f} |",
        f"| end-to-end, frozen backbone | {', '.join(f'{t:.2f}' for t in r['e2e_epoch_s'])} "
        f"| {e2e:.2f} | {r['e2e_top1']:.1f} |",
    ]
    return (
        f"{r['model_name']} from {r['checkpoint']}: {r['train_videos']} train / "
        f"{r['val_videos']} validation videos of {r['data_root']}, {r['frames']} frames at "
        f"{r['size']} px, {r['epochs']} epoch(s), batch {r['batch_size']}\n"
        f"machine: {m['cpu']} ({m['cpu_count']} cores), torch {m['torch']}, {m['threads']} "
        f"threads, {r['device']}"
        + (f" ({m['gpu']})" if m["gpu"] else "")
        + "\n\n"
        + "\n".join(rows)
        + f"\n\nspeed-up per epoch: {e2e / cached:.1f}x; extraction {r['extract_s']:.1f} s "
        f"(train + validation, {r['cache_mib']:.1f} MiB), paid back after {paid:.1f} epoch(s); "
        f"decoding {r['decode_s']:.1f} s (once, shared, not in the epoch times)\n"
        f"same start and data order: largest difference of the trained head weights "
        f"{r['head_weight_gap']:.2e}; {r['trainable_parameters']} trainable parameters\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args)
    text = table(result)
    print("\n" + text, flush=True)
    (args.out / "results.md").write_text(
        f"# Region-feature cache\n\n```\n{' '.join(sys.argv)}\n```\n\n{text}"
    )
    (args.out / "results.json").write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
