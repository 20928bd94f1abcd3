"""A trained model's top-k classes for any video file.

::

    python -m stgcn.predict VIDEO... --checkpoint CKPT [--method motion | --boxes BOXES.json]
        [--weights W] [--top-k 5] [--json] [--viz OUT.png]

The checkpoint is one written by ``benchmarks/ssv2.py`` (through :func:`stgcn.engine.fit`): its
``"extra"`` holds ``model_name`` and ``model_config`` (``build_model``'s arguments), ``classes``
and, from this version on, ``clips`` (sampling, stride, crop size). A checkpoint written before
``clips`` existed needs ``--size`` (its sampling is then assumed to be the benchmark's ``tsn``,
with a warning). Each video is read as validation reads it (:func:`stgcn.inference.infer`); a model
that reads boxes (``*_gcn``, ``i3d_roi``) takes them from ``--boxes`` (a Something-Else JSON) or a
proposal ``--method``.

Output: per video, a table of the top-k classes with their softmax probabilities, or with
``--json`` one JSON document (a list, one object per video). A video that cannot be read is
reported (``error``) and the others still run; the exit status is then 1. A bad checkpoint (missing,
of another architecture, without the model's metadata) exits with status 2 and a message.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from stgcn.engine.checkpoint import load_checkpoint
from stgcn.models import MODELS, build_model

__all__ = [
    "LoadedModel",
    "add_clip_arguments",
    "clip_arguments",
    "clip_settings",
    "load_model",
    "main",
    "rebuild_model",
    "top_k",
]

DEFAULT_CLIPS = {"sampling": "tsn", "stride": 2}
"""What ``benchmarks/ssv2.py``'s CPU and smoke presets sample, for checkpoints that do not say."""


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, in eval mode.

    Attributes:
        model: the network (``build_model(name, len(classes), **config)``, weights loaded).
        name: its ``build_model`` name.
        classes: class names, index = output.
        clips: ``{"sampling", "stride", "size"}`` the clips it was trained on.
    """

    model: nn.Module
    name: str
    classes: list[str]
    clips: dict[str, Any]


def rebuild_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a ``benchmarks/ssv2.py`` checkpoint, weights loaded, on the CPU.

    Returns:
        ``(model, extra)``: ``extra`` is the checkpoint's ``extra`` dict (``model_name``,
        ``model_config`` (the :func:`~stgcn.models.build_model` arguments), ``classes`` and,
        in newer checkpoints, ``clips``).

    Raises:
        FileNotFoundError: no file at ``path``.
        stgcn.io.UnsafeFileError: a file whose pickle could run code.
        ValueError: a file that is not a classifier checkpoint of stgcn (a detector's, one without
            ``model_name``/``model_config``/``classes``, an unknown architecture, weights that do
            not fit the architecture it names), naming the path and what is wrong.
    """
    path = Path(path)
    state = load_checkpoint(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a checkpoint (a {type(state).__name__}, expected a dict)")
    if str(state.get("format", "")).startswith("stgcn-detector"):
        raise ValueError(
            f"{path}: a detector checkpoint (stgcn.proposals), not a video classifier; pass it "
            "as --weights with --method rpn or --method detector"
        )
    extra = state.get("extra") if isinstance(state.get("extra"), dict) else {}
    missing = [k for k in ("model_name", "model_config", "classes") if k not in extra]
    if "model" not in state or missing:
        raise ValueError(
            f"{path}: no model metadata ({', '.join(missing or ['model'])} missing): a classifier "
            "checkpoint written by benchmarks/ssv2.py carries 'model' and, under 'extra', "
            "model_name, model_config and classes"
        )
    name, config, classes = extra["model_name"], dict(extra["model_config"]), list(extra["classes"])
    if name not in MODELS:
        raise ValueError(
            f"{path}: a checkpoint of architecture {name!r}, which stgcn.models does not build "
            f"(known: {', '.join(sorted(MODELS))})"
        )
    config["inflate_from"] = None  # the trained weights replace any initialisation
    model = build_model(name, len(classes), **config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ValueError(
            f"{path}: its weights do not fit {name} with {len(classes)} classes and the stored "
            f"configuration: {' '.join(str(e).split())[:400]}"
        ) from e
    return model, dict(extra)


def load_model(
    path: str | Path, device: str | torch.device = "cpu", clips: dict[str, Any] | None = None
) -> LoadedModel:
    """Rebuild the model of a ``benchmarks/ssv2.py`` checkpoint (:func:`rebuild_model`) with the
    clip settings it was trained on.

    Args:
        path: the checkpoint.
        device: where the model goes.
        clips: overrides of the stored clip settings (``sampling``, ``stride``, ``size``).

    Raises:
        what :func:`rebuild_model` raises, and ValueError when the crop size is neither recorded
        nor given.
    """
    model, extra = rebuild_model(path)
    name, classes = extra["model_name"], list(extra["classes"])
    settings = clip_settings(path, extra, clips)
    return LoadedModel(model.to(device).eval(), name, classes, settings)


def clip_settings(
    path: str | Path, extra: dict[str, Any], clips: dict[str, Any] | None = None
) -> dict[str, Any]:
    """How the model of the checkpoint ``path`` (its ``extra``) samples and crops its clips:
    ``{"sampling", "stride", "size"}`` as stored by ``benchmarks/ssv2.py``, with ``clips``' entries
    (those that are not None) overriding them; sampling and stride default to
    :data:`DEFAULT_CLIPS` (with a warning) for checkpoints that predate the record.

    Raises:
        ValueError: the crop size is neither recorded nor given.
    """
    given = {k: v for k, v in (clips or {}).items() if v is not None}
    settings = {**DEFAULT_CLIPS, **(extra.get("clips") or {}), **given}
    if "size" not in settings:
        raise ValueError(
            f"{path} does not record the crop size its model was trained at: pass --size "
            "(benchmarks/ssv2.py: 48 for the CPU preset, 32 smoke, 224 paper)"
        )
    if "clips" not in extra and not {"sampling", "stride"} <= set(given):
        warnings.warn(
            f"{path} does not record how its clips were sampled; using {settings['sampling']} "
            f"(stride {settings['stride']}) as benchmarks/ssv2.py's CPU presets do",
            stacklevel=2,
        )
    return settings


def add_clip_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--size``, ``--sampling`` and ``--stride`` (how clips are cropped and sampled), each
    defaulting to what the checkpoint records; read them back with :func:`clip_arguments`."""
    parser.add_argument("--size", type=int, help="crop size in pixels (default: the checkpoint's)")
    parser.add_argument(
        "--sampling",
        choices=("tsn", "uniform", "dense"),
        help="frame sampling (default: the checkpoint's)",
    )
    parser.add_argument(
        "--stride", type=int, help="frame stride of dense sampling (default: the checkpoint's)"
    )


def clip_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The clip settings given on the command line of :func:`add_clip_arguments` (None: not
    given), for :func:`clip_settings`' ``clips``."""
    return {k: getattr(args, k) for k in ("sampling", "stride", "size")}


def top_k(logits: Tensor, classes: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of ``logits`` ``[C]``: ``[{"rank", "index", "class",
    "probability"}]``, most probable first."""
    prob = logits.float().softmax(-1)
    values, index = prob.topk(min(k, prob.numel()))
    return [
        {"rank": r + 1, "index": int(i), "class": classes[int(i)], "probability": float(p)}
        for r, (p, i) in enumerate(zip(values.tolist(), index.tolist(), strict=True))
    ]


def _save_viz(frames: Tensor, graph: Any, path: Path, title: str | None = None) -> None:
    """Draw the graph over its sampled frames with :func:`stgcn.viz.draw_graph`: boxes with track
    ids, IoU edges and, for a model with a similarity graph, its strongest edges."""
    try:
        from stgcn import viz
    except ImportError as e:
        raise RuntimeError(f"--viz needs stgcn.viz, which cannot be imported here: {e}") from e
    drawn = graph.clone()
    drawn.frame = graph.clip_frame  # draw_graph numbers nodes by the frames it is given
    attention = None
    if "similarity_edge_index" in graph:
        attention = (graph.similarity_edge_index, graph.similarity_weight)
    viz.draw_graph(
        frames,
        drawn,
        path,
        attention=attention,
        frame_numbers=graph.sampled_frames.tolist(),
        title=title,
    )


def _viz_path(out: Path, video: Path, many: bool) -> Path:
    return out.with_name(f"{out.stem}-{video.stem}{out.suffix}") if many else out


def _table(result: dict[str, Any]) -> str:
    head = f"{result['video']}"
    if "error" in result:
        return f"{head}\n  error: {result['error']}"
    head += f"  ({result['frames']} frames, {result['nodes']} region nodes)"
    width = max(len(p["class"]) for p in result["top_k"])
    lines = [head, f"  {'rank':>4}  {'class':<{width}}  probability"]
    for p in result["top_k"]:
        lines.append(f"  {p['rank']:>4}  {p['class']:<{width}}  {p['probability']:11.3f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stgcn.predict",
        description="Top-k classes of a trained stgcn model (a benchmarks/ssv2.py checkpoint) "
        "for video files.",
    )
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="video files")
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint.pt of a run")
    g = p.add_argument_group("boxes (models that read them: *_gcn, i3d_roi)")
    g.add_argument(
        "--method",
        choices=("motion", "selective_search", "rpn", "detector"),
        help="proposals on the sampled frames (rpn/detector need --weights)",
    )
    g.add_argument("--weights", help="detector weights for --method rpn/detector")
    g.add_argument(
        "--boxes",
        type=Path,
        help="Something-Else JSON ({video_id: [frame entries]}; the id is the file stem)",
    )
    g.add_argument(
        "--proposals-per-frame", type=int, default=50, help="proposals kept per frame (50)"
    )
    g = p.add_argument_group("output")
    g.add_argument("--top-k", type=int, default=5, help="classes listed per video (5)")
    g.add_argument("--json", action="store_true", help="print JSON instead of tables")
    g.add_argument(
        "--viz",
        type=Path,
        metavar="OUT.png",
        help="draw the boxes and edges (several videos: OUT-<stem>.png each)",
    )
    g = p.add_argument_group("clips (default: what the checkpoint records)")
    add_clip_arguments(g)
    g.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from stgcn.data.video import VideoDecodeError
    from stgcn.inference import infer
    from stgcn.io import UnsafeFileError

    if args.boxes is not None and args.method is not None:
        print("error: give --boxes or --method, not both", file=sys.stderr)
        return 2
    try:
        loaded = load_model(args.checkpoint, args.device, clip_arguments(args))
    except (FileNotFoundError, ValueError, UnsafeFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    needs_boxes = bool(getattr(loaded.model, "takes_graph", False))
    if needs_boxes and args.boxes is None and args.method is None:
        print(
            f"error: {loaded.name} reads region boxes: give --method (e.g. motion) or --boxes",
            file=sys.stderr,
        )
        return 2
    clips = loaded.clips
    results, failed = [], False
    for video in args.videos:
        result: dict[str, Any] = {"video": str(video)}
        try:
            out = infer(
                video,
                loaded.model,
                boxes=args.boxes,
                proposals=args.method,
                sampling=clips["sampling"],
                stride=clips["stride"],
                size=clips["size"],
                weights=args.weights,
                top_k=args.proposals_per_frame,
            )
        except (FileNotFoundError, ValueError, VideoDecodeError) as e:
            result["error"] = str(e)
            failed = True
            results.append(result)
            continue
        result["frames"] = out.clip.indices.tolist()
        result["nodes"] = out.graph.num_nodes if out.graph is not None else 0
        result["top_k"] = top_k(out.logits, loaded.classes, args.top_k)
        results.append(result)
        if args.viz is not None:
            if out.graph is None:
                print("error: --viz needs boxes (--method or --boxes)", file=sys.stderr)
                return 2
            try:
                best = results[-1]["top_k"][0]
                _save_viz(
                    out.clip.frames,
                    out.graph,
                    _viz_path(args.viz, video, len(args.videos) > 1),
                    title=f"{video.name}: {best['class']} ({best['probability']:.2f})",
                )
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"{args.checkpoint}: {loaded.name}, {len(loaded.classes)} classes, clips {clips}\n")
        for r in results:
            if "frames" in r:
                r = {**r, "frames": len(r["frames"])}
            print(_table(r) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
