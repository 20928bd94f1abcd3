r"""PATCHY-SAN receptive fields (Niepert, Ahmed & Kutzkov, "Learning Convolutional Neural Networks
for Graphs", ICML 2016), as a PyG transform.

A graph becomes a fixed-size tensor that a 1-D CNN can read (Section 4):

* **Node sequence selection** (Section 4.1, Algorithm 1, SELNODESEQ). The vertices are sorted by
  a graph labeling :math:`\ell` (betweenness centrality by default, degree as the fast option),
  highest first. Every :math:`s`-th vertex of that sequence is visited until :math:`w` receptive
  fields exist; a graph with too few vertices gets all-zero receptive fields at the end.
* **Neighbourhood assembly** (Section 4.2, Algorithm 2, NEIGHASSEMB). From each chosen vertex
  :math:`v`, breadth-first rings :math:`N_1, N_2, \dots` are added until at least :math:`k`
  vertices are collected or the component of :math:`v` is exhausted. (The paper's loop takes
  :math:`L \leftarrow \bigcup_{u \in L} N_1(u)`, which never empties on a graph with edges; here
  a ring holds only unseen vertices, so the loop ends on a component smaller than :math:`k`.)
* **Graph normalisation** (Section 4.3, Algorithm 4, NORMALIZEGRAPH). The neighbourhood
  :math:`U` is ranked by distance to :math:`v`, then by :math:`\ell` computed on the
  neighbourhood graph :math:`G[U]` (then by the vertex's own attributes, so that the ranking is a
  function of the attributed graph only). If :math:`|U| > k` the top :math:`k` are kept and
  ranked again by :math:`\ell` on :math:`G[N]` (a second ranking that only changes anything when
  the labeling is recomputed on the smaller graph, hence the reading of Algorithm 4 as labeling
  the neighbourhood; ``local=False`` ranks by :math:`\ell` of the whole graph instead); if
  :math:`|U| < k` dummy vertices fill the last places. The remaining ties are broken by a canonical labeling of :math:`G[N]`
  that respects the ranking as a prior colouring.
* **Receptive fields** (Section 4.3, Algorithm 3, RECEPTIVEFIELD, and Section 4.4). The node
  attributes of the :math:`w` normalised neighbourhoods in that order, a :math:`[w, k, F]`
  tensor, and their edge attributes, a :math:`[w, k, k, E]` tensor (zeros for absent edges and
  dummies; with no ``edge_attr`` the adjacency, :math:`E = 1`).

Canonical labeling. The paper uses NAUTY. ``canonical="nauty"`` does too, through the optional
``pynauty`` package (``pip install "stgcn[nauty]"``); edge labels enter as one extra coloured
vertex per edge, so the labeling is canonical for the attributed graph. The default,
``canonical="wl"``, needs nothing: 1-WL colour refinement, started from the prior ranking (and
vertex attributes) and aggregating (neighbour colour, edge label) pairs, then the **tie rule**:
while a colour class has several vertices, the first such class (lowest colour) has its first
vertex individualised (lowest input index for Algorithm 1; first visited by Algorithm 2 in a
neighbourhood), and refinement runs again. Colours are ranks of
sorted signatures, never hash ids, so everything up to the tie rule depends only on the
isomorphism class of the attributed graph. The tie rule itself is canonical only when every class
it splits is an orbit of the automorphism group of the coloured graph; 1-WL classes that are not
orbits (regular subgraphs are the classic case) give an order that depends on the input
numbering. The same construction, on the whole graph with the keys (:math:`-\ell`, attributes),
orders the vertices for Algorithm 1. Betweenness centralities are rounded to 9 decimals before
they are compared, since summation order changes their last bits under a permutation.

Shapes: the transform adds ``patchy_x`` [1, w, k, F], ``patchy_edge_attr`` [1, w, k, k, E] (with
``edge_attr=True``) and ``patchy_nodes`` [1, w, k] (input vertex of each slot, -1 for a dummy),
so a ``DataLoader`` batch holds [B, w, k, F] and [B, w, k, k, E].
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import to_dense_adj

LABELINGS = ("betweenness", "degree")
CANONICAL = ("wl", "nauty")


@dataclass(frozen=True)
class ReceptiveFields:
    """The receptive fields of one graph.

    nodes [w, k] (input vertex per slot, -1 for a dummy), x [w, k, F], edge_attr [w, k, k, E];
    tie_breaks: how many times the default tie rule chose among 1-WL-equivalent vertices (0 with
    ``canonical="nauty"``).
    """

    nodes: Tensor
    x: Tensor
    edge_attr: Tensor
    tie_breaks: int


class _Graph:
    """Adjacency lists and canonical integer ids for the vertex and edge attributes."""

    def __init__(
        self, edge_index: Tensor, num_nodes: int, x: Tensor | None, edge_attr: Tensor | None
    ):
        src, dst = edge_index.cpu().numpy()
        self.n = num_nodes
        self.src, self.dst = src.tolist(), dst.tolist()
        # np.unique sorts the rows, so the ids depend only on the attribute values.
        self.x_id = _row_ids(x, num_nodes)
        self.e_id = _row_ids(edge_attr, len(self.src))
        self.nbrs: list[list[int]] = [[] for _ in range(num_nodes)]
        for s, d in zip(self.src, self.dst, strict=True):
            if d not in self.nbrs[s]:
                self.nbrs[s].append(d)
            if s not in self.nbrs[d]:
                self.nbrs[d].append(s)

    def induced(self, vertices: list[int]) -> tuple[list[int], list[int], list[int]]:
        """Edges (src, dst, label id) of G[vertices], renumbered 0..len(vertices)-1."""
        pos = {v: i for i, v in enumerate(vertices)}
        src, dst, lab = [], [], []
        for s, d, e in zip(self.src, self.dst, self.e_id, strict=True):
            if s in pos and d in pos:
                src.append(pos[s])
                dst.append(pos[d])
                lab.append(e)
        return src, dst, lab


def _row_ids(rows: Tensor | None, n: int) -> list[int]:
    if rows is None:
        return [0] * n
    if n == 0:
        return []
    rows = _as_rows(rows).detach().cpu().numpy()
    return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1).tolist()


def _as_rows(t: Tensor) -> Tensor:
    """[n] or [n, d] -> [n, d]."""
    return t.unsqueeze(-1) if t.dim() == 1 else t


def _ranks(keys: list) -> list[int]:
    """Dense ranks of comparable keys: equal keys share a rank, order is the keys' order."""
    table = {key: i for i, key in enumerate(sorted(set(keys)))}
    return [table[key] for key in keys]


def node_labeling(edge_index: Tensor, num_nodes: int, labeling: str = "betweenness") -> list[float]:
    """The graph labeling :math:`\\ell` of Section 3.2: one score per vertex, higher ranks first.

    edge_index [2, E] -> N floats: networkx's normalised betweenness centrality (rounded to 9
    decimals so that isomorphic inputs compare equal), or the degree (``"degree"``, the fast one).
    """
    if labeling not in LABELINGS:
        raise ValueError(f"labeling must be one of {LABELINGS}, got {labeling!r}")
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(edge_index.t().tolist())
    if labeling == "degree":
        return [float(graph.degree(v)) for v in range(num_nodes)]
    centrality = nx.betweenness_centrality(graph, normalized=True)
    return [round(centrality[v], 9) for v in range(num_nodes)]


def wl_refine(
    colours: list[int], src: list[int], dst: list[int], edge_labels: list[int]
) -> list[int]:
    """1-WL colour refinement to the stable (equitable) partition.

    colours [n] (ints; only their order matters), edges src/dst/edge_labels [m] -> colours [n],
    dense ranks. A vertex's new colour is the rank of (old colour, sorted multiset of
    (neighbour colour, edge label)); since the old colour comes first, the classes keep their
    order and only split, and ranks of sorted signatures make the result permutation-equivariant.
    """
    n = len(colours)
    colours = _ranks(colours)
    while True:
        inbox: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for s, d, e in zip(src, dst, edge_labels, strict=True):
            inbox[d].append((colours[s], e))
        new = _ranks([(colours[v], tuple(sorted(inbox[v]))) for v in range(n)])
        if max(new, default=-1) == max(colours, default=-1):
            return new
        colours = new


def canonical_order(
    colours: list[int],
    src: list[int],
    dst: list[int],
    edge_labels: list[int],
    canonical: str = "wl",
) -> tuple[list[int], int]:
    """A total order of n vertices that refines the prior colouring (Section 3.2, 4.3).

    colours [n], edges [m] -> (order [n]: vertex at each position, tie_breaks). ``"wl"``: 1-WL
    refinement, then the tie rule of the module docstring (individualise the lowest-index vertex
    of the first class with several vertices, refine, repeat). ``"nauty"``: NAUTY's canonical
    labeling of the graph with one extra vertex per edge coloured by its label.
    """
    if canonical == "nauty":
        return _nauty_order(colours, src, dst, edge_labels), 0
    if canonical != "wl":
        raise ValueError(f"canonical must be one of {CANONICAL}, got {canonical!r}")
    colours = wl_refine(colours, src, dst, edge_labels)
    ties = 0
    while True:
        counts = Counter(colours)
        shared = [c for c, m in counts.items() if m > 1]
        if not shared:
            break
        cell = min(shared)
        chosen = colours.index(cell)  # the tie rule: the first vertex of the first class
        colours = [2 * c + (c == cell and v != chosen) for v, c in enumerate(colours)]
        colours = wl_refine(colours, src, dst, edge_labels)
        ties += 1
    order = sorted(range(len(colours)), key=colours.__getitem__)
    return order, ties


def _nauty_order(
    colours: list[int], src: list[int], dst: list[int], labels: list[int]
) -> list[int]:
    try:
        import pynauty
    except ImportError as err:
        raise ImportError(
            'canonical="nauty" needs pynauty: pip install "stgcn[nauty]" (or pynauty-prebuilt)'
        ) from err
    n = len(colours)
    if n == 0:
        return []
    # Edge labels as vertices: edge {a, b} with label e becomes a vertex of colour "edge e"
    # adjacent to a and b, so NAUTY's labeling respects them (it colours vertices only).
    edges = sorted(
        {(min(s, d), max(s, d)): e for s, d, e in zip(src, dst, labels, strict=True)}.items()
    )
    adjacency: dict[int, list[int]] = {v: [] for v in range(n + len(edges))}
    edge_cells: dict[int, set[int]] = {}
    for i, ((a, b), e) in enumerate(edges):
        adjacency[n + i] = [a, b] if a != b else [a]
        edge_cells.setdefault(e, set()).add(n + i)
    vertex_cells: dict[int, set[int]] = {}
    for v, c in enumerate(colours):
        vertex_cells.setdefault(c, set()).add(v)
    cells = [vertex_cells[c] for c in sorted(vertex_cells)] + [
        edge_cells[e] for e in sorted(edge_cells)
    ]
    graph = pynauty.Graph(n + len(edges), adjacency_dict=adjacency, vertex_coloring=cells)
    # NAUTY keeps the cells in the given order, so the first n positions are the vertices.
    return [v for v in pynauty.canon_label(graph) if v < n]


def select_nodes(order: list[int], w: int, s: int = 1) -> list[int]:
    """Algorithm 1 (SELNODESEQ, Section 4.1): every s-th vertex of the labeled order, w at most.

    order [N] (vertices, highest label first) -> up to w vertices; the caller pads the rest with
    zero receptive fields.
    """
    return order[::s][:w]


def assemble_neighbourhood(nbrs: list[list[int]], root: int, k: int) -> tuple[list[int], list[int]]:
    """Algorithm 2 (NEIGHASSEMB, Section 4.2): breadth-first rings from ``root``.

    -> (vertices, distances to root): whole rings are added until at least k vertices are
    collected or no unseen neighbour is left.
    """
    dist = {root: 0}
    ring = [root]
    while len(dist) < k and ring:
        nxt = []
        for u in ring:
            for x in nbrs[u]:
                if x not in dist:
                    dist[x] = dist[u] + 1
                    nxt.append(x)
        ring = nxt
    return list(dist), list(dist.values())


def normalize_graph(
    graph: _Graph,
    vertices: list[int],
    distances: list[int],
    scores: list[float] | None,
    k: int,
    canonical: str = "wl",
    labeling: str = "betweenness",
) -> tuple[list[int], int]:
    """Algorithm 4 (NORMALIZEGRAPH, Section 4.3): the k slots of one receptive field.

    vertices/distances [|U|] from Algorithm 2 -> (k input vertices, -1 for dummies; tie_breaks).
    Rank U by (distance, -label, attributes), canonically order G[U] respecting that ranking,
    keep the top k, rank and order G[N] again, and pad with dummies. ``scores=None`` (the
    default of the transform): the label is ``labeling`` computed on the neighbourhood graph,
    G[U] and then G[N], as Algorithm 4 applies the labeling procedure to the vertices it ranks
    (its second ranking, of the kept N, would otherwise repeat the first). ``scores`` [N]: the
    labeling of the whole graph instead.
    """

    def keys(vs: list[int]) -> list[tuple[int, float, int]]:
        label = _local_scores(graph, vs, labeling) if scores is None else [scores[v] for v in vs]
        return [(dist[v], -label[i], graph.x_id[v]) for i, v in enumerate(vs)]

    dist = dict(zip(vertices, distances, strict=True))
    ties = 0
    if len(vertices) > k:
        order, t = canonical_order(_ranks(keys(vertices)), *graph.induced(vertices), canonical)
        vertices = [vertices[i] for i in order[:k]]
        ties += t
    order, t = canonical_order(_ranks(keys(vertices)), *graph.induced(vertices), canonical)
    slots = [vertices[i] for i in order]
    return slots + [-1] * (k - len(slots)), ties + t


def _local_scores(graph: _Graph, vertices: list[int], labeling: str) -> list[float]:
    """The labeling of the induced subgraph G[vertices], in the order of ``vertices``."""
    src, dst, _ = graph.induced(vertices)
    return node_labeling(torch.tensor([src, dst], dtype=torch.long), len(vertices), labeling)


def receptive_fields(
    data: Data,
    w: int,
    k: int = 10,
    s: int = 1,
    labeling: str = "betweenness",
    canonical: str = "wl",
    local: bool = True,
) -> ReceptiveFields:
    """Algorithms 1-4 on one graph: Algorithm 3 (RECEPTIVEFIELD) for each selected vertex.

    data: x [N, F] (optional: ones [N, 1] when absent), edge_index [2, E], edge_attr [E, D]
    (optional: the adjacency, D = 1) -> ReceptiveFields with nodes [w, k], x [w, k, F] and
    edge_attr [w, k, k, D] in the normalised order, zeros for dummies and absent edges.
    ``local``: Algorithm 4 ranks each neighbourhood by the labeling of the neighbourhood graph
    (the default); false ranks it by the labeling of the whole graph.
    """
    if w < 1 or k < 1 or s < 1:
        raise ValueError(f"w, k and s must be at least 1, got w={w}, k={k}, s={s}")
    n = data.num_nodes or 0
    x = data.x if data.x is not None else torch.ones(n, 1)
    x = _as_rows(x)
    edge_index = (
        data.edge_index if data.edge_index is not None else torch.empty(2, 0, dtype=torch.long)
    )
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index refers to vertices outside 0..{n - 1}")
    graph = _Graph(edge_index, n, data.x, data.edge_attr)
    scores = node_labeling(edge_index, n, labeling)
    prior = _ranks([(-scores[v], graph.x_id[v]) for v in range(n)])
    order, ties = canonical_order(prior, graph.src, graph.dst, graph.e_id, canonical)

    nodes = torch.full((w, k), -1, dtype=torch.long)
    for i, root in enumerate(select_nodes(order, w, s)):
        vertices, distances = assemble_neighbourhood(graph.nbrs, root, k)
        slots, t = normalize_graph(
            graph, vertices, distances, None if local else scores, k, canonical, labeling
        )
        nodes[i] = torch.tensor(slots)
        ties += t

    # Slot -1 reads row n of the padded tensors: a zero vertex, with zero edges.
    x_pad = torch.cat([x, x.new_zeros(1, x.size(1))])
    if data.edge_attr is not None:
        attr = _as_rows(data.edge_attr)
        dense = to_dense_adj(edge_index, edge_attr=attr, max_num_nodes=n)[0]
    else:
        dense = to_dense_adj(edge_index, max_num_nodes=n)[0].unsqueeze(-1)
    dense = torch.nn.functional.pad(dense, (0, 0, 0, 1, 0, 1)).to(x.dtype)
    return ReceptiveFields(
        nodes=nodes,
        x=x_pad[nodes],
        edge_attr=dense[nodes.unsqueeze(-1), nodes.unsqueeze(-2)],
        tie_breaks=ties,
    )


class PatchySAN(BaseTransform):
    r"""Adds PATCHY-SAN receptive fields to a graph (Niepert et al., ICML 2016, Section 4).

    ``PatchySAN(w, k, s, labeling, canonical, edge_attr)`` adds ``patchy_x`` [1, w, k, F],
    ``patchy_nodes`` [1, w, k] and, when ``edge_attr`` is true, ``patchy_edge_attr``
    [1, w, k, k, E]; a ``DataLoader`` concatenates them to [B, ...]. The construction is
    Python-level and runs once per graph: use it as a ``pre_transform`` so that a dataset caches
    it. See the module docstring for the algorithm and what the default labeling guarantees.

    Args:
        w: receptive fields per graph (the paper: the average number of vertices).
        k: vertices per receptive field (the paper: 5 or 10).
        s: stride of the node sequence selection.
        labeling: ``"betweenness"`` or ``"degree"``.
        canonical: ``"wl"`` (default, no dependency) or ``"nauty"`` (needs pynauty).
        edge_attr: also build the [w, k, k, E] edge receptive fields.
        local: rank each neighbourhood by the labeling of the neighbourhood graph (Algorithm 4;
            default) rather than by that of the whole graph.
    """

    def __init__(
        self,
        w: int,
        k: int = 10,
        s: int = 1,
        labeling: str = "betweenness",
        canonical: str = "wl",
        edge_attr: bool = True,
        local: bool = True,
    ) -> None:
        if labeling not in LABELINGS:
            raise ValueError(f"labeling must be one of {LABELINGS}, got {labeling!r}")
        if canonical not in CANONICAL:
            raise ValueError(f"canonical must be one of {CANONICAL}, got {canonical!r}")
        if w < 1 or k < 1 or s < 1:
            raise ValueError(f"w, k and s must be at least 1, got w={w}, k={k}, s={s}")
        self.w, self.k, self.s = w, k, s
        self.labeling, self.canonical, self.edge_attr = labeling, canonical, edge_attr
        self.local = local

    def forward(self, data: Data) -> Data:
        fields = receptive_fields(
            data, self.w, self.k, self.s, self.labeling, self.canonical, self.local
        )
        data.patchy_x = fields.x.unsqueeze(0)
        data.patchy_nodes = fields.nodes.unsqueeze(0)
        if self.edge_attr:
            data.patchy_edge_attr = fields.edge_attr.unsqueeze(0)
        return data

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(w={self.w}, k={self.k}, s={self.s}, "
            f"labeling={self.labeling!r}, canonical={self.canonical!r}, "
            f"edge_attr={self.edge_attr}, local={self.local})"
        )
