"""TSN: segment layout, consensus against the per-segment loop, cross-modality init, partial BN."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from stgcn.models import TSN, count_gmacs, tsn_r18
from stgcn.models import tsn as tsn_module

H = W = 32


def _tsn(modality: str = "rgb", new_length: int = 1, **kwargs) -> TSN:
    torch.manual_seed(0)
    return tsn_r18(5, modality=modality, new_length=new_length, **kwargs)


def test_rgb_shapes_and_gradients() -> None:
    model = _tsn().train()
    clip = torch.randn(2, 3, 3, H, W)
    out = model(clip)
    assert out.shape == (2, 5)
    out.square().sum().backward()
    assert model.backbone.conv1.weight.grad is not None and model.fc.weight.grad is not None
    assert model.backbone.bn1.weight.grad is not None  # the one BN partial BN leaves training
    assert model.backbone.layer1[0].bn1.weight.grad is None


def test_consensus_is_the_mean_of_per_segment_logits() -> None:
    """forward = (1/K) sum_k fc(backbone(frame_k)), each frame run alone through the 2D net."""
    model = _tsn().eval()
    clip = torch.randn(2, 3, 4, H, W)
    per_segment = torch.stack(
        [model.fc(model.backbone(clip[:, :, k])) for k in range(clip.shape[2])], dim=1
    )
    torch.testing.assert_close(model.segment_logits(clip), per_segment)
    torch.testing.assert_close(model(clip), per_segment.mean(dim=1))


def test_flow_segments_are_the_readers_2L_channel_stacks() -> None:
    """Flow [B, 2L, K, H, W] (the SSv2 reader's Sample.flow: channels x_1, y_1, ..., x_L, y_L of
    each sampled frame): segment k is the 2L-channel image flow[:, :, k]; the forward is the 2D
    net on those images, averaged."""
    K, L = 3, 5
    model = _tsn("flow", L).eval()
    flow = torch.randn(2, 2 * L, K, H, W)
    snippets = model.snippets(flow)
    assert snippets.shape == (2 * K, 2 * L, H, W)
    for b in range(2):
        for k in range(K):
            assert torch.equal(snippets[b * K + k], flow[b, :, k])
    expect = torch.stack([model.fc(model.backbone(flow[:, :, k])) for k in range(K)], dim=1)
    torch.testing.assert_close(model(flow), expect.mean(1))


def test_rgb_tsn_reads_one_frame_per_segment() -> None:
    with pytest.raises(ValueError, match="1 for RGB"):
        _tsn("rgb", 4)


@pytest.mark.parametrize("length", [5, 10])
def test_cross_modality_init_is_the_rgb_mean_replicated(length: int) -> None:
    """conv1 of the flow stream = mean of the RGB conv1 over its 3 colour channels, in each of
    the 2L channels; nothing else changes."""
    torch.manual_seed(1)
    backbone = torchvision.models.resnet18()
    rgb = backbone.conv1.weight.detach().clone()  # [64, 3, 7, 7]
    layer1 = backbone.layer1[0].conv1.weight.detach().clone()
    model = TSN(backbone, 5, modality="flow", new_length=length)
    w = model.backbone.conv1.weight
    assert w.shape == (64, 2 * length, 7, 7)
    mean = (rgb[:, 0] + rgb[:, 1] + rgb[:, 2]) / 3
    atol = 4 * torch.finfo(rgb.dtype).eps * rgb.abs().max()  # summation order only
    for c in range(2 * length):
        torch.testing.assert_close(w[:, c], mean, rtol=0, atol=atol)
    assert torch.equal(model.backbone.layer1[0].conv1.weight, layer1)
    assert model.backbone.conv1.stride == (2, 2) and model.backbone.conv1.padding == (3, 3)


def test_partial_bn_freezes_every_norm_but_the_first() -> None:
    model = _tsn().train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms[0] is model.backbone.bn1 and len(norms) == 1 + 4 * 2 * 2 + 3
    assert norms[0].training and all(p.requires_grad for p in norms[0].parameters())
    assert not any(m.training for m in norms[1:])
    assert not any(p.requires_grad for m in norms[1:] for p in m.parameters())
    assert model.training and model.fc.training and model.dropout.training
    before = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 2, H, W))
    assert not torch.equal(norms[0].running_mean, before[0])
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms[1:], before[1:], strict=True))
    assert not model.eval().backbone.bn1.training

    full = _tsn(partial_bn=False).train()
    assert all(m.training for m in full.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(p.requires_grad for p in full.parameters())


def test_bad_clips_are_refused_with_the_layout() -> None:
    flow = _tsn("flow", 5)
    with pytest.raises(ValueError, match=r"\[B, 2L = 10, K, H, W\]"):
        flow(torch.randn(1, 2, 10, H, W))  # the old [B, 2, K * L, H, W] layout
    with pytest.raises(ValueError, match="K >= 1"):
        flow(torch.randn(1, 10, 0, H, W))
    with pytest.raises(ValueError, match=r"\[B, 3, K, H, W\]"):
        _tsn()(torch.randn(1, 10, 2, H, W))
    with pytest.raises(ValueError, match="modality"):
        _tsn("depth")


def test_weights_go_to_torchvision_and_gmacs_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The builder hands ``weights`` to torchvision's constructor (which would download them);
    the MAC count is K times the 2D network's."""
    seen = []

    def fake_resnet18(weights=None):
        seen.append(weights)
        return torchvision.models.resnet18()

    monkeypatch.setitem(tsn_module._BACKBONES, "r18", fake_resnet18)
    model = tsn_r18(5, weights="IMAGENET1K_V1")
    assert seen == ["IMAGENET1K_V1"]
    one = count_gmacs(model, torch.randn(1, 3, 1, H, W))
    assert one > 0
    assert count_gmacs(model, torch.randn(1, 3, 3, H, W)) == pytest.approx(3 * one, rel=1e-6)
