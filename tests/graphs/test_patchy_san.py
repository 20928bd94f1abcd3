"""PatchySAN receptive fields: a hand-worked example, canonicity under relabeling, edge cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from stgcn.graphs import PatchySAN, receptive_fields
from stgcn.graphs.patchy_san import assemble_neighbourhood, canonical_order, node_labeling

try:
    import pynauty  # noqa: F401

    HAVE_NAUTY = True
except ImportError:
    HAVE_NAUTY = False
needs_nauty = pytest.mark.skipif(not HAVE_NAUTY, reason="pynauty is not installed (stgcn[nauty])")
MODES = ["wl", pytest.param("nauty", marks=needs_nauty)]


def undirected(edges: list[tuple[int, int]]) -> torch.Tensor:
    e = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    return torch.cat([e, e.flip(0)], dim=1)


# The hand-worked example (a tree on 7 vertices):
#
#     0 - 1 - 2 - 3          degree:       1:3  4:3  2:2  0,3,5,6:1
#         |                  betweenness:  1:11/15  4:9/15  2:5/15  leaves 0
#         4 - 5
#         |
#         6
#
# Algorithm 1. Both labelings put 1, 4, 2 first. The four leaves tie; one round of 1-WL splits
# them by the rank of their neighbour: 0 (next to 1), then 5 and 6 (next to 4), then 3 (next
# to 2). 5 and 6 are twins: the tie rule takes 5, the lower index. Order 1 4 2 0 5 6 3.
# Algorithm 2 with k = 4: from 1 the first ring {0, 2, 4} already makes 4 vertices; from 4 the
# ring {1, 5, 6}; from 2 the ring {1, 3} is short, so the next ring {0, 4} is added (5 > k);
# from 0, rings {1} and {2, 4}.
# Algorithm 4, local=False: rank by (distance, -label in the whole tree).
#   root 1: 1 | 4 (label 3) 2 (2) 0 (1)                      -> 1 4 2 0
#   root 4: 4 | 1 (3) 5 (1) 6 (1); 5, 6 twins, tie rule -> 5 -> 4 1 5 6
#   root 2: 2 | 1 (3) 3 (1) | 4 (3) 0 (1); keep the top 4    -> 2 1 3 4
#   root 0: 0 | 1 | 4 (3) 2 (2)                              -> 0 1 4 2
# Algorithm 4, local=True (the default): the label is computed on the neighbourhood graph.
#   root 1: G[U] is the star 1-{0, 2, 4}; the leaves tie (twins), the tie rule takes them in
#           the order Algorithm 2 found them: 0, 2 (2 ties)      -> 1 0 2 4
#   root 4: the star 4-{1, 5, 6}; 1, 5, 6 are twins (2 ties)    -> 4 1 5 6
#   root 2: U = {2, 1, 3, 0, 4}, G[U] = 3-2-1-{0, 4}: betweenness 1: 5/6, 2: 3/6, leaves 0
#           (degree 3, 2, 1); 2 | 1 3 | 0 4 tie, twins, 0 first (1 tie); keep 2 1 3 0 and
#           rank G[N], the path 3-2-1-0, again: 2 | 1 (2/3; degree 2) 3 (0; 1) | 0 -> 2 1 3 0
#   root 0: U = {0, 1, 2, 4}, the star 1-{0, 2, 4}: 0 | 1 | 2 4 tie, twins (1 tie) -> 0 1 2 4
TREE = [(0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (4, 6)]
TREE_FIELDS = [[1, 4, 2, 0], [4, 1, 5, 6], [2, 1, 3, 4], [0, 1, 4, 2]]
TREE_FIELDS_LOCAL = [[1, 0, 2, 4], [4, 1, 5, 6], [2, 1, 3, 0], [0, 1, 2, 4]]


@pytest.mark.parametrize("labeling", ["degree", "betweenness"])
def test_hand_worked_example(labeling: str) -> None:
    data = Data(edge_index=undirected(TREE), num_nodes=7)
    fields = receptive_fields(data, w=4, k=4, labeling=labeling, local=False)
    assert fields.nodes.tolist() == TREE_FIELDS
    assert fields.tie_breaks == 2  # 5 vs 6 in the node sequence and in root 4's field
    local = receptive_fields(data, w=4, k=4, labeling=labeling)
    assert local.nodes.tolist() == TREE_FIELDS_LOCAL
    assert local.tie_breaks == 1 + 2 + 2 + 1 + 1  # node sequence, then roots 1, 4, 2, 0
    # Root 1's field in the order 1 4 2 0: 1 is adjacent to the three others, nothing else.
    expected = torch.zeros(4, 4)
    expected[0, 1:] = expected[1:, 0] = 1
    torch.testing.assert_close(fields.edge_attr[0, ..., 0], expected, rtol=0, atol=0)
    # Root 2's field 2 1 3 4: edges 2-1, 2-3, 1-4.
    a = fields.edge_attr[2, ..., 0]
    assert {(i, j) for i, j in a.nonzero().tolist() if i < j} == {(0, 1), (0, 2), (1, 3)}
    # Its local field 2 1 3 0: edges 2-1, 2-3, 1-0, the same pattern.
    a = local.edge_attr[2, ..., 0]
    assert {(i, j) for i, j in a.nonzero().tolist() if i < j} == {(0, 1), (0, 2), (1, 3)}
    assert fields.x.shape == (4, 4, 1) and bool((fields.x == 1).all())  # no x: ones


def test_labelings_by_hand() -> None:
    edge_index = undirected(TREE)
    assert node_labeling(edge_index, 7, "degree") == [1, 3, 2, 1, 3, 1, 1]
    expected = [0, 11 / 15, 5 / 15, 0, 9 / 15, 0, 0]
    assert node_labeling(edge_index, 7, "betweenness") == pytest.approx(expected, abs=1e-9)
    with pytest.raises(ValueError, match="labeling must be one of"):
        node_labeling(edge_index, 7, "pagerank")


def test_neighbourhood_assembly_stops_at_component() -> None:
    nbrs = [[1], [0, 2], [1], [4], [3]]  # path 0-1-2 and edge 3-4
    vertices, dist = assemble_neighbourhood(nbrs, 0, 10)
    assert vertices == [0, 1, 2] and dist == [0, 1, 2]
    vertices, dist = assemble_neighbourhood(nbrs, 1, 2)  # whole ring added: 3 >= k
    assert sorted(vertices) == [0, 1, 2] and dist == [0, 1, 1]


def test_node_attributes_follow_the_order() -> None:
    x = torch.eye(7)  # one-hot vertex ids: the field must carry exactly the chosen rows
    data = Data(x=x, edge_index=undirected(TREE), num_nodes=7)
    fields = receptive_fields(data, w=4, k=4, labeling="degree")
    for i, slots in enumerate(fields.nodes.tolist()):
        torch.testing.assert_close(fields.x[i], x[slots], rtol=0, atol=0)


def permuted(data: Data, gen: torch.Generator) -> Data:
    n = data.num_nodes
    perm = torch.randperm(n, generator=gen)  # new vertex i is old vertex perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    order = torch.randperm(data.edge_index.size(1), generator=gen)
    return Data(
        x=data.x[perm],
        edge_index=inv[data.edge_index][:, order],
        edge_attr=data.edge_attr[order],
        num_nodes=n,
    )


def random_graph(n: int, p: float, gen: torch.Generator, tree: bool = False) -> Data:
    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    g = nx.random_labeled_tree(n, seed=seed) if tree else nx.gnp_random_graph(n, p, seed=seed)
    edges = list(g.edges())
    edge_index = undirected(edges) if edges else torch.empty(2, 0, dtype=torch.long)
    labels = torch.randint(0, 2, (len(edges),), generator=gen)
    edge_attr = torch.nn.functional.one_hot(labels.repeat(2), 2).float()
    x = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=gen), 3).float()
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=n)


def same_fields(a, b) -> bool:
    return torch.equal(a.x, b.x) and torch.equal(a.edge_attr, b.edge_attr)


@needs_nauty
@pytest.mark.parametrize("labeling", ["betweenness", "degree"])
def test_nauty_is_canonical_on_random_graphs(labeling: str) -> None:
    gen = torch.Generator().manual_seed(0)
    for trial in range(30):
        data = random_graph(int(torch.randint(2, 16, (1,), generator=gen)), 0.3, gen)
        base = receptive_fields(data, w=8, k=5, labeling=labeling, canonical="nauty")
        for _ in range(3):
            other = receptive_fields(
                permuted(data, gen), 8, 5, labeling=labeling, canonical="nauty"
            )
            assert same_fields(base, other), trial


def test_default_is_canonical_on_trees() -> None:
    """On trees 1-WL classes are orbits, so every decision of the tie rule is canonical."""
    gen = torch.Generator().manual_seed(1)
    ties = 0
    for trial in range(30):
        data = random_graph(int(torch.randint(1, 20, (1,), generator=gen)), 0.0, gen, tree=True)
        base = receptive_fields(data, w=10, k=6, labeling="degree")
        ties += base.tie_breaks
        for _ in range(3):
            assert same_fields(
                base, receptive_fields(permuted(data, gen), 10, 6, labeling="degree")
            ), trial
    assert ties > 0  # the tie rule was exercised


def test_default_without_tie_breaks_is_canonical() -> None:
    """Where 1-WL alone orders every field, a relabeled copy gives the same fields."""
    gen = torch.Generator().manual_seed(2)
    checked = 0
    for _ in range(60):
        data = random_graph(int(torch.randint(2, 14, (1,), generator=gen)), 0.3, gen)
        base = receptive_fields(data, w=8, k=5)
        if base.tie_breaks:
            continue
        checked += 1
        assert same_fields(base, receptive_fields(permuted(data, gen), 8, 5))
    assert checked >= 10


def test_default_is_not_canonical_on_regular_non_transitive_graphs() -> None:
    """A triangle plus a square, all vertices of degree 2: 1-WL cannot tell them apart, so the
    tie rule decides which cycle comes first, and that depends on the numbering. NAUTY does not."""
    edges = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 6), (6, 3)]
    data = Data(
        x=torch.ones(7, 1), edge_index=undirected(edges), edge_attr=torch.ones(14, 1), num_nodes=7
    )
    gen = torch.Generator().manual_seed(0)
    base = receptive_fields(data, w=7, k=4, labeling="degree")
    copies = [permuted(data, gen) for _ in range(20)]
    assert any(not same_fields(base, receptive_fields(c, 7, 4, labeling="degree")) for c in copies)
    if HAVE_NAUTY:
        base = receptive_fields(data, w=7, k=4, labeling="degree", canonical="nauty")
        for c in copies:
            assert same_fields(
                base, receptive_fields(c, 7, 4, labeling="degree", canonical="nauty")
            )


@pytest.mark.parametrize("canonical", MODES)
def test_graph_smaller_than_w_pads_zero_fields(canonical: str) -> None:
    data = Data(x=torch.eye(7), edge_index=undirected(TREE), num_nodes=7)
    fields = receptive_fields(data, w=10, k=4, canonical=canonical)
    assert fields.nodes.shape == (10, 4)
    assert bool((fields.nodes[7:] == -1).all()) and bool((fields.nodes[:7] >= 0).all())
    assert not fields.x[7:].any() and not fields.edge_attr[7:].any()
    assert sorted(fields.nodes[:7, 0].tolist()) == list(range(7))  # every vertex is a root


@pytest.mark.parametrize("canonical", MODES)
def test_disconnected_graph(canonical: str) -> None:
    # Triangle 0-1-2 and edge 3-4: a field never leaves its component, dummies fill it.
    data = Data(edge_index=undirected([(0, 1), (1, 2), (2, 0), (3, 4)]), num_nodes=5)
    fields = receptive_fields(data, w=5, k=4, labeling="degree", canonical=canonical)
    for slots in fields.nodes.tolist():
        real = [v for v in slots if v >= 0]
        assert set(real) in ({0, 1, 2}, {3, 4})
        assert slots[len(real) :] == [-1] * (4 - len(real))  # dummies last
    assert fields.edge_attr[fields.nodes[:, 0] == 3].sum() == 2  # 3-4 both ways, nothing else


@pytest.mark.parametrize("canonical", MODES)
def test_single_node(canonical: str) -> None:
    data = Data(x=torch.tensor([[2.0, 3.0]]), edge_index=torch.empty(2, 0, dtype=torch.long))
    fields = receptive_fields(data, w=3, k=4, canonical=canonical)
    assert fields.nodes.tolist() == [[0, -1, -1, -1]] + [[-1] * 4] * 2
    assert fields.x[0, 0].tolist() == [2.0, 3.0] and fields.x.abs().sum() == 5.0
    assert fields.edge_attr.shape == (3, 4, 4, 1) and not fields.edge_attr.any()


@pytest.mark.parametrize("canonical", MODES)
def test_graph_without_edges(canonical: str) -> None:
    x = torch.tensor([[1.0], [2.0], [3.0]])
    data = Data(x=x, edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=3)
    fields = receptive_fields(data, w=3, k=2, canonical=canonical)
    # Every vertex is its own neighbourhood; all labels tie, so the attribute rows decide.
    assert fields.nodes.tolist() == [[0, -1], [1, -1], [2, -1]]
    assert fields.x[:, 0, 0].tolist() == [1.0, 2.0, 3.0]


def test_empty_graph() -> None:
    data = Data(x=torch.zeros(0, 2), edge_index=torch.empty(2, 0, dtype=torch.long))
    fields = receptive_fields(data, w=2, k=3)
    assert fields.x.shape == (2, 3, 2) and not fields.x.any()


def test_edge_attributes_in_normalised_order() -> None:
    edges = [(0, 1), (1, 2)]
    attr = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # 0-1 single bond, 1-2 double
    data = Data(edge_index=undirected(edges), edge_attr=torch.cat([attr, attr]), num_nodes=3)
    fields = receptive_fields(data, w=1, k=3)
    assert fields.nodes[0].tolist()[0] == 1  # the centre has the highest betweenness
    order = fields.nodes[0].tolist()
    for a in range(3):
        for b in range(3):
            pair = {order[a], order[b]}
            want = attr[0] if pair == {0, 1} else attr[1] if pair == {1, 2} else torch.zeros(2)
            assert fields.edge_attr[0, a, b].tolist() == want.tolist()


def test_canonical_order_refines_prior() -> None:
    # Path 0-1-2-3 with prior colours: vertex 3 alone in the first class.
    src, dst = [0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]
    order, ties = canonical_order([1, 1, 1, 0], src, dst, [0] * 6)
    # Round 1 signatures (own colour, sorted neighbour colours): 2 sees the first class, so it
    # comes first; 0 sees one vertex of the second class, 1 sees two: (1,) < (1, 1).
    assert order == [3, 2, 0, 1] and ties == 0


def test_transform_batches_and_validates() -> None:
    transform = PatchySAN(w=5, k=3)
    assert repr(transform) == (
        "PatchySAN(w=5, k=3, s=1, labeling='betweenness', canonical='wl', edge_attr=True, "
        "local=True)"
    )
    gen = torch.Generator().manual_seed(3)
    graphs = [transform(random_graph(n, 0.4, gen)) for n in (3, 6, 9)]
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    assert batch.patchy_x.shape == (3, 5, 3, 3)
    assert batch.patchy_edge_attr.shape == (3, 5, 3, 3, 2)
    assert batch.patchy_nodes.shape == (3, 5, 3)
    nodes_only = PatchySAN(5, 3, edge_attr=False)(random_graph(4, 0.5, gen))
    assert "patchy_x" in nodes_only and "patchy_edge_attr" not in nodes_only
    with pytest.raises(ValueError, match="canonical must be one of"):
        PatchySAN(5, canonical="bliss")
    with pytest.raises(ValueError, match="w, k and s must be at least 1"):
        PatchySAN(0)
    bad = Data(edge_index=torch.tensor([[0], [5]]), num_nodes=2)
    with pytest.raises(ValueError, match="outside 0..1"):
        transform(bad)


def test_stride_takes_every_s_th_vertex() -> None:
    data = Data(edge_index=undirected(TREE), num_nodes=7)
    fields = receptive_fields(data, w=4, k=1, s=2, labeling="degree")
    # Order 1 4 2 0 5 6 3: every second vertex is 1 2 5 3.
    assert fields.nodes[:, 0].tolist() == [1, 2, 5, 3]


def test_mutag_relabelings(shared_dir: Path, tmp_path: Path) -> None:
    """The first 30 MUTAG molecules: relabeled copies give the same fields (what the benchmark
    counts over the whole set)."""
    from torch_geometric.datasets import TUDataset

    raw = tmp_path / "MUTAG" / "raw"
    shutil.copytree(shared_dir / "data" / "TUDataset" / "MUTAG" / "raw", raw)
    dataset = TUDataset(str(tmp_path), "MUTAG")
    gen = torch.Generator().manual_seed(0)
    for data in dataset[:30]:
        base = receptive_fields(data, 18, 10)
        assert same_fields(base, receptive_fields(permuted(data, gen), 18, 10))
