"""A video as a region graph: one node per object box per frame, as a PyG ``Data``.

``VideoGraph`` is the unit that flows from ``stgcn.data`` to the models. It batches with
``torch_geometric.data.Batch.from_data_list``: node attributes are concatenated, ``edge_index`` is
offset by the node counts, and a ``batch`` vector says which video each node belongs to. ``frame``
is *not* offset: it stays the clip-frame index local to its own video, which is what the
spatial-temporal edges (:func:`stgcn.graphs.space_time_edges`) need together with ``batch``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_networkx as _pyg_to_networkx

CATEGORY: dict[str, int] = {"none": 0, "hand": 1, "object": 2}
"""Node category codes, as in Something-Else (a hand, an object, or unknown)."""

HAND_TRACK = -1
"""``track`` id of hand boxes; objects get their placeholder index 0, 1, 2, ..."""

_NODE_KEYS = ("x", "box", "frame", "score", "category", "track")


class VideoGraph(Data):
    r"""One video's region graph.

    Attributes (N boxes; every node attribute has N rows):
        x: ``[N, d]`` node features, or ``None`` in a data skeleton (boxes only).
        box: ``[N, 4]`` float, ``(x1, y1, x2, y2)`` in pixels of the clip's input frames.
        frame: ``[N]`` long, clip-frame index ``0..T-1`` of each box, local to this video
            (not offset when batching).
        score: optional ``[N]`` float detector confidence.
        category: optional ``[N]`` long, codes of :data:`CATEGORY` (none 0, hand 1, object 2).
        track: optional ``[N]`` long identity of the box across frames (for Something-Else, the
            placeholder index of the object, :data:`HAND_TRACK` for hands); local to the video.
        video_id: optional ``str``; a ``Batch`` holds a list of them.
        num_frames: optional ``int`` T, the clip length; a ``Batch`` holds a ``[B]`` tensor.
        edge_index: optional ``[2, E]`` long, offset on batching like any PyG graph.

    ``num_nodes`` is always defined (N, also when ``x`` is ``None`` or N is 0), so a video with no
    boxes still takes its place in a batch and ``global_mean_pool(..., size=B)`` gives it a zero
    row. All videos of one batch must carry the same optional attributes.
    """

    def __init__(
        self,
        x: Tensor | None = None,
        box: Tensor | None = None,
        frame: Tensor | None = None,
        score: Tensor | None = None,
        category: Tensor | None = None,
        track: Tensor | None = None,
        video_id: str | None = None,
        num_frames: int | None = None,
        edge_index: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(x=x, edge_index=edge_index, **kwargs)
        # PyG's Batch/separate machinery builds instances with no arguments: nothing to check then.
        if box is None and frame is None:
            if any(v is not None for v in (score, category, track)):
                raise ValueError("VideoGraph: score/category/track given without box and frame")
            if video_id is not None:
                self.video_id = video_id
            if num_frames is not None:
                self.num_frames = int(num_frames)
            return
        if box is None or frame is None:
            raise ValueError("VideoGraph needs both box [N, 4] and frame [N] (one is missing)")
        if not torch.is_tensor(box):  # lists of coordinates become float
            box = torch.tensor(box, dtype=torch.get_default_dtype())
        if box.numel() == 0:
            box = box.reshape(0, 4)
        if box.dim() != 2 or box.size(1) != 4:
            raise ValueError(f"VideoGraph: box must have shape [N, 4], got {list(box.shape)}")
        if not box.is_floating_point():
            raise ValueError(f"VideoGraph: box must be a float tensor, got {box.dtype}")
        n = box.size(0)
        frame = torch.as_tensor(frame)
        if frame.numel() == 0:
            frame = frame.reshape(0).long()
        if frame.shape != (n,):
            raise ValueError(
                f"VideoGraph: frame must have shape [{n}] (one per box), got {list(frame.shape)}"
            )
        if frame.is_floating_point() or frame.dtype == torch.bool:
            raise ValueError(f"VideoGraph: frame must be an integer tensor, got {frame.dtype}")
        frame = frame.long()
        if n and int(frame.min()) < 0:
            raise ValueError(f"VideoGraph: frame indices must be >= 0, got min {int(frame.min())}")
        if num_frames is not None:
            num_frames = int(num_frames)
            if n and int(frame.max()) >= num_frames:
                raise ValueError(
                    f"VideoGraph: frame index {int(frame.max())} out of range for num_frames={num_frames}"
                )
            self.num_frames = num_frames
        if x is not None and x.size(0) != n:
            raise ValueError(f"VideoGraph: x has {x.size(0)} rows but there are {n} boxes")
        self.box = box
        self.frame = frame
        for name, value, dtype in (
            ("score", score, box.dtype),
            ("category", category, torch.long),
            ("track", track, torch.long),
        ):
            if value is None:
                continue
            value = torch.as_tensor(value, dtype=dtype)
            if value.numel() == 0:
                value = value.reshape(0)
            if value.shape != (n,):
                raise ValueError(
                    f"VideoGraph: {name} must have shape [{n}], got {list(value.shape)}"
                )
            setattr(self, name, value)
        if category is not None and n:
            bad = (self.category < 0) | (self.category >= len(CATEGORY))
            if bool(bad.any()):
                raise ValueError(
                    f"VideoGraph: category codes must be in {sorted(CATEGORY.values())} "
                    f"({CATEGORY}), got {self.category[bad].unique().tolist()}"
                )
        if video_id is not None:
            self.video_id = video_id
        self.num_nodes = n

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        # frame and track are per-video labels, not node indices: never offset them.
        if key in ("frame", "track"):
            return 0
        return super().__inc__(key, value, *args, **kwargs)


def _box_of(label: Any, where: str) -> list[float]:
    if not isinstance(label, Mapping):
        raise ValueError(f"{where}: a label must be an object, got {type(label).__name__}")
    box2d = label.get("box2d")
    if not isinstance(box2d, Mapping):
        raise ValueError(f"{where}: missing or malformed 'box2d' (got {box2d!r})")
    coords = []
    for k in ("x1", "y1", "x2", "y2"):
        v = box2d.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: box2d['{k}'] must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{where}: box2d['{k}'] is not finite ({v!r})")
        coords.append(float(v))
    return coords


def _identity_of(label: Mapping[str, Any], where: str) -> tuple[int, int]:
    """(category code, track id) from ``standard_category`` ("hand" | "0000" | ...), else from
    ``gt_annotation`` ("object hand" | "object 0" | ...)."""
    std = label.get("standard_category")
    if std is None:
        gt = label.get("gt_annotation")
        if not isinstance(gt, str) or not gt.startswith("object "):
            raise ValueError(
                f'{where}: needs \'standard_category\' ("hand" or "0000", "0001", ...) or '
                f'\'gt_annotation\' ("object hand" or "object 0", ...), got neither'
            )
        std = gt[len("object ") :]
    if not isinstance(std, str):
        raise ValueError(f"{where}: 'standard_category' must be a string, got {std!r}")
    if std == "hand":
        return CATEGORY["hand"], HAND_TRACK
    if std.isdigit():
        return CATEGORY["object"], int(std)
    raise ValueError(f'{where}: unknown standard_category {std!r} (expected "hand" or digits)')


def from_something_else(
    frames_json_entry: Sequence[Mapping[str, Any]],
    video_id: str | None = None,
    frame_indices: Sequence[int] | Tensor | None = None,
) -> VideoGraph:
    """One video's Something-Else box annotations as a :class:`VideoGraph` skeleton (``x`` None).

    Args:
        frames_json_entry: the list stored under the video id in a Something-Else box file
            (``bounding_box_smthsmth_part*.json``). Each entry is
            ``{"name": "<id>/0001.jpg", "labels": [{"box2d": {"x1","y1","x2","y2"},
            "standard_category": "hand"|"0000"|..., "gt_annotation": "object hand"|"object 0"|...,
            "category": str}, ...], ...}``. **List position k is annotation frame k, 0-based**
            (the image ``<id>/{k+1:04d}.jpg``, i.e. frame k of the 12 fps video); the ``name`` is
            not parsed.
        video_id: stored as ``video_id``.
        frame_indices: optional ``[T]`` annotation-frame indices that make up a clip (what a
            sampler picked). Then node ``frame`` is the *clip* position ``t`` of its annotation
            frame ``frame_indices[t]`` (repeated indices repeat the boxes), and ``num_frames`` = T.
            Without it, every annotation frame is kept, ``frame`` = k and ``num_frames`` = the
            list length. An index outside ``0..len-1`` is an error.

    Returns:
        ``VideoGraph`` with ``box`` [N, 4] (original-frame pixels, geometry not checked here:
        ``stgcn.data`` clips, drops and counts degenerate boxes), ``frame`` [N], ``category`` [N]
        (hand 1 / object 2), ``track`` [N] (object placeholder index, ``HAND_TRACK`` = -1 for hands),
        ``num_frames``, ``video_id``.

    Raises:
        ValueError: naming the video, list position and label of any malformed entry.
    """
    prefix = (
        f"Something-Else video {video_id!r}" if video_id is not None else "Something-Else entry"
    )
    if isinstance(frames_json_entry, str | bytes | Mapping) or not isinstance(
        frames_json_entry, Sequence
    ):
        raise ValueError(
            f"{prefix}: expected a list of per-frame entries, got {type(frames_json_entry).__name__}"
        )
    boxes: list[list[float]] = []
    frames: list[int] = []
    cats: list[int] = []
    tracks: list[int] = []
    for k, entry in enumerate(frames_json_entry):
        where = f"{prefix}, frame entry {k}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
        labels = entry.get("labels")
        if not isinstance(labels, list):
            raise ValueError(f"{where}: missing or malformed 'labels' list (got {labels!r})")
        for m, label in enumerate(labels):
            lwhere = f"{where}, label {m}"
            boxes.append(_box_of(label, lwhere))
            cat, track = _identity_of(label, lwhere)
            cats.append(cat)
            tracks.append(track)
            frames.append(k)
    box = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    frame = torch.tensor(frames, dtype=torch.long)
    category = torch.tensor(cats, dtype=torch.long)
    track = torch.tensor(tracks, dtype=torch.long)
    num_frames = len(frames_json_entry)
    if frame_indices is not None:
        idx = torch.as_tensor(frame_indices).long().reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_frames):
            raise ValueError(
                f"{prefix}: frame_indices must lie in 0..{num_frames - 1} (the annotated frames), "
                f"got min {int(idx.min())}, max {int(idx.max())}"
            )
        # node n is taken once for every clip position t whose annotation frame is frame[n]
        hit = frame[None, :] == idx[:, None]  # [T, N]
        t, n = hit.nonzero(as_tuple=True)
        box, category, track, frame = box[n], category[n], track[n], t
        num_frames = idx.numel()
    return VideoGraph(
        box=box,
        frame=frame,
        category=category,
        track=track,
        video_id=video_id,
        num_frames=num_frames,
    )


def to_networkx(video_graph: Data, to_undirected: bool = False) -> Any:
    """A ``networkx.DiGraph`` (or ``Graph``) of a video graph, for drawing and analysis.

    Nodes carry ``box`` (list of 4 floats), ``frame`` and, where present, ``score``,
    ``category``, ``track`` and ``batch``; edges carry ``edge_weight`` when the graph has one;
    the graph carries ``video_id`` and ``num_frames`` when present. A graph without
    ``edge_index`` gives isolated nodes.
    """
    data = video_graph
    if data.edge_index is None:
        data = data.clone()
        data.edge_index = torch.empty(2, 0, dtype=torch.long)
    node_attrs = [k for k in (*_NODE_KEYS[1:], "batch") if isinstance(data.get(k), Tensor)]
    edge_attrs = [k for k in ("edge_weight",) if isinstance(data.get(k), Tensor)]
    graph_attrs = [k for k in ("video_id", "num_frames") if data.get(k) is not None]
    return _pyg_to_networkx(
        data,
        node_attrs=node_attrs,
        edge_attrs=edge_attrs,
        graph_attrs=graph_attrs,
        to_undirected=to_undirected,
    )
