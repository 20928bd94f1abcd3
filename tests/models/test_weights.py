"""Stage-2 weights: an I3D checkpoint initialises an STRG backbone; freezing stops its gradient."""

from __future__ import annotations

from pathlib import Path

import torch

from stgcn.io import save_atomic
from stgcn.models import build_model, freeze_backbone, init_from

SMALL = {"depth": 18, "width": 4, "region_channels": 8, "gcn_layers": 1}


def _trained_i3d() -> torch.nn.Module:
    torch.manual_seed(0)
    i3d = build_model("i3d", 5, **SMALL)
    with torch.no_grad():
        for p in i3d.parameters():
            p.add_(torch.randn_like(p))  # anything but the fresh initialisation
    return i3d


def test_i3d_checkpoint_goes_into_the_strg_backbone(tmp_path: Path) -> None:
    i3d = _trained_i3d()
    save_atomic({"model": i3d.state_dict(), "epoch": 3}, tmp_path / "ck.pt")
    strg = build_model("i3d_gcn", 7, **SMALL)
    report = init_from(strg, tmp_path / "ck.pt", freeze=True)
    backbone = strg.backbone.state_dict()
    source = i3d.state_dict()
    matched = [k for k in source if k in backbone and backbone[k].shape == source[k].shape]
    assert report["loaded"] == len(matched) and report["skipped"] == ["fc.bias", "fc.weight"]
    for k in matched:
        assert torch.equal(backbone[k], source[k]), k
    frozen = sum(p.numel() for p in strg.backbone.parameters())
    assert report["frozen_parameters"] == frozen
    assert all(not p.requires_grad for p in strg.backbone.parameters())
    head = [p for n, p in strg.named_parameters() if not n.startswith("backbone.")]
    assert head and all(p.requires_grad for p in head)


def test_freezing_a_plain_backbone_keeps_its_classifier_trainable() -> None:
    i3d = build_model("i3d", 5, **SMALL)
    frozen = freeze_backbone(i3d)
    trainable = {n for n, p in i3d.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    assert frozen == sum(p.numel() for n, p in i3d.named_parameters() if n not in trainable)


def test_a_state_dict_loads_as_it_is() -> None:
    i3d = _trained_i3d()
    other = build_model("i3d", 5, **SMALL)
    report = init_from(other, i3d.state_dict())
    assert report["skipped"] == [] and report["frozen_parameters"] == 0
    for k, v in i3d.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
