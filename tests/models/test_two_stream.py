"""Late fusion written out by hand; the two-stream module; the build_model names."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from stgcn.models import (
    MODELS,
    TSN_FUSION_WEIGHTS,
    TwoStream,
    build_model,
    count_gmacs,
    count_parameters,
    fuse_scores,
)
from stgcn.models import build as build_module


def test_fuse_scores_is_the_weighted_mean_of_softmaxes() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(4, 7), torch.randn(4, 7)
    pa, pb = a.exp() / a.exp().sum(1, keepdim=True), b.exp() / b.exp().sum(1, keepdim=True)
    expect = (1.0 * pa + 1.5 * pb) / 2.5
    torch.testing.assert_close(fuse_scores([a, b], TSN_FUSION_WEIGHTS), expect)
    torch.testing.assert_close(fuse_scores([pa, pb], (1, 1.5), from_logits=False), expect)
    torch.testing.assert_close(fuse_scores([a, b]), (pa + pb) / 2)
    torch.testing.assert_close(fuse_scores([a, b], (0, 2)), pb)  # a zero weight drops a stream
    torch.testing.assert_close(fuse_scores([a, b], (2, 3)).sum(1), torch.ones(4))
    with pytest.raises(ValueError, match="2 streams but 3 weights"):
        fuse_scores([a, b], (1, 1, 1))
    with pytest.raises(ValueError, match=">= 0 and not all 0"):
        fuse_scores([a, b], (1, -1))
    with pytest.raises(ValueError, match="same"):
        fuse_scores([a, b[:, :3]])


class _Fixed(nn.Module):
    """A stream returning fixed logits, to check the fusion module alone."""

    takes_graph = False

    def __init__(self, logits: torch.Tensor, modality: str) -> None:
        super().__init__()
        self.logits, self.modality = logits, modality

    def forward(self, clip: torch.Tensor, graph=None) -> torch.Tensor:
        return self.logits[: clip.shape[0]]


def test_two_stream_returns_the_log_of_the_fused_probabilities() -> None:
    torch.manual_seed(0)
    a, b = 5 * torch.randn(3, 6), 5 * torch.randn(3, 6)
    model = TwoStream(_Fixed(a, "rgb"), _Fixed(b, "flow"), (1.0, 1.5))
    rgb, flow = torch.zeros(3, 3, 2, 4, 4), torch.zeros(3, 2, 2, 4, 4)
    out = model(rgb, flow)
    torch.testing.assert_close(out.exp(), fuse_scores([a, b], (1.0, 1.5)))
    torch.testing.assert_close(out.softmax(1), out.exp())  # already normalised
    torch.testing.assert_close(model({"rgb": rgb, "flow": flow}), out)
    assert model.stream_logits(rgb, flow)[1] is not None
    zero = TwoStream(_Fixed(a, "rgb"), _Fixed(b, "flow"), (0.0, 1.0))
    torch.testing.assert_close(zero(rgb, flow), b.log_softmax(1))
    with pytest.raises(ValueError, match="no flow clip"):
        model(rgb)
    with pytest.raises(ValueError, match=r"no \['flow'\]"):
        model({"rgb": rgb})
    with pytest.raises(ValueError, match="the flow stream reads 'rgb'"):
        TwoStream(_Fixed(a, "rgb"), _Fixed(b, "rgb"))


def test_the_stream_models_are_built_by_name() -> None:
    assert {"tsn", "tsn_flow", "i3d_flow", "two_stream"} <= set(MODELS)
    torch.manual_seed(0)
    # the reader's layout: K = 2 sampled frames, L = 5 flow fields each (2L = 10 channels)
    rgb, flow = torch.randn(2, 3, 2, 32, 32), torch.randn(2, 10, 2, 32, 32)
    flow1 = flow[:, :2]  # L = 1: the flow I3D's [B, 2, T, H, W]
    cases = {
        "tsn": (dict(depth=18), (rgb,), "rgb"),
        "tsn_flow": (dict(depth=18, new_length=5, frames=2), (flow,), "flow"),
        "i3d_flow": (dict(depth=18, width=4, frames=2), (flow1,), "flow"),
        "two_stream": (dict(depth=18, new_length=5), (rgb, flow), ("rgb", "flow")),
        "two_stream_i3d": (dict(depth=18, width=4, streams="i3d"), (rgb, flow1), ("rgb", "flow")),
    }
    for name, (cfg, inputs, modality) in cases.items():
        model = build_model(name.removesuffix("_i3d"), 5, **cfg).train()
        assert model.takes_graph is False, name
        assert getattr(model, "modality", None) == modality, name
        out = model(*inputs)
        assert out.shape == (2, 5), name
        out.sum().backward()
        assert all(
            p.grad is not None for n, p in model.named_parameters() if n.endswith("fc.weight")
        ), name
        assert count_gmacs(model, *(x[:1] for x in inputs)) > 0, name
        assert count_parameters(model) > 0, name
    assert build_model("i3d_flow", 5, depth=18, width=4).stem.conv1.in_channels == 2
    assert build_model("i3d_flow", 5, depth=18, width=4, new_length=3).stem.conv1.in_channels == 6
    two = build_model("two_stream", 5, depth=18, fusion_weights=(1, 2))
    assert two.weights == (1.0, 2.0) and (two.rgb.new_length, two.flow.new_length) == (1, 5)
    assert two.rgb.in_channels == 3 and two.flow.in_channels == 10
    assert two.rgb.dropout.p == 0.8 and two.flow.dropout.p == 0.7
    with pytest.raises(ValueError, match="one frame per segment"):
        build_model("tsn", 5, depth=18, new_length=5)
    with pytest.raises(ValueError, match="own width"):
        build_model("tsn", 5, depth=18, width=4)
    with pytest.raises(ValueError, match="streams must be"):
        build_model("two_stream", 5, depth=18, streams="c3d")


def test_2d_weights_inflate_into_flow_i3d_and_both_i3d_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``weights`` (a torchvision enum name) is inflated into every 3D backbone; the flow one's
    stem by the cross-modality rule."""
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    seen = []

    def fake_resnet18(weights=None):
        seen.append(weights)
        net = torchvision.models.resnet18()
        net.load_state_dict(sd)
        return net

    monkeypatch.setitem(build_module._RESNETS_2D, "r18", fake_resnet18)
    flow = build_model("i3d_flow", 5, depth=18, weights="IMAGENET1K_V1")
    assert seen == ["IMAGENET1K_V1"]
    assert flow.inflation_report.cross_modality == ["stem.conv1.weight"]
    torch.testing.assert_close(
        flow.stem.conv1.weight.sum(2)[:, 1], sd["conv1.weight"].mean(1), rtol=1e-5, atol=1e-6
    )
    two = build_model("two_stream", 5, depth=18, streams="i3d", inflate_from=sd)
    assert two.rgb.inflation_report.cross_modality == []
    assert two.flow.inflation_report.cross_modality == ["stem.conv1.weight"]
    torch.testing.assert_close(two.rgb.layer1[0].conv1.weight.sum(2), sd["layer1.0.conv1.weight"])
    with pytest.raises(ValueError, match="not both"):
        build_model("i3d_flow", 5, depth=18, weights="DEFAULT", inflate_from=sd)
    with pytest.raises(ValueError, match="weights=, not inflate_from"):
        build_model("tsn", 5, depth=18, inflate_from=sd)


def test_two_stream_i3d_averages_an_rgb_and_a_flow_i3d() -> None:
    """The I3D paper's two-stream I3D (Sec. 2.5): ``i3d`` and ``i3d_flow``, their softmax scores
    averaged with equal weights; the fusion is :func:`fuse_scores`, not a copy."""
    torch.manual_seed(0)
    model = build_model("two_stream_i3d", 5, depth=18, width=4).eval()
    assert isinstance(model, TwoStream) and model.weights == (1.0, 1.0)
    assert model.modality == ("rgb", "flow")
    assert model.rgb.stem.conv1.in_channels == 3 and model.flow.stem.conv1.in_channels == 2
    rgb, flow = torch.randn(2, 3, 4, 32, 32), torch.randn(2, 2, 4, 32, 32)
    expect = fuse_scores([model.rgb(rgb), model.flow(flow)])
    torch.testing.assert_close(model(rgb, flow).exp(), expect)
    torch.testing.assert_close(
        expect, (model.rgb(rgb).softmax(1) + model.flow(flow).softmax(1)) / 2
    )
    out = model.train()(rgb, flow)
    out.logsumexp(1).sum().backward()
    assert model.rgb.fc.weight.grad is not None and model.flow.fc.weight.grad is not None
    assert count_gmacs(model, rgb[:1], flow[:1]) > 0
    weighted = build_model("two_stream_i3d", 5, depth=18, width=4, fusion_weights=(1, 1.5))
    assert weighted.weights == (1.0, 1.5)
    assert build_model("two_stream", 5, depth=18, width=4, streams="i3d").weights == (1.0, 1.5)
