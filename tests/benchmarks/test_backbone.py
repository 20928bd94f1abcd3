"""benchmarks/backbone.py runs end to end at its --quick size and writes consistent JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def backbone(bench):
    return bench("backbone")


def test_quick_run_writes_rows(backbone, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bb.json"
    backbone.main(
        [
            "--quick",
            "--variants",
            "i3d_r18",
            "--memory-format",
            "both",
            "--fuse-bn",
            "--json",
            str(out),
        ]  # fmt: skip
    )
    assert "fp32 peaks measured in this run: matmul" in capsys.readouterr().out
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["memory_format"], r["mode"]) for r in rows] == [
        (fmt, mode)
        for fmt in ("contiguous", "channels_last_3d")
        for mode in ("fwd", "fwd+bwd", "fwd-fused")
    ]
    assert result["matmul_peak_gflops"] > 0 and result["conv_peak_gflops"] > 0
    assert result["peak_gflops"] == max(result["matmul_peak_gflops"], result["conv_peak_gflops"])
    for r in rows:
        assert r["clips_per_s"] > 0
        assert r["fraction_of_peak"] == pytest.approx(r["gflop_per_s"] / result["peak_gflops"])
    # the backward costs about twice the forward (input and weight gradients; none for the clip)
    assert 2.0 < rows[1]["gflop_per_clip"] / rows[0]["gflop_per_clip"] < 3.5


def test_fused_bn_matches_unfused(backbone) -> None:
    """Folding BN into the convs changes only the rounding: in float64 the outputs agree to far
    below any real difference, on any CPU."""
    import torch

    torch.manual_seed(0)
    model = backbone.build("i3d_r50", backbone.QUICK_CPU).double().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 1.5)
    clip = torch.randn(backbone.QUICK_CPU.clip_shape(), dtype=torch.float64)
    with torch.no_grad():
        want = model(clip)
        got = backbone.fuse_conv_bn(model)(clip)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())


def test_channels_last_rows_build_the_channels_last_model(backbone) -> None:
    import torch

    fast = backbone.build("i3d_r18", backbone.QUICK_CPU, channels_last=True)
    plain = backbone.build("i3d_r18", backbone.QUICK_CPU)
    w = fast.stem.conv1.weight
    assert fast.channels_last and w.is_contiguous(memory_format=torch.channels_last_3d)
    assert not plain.channels_last and plain.stem.conv1.weight.is_contiguous()


def test_sizes_of_the_table4_models(backbone, capsys: pytest.CaptureFixture) -> None:
    """``--sizes --quick``: every Table-4 model, the graph models larger than the plain I3D."""
    backbone.main(["--sizes", "--quick", "--boxes-per-frame", "3"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| i3d")]
    rows = {ln.split(" | ")[0][2:]: ln.split(" | ") for ln in lines}
    assert list(rows) == ["i3d", "i3d_nl", "i3d_roi", "i3d_gcn", "i3d_nl_gcn"]
    params = {k: int(v[1].replace(",", "")) for k, v in rows.items()}
    assert params["i3d"] < params["i3d_roi"] < params["i3d_gcn"] < params["i3d_nl_gcn"]
