"""C3D: the parameter count and MACs written out layer by layer, shapes, gradients, build_model."""

from __future__ import annotations

import pytest
import torch

from stgcn.models import C3D, build_model, count_gmacs, count_parameters

# (input channels, output channels, temporal, height, width of the conv's output) at 16x112x112,
# the original C3D (pool1 1x2x2, then 2x2x2; pool5 padded 7x7 -> 4x4), channels at width 64
ORIGINAL_CONVS = [
    (3, 64, 16, 112),
    (64, 128, 16, 56),
    (128, 256, 8, 28),
    (256, 256, 8, 28),
    (256, 512, 4, 14),
    (512, 512, 4, 14),
    (512, 512, 2, 7),
    (512, 512, 2, 7),
]
FC = [(512 * 4 * 4, 4096), (4096, 4096)]


def _scaled(width: int) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    s = lambda c: c if c == 3 else c * width // 64  # noqa: E731
    convs = [(s(i), s(o), t, h) for i, o, t, h in ORIGINAL_CONVS]
    return convs, [(s(i), s(o)) for i, o in FC]


def test_original_parameter_count_is_the_literature_figure() -> None:
    """Weights + biases of 8 convs, fc6, fc7 and a 487-class fc8 (Sports-1M): 79,991,015 by the
    formula. The I3D paper (Table 1) gives C3D "79M" parameters, two significant figures; our
    exact count is within 1.3 % of that, the tolerance is 1.5 %."""
    convs, fcs = _scaled(64)
    expect = sum(o * i * 27 + o for i, o, _, _ in convs) + sum(o * i + o for i, o in fcs)
    expect += 4096 * 487 + 487
    assert expect == 79_991_015
    model = C3D(487, batch_norm=False, pool1_temporal=1)
    assert count_parameters(model) == expect
    assert abs(expect - 79e6) / 79e6 < 0.015
    # the I3D paper's version adds BN (2 affine parameters per channel) and drops the biases
    bn = C3D(487)
    channels = sum(o for _, o, _, _ in convs) + sum(o for _, o in fcs)
    biases = sum(o for _, o, _, _ in convs) + sum(o for _, o in fcs)
    assert count_parameters(bn) == expect - biases + 2 * channels


@pytest.mark.parametrize("pool1_temporal", [1, 2])
def test_macs_per_layer_at_16x112x112(pool1_temporal: int) -> None:
    """MACs = sum over convs of C_out C_in 27 T H W (+ fc6, fc7, fc8), at width 8 (the layout
    of the original at 1/64 of the channel products); pool1's temporal stride 2 halves T
    after it (and the 1-frame map at pool4 stays 1 frame through pool5 with ceil mode)."""
    width, classes = 8, 10
    convs, fcs = _scaled(width)
    macs = 0
    for k, (i, o, t, h) in enumerate(convs):
        if pool1_temporal == 2 and k > 0:
            t = max(t // 2, 1)
        macs += o * i * 27 * t * h * h
    macs += sum(i * o for i, o in fcs) + fcs[-1][1] * classes
    model = C3D(classes, width=width, pool1_temporal=pool1_temporal)
    assert count_gmacs(model, torch.randn(1, 3, 16, 112, 112)) * 1e9 == macs
    assert model.features(torch.randn(1, 3, 16, 112, 112)).shape == (1, 512 * width // 64, 1, 4, 4)


def test_shapes_and_gradients_at_cpu_sizes() -> None:
    torch.manual_seed(0)
    model = build_model("c3d", 5, width=8, frames=4)
    assert isinstance(model, C3D) and not model.takes_graph
    for t, size in ((4, 32), (8, 48), (3, 20)):  # smaller than 16x112x112: adaptive pool5
        clip = torch.randn(2, 3, t, size, size)
        model.eval()
        assert model(clip).shape == (2, 5)
    model.train()
    out = model(torch.randn(2, 3, 4, 32, 32))
    out.logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.features[0].weight.grad.abs().sum() > 0
    assert count_gmacs(model, torch.randn(1, 3, 4, 32, 32)) > 0
    with pytest.raises(ValueError, match="no 2D weights"):
        build_model("c3d", 5, weights="DEFAULT")
    with pytest.raises(ValueError, match=r"\[B, C, T, H, W\]"):
        model(torch.randn(2, 3, 32, 32))
