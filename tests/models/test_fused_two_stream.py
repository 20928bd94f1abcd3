"""3D-fused two-stream: the fused maps are the two streams' conv maps, time-aligned; shapes,
gradients, build_model."""

from __future__ import annotations

import pytest
import torch
import torchvision

from stgcn.models import FusedTwoStream, build_model, count_gmacs, resnet_conv_map

K, L, S = 5, 2, 64


def _model(**kwargs) -> FusedTwoStream:
    torch.manual_seed(0)
    return build_model("fused_two_stream", 7, depth=18, new_length=L, fusion_channels=16, **kwargs)


def test_conv_map_is_the_resnet_before_its_pooling() -> None:
    net = torchvision.models.resnet18().eval()
    x = torch.randn(2, 3, 64, 64)
    m = resnet_conv_map(net, x)
    assert m.shape == (2, 512, 2, 2)
    torch.testing.assert_close(net.fc(m.mean(dim=(2, 3))), net(x))


def test_fused_maps_stack_both_streams_per_time_point() -> None:
    """Channels [0, C) at time k are the rgb net on segment k's frame; [C, 2C) the flow net on
    segment k's stack x_1, y_1, ..., x_L, y_L (the reader's [B, 2L, K, H, W])."""
    model = _model().eval()
    clip, flow = torch.randn(2, 3, K, S, S), torch.randn(2, 2 * L, K, S, S)
    maps = model.fused_maps(clip, flow)
    assert maps.shape == (2, 1024, K, 2, 2)
    for k in range(K):
        rgb = resnet_conv_map(model.rgb.backbone, clip[:, :, k])
        mot = resnet_conv_map(model.flow.backbone, flow[:, :, k])
        torch.testing.assert_close(maps[:, :512, k], rgb)
        torch.testing.assert_close(maps[:, 512:, k], mot)
    y = model.fusion(maps)
    assert y.shape == (2, 16, 3, 1, 1)  # 3x3x3 max-pool, stride 2: 5 -> 3, 2 -> 1
    torch.testing.assert_close(model(clip, flow), model.fc(y.mean(dim=(2, 3, 4))))


def test_shapes_gradients_and_complexity() -> None:
    model = _model()
    assert model.modality == ("rgb", "flow") and not model.takes_graph
    clip, flow = torch.randn(2, 3, K, S, S), torch.randn(2, 2 * L, K, S, S)
    out = model.train()(clip, flow)
    assert out.shape == (2, 7)
    out.logsumexp(1).sum().backward()
    for part in (model.fusion[0], model.fc, model.rgb.backbone.conv1, model.flow.backbone.conv1):
        assert part.weight.grad is not None and part.weight.grad.abs().sum() > 0
    assert not hasattr(model.rgb.fc, "weight")  # the streams' classifiers are gone
    assert count_gmacs(model, clip[:1], flow[:1]) > 0
    with pytest.raises(ValueError, match="no flow clip"):
        model(clip)
    with pytest.raises(ValueError, match="maps differ"):
        model(clip, flow[:, :, :, :32, :32])
