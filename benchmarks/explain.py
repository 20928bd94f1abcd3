"""Does the explainer point at the hand and the template's objects, or at distractors?

On the synthetic SSv2 set the generator knows which boxes are the hand and the placeholder objects
(annotated in its Something-Else files) and which are distractors (static clutter and moving
objects that are drawn but not annotated: :mod:`stgcn.data.synthetic.distractors` recovers their
boxes by rendering each video again). For each validation video this script builds the region
graph from the annotated boxes **plus** the distractor boxes, runs a trained ``*_gcn`` STRG, asks
:func:`stgcn.explain.explain_prediction` (GNNExplainer on the graph part, the backbone fixed) to rank
the nodes, and counts the videos whose top-ranked node is the hand or an object.

References, computed exactly on the same nodes:

* **random ranking**: the top node is a uniformly random node, so the expected fraction is the
  mean over videos of the share of hand/object nodes;
* **attention in-weight**: nodes ranked by the similarity weight they receive,
  :math:`\\sum_i G_{ij}`, from the same forward (no explainer).

Example (the checkpoint and set of ``benchmarks/ssv2.py``'s CPU preset; the clips are sampled and
cropped as the checkpoint records)::

    python benchmarks/explain.py --checkpoint ssv2-results/runs/i3d_gcn-seed0/checkpoint.pt \\
        --data-root ~/.cache/stgcn/ssv2-synthetic-n1875-96x128-seed0 --videos 300
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from _machine import machine
from torch_geometric.data import Batch

from stgcn.data.ssv2 import Sample, SomethingSomethingV2
from stgcn.data.synthetic.distractors import WithDistractors, is_distractor
from stgcn.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn.engine import load_checkpoint
from stgcn.explain import draw_explanation, explain_prediction
from stgcn.models import build_model
from stgcn.predict import add_clip_arguments, clip_arguments, clip_settings


def load_model(
    path: Path, clips: dict[str, Any] | None = None
) -> tuple[torch.nn.Module, list[str], int, dict[str, Any]]:
    """The model of a ``benchmarks/ssv2.py`` checkpoint, rebuilt from its ``extra`` and in eval
    mode, its class names, its clip length, and its clips' sampling, stride and crop size
    (:func:`stgcn.predict.clip_settings`, ``clips`` overriding)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    missing = [k for k in ("model_name", "model_config", "classes") if k not in extra]
    if missing:
        raise ValueError(f"{path}: the checkpoint lacks {missing} (written by benchmarks/ssv2.py?)")
    if not extra["model_name"].endswith("_gcn"):
        raise ValueError(f"{path}: a {extra['model_name']!r} model has no region graph to explain")
    classes = list(extra["classes"])
    model = build_model(extra["model_name"], len(classes), **extra["model_config"])
    model.load_state_dict(state["model"])
    frames = int(extra["model_config"]["frames"])
    return model.eval(), classes, frames, clip_settings(path, extra, clips)


def frames_of(clip: torch.Tensor) -> torch.Tensor:
    """The uint8 frames ``[T, H, W, 3]`` of a normalised clip ``[3, T, H, W]`` (for pictures)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1) * 255
    return (clip * std + mean).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 3, 0)


def attention_in_weight(model: torch.nn.Module, clip: torch.Tensor, graph: Batch) -> torch.Tensor:
    """``[N]`` the similarity weight each region node receives, :math:`\\sum_i G_{ij}`."""
    with torch.no_grad():
        _, (edge_index, alpha) = model(clip[None], graph, return_attention_weights=True)
        pooled, nodes = model.encode(clip[None], graph)
    n = nodes.x.size(0)
    return torch.zeros(n, dtype=alpha.dtype).index_add_(0, edge_index[0], alpha)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--checkpoint", type=Path, required=True, help="an *_gcn checkpoint of benchmarks/ssv2.py"
    )
    p.add_argument(
        "--data-root",
        type=Path,
        required=True,
        help="the generated synthetic set it was trained on",
    )
    p.add_argument("--split", default="validation", help="split to explain (default validation)")
    p.add_argument("--videos", type=int, default=0, help="videos to explain (0: all of the split)")
    p.add_argument("--seed", type=int, default=0, help="GNNExplainer's seed (default 0)")
    p.add_argument("--epochs", type=int, default=100, help="GNNExplainer epochs (default 100)")
    p.add_argument(
        "--lr", type=float, default=0.01, help="GNNExplainer learning rate (default 0.01)"
    )
    add_clip_arguments(p)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--figures", type=Path, help="write the explanation of the first videos here as PNGs"
    )
    p.add_argument(
        "--num-figures", type=int, default=4, help="how many PNGs with --figures (default 4)"
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, classes, frames, clips = load_model(args.checkpoint, clip_arguments(args))
    common = dict(num_frames=frames, **clips, on_error="skip")
    plain = SomethingSomethingV2(args.data_root, args.split, **common)  # builds the box index
    data = SomethingSomethingV2(
        args.data_root,
        args.split,
        boxes=WithDistractors(args.data_root, plain.box_source),
        **common,
    )
    count = len(data) if args.videos <= 0 else min(args.videos, len(data))
    names = {
        -1: "hand",
        0: "obj 0",
        1: "obj 1",
        **{1000 + k: f"distr {k}" for k in range(8)},
    }

    tic = time.perf_counter()
    rows = []
    for i in range(count):
        sample = data[i]
        if not isinstance(sample, Sample):
            continue
        graph = Batch.from_data_list([sample.graph])
        label = int(sample.label)
        e = explain_prediction(
            model, sample.clip, graph, epochs=args.epochs, lr=args.lr, seed=args.seed
        )
        distractor = torch.from_numpy(is_distractor(e.nodes.track.numpy()))
        if bool(distractor.all()) or not bool(distractor.any()):
            continue  # nothing to tell apart: no distractor (or only distractors) on the model's frames
        row: dict[str, Any] = {"video_id": sample.video_id, "class": label, "prediction": e.target}
        row["predicted"] = not bool(distractor[e.top_nodes[0]])
        if e.target == label:  # the same explanation (same target, same seed)
            row["true"] = row["predicted"]
        else:
            true = explain_prediction(
                model,
                sample.clip,
                graph,
                target=label,
                epochs=args.epochs,
                lr=args.lr,
                seed=args.seed,
            )
            row["true"] = not bool(distractor[true.top_nodes[0]])
        if args.figures is not None and i < args.num_figures:
            title = (
                f"video {sample.video_id}: {classes[label]} -> predicted {classes[e.target]} "
                f"(p = {e.probability:.2f})"
            )
            path = args.figures / f"explain-{sample.video_id}.png"
            draw_explanation(frames_of(sample.clip), e, path, names=names, title=title)
        row["nodes"] = distractor.numel()
        row["relevant"] = int((~distractor).sum())
        row["attention"] = not bool(
            distractor[int(attention_in_weight(model, sample.clip, graph).argmax())]
        )
        row["correct"] = e.target == label
        rows.append(row)
    seconds = time.perf_counter() - tic
    if not rows:
        raise SystemExit("no video had both distractor and hand/object nodes to rank")

    def fraction(key: str, subset: list[dict[str, Any]]) -> float:
        return sum(r[key] for r in subset) / len(subset) if subset else float("nan")

    v = len(rows)
    correct = [r for r in rows if r["correct"]]
    info = machine()
    result = {
        "checkpoint": str(args.checkpoint),
        "data_root": str(args.data_root),
        "split": args.split,
        "clips": clips,
        "videos": v,
        "asked": count,
        "mean_nodes": sum(r["nodes"] for r in rows) / v,
        "accuracy": len(correct) / v,
        "all": {k: fraction(k, rows) for k in ("predicted", "true", "attention")},
        "correct": {k: fraction(k, correct) for k in ("predicted", "true", "attention")},
        "random": {
            "all": sum(r["relevant"] / r["nodes"] for r in rows) / v,
            "correct": sum(r["relevant"] / r["nodes"] for r in correct) / max(len(correct), 1),
        },
        "seconds": seconds,
        "epochs": args.epochs,
        "seed": args.seed,
        "machine": info,
        "rows": rows,
    }

    def cell(p: float, n: int) -> str:
        if n == 0 or math.isnan(p):
            return "-"
        return f"{p:.1%} ± {math.sqrt(p * (1 - p) / n):.1%}"

    print(
        f"{v} {args.split} videos with hand/object and distractor nodes (of {count} read), "
        f"{result['mean_nodes']:.1f} nodes each on average; the model's top-1 on these graphs "
        f"(distractors included) {result['accuracy']:.1%}"
    )
    print(
        f"| top-ranked node is the hand or an object | all {v} videos | the {len(correct)} predicted correctly |"
    )
    print("|---|---|---|")
    for key, what in (
        ("predicted", f"GNNExplainer, predicted class ({args.epochs} epochs, seed {args.seed})"),
        ("true", "GNNExplainer, true class"),
        ("attention", "similarity in-weight (no explainer)"),
    ):
        print(
            f"| {what} | {cell(result['all'][key], v)} | {cell(result['correct'][key], len(correct))} |"
        )
    print(
        f"| random ranking (expected, exact) | {result['random']['all']:.1%} | "
        f"{result['random']['correct']:.1%} |"
        if correct
        else f"| random ranking (expected, exact) | {result['random']['all']:.1%} | - |"
    )
    print("(± one binomial standard error)")
    print(
        f"{seconds:.0f} s; machine: {info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}, "
        f"PyG {info['torch_geometric']}, {info['threads']} threads"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
