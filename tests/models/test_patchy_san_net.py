"""PatchySANNet against the paper's layers written densely in a few lines of torch."""

from __future__ import annotations

import pytest
import torch

from stgcn.models import PatchySANNet


def dense_reference(model: PatchySANNet, x: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
    """h_i = ReLU(W_V vec(X_i) + b_V) || ReLU(W_E vec(A_i) + b_E), then conv over fields, dense."""
    k = model.k
    wv = model.node_conv.weight  # [C, F, k]: W_V[c, f, j] multiplies X_i[j, f]
    h = torch.einsum("bijf,cfj->bci", x, wv) + model.node_conv.bias[:, None]
    h = h.relu()
    if e is not None:
        we = model.edge_conv.weight.reshape(-1, e.size(-1), k, k)  # vec(A_i) is row-major in (p, q)
        he = torch.einsum("bipqe,cepq->bci", e, we) + model.edge_conv.bias[:, None]
        h = torch.cat([h, he.relu()], dim=1)
    w2 = model.field_conv.weight  # [C2, C, K]
    K = w2.size(-1)
    L = h.size(-1) - K + 1
    h2 = torch.stack(
        [torch.einsum("bcj,ocj->bo", h[:, :, t : t + K], w2) for t in range(L)], dim=-1
    )
    h2 = (h2 + model.field_conv.bias[:, None]).relu().flatten(1)  # channel-major, as Conv1d's
    d = (h2 @ model.dense.weight.t() + model.dense.bias).relu()
    return d @ model.out.weight.t() + model.out.bias


@pytest.mark.parametrize("edges", [0, 3])
@pytest.mark.parametrize(("w", "k"), [(18, 10), (6, 4)])
def test_matches_dense_equation(edges: int, w: int, k: int) -> None:
    torch.manual_seed(0)
    model = PatchySANNet(5, 2, w=w, k=k, edge_channels=edges).double().eval()
    x = torch.randn(3, w, k, 5, dtype=torch.float64)
    e = torch.randn(3, w, k, k, edges, dtype=torch.float64) if edges else None
    out = model(x, e)
    assert out.shape == (3, 2)
    assert model.kernel == min(10, w)
    torch.testing.assert_close(out, dense_reference(model, x, e), rtol=1e-12, atol=1e-12)


def test_fields_are_read_independently() -> None:
    """The first layer sees one receptive field per position: changing field 3 changes only
    position 3 of its output."""
    torch.manual_seed(1)
    model = PatchySANNet(2, 2, w=12, k=3).double().eval()
    x = torch.randn(1, 12, 3, 2, dtype=torch.float64)
    y = x.clone()
    y[0, 3] += 1.0

    def first(t: torch.Tensor) -> torch.Tensor:
        return model.node_conv(t.reshape(1, 36, 2).transpose(1, 2))

    diff = (first(x) - first(y)).abs().sum(1)[0]
    assert diff[3] > 0 and bool((diff[torch.arange(12) != 3] == 0).all())


def test_shape_errors_and_repr() -> None:
    model = PatchySANNet(7, 2, w=18, k=10, edge_channels=4)
    assert repr(model) == "PatchySANNet(7, 2, w=18, k=10, edge_channels=4)"
    with pytest.raises(ValueError, match=r"x must be \[B, w=18, k=10, F=7\]"):
        model(torch.zeros(2, 18, 5, 7))
    with pytest.raises(ValueError, match="edge_attr must be"):
        model(torch.zeros(2, 18, 10, 7))
    before = [p.clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_learns_a_separable_task() -> None:
    """Class = whether any receptive field has a vertex with attribute 1: 100 steps learn it."""
    torch.manual_seed(0)
    x = torch.zeros(64, 6, 4, 2)
    x[..., 0] = 1.0
    y = torch.arange(64) % 2
    x[y == 1, 2, 1] = torch.tensor([0.0, 1.0])
    model = PatchySANNet(2, 2, w=6, k=4, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert (model(x).argmax(-1) == y).all()
