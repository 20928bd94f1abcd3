"""stgcn.explain: GNNExplainer finds the node and the edge a model is built to depend on; the STRG
wrapper's shapes, its clean-up and its errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn.conv import MessagePassing

from stgcn.explain import EdgeMask, draw_explanation, explain_graph, explain_prediction
from stgcn.graphs import VideoGraph
from stgcn.models import build_model

TINY = {"depth": "r18", "width": 8, "region_channels": 16, "gcn_layers": 2}
T, SIZE = 8, 32


class KeyNodeModel(nn.Module):
    """Two logits, ``[sum(h), threshold]`` with h = x_key + sum_e m_e c_e x_src(e), c = 1 on
    ``key_edge`` (whose source is ``key``) and 0 elsewhere: by construction only node ``key`` and
    edge ``key_edge`` reach the output, and class 0 wins only while node ``key`` is there."""

    def __init__(self, key: int, key_edge: int, num_edges: int) -> None:
        super().__init__()
        self.key = key
        self.threshold = 0.0
        self.mask = EdgeMask()
        self.c = torch.zeros(num_edges)
        self.c[key_edge] = 1.0

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        m = self.mask(edge_index.size(1))
        m = torch.ones(edge_index.size(1)) if m is None else m
        messages = ((m * self.c)[:, None] * x[edge_index[0]]).sum(0)
        h = x[self.key] + messages
        return torch.stack([h.sum(), h.new_tensor(self.threshold)])[None]


@pytest.mark.parametrize("key", [0, 4])
def test_the_node_and_edge_that_decide_the_output_rank_first(key: int):
    torch.manual_seed(0)
    n, d = 6, 8
    x = torch.randn(n, d).abs() + 0.5
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 1], [1, 2, 3, 4, 5, 0, 3]])
    model = KeyNodeModel(key, key_edge=key, num_edges=7)  # edge `key` leaves node `key`
    with torch.no_grad():
        model.threshold = 0.9 * float(model(x, edge_index)[0, 0])
        assert int(model(x, edge_index).argmax()) == 0
        assert int(model(x * (torch.arange(n) != key)[:, None], edge_index).argmax()) == 1
    node, edge = explain_graph(model, x, edge_index, target=0)
    assert node.shape == (n,) and edge.shape == (7,)
    assert torch.argsort(node, descending=True)[0] == key and node[key] > node.sum() - node[key]
    assert torch.argsort(edge, descending=True)[0] == key
    assert bool(((node >= 0) & (node <= 1)).all())
    with pytest.raises(ValueError, match="no nodes"):
        explain_graph(model, x[:0], edge_index, 0)


def _graph() -> VideoGraph:
    boxes = torch.tensor([[0.0, 0, 16, 16], [10.0, 12, 30, 28]])
    return VideoGraph(
        box=boxes.repeat(T, 1),
        frame=torch.arange(T).repeat_interleave(2),
        track=torch.tensor([-1, 0]).repeat(T),
        num_frames=T,
    )


def test_explain_prediction_of_a_tiny_strg():
    torch.manual_seed(0)
    model = build_model("i3d_gcn", num_classes=4, frames=T, **TINY)
    clip = torch.randn(3, T, SIZE, SIZE)
    e = explain_prediction(model, clip, _graph(), top_k=3, epochs=20)
    n = T // model.backbone.temporal_stride * 2  # the boxes on the feature frames
    assert e.node_importance.shape == (n,) and e.edge_index.shape == (2, n * n)
    assert e.edge_importance.shape == e.attention.shape == (n * n,)
    assert e.top_nodes.tolist() == torch.argsort(e.node_importance, descending=True)[:3].tolist()
    assert len(e.top_edges) == 3 and bool(
        (e.edge_index[0, e.top_edges] != e.edge_index[1, e.top_edges]).all()
    )
    # interactions rank by what they carry: mask x the model's weight G
    contribution = e.edge_importance * e.attention
    others = torch.ones(n * n, dtype=torch.bool)
    others[e.top_edges] = False
    others &= e.edge_index[0] != e.edge_index[1]
    assert contribution[e.top_edges].min() >= contribution[others].max()
    assert e.nodes.track.tolist() == [-1, 0] * (n // 2)
    assert e.clip_frames.tolist() == list(range(0, T, model.backbone.temporal_stride))
    with torch.no_grad():
        probs = model(clip[None], Batch.from_data_list([_graph()])).softmax(-1)[0]
    assert e.target == int(probs.argmax())
    torch.testing.assert_close(torch.tensor(e.probability), probs.max())
    # the same target and seed give the same explanation
    again = explain_prediction(model, clip, _graph(), target=e.target, top_k=3, epochs=20)
    torch.testing.assert_close(again.node_importance, e.node_importance, rtol=0, atol=0)
    # the model's layers take no explainer mask once done
    assert all(m.explain is None for m in model.modules() if isinstance(m, MessagePassing))
    frames = torch.randint(0, 255, (T, SIZE, SIZE, 3), dtype=torch.uint8)
    fig = draw_explanation(frames, e, top_k=3, classes=["a", "b", "c", "d"])
    assert len(fig.findobj(lambda a: a.get_gid() == "similarity")) == 3
    assert len(fig.findobj(lambda a: a.get_gid() == "importance")) == 3
    assert "abcd"[e.target] in fig._suptitle.get_text()


def test_explain_prediction_errors():
    model = build_model("i3d_gcn", num_classes=4, frames=T, **TINY)
    clip = torch.randn(3, T, SIZE, SIZE)
    with pytest.raises(ValueError, match="one video"):
        explain_prediction(model, torch.randn(2, 3, T, SIZE, SIZE), _graph())
    empty = VideoGraph(box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long), num_frames=T)
    with pytest.raises(ValueError, match="no region nodes"):
        explain_prediction(model, clip, empty)
    with pytest.raises(ValueError, match="target must be"):
        explain_prediction(model, clip, _graph(), target=9, epochs=1)
    roi = build_model("i3d_roi", num_classes=4, frames=T, **TINY)
    with pytest.raises(ValueError, match="shared similarity graph"):
        explain_prediction(roi, clip, _graph())
