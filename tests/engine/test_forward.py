"""The takes_graph rule: one declaration decides what a model is called with; none is an error."""

from __future__ import annotations

import pytest
import torch
from engine_toys import ToyNet, ToyVideos, toy_collate
from torch import nn

from stgcn.engine import evaluate, model_inputs, takes_graph
from stgcn.models import build_model


class _Undeclared(nn.Module):
    def forward(self, clip, graph=None):
        return clip.mean(dim=(2, 3, 4))


class _GraphFree(ToyNet):
    takes_graph = False


def _batch():
    data = ToyVideos(4, augment=False)
    return toy_collate([data[i] for i in range(4)])


def test_graph_models_get_the_graph_and_others_none() -> None:
    batch = _batch()
    clip, graph = model_inputs(ToyNet(), batch, torch.device("cpu"))
    assert torch.equal(clip, batch.clip) and torch.equal(graph.box, batch.graph.box)
    assert model_inputs(_GraphFree(), batch, torch.device("cpu"))[1] is None


def test_the_library_models_declare_it() -> None:
    for name, graph in (("i3d", False), ("c2d", False), ("i3d_gcn", True), ("i3d_roi", True)):
        model = build_model(name, 5, depth=18, width=4, region_channels=8, gcn_layers=1)
        assert takes_graph(model) is graph, name


def test_an_undeclared_model_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"_Undeclared .*takes_graph = True"):
        evaluate(_Undeclared(), ToyVideos(4, augment=False), collate_fn=toy_collate)


def test_a_graph_model_without_a_graph_in_the_batch_is_an_error() -> None:
    batch = _batch()._replace(graph=None)
    with pytest.raises(ValueError, match="takes a region graph but the batch has none"):
        model_inputs(ToyNet(), batch, torch.device("cpu"))
