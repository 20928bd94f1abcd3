"""The takes_graph rule: one declaration decides what a model is called with; none is an error."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from engine_toys import ToyNet, ToyVideos, toy_collate
from torch import nn

from stgcn.engine import evaluate, modality, model_inputs, takes_graph
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


class _TwoClips(NamedTuple):
    clip: torch.Tensor
    flow: torch.Tensor | None
    graph: object = None


def test_models_get_the_clip_of_their_modality() -> None:
    """rgb models read batch.clip, flow models batch.flow ([B, 2L, T, H, W]), a two-stream
    model both."""
    batch = _TwoClips(torch.randn(2, 3, 2, 32, 32), torch.randn(2, 10, 2, 32, 32))
    cpu = torch.device("cpu")
    tsn = build_model("tsn", 5, depth=18)
    flow = build_model("tsn_flow", 5, depth=18)
    i3d_flow = build_model("i3d_flow", 5, depth=18, width=4, new_length=5)
    two = build_model("two_stream", 5, depth=18)
    assert [modality(m) for m in (tsn, flow, i3d_flow, two)] == [
        "rgb",
        "flow",
        "flow",
        ("rgb", "flow"),
    ]
    assert model_inputs(tsn, batch, cpu)[0] is batch.clip
    for m in (flow, i3d_flow):
        clip, graph = model_inputs(m, batch, cpu)
        assert clip is batch.flow and graph is None
    rgb, fl = model_inputs(two, batch, cpu)
    assert rgb is batch.clip and fl is batch.flow
    assert two.eval()(*model_inputs(two, batch, cpu)).shape == (2, 5)
    assert modality(ToyNet()) == "rgb"  # undeclared: RGB, as every model before flow
    for m in (flow, two):
        with pytest.raises(ValueError, match="reads optical flow but the batch has none"):
            model_inputs(m, batch._replace(flow=None), cpu)
    for m in (tsn, two):  # a flow-only batch (the reader's modality="flow") has no RGB
        with pytest.raises(ValueError, match="reads RGB but the batch has no clip"):
            model_inputs(m, batch._replace(clip=None), cpu)
    assert model_inputs(flow, batch._replace(clip=None), cpu)[0] is batch.flow
    bad = _GraphFree()
    bad.modality = "depth"
    with pytest.raises(TypeError, match="modality is 'depth'"):
        model_inputs(bad, batch, cpu)
