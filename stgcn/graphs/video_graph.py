"""A video as a region graph: one node per object box per frame, as a PyG ``Data``.

``VideoGraph`` is the unit that flows from ``stgcn.data`` to the models. It batches with
``torch_geometric.data.Batch.from_data_list``: node attributes are concatenated, ``edge_index`` is
offset by the node counts, and a ``batch`` vector says which video each node belongs to. ``frame``
is *not* offset: it stays the clip-frame index local to its own video, which is what the
spatial-temporal edges (:func:`stgcn.graphs.space_time_edges`) need together with ``batch``.

This layer knows no dataset format. ``category`` is a non-negative integer code whose meaning
belongs to whoever made the boxes (a box source in ``stgcn.data``: Something-Else's hand/object
codes are ``stgcn.data.something_else.CATEGORY``, a detector's are its class indices), so
``VideoGraph`` checks only that the codes are integers >= 0; a model that embeds them checks them
against its own table size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_networkx as _pyg_to_networkx

_NODE_KEYS = ("x", "box", "frame", "score", "category", "track")


class VideoGraph(Data):
    r"""One video's region graph.

    Attributes (N boxes; every node attribute has N rows):
        x: ``[N, d]`` node features, or ``None`` in a data skeleton (boxes only).
        box: ``[N, 4]`` float, ``(x1, y1, x2, y2)`` in pixels of the clip's input frames.
        frame: ``[N]`` long, clip-frame index ``0..T-1`` of each box, local to this video
            (not offset when batching).
        score: optional ``[N]`` float detector confidence.
        category: optional ``[N]`` long, codes >= 0 in the box source's vocabulary (for
            Something-Else, ``stgcn.data.something_else.CATEGORY``: none 0, hand 1, object 2).
        track: optional ``[N]`` long identity of the box across frames (for Something-Else, the
            placeholder index of the object, -1 for hands; a tracker's id); local to the video.
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
        if category is not None and n and bool((self.category < 0).any()):
            raise ValueError(
                "VideoGraph: category codes must be >= 0, got "
                f"{self.category[self.category < 0].unique().tolist()}"
            )
        if video_id is not None:
            self.video_id = video_id
        self.num_nodes = n

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        # frame and track are per-video labels, not node indices: never offset them.
        if key in ("frame", "track"):
            return 0
        return super().__inc__(key, value, *args, **kwargs)


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
