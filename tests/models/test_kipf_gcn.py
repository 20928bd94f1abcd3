"""KipfGCN against Kipf & Welling's Eq. 9 (without the softmax) written densely in torch."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch_geometric.nn import GCNConv
from torch_geometric.utils import coalesce, to_undirected

from stgcn.layers import SpectralGCNConv
from stgcn.models import KipfGCN

N, F, H, C = 12, 9, 5, 3


def graph(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Sparse non-negative features [N, F] (about 30 % non-zero) and an undirected graph."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, F, generator=g) * (torch.rand(N, F, generator=g) < 0.3)
    ei = torch.randint(0, N, (2, 30), generator=g)
    ei = coalesce(to_undirected(ei[:, ei[0] != ei[1]]), num_nodes=N)
    return x, ei


def dense_reference(model: KipfGCN, x: Tensor, ei: Tensor, magnitude: bool = False) -> Tensor:
    """P relu(P X W1 + b1) W2 + b2 in float64, P = D^-1/2 (A + I) D^-1/2, A[i, j] for edge j -> i.

    ``magnitude``: the same sums over |terms|, which bound float32's rounding errors.
    """
    f = torch.abs if magnitude else (lambda t: t)
    a = torch.zeros(N, N, dtype=torch.float64).index_put_(
        (ei[1], ei[0]), torch.ones(ei.size(1), dtype=torch.float64), accumulate=True
    ) + torch.eye(N, dtype=torch.float64)
    s = a.sum(1).rsqrt()
    p = s[:, None] * a * s[None, :]
    w1, b1 = f(model.conv1.lin.weight.double()), f(model.conv1.bias.double())
    w2, b2 = f(model.conv2.lin.weight.double()), f(model.conv2.bias.double())
    h = (p @ f(x.double()) @ w1.T + b1).relu()
    return p @ h @ w2.T + b2


def randomised(model: KipfGCN) -> KipfGCN:
    # the biases start at zero; make them matter
    for conv in (model.conv1, model.conv2):
        torch.nn.init.normal_(conv.bias)
    return model.eval()


@pytest.mark.parametrize("sparse", [False, True], ids=["dense_x", "sparse_x"])
@pytest.mark.parametrize("cached", [False, True])
def test_equals_dense_equation(sparse: bool, cached: bool) -> None:
    torch.manual_seed(0)
    x, ei = graph()
    model = randomised(KipfGCN(F, C, H, cached=cached))
    inp = x.to_sparse() if sparse else x
    with torch.no_grad():
        out = model(inp, ei)
        again = model(inp, ei)  # the cached adjacency gives the same answer
    ref = dense_reference(model, x, ei)
    assert out.shape == (N, C)
    tol = 16 * torch.finfo(torch.float32).eps * dense_reference(model, x, ei, True).max().item()
    err = (out.double() - ref).abs().max().item()
    assert err <= tol, (err, tol)
    assert torch.equal(out, again)


def test_hidden_is_the_first_layer() -> None:
    torch.manual_seed(1)
    x, ei = graph(1)
    model = randomised(KipfGCN(F, C, H))
    with torch.no_grad():
        h = model.hidden(x, ei)
        out = model(x, ei)
    assert h.shape == (N, H) and (h >= 0).all()
    torch.testing.assert_close(out, model.conv2(h, ei))


def test_pyg_conv_computes_the_same_function() -> None:
    x, ei = graph(2)
    ours = randomised(KipfGCN(F, C, H))
    pyg = KipfGCN(F, C, H, conv=GCNConv).eval()
    pyg.load_state_dict(ours.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(pyg(x, ei), ours(x, ei))


class Recorder(torch.nn.Module):
    """Stands in for conv1: keeps the input it was given and returns it."""

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        self.seen = x
        return x


def test_sparse_dropout_drops_stored_values_only() -> None:
    """Train mode: each non-zero is zeroed or scaled by 1/(1-p); zeros stay zero."""
    torch.manual_seed(3)
    x, ei = graph(3)
    model = KipfGCN(F, C, hidden_channels=F, dropout=0.5).train()
    model.conv1 = Recorder()
    model.hidden(x.to_sparse(), ei)
    dropped, nz = model.conv1.seen, x != 0
    assert dropped.layout == torch.strided and (dropped[~nz] == 0).all()
    kept = dropped[nz] != 0
    torch.testing.assert_close(dropped[nz][kept], 2 * x[nz][kept])
    assert 0 < int(kept.sum()) < int(nz.sum())  # some of the 30-odd values kept, some dropped


def test_defaults_and_repr() -> None:
    model = KipfGCN(1433, 7)
    assert (model.hidden_channels, model.dropout) == (16, 0.5)
    assert isinstance(model.conv1, SpectralGCNConv) and not model.conv1.cached
    assert repr(model) == "KipfGCN(1433, 16, 7, conv=SpectralGCNConv)"
    with pytest.raises(ValueError, match="dropout"):
        KipfGCN(3, 2, dropout=1.0)
