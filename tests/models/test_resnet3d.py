"""ResNet3D: layout, shapes, parameter counts, inflation and the "boring video" fixed point."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.models import resnet3d as r3d
from stgcn.models.complexity import count_parameters
from stgcn.models.inflate import inflate_2d_weights, inflate_kernel

META = torch.device("meta")


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial statistics and affine parameters, so copying them is tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))


def _extra_temporal_params(model: r3d.ResNet3D) -> int:
    """Weights a 3D conv has beyond its 2D counterpart: (kt - 1) * out * in * kh * kw."""
    return sum(
        (m.kernel_size[0] - 1) * m.weight[:, :, 0].numel()
        for m in model.modules()
        if isinstance(m, nn.Conv3d)
    )


def test_temporal_kernel_placement() -> None:
    r50 = r3d.i3d_r50(num_classes=None, width=8)
    got = [tuple(b.conv1.kernel_size) for layer in (r50.layer1, r50.layer2, r50.layer3, r50.layer4)
           for b in layer]  # fmt: skip
    want = [(k, 1, 1) for stage in r3d.I3D_TEMPORAL_KERNELS for k in stage]
    assert got == want
    assert all(b.conv2.kernel_size == (1, 3, 3) for b in r50.layer3)
    assert r50.stem.conv1.kernel_size == (5, 7, 7) and r50.stem.conv1.stride == (1, 2, 2)

    r18 = r3d.i3d_r18(num_classes=None, width=8)
    got18 = [b.conv1.kernel_size[0] for layer in (r18.layer1, r18.layer2, r18.layer3, r18.layer4)
             for b in layer]  # fmt: skip
    assert got18 == [3, 3, 3, 1, 3, 1, 1, 3]
    assert isinstance(r18.layer1[0], r3d.BasicBlock3D) and r18.layer1[0].conv1.kernel_size[1:] == (
        3,
        3,
    )

    c2d = r3d.c2d_r50(num_classes=None, width=8)
    assert all(m.kernel_size[0] == 1 for m in c2d.modules() if isinstance(m, nn.Conv3d))


def test_parameter_counts_against_literature_and_torchvision() -> None:
    """Count = every learnable parameter (conv weights, BN affine, fc weight + bias) of the
    backbone and a 400-way Kinetics classifier; BN running statistics are buffers, not counted.
    TSM (Lin et al., ICCV 2019), Table 2: I3D-R50 28.0M, NL I3D-R50 35.3M."""
    with META:
        i3d = r3d.i3d_r50(num_classes=400)
        c2d = r3d.c2d_r50(num_classes=400)
        r50_2d = torchvision.models.resnet50(num_classes=400)
    assert count_parameters(c2d) == count_parameters(r50_2d)
    assert count_parameters(i3d) == count_parameters(r50_2d) + _extra_temporal_params(i3d)
    assert count_parameters(i3d) == pytest.approx(28.0e6, rel=0.005)


def test_nonlocal_parameter_count() -> None:
    with META:
        nl = r3d.i3d_nl_r50(num_classes=400)
        i3d = r3d.i3d_r50(num_classes=400)
    positions = [name for name, m in nl.named_modules() if isinstance(m, NonLocalGraphConv)]
    assert positions == [f"layer2.{i}.nonlocal_block" for i in (1, 3)] + [
        f"layer3.{i}.nonlocal_block" for i in (1, 3, 5)
    ]
    assert count_parameters(nl) == pytest.approx(35.3e6, rel=0.005)
    assert count_parameters(nl) > count_parameters(i3d)


@pytest.mark.parametrize(
    ("builder", "res5_stride", "channels"),
    [
        (r3d.i3d_r18, 2, 64),
        (r3d.c2d_r18, 1, 64),
        (r3d.i3d_r50, 1, 256),
        (r3d.c2d_r50, 2, 256),
    ],
)
def test_output_shapes_tiny(builder, res5_stride: int, channels: int) -> None:
    torch.manual_seed(0)
    model = builder(num_classes=5, width=8, res5_stride=res5_stride).eval()
    clip = torch.randn(2, 3, 8, 32, 32)
    feats = model.forward_features(clip)
    side = 2 if res5_stride == 1 else 1
    assert feats.shape == (2, channels, 4, side, side)
    assert model.out_channels == channels and model.feature_stride == 32 // side
    assert model(clip).shape == (2, 5)
    assert model(clip, None).shape == (2, 5)


def test_nonlocal_output_shapes_tiny() -> None:
    torch.manual_seed(0)
    for builder, channels in ((r3d.i3d_nl_r18, 64), (r3d.i3d_nl_r50, 256)):
        model = builder(num_classes=5, width=8, res5_stride=1).eval()
        clip = torch.randn(2, 3, 8, 32, 32)
        assert model.forward_features(clip).shape == (2, channels, 4, 2, 2)
        assert model(clip).shape == (2, 5)
        # a new non-local block is the identity (BN scale 0); with scale 1 it changes the output,
        # so the backbone really runs NonLocalGraphConv.forward_grid
        with torch.no_grad():
            before = model.forward_features(clip)
            for m in model.modules():
                if isinstance(m, NonLocalGraphConv):
                    m.bn.weight.fill_(1.0)
            assert not torch.allclose(model.forward_features(clip), before)


@pytest.mark.parametrize(("res5_stride", "side"), [(2, 7), (1, 14)])
def test_paper_config_shapes_on_meta(res5_stride: int, side: int) -> None:
    with META:
        model = r3d.i3d_r50(num_classes=400, res5_stride=res5_stride)
        feats = model.forward_features(torch.empty(1, 3, 32, 224, 224))
    assert feats.shape == (1, 2048, 16, side, side)


def test_bad_input_raises() -> None:
    model = r3d.i3d_r18(num_classes=3, width=8)
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        model(torch.randn(3, 8, 32, 32))
    with pytest.raises(ValueError, match="temporal kernels"):
        r3d.ResNet3D(r3d.Bottleneck3D, (3, 4, 6, 3), ((3,), (3,), (3,), (3,)))
    with pytest.raises(ValueError, match="non-local positions"):
        r3d.ResNet3D(
            r3d.BasicBlock3D, (2, 2, 2, 2), ((1, 1),) * 4, nonlocal_positions=((), (2,), (), ())
        )
    with pytest.raises(ValueError, match="res5_stride"):
        r3d.i3d_r18(res5_stride=4)


def test_inflate_kernel_sums_back() -> None:
    w = torch.randn(4, 3, 7, 7)
    w3 = inflate_kernel(w, 5)
    assert w3.shape == (4, 3, 5, 7, 7)
    torch.testing.assert_close(w3.sum(2), w)


def test_inflation_report_and_errors() -> None:
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    model = r3d.i3d_r18(num_classes=400)
    report = inflate_2d_weights(model, sd)
    assert report.skipped == ["fc.weight", "fc.bias"]
    assert report.missing == [] and report.unexpected == []
    assert len(report.loaded) == len(model.state_dict()) - 2
    torch.testing.assert_close(model.layer1[0].conv1.weight.sum(2), sd["layer1.0.conv1.weight"])
    torch.testing.assert_close(model.layer4[0].conv1.weight[:, :, 0], sd["layer4.0.conv1.weight"])
    torch.testing.assert_close(model.layer2[0].downsample[1].running_var, sd["layer2.0.downsample.1.running_var"])  # fmt: skip

    with pytest.raises(ValueError, match="conv1.weight"):
        inflate_2d_weights(r3d.i3d_r18(num_classes=400, width=32), sd)


def interior_feature_steps(model: r3d.ResNet3D, frames: int) -> range:
    """Feature steps whose temporal receptive field lies inside a clip of ``frames`` frames.

    With r_in = stem k//2 + sum of res2's k//2 (input-frame radius before the 2x temporal pool)
    and r_p = sum of k//2 over res3..res5 (in pooled steps), feature step u sees input frames
    [2u - 2 r_p - r_in, 2u + 1 + 2 r_p + r_in]. E.g. I3D-R18: r_in = 4, r_p = 3 -> [2u-10, 2u+11].
    """
    r_in = model.stem.conv1.kernel_size[0] // 2 + sum(
        b.conv1.kernel_size[0] // 2 for b in model.layer1
    )
    r_p = sum(b.conv1.kernel_size[0] // 2 for layer in (model.layer2, model.layer3, model.layer4)
              for b in layer)  # fmt: skip
    reach = r_in + 2 * r_p
    return range((reach + 1) // 2, (frames - 2 - reach) // 2 + 1)


@pytest.mark.parametrize(
    ("builder", "net2d", "frames", "interior"),
    [
        (r3d.i3d_r18, torchvision.models.resnet18, 24, range(5, 7)),
        (r3d.c2d_r18, torchvision.models.resnet18, 4, range(0, 2)),
        (r3d.i3d_r50, torchvision.models.resnet50, 40, range(9, 11)),
        (r3d.c2d_r50, torchvision.models.resnet50, 4, range(0, 2)),
    ],
)
def test_boring_video_fixed_point(builder, net2d, frames: int, interior: range) -> None:
    """One image repeated over T frames through the inflated network, in eval mode, gives the 2D
    ResNet's feature map at every interior feature step, and its pooled features and logits.

    Temporal padding is zeros (PySlowFast), so a feature step whose receptive field reaches past
    a clip border sees zeros and is not a fixed point: only interior steps are compared, and the
    C2D has no temporal kernels: every step is interior. ``interior`` is written out per case
    and checked against the derivation.

    Both networks run in float64: in float32 the 2D and 3D paths sum in different orders through
    up to 50 layers, and on some CPUs single elements drift past 1e-4 (one of 2,048 was off by
    1.14e-4 on another machine). In float64 the same sums agree to ~1e-13 of their magnitude, so a
    tolerance of 1e-9 of the largest value holds on any CPU and still catches any real error.
    """
    torch.manual_seed(0)
    net2d = net2d(num_classes=10)
    _randomise_bn(net2d)
    net2d = net2d.double().eval()
    net3d = builder(num_classes=10, res5_stride=2, dropout=0.0).double()
    report = inflate_2d_weights(net3d, net2d.state_dict())
    assert not report.missing and not report.skipped and not report.unexpected
    net3d.eval()
    assert interior_feature_steps(net3d, frames) == interior

    size = 64 if net3d.out_channels == 512 else 32
    image = torch.randn(1, 3, size, size, dtype=torch.float64)
    clip = image.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()

    def close(got: torch.Tensor, want: torch.Tensor) -> None:
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())

    with torch.no_grad():
        feats2d = nn.Sequential(*list(net2d.children())[:-2])(image)  # [1, C, h, w]
        feats3d = net3d.forward_features(clip)  # [1, C, T', h, w]
        assert feats3d.shape[2] == frames // 2
        for t in interior:
            close(feats3d[:, :, t], feats2d)
        if interior.start > 0:  # a border step sees the zero padding: far from the fixed point
            gap = (feats3d[:, :, 0] - feats2d).abs().max() / feats2d.abs().max()
            assert gap > 1e-3
        pooled3d = net3d.pool(feats3d[:, :, interior.start : interior.stop])
        pooled2d = torch.flatten(net2d.avgpool(feats2d), 1)
        close(pooled3d, pooled2d)
        close(net3d.fc(pooled3d), net2d(image))


def test_macs_i3d_r50_paper_config_on_meta() -> None:
    """FlopCounterMode counts conv/matmul FLOPs (2 per MAC; BN, ReLU and pooling not counted).
    STRG's I3D-R50 (res5 stride 1, 32x224x224, 16x14x14 output) is 153 GMACs in TSM's Table 2."""
    with META:
        model = r3d.i3d_r50(num_classes=400, res5_stride=1)
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 32, 224, 224))
    assert counter.get_total_flops() / 2 == pytest.approx(153e9, rel=0.01)


def test_flow_backbone_and_cross_modality_inflation() -> None:
    """``in_channels=2`` (optical flow x, y): the stem takes 2 channels, and inflating an RGB
    network applies TSN's cross-modality rule to the first conv only: the 2D kernel averaged
    over R, G, B, replicated over the 2 flow channels, then inflated over time."""
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    flow = r3d.i3d_r18(num_classes=400, in_channels=2)
    assert flow.stem.conv1.in_channels == 2 and flow.in_channels == 2
    report = inflate_2d_weights(flow, sd)
    assert report.cross_modality == ["stem.conv1.weight"]
    assert report.skipped == ["fc.weight", "fc.bias"] and not report.missing
    w2d = sd["conv1.weight"]  # [64, 3, 7, 7]
    w3d = flow.stem.conv1.weight  # [64, 2, 5, 7, 7]
    assert w3d.shape == (64, 2, 5, 7, 7)
    for c in range(2):
        torch.testing.assert_close(w3d[:, c].sum(1), w2d.mean(1))
    torch.testing.assert_close(w3d[:, :, 0], w3d[:, :, 4])
    # every other kernel is inflated as for RGB
    torch.testing.assert_close(flow.layer1[0].conv1.weight.sum(2), sd["layer1.0.conv1.weight"])
    rgb_report = inflate_2d_weights(r3d.i3d_r18(num_classes=400), sd)
    assert rgb_report.cross_modality == []

    clip = torch.randn(2, 2, 8, 32, 32)
    assert flow.eval()(clip).shape == (2, 400)
    with pytest.raises(ValueError, match=r"\[B, 2, T, H, W\]"):
        flow(torch.randn(2, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="in_channels"):
        r3d.i3d_r18(in_channels=0)


def test_pluggable_stem() -> None:
    """A stem factory replaces the default stem (torchvision ``VideoResNet`` style): here a
    stride-4 conv with no max-pool, called with (in_channels, width, temporal kernel)."""
    calls = []

    def patch_stem(in_channels: int, out_channels: int, temporal_kernel: int) -> nn.Module:
        calls.append((in_channels, out_channels, temporal_kernel))
        return nn.Sequential(
            nn.Conv3d(in_channels, out_channels, (temporal_kernel, 4, 4), (1, 4, 4),
                      (temporal_kernel // 2, 0, 0)),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip

    model = r3d.i3d_r18(num_classes=5, width=8, in_channels=2, stem=patch_stem).eval()
    assert calls == [(2, 8, 5)]
    assert isinstance(model.stem[0], nn.Conv3d) and model.stem[0].stride == (1, 4, 4)
    feats = model.forward_features(torch.randn(1, 2, 8, 64, 64))
    assert feats.shape == (1, 64, 4, 2, 2)  # 64 / feature_stride 32, as with the default stem
    assert model.feature_stride == 32


def test_channels_last_weights_and_same_output() -> None:
    """``channels_last=True`` keeps the conv weights in channels_last_3d and converts the clip in
    ``forward_features``: same outputs as the contiguous model with the same weights. float64,
    so the tolerance is far below any real difference and independent of the CPU."""
    torch.manual_seed(0)
    plain = r3d.i3d_nl_r18(num_classes=5, width=8, res5_stride=1).double().eval()
    fast = r3d.i3d_nl_r18(num_classes=5, width=8, res5_stride=1, channels_last=True).double().eval()
    fast.load_state_dict(plain.state_dict())
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv3d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last_3d) for m in convs)
    assert not plain.stem.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    clip = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64)  # a contiguous clip, as callers give
    with torch.no_grad():
        # oneDNN's float32 kernels keep the format through the network (float64 has no oneDNN
        # path and falls back to contiguous, which is why the values are compared below)
        out32 = copy.deepcopy(fast).float().forward_features(clip.float())
        assert out32.is_contiguous(memory_format=torch.channels_last_3d)
        feats = fast.forward_features(clip)
        want = plain.forward_features(clip)
        torch.testing.assert_close(feats, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())
        logits, want = fast(clip), plain(clip)
        torch.testing.assert_close(logits, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())


def test_nonlocal_scale_follows_the_released_code_by_default() -> None:
    """The backbone's non-local blocks scale theta^T phi by 1/sqrt(d_inner) (video-nonlocal-net's
    USE_SCALE) unless ``nonlocal_scale=False`` (the paper's eq. 6); modes without a softmax take
    no scale."""

    def blocks(model: r3d.ResNet3D) -> list[NonLocalGraphConv]:
        return [m for m in model.modules() if isinstance(m, NonLocalGraphConv)]

    default = blocks(r3d.i3d_nl_r18(num_classes=5, width=8))
    assert len(default) == 2 and all(b.scale for b in default)
    assert [b.score_scale for b in default] == [b.inter_channels**-0.5 for b in default]
    assert not any(
        b.scale for b in blocks(r3d.i3d_nl_r18(num_classes=5, width=8, nonlocal_scale=False))
    )
    dot = blocks(r3d.i3d_nl_r18(num_classes=5, width=8, nonlocal_mode="dot_product"))
    assert len(dot) == 2 and not any(b.scale for b in dot)
