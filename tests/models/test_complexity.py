"""count_gmacs and count_parameters against the numbers written out by hand."""

from __future__ import annotations

import torch
from torch import nn

from stgcn.models import count_gmacs, count_parameters


def test_conv3d_macs_and_parameters() -> None:
    conv = nn.Conv3d(3, 8, kernel_size=(3, 5, 5), padding=(1, 2, 2))
    net = nn.Sequential(conv, nn.BatchNorm3d(8)).train()
    t, h, w = 4, 16, 20
    macs = 8 * 3 * 3 * 5 * 5 * t * h * w  # one per weight per output position
    assert count_gmacs(net, torch.randn(1, 3, t, h, w)) * 1e9 == macs
    assert net.training  # the mode is given back
    assert count_parameters(net) == 8 * 3 * 3 * 5 * 5 + 8 + 2 * 8  # weight, bias, BN affine


def test_linear_counts_its_matmul() -> None:
    fc = nn.Linear(64, 10)
    assert count_gmacs(fc, torch.randn(2, 64)) * 1e9 == 2 * 64 * 10
