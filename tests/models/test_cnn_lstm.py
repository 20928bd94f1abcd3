"""ConvNet+LSTM: the LSTM equations by hand, per-step training output and loss, frozen BN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stgcn.engine import classification_loss
from stgcn.models import CNNLSTM, build_model, count_gmacs, count_parameters


def _model(**kwargs) -> CNNLSTM:
    torch.manual_seed(0)
    return build_model("cnn_lstm", 5, depth=18, lstm_hidden=16, **kwargs)


def test_last_step_is_the_lstm_equations_over_per_frame_features() -> None:
    """i, f, g, o = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh (torch's gate order); c_t = f c_{t-1} +
    i g; h_t = o tanh(c_t); eval output = fc(h_T), x_t = the 2D ResNet of frame t alone."""
    model = _model().eval()
    clip = torch.randn(2, 3, 4, 32, 32)
    lstm = model.lstm
    h = c = torch.zeros(2, 16)
    steps = []
    for t in range(clip.shape[2]):
        x = model.backbone(clip[:, :, t])
        gates = (
            x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        )
        i, f, g, o = gates.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        steps.append(model.fc(h))
    torch.testing.assert_close(model(clip), steps[-1])
    torch.testing.assert_close(model.step_logits(clip), torch.stack(steps, 1))


def test_training_supervises_every_step() -> None:
    """Train mode returns [B, T, C]; the engine's loss is the mean of the T per-step
    cross-entropies against the clip's label (the paper's loss)."""
    model = _model(dropout=0.0).train()
    clip, label = torch.randn(2, 3, 3, 32, 32), torch.tensor([1, 4])
    out = model(clip)
    assert out.shape == (2, 3, 5)
    per_step = torch.stack([F.cross_entropy(out[:, t], label) for t in range(3)])
    loss = classification_loss(out, label)
    torch.testing.assert_close(loss, per_step.mean())
    # ... which is not the cross-entropy of the mean per-step log-softmax (see the docstring)
    z = out.log_softmax(-1).mean(1)
    assert F.cross_entropy(z, label) < loss
    loss.backward()
    assert model.lstm.weight_hh_l0.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.backbone.bn1.weight.grad is None  # frozen BN, as in the paper
    assert model.fc.weight.grad.abs().sum() > 0


def test_frozen_bn_keeps_its_statistics() -> None:
    model = _model().train()
    bns = model.frozen_norms()
    assert bns and all(not bn.training for bn in bns)
    before = bns[0].running_mean.clone()
    model(torch.randn(2, 3, 2, 32, 32) * 5 + 3)
    torch.testing.assert_close(bns[0].running_mean, before)
    free = _model(partial_bn=False).train()
    assert not free.frozen_norms() and free.backbone.bn1.training
    assert free.backbone.bn1.weight.requires_grad


def test_complexity_and_build_errors() -> None:
    model = _model()
    gmacs = count_gmacs(model, torch.randn(1, 3, 4, 32, 32))
    assert model.training  # given back
    frame = count_gmacs(model.backbone, torch.randn(1, 3, 32, 32))
    assert gmacs > 4 * frame  # four frames through the 2D net, plus the LSTM and classifier
    d, hid = 512, 16
    lstm = 4 * hid * (d + hid) + 2 * 4 * hid
    assert count_parameters(model.lstm) == lstm
    with pytest.raises(ValueError, match="width"):
        build_model("cnn_lstm", 5, depth=18, width=16)
    with pytest.raises(ValueError, match="inflate_from"):
        build_model("cnn_lstm", 5, depth=18, inflate_from={})
