"""Pictures of a region graph: boxes with track ids over the sampled frames, the IoU edges between
consecutive frames, and the strongest learned similarity edges (a model's attention weights).

:func:`draw_graph` draws one grid figure (a PNG with ``path=...``); :func:`render_frames` draws
one picture per frame and :func:`write_animation` writes them as an animated GIF (Pillow) or an
mp4 (PyAV). Figures are made with :class:`matplotlib.figure.Figure` on an Agg canvas directly,
never through ``pyplot``: no display is needed, nothing is left open, and the caller's pyplot
backend (a notebook's inline one) is left alone.

Every drawn element carries a ``gid`` (``"box"``, ``"label"``, ``"iou"``, ``"similarity"``), so a
caller (or a test) can find them with ``fig.findobj(lambda a: a.get_gid() == "box")``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, FancyArrowPatch, Rectangle
from torch import Tensor
from torch_geometric.data import Data

from stgcn.graphs import space_time_iou
from stgcn.io import atomic_path

__all__ = ["EDGE_TYPES", "draw_graph", "render_frames", "write_animation"]

EDGE_TYPES = ("iou", "similarity")

# Colours per track: a qualitative palette with enough contrast on busy frames.
_PALETTE = [
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
]  # fmt: skip
_SIMILARITY = "#00e5ff"
_IMPORTANT = "#ffffff"


def _frames(frames: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(frames, Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 [T, H, W, 3] (the sampled frames), got {frames.dtype} "
            f"{list(frames.shape)}"
        )
    if frames.shape[0] == 0:
        raise ValueError("frames: no frames to draw")
    return frames


def _nodes(graph: Data, num_frames: int) -> tuple[Tensor, Tensor, Tensor | None]:
    box, frame = graph.get("box"), graph.get("frame")
    if not isinstance(box, Tensor) or not isinstance(frame, Tensor):
        raise ValueError("graph needs box [N, 4] and frame [N] (a VideoGraph)")
    n = box.size(0)
    if box.shape != (n, 4) or frame.shape != (n,):
        raise ValueError(
            f"graph: box must be [N, 4] and frame [N], got {list(box.shape)}, {list(frame.shape)}"
        )
    if n and (int(frame.min()) < 0 or int(frame.max()) >= num_frames):
        raise ValueError(
            f"graph: frame indices must lie in 0..{num_frames - 1} (one per given frame), got "
            f"{int(frame.min())}..{int(frame.max())}"
        )
    if graph.get("batch") is not None and int(graph.batch.max(initial=0) if n else 0) > 0:
        raise ValueError("graph: draw one video at a time (batch.to_data_list()[i])")
    track = graph.get("track")
    return (
        box.detach().float().cpu(),
        frame.detach().long().cpu(),
        None if track is None else track.cpu(),
    )


def _label(track: int, names: Mapping[int, str] | None) -> str:
    if names is not None and track in names:
        return names[track]
    return "hand" if track == -1 else f"#{track}"


def _colour(track: int | None, node: int) -> str:
    key = node if track is None else track + 1  # the hand (-1) gets the first colour
    return _PALETTE[key % len(_PALETTE)]


def _top_edges(
    attention: tuple[Tensor, Tensor], num_nodes: int, top_k: int
) -> tuple[Tensor, Tensor]:
    edge_index, weight = attention
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or weight.shape != (edge_index.size(1),):
        raise ValueError(
            f"attention must be (edge_index [2, E], weight [E]), got {list(edge_index.shape)}, "
            f"{list(weight.shape)} (one column per layer? pick one: alpha[:, layer])"
        )
    if edge_index.numel() and int(edge_index.max()) >= num_nodes:
        raise ValueError(
            f"attention: node index {int(edge_index.max())} >= the graph's {num_nodes} nodes"
        )
    edge_index, weight = edge_index.detach().cpu(), weight.detach().float().cpu()
    keep = edge_index[0] != edge_index[1]  # a node's weight on itself is no interaction
    edge_index, weight = edge_index[:, keep], weight[keep]
    order = torch.argsort(weight, descending=True, stable=True)[:top_k]
    return edge_index[:, order], weight[order]


def _grid(num_frames: int, columns: int | None) -> tuple[int, int]:
    columns = min(num_frames, 4 if columns is None else columns)
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    return math.ceil(num_frames / columns), columns


def draw_graph(
    frames: np.ndarray | Tensor,
    graph: Data,
    path: str | os.PathLike | None = None,
    edges: Sequence[str] | None = None,
    top_k: int = 8,
    attention: tuple[Tensor, Tensor] | None = None,
    node_importance: Tensor | None = None,
    names: Mapping[int, str] | None = None,
    columns: int | None = None,
    panel_inches: float = 2.6,
    dpi: int = 100,
    title: str | None = None,
    frame_numbers: Sequence[int] | None = None,
) -> Figure:
    """Draw a video's region graph over its sampled frames, one panel per frame.

    * Boxes in their track's colour, labelled with the track id (``"hand"`` for track -1, or
      ``names[track]``); without ``track``, one colour per node.
    * ``"iou"``: the IoU edges between consecutive frames (:func:`stgcn.graphs.space_time_iou`),
      drawn in the later frame's panel from where the earlier box's centre was to the box's centre
      now (a motion trail), opacity by IoU.
    * ``"similarity"``: the ``top_k`` strongest edges of ``attention`` (self pairs left out),
      arrows from source j to target i, across panels when the two boxes are in different frames;
      width and opacity by weight, the weight written at the arrow's middle.
    * ``node_importance``: the ``top_k`` most important boxes get a thick white frame and their
      score (:func:`stgcn.explain.draw_explanation` uses it).

    Args:
        frames: ``[T, H, W, 3]`` uint8, the frames the graph's boxes belong to.
        graph: one video's :class:`~stgcn.graphs.VideoGraph`: ``box`` [N, 4] in the frames' pixels,
            ``frame`` [N] in ``0..T-1``, optional ``track`` [N].
        path: also save the figure there (PNG, or any format matplotlib knows), atomically.
        edges: which of :data:`EDGE_TYPES` to draw; default ``"iou"``, plus ``"similarity"`` when
            ``attention`` is given.
        top_k: similarity edges (and important boxes) to draw.
        attention: ``(edge_index [2, E], weight [E])`` over the graph's nodes (row 0 source), e.g.
            :meth:`STRG.forward <stgcn.models.STRG.forward>` with ``return_attention_weights``.
        node_importance: ``[N]`` scores, higher is more important.
        names: label per track id.
        columns: panels per row (default up to 4).
        panel_inches: width of one panel in inches.
        dpi: resolution of the saved image: it is ``figsize * dpi`` pixels.
        title: a title over the grid.
        frame_numbers: the number shown over each panel (default ``0..T-1``), e.g. the frames of
            the video they were sampled from.

    Returns:
        the :class:`~matplotlib.figure.Figure` (Agg canvas).
    """
    frames = _frames(frames)
    t, h, w, _ = frames.shape
    box, frame, track = _nodes(graph, t)
    n = box.size(0)
    if edges is None:
        edges = ("iou", "similarity") if attention is not None else ("iou",)
    unknown = [e for e in edges if e not in EDGE_TYPES]
    if unknown:
        raise ValueError(f"edges must be among {EDGE_TYPES}, got {list(edges)}")
    if "similarity" in edges and attention is None:
        raise ValueError(
            "edges='similarity' needs the attention weights: attention=(edge_index, weight)"
        )
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if frame_numbers is not None and len(frame_numbers) != t:
        raise ValueError(
            f"frame_numbers must have one number per frame ({t}), got {len(frame_numbers)}"
        )
    if node_importance is not None and node_importance.shape != (n,):
        raise ValueError(f"node_importance must be [{n}], got {list(node_importance.shape)}")

    rows, cols = _grid(t, columns)
    panel_h = panel_inches * h / w
    top = 0.45 if title else 0.05
    # whole pixels, so that the saved image is exactly figsize * dpi
    size = np.round(np.array([cols * panel_inches, rows * (panel_h + 0.22) + top]) * dpi) / dpi
    fig = Figure(figsize=tuple(size), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - top / fig.get_figheight(),
        wspace=0.03,
        hspace=0.1,
    )
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= t:
            continue
        ax.imshow(frames[k], interpolation="nearest")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_title(f"frame {k if frame_numbers is None else frame_numbers[k]}", fontsize=8, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)

    scale = panel_inches / 2.6  # line widths and fonts follow the panel size
    important = set()
    if node_importance is not None and n:
        order = torch.argsort(node_importance.detach().float().cpu(), descending=True)[:top_k]
        important = {int(i) for i in order}
    centre = (box[:, :2] + box[:, 2:]) / 2
    for i in range(n):
        ax = axes[int(frame[i])]
        tid = None if track is None else int(track[i])
        colour = _colour(tid, i)
        x1, y1, x2, y2 = box[i].tolist()
        if i in important:
            ax.add_patch(
                Rectangle(
                    (x1, y1),
                    x2 - x1,
                    y2 - y1,
                    fill=False,
                    ec=_IMPORTANT,
                    lw=4.0 * scale,
                    gid="importance",
                )
            )
        ax.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=1.6 * scale, gid="box")
        )
        text = _label(tid, names) if tid is not None else str(i)
        if i in important:
            text += f" {float(node_importance[i]):.2f}"
        # the label sits on the box's top edge, flipped inside the frame near its right or top edge
        right, below = x1 > 0.6 * w, y1 < 0.1 * h
        ax.text(
            x2 if right else x1, y2 if below else y1, text, fontsize=6.5 * scale, color="black",
            va="top" if below else "bottom", ha="right" if right else "left", gid="label",
            bbox={"boxstyle": "square,pad=0.1", "fc": colour, "ec": "none", "alpha": 0.85},
            clip_on=True,
        )  # fmt: skip

    if "iou" in edges and n:
        edge_index, iou = space_time_iou(box, frame)
        for (a, b), value in zip(edge_index.t().tolist(), iou.tolist(), strict=True):
            ax = axes[int(frame[b])]
            (xa, ya), (xb, yb) = centre[a].tolist(), centre[b].tolist()
            ax.plot(
                [xa, xb],
                [ya, yb],
                color="white",
                lw=1.0 * scale,
                alpha=0.35 + 0.6 * value,
                gid="iou",
            )
            ax.plot([xa], [ya], "o", ms=2.2 * scale, color="white", alpha=0.8, gid="iou_start")

    if "similarity" in edges and n:
        assert attention is not None
        edge_index, weight = _top_edges(attention, n, top_k)
        wmax = float(weight.max()) if weight.numel() else 1.0
        for (j, i), value in zip(edge_index.t().tolist(), weight.tolist(), strict=True):
            strength = value / wmax if wmax > 0 else 1.0
            style = {
                "arrowstyle": "-|>", "mutation_scale": 11 * scale, "color": _SIMILARITY,
                "lw": (0.8 + 2.2 * strength) * scale, "alpha": 0.45 + 0.55 * strength,
            }  # fmt: skip
            src, dst = centre[j].tolist(), centre[i].tolist()
            fj, fi = int(frame[j]), int(frame[i])
            if fj == fi:
                patch = FancyArrowPatch(
                    src, dst, connectionstyle="arc3,rad=0.25", gid="similarity", **style
                )
                axes[fi].add_patch(patch)
            else:
                patch = ConnectionPatch(
                    src, dst, "data", "data", axesA=axes[fj], axesB=axes[fi],
                    gid="similarity", **style,
                )  # fmt: skip
                fig.add_artist(patch)
            # the weight at the arrow's middle, in figure coordinates (the panels may differ)
            a_xy = axes[fj].transData.transform(src)
            b_xy = axes[fi].transData.transform(dst)
            mid = fig.transFigure.inverted().transform((a_xy + b_xy) / 2)
            fig.text(
                *mid, f"{value:.2f}", fontsize=6 * scale, color="black", ha="center", va="center",
                gid="similarity_label", zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": _SIMILARITY, "ec": "none", "alpha": 0.85},
            )  # fmt: skip

    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return fig


def render_frames(
    frames: np.ndarray | Tensor,
    graph: Data,
    panel_inches: float = 3.2,
    dpi: int = 100,
    **kwargs: object,
) -> np.ndarray:
    """One picture per frame, as :func:`draw_graph` draws its panel (IoU trails, boxes; similarity
    edges only within a frame), for an animation.

    Args:
        frames: ``[T, H, W, 3]`` uint8.
        graph: one video's graph, boxes in the frames' pixels.
        panel_inches, dpi: size of each picture.
        kwargs: passed to :func:`draw_graph` (``edges``, ``attention``, ``names``, ...).

    Returns:
        ``[T, h, w, 3]`` uint8 pictures.
    """
    frames = _frames(frames)
    box, frame, _ = _nodes(graph, frames.shape[0])
    out = []
    for k in range(frames.shape[0]):
        sub = (
            graph.subgraph(torch.nonzero((frame == k) | (frame == k - 1)).flatten())
            if box.size(0)
            else graph
        )
        sub_frames = frames[max(k - 1, 0) : k + 1]
        if k > 0 and box.size(0):
            sub.frame = sub.frame - (k - 1)
        fig = draw_graph(sub_frames, sub, columns=2, panel_inches=panel_inches, dpi=dpi, **kwargs)
        # the picture is the panel of frame k alone: cut it out of the canvas
        ax = fig.axes[1 if k > 0 else 0]
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        x0, y0, x1, y1 = (int(round(v)) for v in ax.get_window_extent().extents)
        height = rgba.shape[0]
        out.append(rgba[height - y1 : height - y0, x0:x1, :3].copy())
    size = min(p.shape[0] for p in out), min(p.shape[1] for p in out)
    return np.stack([p[: size[0], : size[1]] for p in out])


def write_animation(images: np.ndarray, path: str | os.PathLike, fps: float = 4.0) -> Path:
    """Write pictures ``[T, h, w, 3]`` uint8 (e.g. :func:`render_frames`) as an animated ``.gif``
    (Pillow, looping) or an ``.mp4`` (PyAV, H.264 where the build has it, else MPEG-4), atomically.

    Returns:
        the path written.
    """
    images = _frames(images)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(
            f"{path}: write_animation writes .gif or .mp4, not {suffix or 'no suffix'}"
        )
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            pictures = [Image.fromarray(a) for a in images]
            pictures[0].save(
                tmp, format="GIF", save_all=True, append_images=pictures[1:],
                duration=int(round(1000 / fps)), loop=0,
            )  # fmt: skip
        else:
            _write_mp4(images, tmp, fps)
    return path


def _write_mp4(images: np.ndarray, path: Path, fps: float) -> None:
    import av

    # yuv420p needs even sizes: pad by one black row/column where odd
    t, h, w, _ = images.shape
    images = np.pad(images, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    codecs = av.codecs_available
    name = "libx264" if "libx264" in codecs else "h264" if "h264" in codecs else "mpeg4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(name, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = images.shape[2], images.shape[1]
        stream.pix_fmt = "yuv420p"
        for a in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
