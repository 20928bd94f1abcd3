"""``python -m stgcn.extract``: run a trained STRG's backbone once and cache its region features.

The paper trains STRG in two stages: the backbone first, then the graph head on the frozen
backbone. In the second stage the backbone's output does not change from one epoch to the next, so
running it every epoch is wasted work. This tool runs it once: per item of a dataset it stores
what :meth:`stgcn.models.STRG.encode` returns in evaluation mode, i.e. exactly what the
model's ``SpaceTimeGCN`` and classifier consume:

* the RoIAlign node features ``x`` [N, d] (after the 1x1x1 reduction conv), with ``box`` [N, 4]
  (clip pixels), ``frame`` [N] (feature steps), ``track`` [N] (and ``score``/``category``);
* the global feature [C_g] that the classifier concatenates (before its dropout);
* the label, the video id and the view.

Items go into shards of ``--shard-size`` items, ``OUT/<split>/shard-00000.pt``, each written to a
temporary name and renamed (:func:`stgcn.io.save_atomic`), after ``OUT/<split>/manifest.json``,
which records the checkpoint, the model and the data settings. A killed run is resumed by running
the same command again: finished shards are skipped, and a shard being written when the process
died exists only under its temporary name, which is never read as a shard (and is removed). A
different command on the same ``--out`` is refused rather than mixed in.

:class:`stgcn.data.cached.RegionFeatureDataset` reads a split back; :class:`stgcn.models.STRGHead`
trains on it through :func:`stgcn.engine.fit`. ``benchmarks/region_cache.py`` measures what that
saves.

Examples::

    python -m stgcn.extract --checkpoint runs/i3d_gcn-seed0/checkpoint.pt \\
        --data-root ~/.cache/stgcn/ssv2-synthetic-n1875-96x128-seed0 --out feats
    python -m stgcn.extract --checkpoint ckpt.pt --data-root /data/ssv2 \\
        --boxes /data/bbox/*.json --frames 32 --sampling dense --size 224 --views 2x3 \\
        --device cuda --out /data/strg-feats
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from stgcn.data.cached import (
    MANIFEST,
    REGION_FORMAT,
    pack_region_shard,
    region_shard_name,
)
from stgcn.io import save_atomic
from stgcn.models import STRG
from stgcn.predict import add_clip_arguments, clip_arguments, clip_settings, rebuild_model

__all__ = ["extract_regions", "load_region_model", "main"]

REGION_MODELS = ("i3d_gcn", "i3d_nl_gcn", "i3d_roi")
"""The named models of :func:`stgcn.models.build_model` that read region features (STRGs)."""


def load_region_model(
    checkpoint: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[STRG, dict[str, Any]]:
    """The STRG of a ``benchmarks/ssv2.py`` checkpoint, in evaluation mode on ``device``.

    Returns:
        ``(model, extra)``; ``extra`` holds ``model_name``, ``model_config`` (the
        :func:`~stgcn.models.build_model` arguments) and ``classes``.

    Raises:
        FileNotFoundError: no file at ``checkpoint``.
        ValueError: the checkpoint does not say how to rebuild its model, or its model is not a
            region model (``i3d_gcn``, ``i3d_nl_gcn``, ``i3d_roi``).
    """
    model, extra = rebuild_model(checkpoint)
    name = extra["model_name"]
    if name not in REGION_MODELS or not isinstance(model, STRG):
        raise ValueError(
            f"{checkpoint}: model {name!r} has no region features to extract; extraction needs "
            f"a region model, one of {REGION_MODELS}"
        )
    return model.to(device).eval(), extra


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (what identifies the checkpoint in a manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_manifest(out: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` in ``out``, or check that the one there is the same (resuming)."""
    path = out / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(manifest)):
            changed = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise ValueError(
                f"{out}: holds an extraction made with other settings (differs in {changed}); "
                "use another --out, or delete the folder to start again"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


@torch.no_grad()
def extract_regions(
    model: STRG,
    dataset: Dataset,
    out: str | os.PathLike,
    manifest: Mapping[str, Any],
    shard_size: int = 256,
    batch_size: int = 8,
    workers: int = 0,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Cache ``model``'s region inputs for every item of ``dataset`` in ``out`` (resumable).

    Args:
        model: a trained STRG; it runs in evaluation mode (what the cached head will see).
        dataset: items are :class:`stgcn.data.ssv2.Sample` (``clip`` [3, T, H, W], ``graph`` with
            boxes) or ``Skipped`` records, which are listed in the shard and left out.
            Deterministic: shard k holds items ``k * shard_size`` to ``(k+1) * shard_size - 1``.
        out: folder of this split; ``manifest.json`` and ``shard-*.pt`` go there.
        manifest: plain data that identifies the run (checkpoint, model, data settings) with the
            class names under ``"classes"``; stored with the shard count and compared on resume.
        shard_size: items per shard (the unit of resumption).
        batch_size: clips per forward pass.
        workers: DataLoader processes decoding the clips.
        device: where the model runs.
        progress: tqdm bar (None: only on a terminal).

    Returns:
        ``{"items", "skipped", "shards", "written", "nodes", "mib"}``: ``written`` counts the
        shards this call wrote (the others were there already); ``mib`` is the folder's size.
    """
    from tqdm import tqdm

    from stgcn.data.ssv2 import Sample, collate

    if "classes" not in manifest:
        raise ValueError("extract_regions: the manifest needs the class names ('classes')")
    if shard_size < 1 or batch_size < 1:
        raise ValueError(f"shard_size and batch_size must be >= 1, got {shard_size}, {batch_size}")
    out = Path(out)
    total = len(dataset)
    num_shards = -(-total // shard_size)
    _check_manifest(
        out,
        {
            **manifest,
            "format": REGION_FORMAT,
            "items": total,
            "shard_size": shard_size,
            "num_shards": num_shards,
        },
    )
    for stale in out.glob(".shard-*.tmp"):  # left by a run killed while writing a shard
        stale.unlink()
    todo = [k for k in range(num_shards) if not (out / region_shard_name(k)).is_file()]
    done_items = total - sum(min(shard_size, total - k * shard_size) for k in todo)
    model.eval()
    show = sys.stderr.isatty() and not os.environ.get("CI") if progress is None else progress
    bar = tqdm(
        total=total,
        initial=done_items,
        desc=f"extract {out.name}",
        unit="clip",
        disable=not show,
        dynamic_ncols=True,
    )
    for k in todo:
        indices = range(k * shard_size, min(total, (k + 1) * shard_size))
        loader = DataLoader(
            Subset(dataset, indices), batch_size=batch_size, num_workers=workers, collate_fn=list
        )
        graphs, pooled, labels, views, skipped = [], [], [], [], []
        for items in loader:
            samples = [s for s in items if isinstance(s, Sample)]
            skipped += [(s.index, s.video_id, s.reason) for s in items if not isinstance(s, Sample)]
            bar.update(len(items))
            if not samples:
                continue
            batch = collate(samples)
            clip, graph = batch.clip.to(device), batch.graph.to(device)
            glob, nodes = model.encode(clip, graph)
            pooled.append(glob.float().cpu())
            for i, g in enumerate(nodes.to("cpu").to_data_list()):
                g.video_id = batch.video_id[i]
                graphs.append(g)
            labels += batch.label.tolist()
            views += batch.view.tolist()
        feats = torch.cat(pooled) if pooled else torch.zeros(0, 0)
        save_atomic(
            pack_region_shard(graphs, feats, labels, views, skipped), out / region_shard_name(k)
        )
    bar.close()
    return _summary(out, num_shards, len(todo))


def _summary(out: Path, num_shards: int, written: int) -> dict[str, Any]:
    from stgcn.io import load_safe

    items = skipped = nodes = 0
    for k in range(num_shards):
        shard = load_safe(out / region_shard_name(k), mmap=True)
        items += len(shard["video_id"])
        skipped += len(shard["skipped"])
        nodes += int(shard["num_nodes"].sum())
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return {
        "items": items,
        "skipped": skipped,
        "shards": num_shards,
        "written": written,
        "nodes": nodes,
        "mib": size / 2**20,
    }


# ---------------------------------------------------------------------------------------------------
# command line


def parse_views(text: str) -> tuple[int, int]:
    """``"2x3"`` -> (2 clips, 3 crops), as ``benchmarks/ssv2.py --views``."""
    try:
        clips, crops = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--views wants CLIPSxCROPS such as 2x3, got {text!r}"
        ) from err
    if clips < 1 or crops not in (1, 3):
        raise argparse.ArgumentTypeError(f"--views: clips >= 1 and crops 1 or 3, got {text!r}")
    return clips, crops


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m stgcn.extract``."""
    p = argparse.ArgumentParser(
        prog="python -m stgcn.extract",
        description=__doc__.split("\n\n")[0],
        epilog="examples:" + __doc__.split("Examples::")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a checkpoint of benchmarks/ssv2.py of a region model (i3d_gcn, i3d_nl_gcn, i3d_roi)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (OUT/<split>/...)")
    p.add_argument(
        "--data-root",
        type=Path,
        required=True,
        help="SSv2 root in the official layout: the real set, or a generated synthetic one "
        "(e.g. ~/.cache/stgcn/ssv2-synthetic-n1875-96x128-seed0)",
    )
    p.add_argument(
        "--boxes",
        type=Path,
        nargs="+",
        help="Something-Else box JSON file(s) (default: bounding_box_smthsmth_part*.json under "
        "--data-root, where the synthetic set has them)",
    )
    p.add_argument(
        "--box-index",
        type=Path,
        help="where the --boxes JSON is indexed (SQLite; default OUT/bounding_box_smthsmth.index"
        ".sqlite, so a read-only data root works)",
    )
    p.add_argument(
        "--split",
        nargs="+",
        choices=("train", "validation", "test"),
        default=["train", "validation"],
        help="splits to extract (default: train validation)",
    )
    p.add_argument(
        "--frames", type=int, help="frames per clip (default: the checkpoint's model_config)"
    )
    add_clip_arguments(p)
    p.add_argument(
        "--views",
        type=parse_views,
        default=(1, 1),
        help="views CLIPSxCROPS of the validation and test splits, e.g. 2x3 (default 1x1); "
        "the train split is read with one deterministic view",
    )
    p.add_argument(
        "--limit", type=int, help="only the first N items of each split (a quick look; default all)"
    )
    p.add_argument("--shard-size", type=int, default=256, help="items per shard (default 256)")
    p.add_argument("-b", "--batch-size", type=int, default=8, help="clips per forward (8)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (2)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tqdm bar (default: only on a terminal)",
    )
    return p


def split_dataset(args: argparse.Namespace, split: str, frames: int) -> Dataset:
    """The SSv2 reader for ``split`` in evaluation mode (deterministic sampling and crop)."""
    from stgcn.data.ssv2 import SomethingSomethingV2

    boxes = [str(b) for b in args.boxes] if args.boxes else None
    box_index = None
    if boxes:
        box_index = args.box_index or args.out / "bounding_box_smthsmth.index.sqlite"
        box_index.parent.mkdir(parents=True, exist_ok=True)
    return SomethingSomethingV2(
        args.data_root,
        split,
        num_frames=frames,
        sampling=args.sampling,
        stride=args.stride,
        size=args.size,
        train=False,
        views=(1, 1) if split == "train" else args.views,
        boxes=boxes,
        box_index=box_index,
        on_error="skip",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Extract every ``--split``; prints one summary line per split."""
    args = build_parser().parse_args(argv)
    if not args.checkpoint.is_file():
        raise SystemExit(f"--checkpoint: not found: {args.checkpoint}")
    if not args.data_root.is_dir():
        raise SystemExit(f"--data-root: not a folder: {args.data_root}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, extra = load_region_model(args.checkpoint, args.device)
        vars(args).update(clip_settings(args.checkpoint, extra, clip_arguments(args)))
    except ValueError as err:
        raise SystemExit(str(err)) from err
    frames = args.frames or extra["model_config"].get("frames")
    if not frames:
        raise SystemExit(f"{args.checkpoint}: no clip length in its model_config: give --frames")
    digest = file_digest(args.checkpoint)
    for split in args.split:
        dataset = split_dataset(args, split, frames)
        if list(dataset.classes) != list(extra["classes"]):
            raise SystemExit(
                f"{args.data_root}: its classes differ from the checkpoint's "
                f"({len(dataset.classes)} vs {len(extra['classes'])}): another dataset?"
            )
        if args.limit is not None:
            dataset = Subset(dataset, range(min(args.limit, len(dataset))))
        manifest = {
            "limit": args.limit,
            "checkpoint": str(args.checkpoint.resolve()),
            "checkpoint_sha256": digest,
            "model_name": extra["model_name"],
            "model_config": extra["model_config"],
            "classes": list(extra["classes"]),
            "data_root": str(args.data_root.resolve()),
            "boxes": [str(b) for b in args.boxes] if args.boxes else None,
            "split": split,
            "frames": frames,
            "sampling": args.sampling,
            "stride": args.stride,
            "size": args.size,
            "views": list((1, 1) if split == "train" else args.views),
        }
        done = extract_regions(
            model,
            dataset,
            args.out / split,
            manifest,
            shard_size=args.shard_size,
            batch_size=args.batch_size,
            workers=args.workers,
            device=args.device,
            progress=args.progress,
        )
        print(
            f"{split}: {done['items']} items ({done['skipped']} skipped), {done['nodes']} nodes "
            f"in {done['shards']} shards ({done['written']} written now), "
            f"{done['mib']:.1f} MiB in {args.out / split}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
