"""MotionPretext: the motion-energy target against its dense definition, the loss's two ends, and
the pre-trained backbone initialising the Table 4 models."""

from __future__ import annotations

import pytest
import torch

from stgcn.models import MotionPretext, build_model, init_from, motion_energy

SMALL = {"depth": 18, "width": 4, "region_channels": 8, "gcn_layers": 1, "frames": 4}


def test_motion_energy_is_the_cell_mean_of_each_rectified_component() -> None:
    torch.manual_seed(0)
    flow = torch.randn(2, 2, 4, 6, 8)
    got = motion_energy(flow, (2, 3, 2))
    u, v = flow[:, 0], flow[:, 1]
    parts = torch.stack([u.clamp(min=0), (-u).clamp(min=0), v.clamp(min=0), (-v).clamp(min=0)], 1)
    # cells of 2 frames x 2 rows x 4 columns, written as an explicit reshape and mean
    want = parts.reshape(2, 4, 2, 2, 3, 2, 2, 4).mean((3, 5, 7))
    torch.testing.assert_close(got, want)
    assert (got >= 0).all()


def test_motion_energy_keeps_opposite_motions_that_cancel_in_the_mean_flow() -> None:
    flow = torch.zeros(1, 2, 1, 2, 2)
    flow[0, 0, 0, 0] = 3.0  # top row moves right, bottom row left: mean u is 0
    flow[0, 0, 0, 1] = -3.0
    e = motion_energy(flow, (1, 1, 1)).flatten()
    torch.testing.assert_close(e, torch.tensor([1.5, 1.5, 0.0, 0.0]))


def test_motion_energy_refuses_a_stacked_flow() -> None:
    with pytest.raises(ValueError, match=r"\[B, 2, T, H, W\]"):
        motion_energy(torch.zeros(1, 4, 2, 4, 4), (1, 1, 1))


def test_forward_stages_ends_in_forward_features() -> None:
    torch.manual_seed(0)
    net = build_model("i3d", 5, **SMALL).eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    stages = net.forward_stages(clip)
    assert [s.shape[1] for s in stages] == list(net.stage_channels)
    assert [tuple(s.shape[2:]) for s in stages] == [(2, 8, 8), (2, 4, 4), (2, 2, 2), (2, 2, 2)]
    torch.testing.assert_close(stages[-1], net.forward_features(clip))


def test_pretext_predicts_on_each_stage_grid_and_its_loss_spans_0_to_1() -> None:
    torch.manual_seed(0)
    pretext = MotionPretext(build_model("i3d", 5, **SMALL), stages=(0, 3), summary_grid=(3, 2, 1))
    clip, flow = torch.randn(2, 3, 4, 32, 32), torch.randn(2, 2, 4, 32, 32)
    preds = pretext(clip)
    assert [tuple(p.shape) for p in preds] == [(2, 4, 2, 8, 8), (2, 4, 2, 2, 2), (2, 4, 3, 2, 1)]
    zeros = [torch.zeros_like(p) for p in preds]
    torch.testing.assert_close(pretext.loss(zeros, flow), torch.tensor(1.0))
    energy = [motion_energy(flow, p.shape[2:]) for p in preds]
    exact = [e / e.pow(2).mean().sqrt() for e in energy]
    torch.testing.assert_close(pretext.loss(exact, flow), torch.tensor(0.0))
    # a stack of L = 2 fields: only the first (channels 0, 1) is the target
    stacked = torch.cat([flow, 100 * torch.randn_like(flow)], 1)
    torch.testing.assert_close(pretext.loss(exact, stacked), torch.tensor(0.0))
    # the normalised error ||pred * rms(E) - E||^2 / ||E||^2, in any units
    for pred, e in zip(preds, energy, strict=True):
        alone = MotionPretext.loss(pretext, [pred.detach()], flow)
        rms = e.pow(2).mean().sqrt()
        torch.testing.assert_close(alone, (pred.detach() * rms - e).pow(2).sum() / e.pow(2).sum())
    fixed = [p.detach() for p in preds]
    torch.testing.assert_close(pretext.loss(fixed, 3.0 * flow), pretext.loss(fixed, flow))


def test_summary_head_reads_the_global_average_pooled_feature() -> None:
    torch.manual_seed(0)
    backbone = build_model("i3d", 5, **SMALL).eval()
    pretext = MotionPretext(backbone, stages=(3,), summary_grid=(2, 2, 2)).eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    pooled = backbone.forward_features(clip).mean((2, 3, 4))  # what i3d's fc reads
    want = (pooled @ pretext.summary.weight.T + pretext.summary.bias).view(2, 4, 2, 2, 2)
    torch.testing.assert_close(pretext(clip)[-1], want)
    assert len(MotionPretext(backbone, stages=(3,), summary_grid=None)(clip)) == 1
    with pytest.raises(ValueError, match="summary_grid"):
        MotionPretext(backbone, summary_grid=(2, 2))


def test_pretext_loss_trains_the_whole_backbone() -> None:
    torch.manual_seed(0)
    pretext = MotionPretext(build_model("i3d", 5, **SMALL))
    clip, flow = torch.randn(2, 3, 4, 32, 32), torch.randn(2, 2, 4, 32, 32)
    pretext.loss(pretext(clip), flow).backward()
    stem = pretext.backbone.stem.conv1.weight.grad
    assert stem is not None and stem.abs().sum() > 0
    assert pretext.backbone.fc.weight.grad is None  # the classifier is not part of it


def test_pretext_refuses_a_batch_without_flow_and_bad_stages() -> None:
    pretext = MotionPretext(build_model("i3d", 5, **SMALL), stages=(3,))
    with pytest.raises(ValueError, match="optical flow"):
        pretext.loss([torch.zeros(1, 4, 2, 2, 2)], None)
    for stages in ((), (4,), (1, 1)):
        with pytest.raises(ValueError, match="stages"):
            MotionPretext(build_model("i3d", 5, **SMALL), stages=stages)


@pytest.mark.parametrize("name", ["i3d", "i3d_nl", "i3d_gcn", "i3d_nl_gcn"])
def test_pretrained_backbone_initialises_every_table4_model(name: str) -> None:
    torch.manual_seed(0)
    pretext = MotionPretext(build_model("i3d", 5, **SMALL))
    with torch.no_grad():
        for p in pretext.parameters():
            p.add_(torch.randn_like(p))
    state = {k: v for k, v in pretext.backbone.state_dict().items() if not k.startswith("fc.")}
    model = build_model(name, 7, **SMALL)
    report = init_from(model, state)
    assert report["loaded"] == len(state) and report["skipped"] == []
    target = getattr(model, "backbone", model).state_dict()
    for k, v in state.items():
        assert torch.equal(target[k], v), k
    # the non-local blocks, which the I3D has not, keep their identity start (last BN scale 0)
    nl = [v for k, v in target.items() if ".nonlocal_block." in k and k.endswith("bn.weight")]
    assert all(torch.equal(v, torch.zeros_like(v)) for v in nl)
    assert (name in ("i3d_nl", "i3d_nl_gcn")) == bool(nl)
