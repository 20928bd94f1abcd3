"""Which objects and which interactions drove one prediction of a trained STRG.

The backbone part of the model (I3D + RoIAlign, and the global feature) runs once and is kept
fixed (:meth:`STRG.encode <stgcn.models.STRG.encode>`); what is explained is the graph part, node
features and edges -> logits (:class:`GraphPart`), with PyG's own
:class:`torch_geometric.explain.Explainer` and :class:`~torch_geometric.explain.algorithm.GNNExplainer`
(Ying et al., NeurIPS 2019): it learns a soft mask on each node (an object box in one frame: its
features are scaled by the mask) and on each edge of the similarity graph (an interaction j -> i:
the weight :math:`G_{ij}` is scaled by the mask) that keeps the model's prediction with as little
of the graph as possible. A node's (edge's) importance is its learned mask value, in ``[0, 1]``.

Only the similarity graph's edges are masked: it is the learned interaction graph (the
spatial-temporal edges are fixed IoU links between the same object in consecutive frames, and a
node's mask already removes its messages there).

Captum's attribution methods (``CaptumExplainer``) would plug into the same :class:`Explainer`;
captum is not a dependency of stgcn, so GNNExplainer is the one used here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.explain import Explainer
from torch_geometric.explain.algorithm import GNNExplainer
from torch_geometric.nn.conv import MessagePassing

from stgcn.graphs import VideoGraph

__all__ = [
    "EdgeMask",
    "Explanation",
    "GraphPart",
    "draw_explanation",
    "explain_graph",
    "explain_prediction",
]


class EdgeMask(MessagePassing):
    """Where an explainer's edge mask reaches a model whose edges are not a ``propagate``.

    :class:`~torch_geometric.explain.Explainer` hands its edge mask to every ``MessagePassing``
    module of the model (``set_masks``); this one passes nothing, it only gives the mask back:
    ``forward(num_edges)`` is ``sigmoid(mask)`` ``[E]`` while explaining, ``None`` otherwise.
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, num_edges: int) -> Tensor | None:  # type: ignore[override]
        mask = getattr(self, "_edge_mask", None)
        if not self.explain or mask is None:
            return None
        if mask.shape != (num_edges,):
            raise ValueError(
                f"EdgeMask: the mask has {list(mask.shape)} entries, the graph {num_edges} edges"
            )
        return mask.sigmoid() if self._apply_sigmoid else mask


class GraphPart(nn.Module):
    """The graph part of an :class:`~stgcn.models.STRG` on one video, as ``(x, edge_index) ->
    logits`` for :class:`~torch_geometric.explain.Explainer`, with the backbone's output fixed.

    ``forward(x [N, d], edge_index [2, E])`` -> ``[1, num_classes]``: ``x`` replaces the region
    nodes' features, ``edge_index`` must be the similarity graph of :meth:`edges` (the explainer's
    edge mask, if any, multiplies its weights). The model's own message-passing layers are told
    not to take the mask (``explain = False``) while this wrapper lives; :meth:`release` undoes it.

    Args:
        model: a trained STRG with a ``"similarity"`` graph (``similarity="shared"``), in eval mode.
        pooled: ``[1, C_g]`` its global feature and ``nodes`` its region nodes, from
            :meth:`STRG.encode <stgcn.models.STRG.encode>` on one video.
    """

    def __init__(self, model: nn.Module, pooled: Tensor, nodes: Data) -> None:
        super().__init__()
        gcn = getattr(model, "gcn", None)
        if gcn is None or "similarity" not in gcn.graphs or gcn.similarity != "shared":
            raise ValueError(
                "GraphPart: explaining needs an STRG whose GCN has the shared similarity graph "
                "(the *_gcn models); got " + type(model).__name__
            )
        if pooled.size(0) != 1:
            raise ValueError(f"GraphPart: one video at a time, got {pooled.size(0)}")
        self.model = model
        self.pooled = pooled.detach()
        self.nodes = nodes
        self.mask = EdgeMask()
        self._layers = [m for m in gcn.modules() if isinstance(m, MessagePassing)]
        for m in self._layers:
            m.explain = False  # set_masks skips them: the mask goes to self.mask only

    @torch.no_grad()
    def edges(self) -> tuple[Tensor, Tensor]:
        """The similarity graph ``(edge_index [2, E], alpha [E])`` over the nodes (row 0 source)."""
        _, weights = self.model.classify(self.pooled, self.nodes, return_attention_weights=True)
        return weights

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        mask = self.mask(edge_index.size(1))
        return self.model.classify(self.pooled, self.nodes, x=x, similarity_mask=mask)

    def release(self) -> None:
        """Give the model's layers back their default (``explain = None``)."""
        for m in self._layers:
            m.explain = None


@dataclass
class Explanation:
    """Node and edge importances of one prediction.

    Attributes:
        target: the explained class index; ``probability`` its softmax probability.
        node_importance: ``[N]`` in ``[0, 1]``, one per node of ``nodes``.
        edge_index: ``[2, E]`` the explained edges (row 0 source j, row 1 target i) and
            ``edge_importance`` ``[E]``; ``attention`` ``[E]`` the model's own weights on them.
        top_nodes: ``[k]`` node indices, most important first; ``top_edges`` ``[k]`` edge
            indices (self pairs left out), ranked by ``edge_importance * attention``: the mask
            scales the message the edge carries, and an edge whose weight G is near zero carries
            none whatever its mask (GNNExplainer's entropy term alone drives such a mask to 0 or 1).
        nodes: the explained nodes as a :class:`~stgcn.graphs.VideoGraph`: ``box`` [N, 4] in the
            clip's pixels, ``frame`` [N] the model's feature step of each node (0..T'-1),
            ``track``/``category`` when the input graph had them.
        clip_frames: ``[T']`` the clip frame each feature step reads its boxes from.
    """

    target: int
    probability: float
    node_importance: Tensor
    edge_index: Tensor
    edge_importance: Tensor
    attention: Tensor
    top_nodes: Tensor
    top_edges: Tensor
    nodes: VideoGraph
    clip_frames: Tensor


def _top(values: Tensor, k: int) -> Tensor:
    return torch.argsort(values, descending=True, stable=True)[:k]


def explain_graph(
    model: nn.Module,
    x: Tensor,
    edge_index: Tensor,
    target: int,
    epochs: int = 100,
    lr: float = 0.01,
    edge_mask: bool = True,
    seed: int = 0,
) -> tuple[Tensor, Tensor | None]:
    """GNNExplainer on a graph-level classifier ``model(x, edge_index) -> [1, C]`` logits.

    Args:
        model: a module whose edges take the explainer's mask through a ``MessagePassing``
            (PyG layers, or an :class:`EdgeMask`).
        x: ``[N, d]`` node features; ``edge_index`` ``[2, E]``.
        target: the class whose logit is explained.
        epochs, lr: GNNExplainer's optimisation.
        edge_mask: also learn an edge mask (``False``: nodes only).
        seed: the masks start random: the seed makes the result reproducible.

    Returns:
        ``node_importance`` ``[N]`` and ``edge_importance`` ``[E]`` (``None`` without edges), in
        ``[0, 1]``.
    """
    if x.dim() != 2 or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"explain_graph: x must be [N, d] and edge_index [2, E], got {list(x.shape)}, "
            f"{list(edge_index.shape)}"
        )
    if x.size(0) == 0:
        raise ValueError("explain_graph: the graph has no nodes, there is nothing to explain")
    explainer = Explainer(
        model=model,
        algorithm=GNNExplainer(epochs=epochs, lr=lr),
        explanation_type="phenomenon",
        node_mask_type="object",
        edge_mask_type="object" if edge_mask else None,
        model_config={
            "mode": "multiclass_classification",
            "task_level": "graph",
            "return_type": "raw",
        },
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        explanation = explainer(x.detach(), edge_index, target=torch.tensor([target]))
    finally:
        torch.random.set_rng_state(state)
    node = explanation.node_mask.detach().reshape(-1)
    edge = explanation.get("edge_mask")
    return node, None if edge is None else edge.detach()


def explain_prediction(
    model: nn.Module,
    clip: Tensor,
    graph: Data,
    target: int | None = None,
    top_k: int = 5,
    epochs: int = 100,
    lr: float = 0.01,
    seed: int = 0,
) -> Explanation:
    """Explain one video's prediction by a trained STRG: rank its nodes and interactions.

    Args:
        model: an :class:`~stgcn.models.STRG` with a similarity graph (an ``*_gcn`` model); it is
            put in eval mode.
        clip: ``[3, T, H, W]`` or ``[1, 3, T, H, W]``, the model's input.
        graph: the video's :class:`~stgcn.graphs.VideoGraph` (boxes in clip pixels, frame in
            ``0..T-1``), or a one-video ``Batch``.
        target: class to explain; default the predicted one.
        top_k: length of ``top_nodes`` / ``top_edges``.
        epochs, lr, seed: GNNExplainer's (:func:`explain_graph`).

    Returns:
        :class:`Explanation` over the region nodes the model reads (boxes on its feature frames).
    """
    from torch_geometric.data import Batch

    if clip.dim() == 4:
        clip = clip.unsqueeze(0)
    if clip.dim() != 5 or clip.size(0) != 1:
        raise ValueError(
            f"explain_prediction: clip must be [3, T, H, W] (one video), got {list(clip.shape)}"
        )
    if not isinstance(graph, Batch):
        graph = Batch.from_data_list([graph])
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    model.eval()
    device = next(model.parameters()).device
    clip, graph = clip.to(device), graph.to(device)
    with torch.no_grad():
        pooled, nodes = model.encode(clip, graph)
    if nodes.x.size(0) == 0:
        raise ValueError(
            "explain_prediction: the video has no region nodes (no boxes on the model's frames)"
        )
    part = GraphPart(model, pooled, nodes).eval()  # Explainer restores this mode when done
    try:
        edge_index, attention = part.edges()
        with torch.no_grad():
            probs = part(nodes.x, edge_index).softmax(-1)[0]
        target = int(probs.argmax()) if target is None else int(target)
        if not 0 <= target < probs.numel():
            raise ValueError(f"target must be in 0..{probs.numel() - 1}, got {target}")
        node, edge = explain_graph(part, nodes.x, edge_index, target, epochs, lr, seed=seed)
    finally:
        part.release()
    assert edge is not None
    interaction = edge_index[0] != edge_index[1]
    contribution = edge * attention.detach()
    ranked = _top(torch.where(interaction, contribution, torch.full_like(edge, -1.0)), top_k)
    ranked = ranked[interaction[ranked]]
    steps = int(torch.as_tensor(nodes.num_frames).reshape(-1)[0])
    carried = {
        k: nodes[k].cpu()
        for k in ("score", "category", "track")
        if isinstance(nodes.get(k), Tensor)
    }
    shown = VideoGraph(
        box=nodes.box.detach().cpu(), frame=nodes.frame.cpu(), num_frames=steps, **carried
    )
    return Explanation(
        target=target,
        probability=float(probs[target]),
        node_importance=node.cpu(),
        edge_index=edge_index.cpu(),
        edge_importance=edge.cpu(),
        attention=attention.detach().cpu(),
        top_nodes=_top(node, top_k).cpu(),
        top_edges=ranked.cpu(),
        nodes=shown,
        clip_frames=torch.arange(steps) * (clip.size(2) // steps),
    )


def draw_explanation(
    frames: np.ndarray | Tensor,
    explanation: Explanation,
    path: str | os.PathLike | None = None,
    top_k: int = 5,
    names: Mapping[int, str] | None = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    **kwargs: object,
) -> Figure:
    """Draw the ``top_k`` most important interactions (arrows, labelled with their importance)
    and boxes (white frames) over the frames, with :func:`stgcn.viz.draw_graph`.

    Args:
        frames: ``[T, H, W, 3]`` uint8, the clip's frames (the pixels of ``explanation.nodes.box``);
            the feature steps' frames (``explanation.clip_frames``) are drawn.
        explanation: from :func:`explain_prediction`.
        path: also save the figure there.
        top_k: interactions and boxes to draw.
        names: label per track id.
        classes: class names, for the default title.
        title: over the grid; default the explained class and its probability.
        kwargs: passed to :func:`~stgcn.viz.draw_graph`.

    Returns:
        the figure.
    """
    from stgcn.viz import draw_graph

    e = explanation
    if title is None:
        what = classes[e.target] if classes is not None else f"class {e.target}"
        title = (
            f"{what} (p = {e.probability:.2f}): the {top_k} most important interactions and objects"
        )
    edges = kwargs.pop("edges", ("iou", "similarity"))
    if isinstance(frames, Tensor):
        frames = frames.detach().cpu().numpy()
    if frames.ndim != 4 or frames.shape[0] <= int(e.clip_frames.max()):
        raise ValueError(
            f"frames must be the clip's [T, H, W, 3] frames with T > {int(e.clip_frames.max())}, "
            f"got {list(frames.shape)}"
        )
    return draw_graph(
        frames[e.clip_frames.numpy()],
        e.nodes,
        path=path,
        edges=edges,
        top_k=top_k,
        attention=(e.edge_index, e.edge_importance),
        node_importance=e.node_importance,
        names=names,
        title=title,
        frame_numbers=e.clip_frames.tolist(),
        **kwargs,
    )
