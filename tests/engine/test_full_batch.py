"""fit_full_batch / FullBatchTrainer against a hand-written full-batch loop, on a tiny graph."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from stgcn.engine import FullBatchTrainer, fit_full_batch, kipf_adam
from stgcn.models import KipfGCN

N, FEATS, C = 60, 20, 3


@pytest.fixture
def data() -> Data:
    """Three communities of 20 nodes, dense inside, a few edges across; noisy class features.
    5 labelled nodes per class, 15 validation, the rest test."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N) // 20
    src, dst = torch.randint(0, N, (2, 400), generator=g)
    keep = (y[src] == y[dst]) | (torch.rand(400, generator=g) < 0.1)
    ei = to_undirected(torch.stack([src[keep], dst[keep]]))
    x = torch.rand(N, FEATS, generator=g) * (torch.rand(N, FEATS, generator=g) < 0.2)
    x[torch.arange(N), y] += 0.3  # a weak hint of the class in the words
    x = x / x.sum(1, keepdim=True)
    order = torch.randperm(N, generator=g)
    train = torch.zeros(N, dtype=torch.bool)
    for c in range(C):
        train[order[y[order] == c][:5]] = True
    rest = order[~train[order]]
    val = torch.zeros(N, dtype=torch.bool)
    val[rest[:15]] = True
    test = ~(train | val)
    return Data(x=x, edge_index=ei, y=y, train_mask=train, val_mask=val, test_mask=test)


def accuracy(logits: torch.Tensor, data: Data, mask: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1)[mask] == data.y[mask]).double().mean().item()


def test_equals_a_hand_written_loop(data: Data) -> None:
    """Same seed: the same weights after training, and the same curves, as the loop of Kipf's
    protocol written out (Adam, decay on the first layer only, eval after each step)."""
    epochs = 12
    torch.manual_seed(0)
    model = KipfGCN(FEATS, C, 8, dropout=0.5)
    result = fit_full_batch(model, data, epochs=epochs, lr=0.05, weight_decay=0.1)

    torch.manual_seed(0)
    ref = KipfGCN(FEATS, C, 8, dropout=0.5)
    opt = torch.optim.Adam(
        [
            {"params": ref.conv1.parameters(), "weight_decay": 0.1},
            {"params": ref.conv2.parameters(), "weight_decay": 0.0},
        ],
        lr=0.05,
    )
    x = data.x.to_sparse()
    losses, vals, tests = [], [], []
    for _ in range(epochs):
        ref.train()
        opt.zero_grad()
        loss = F.cross_entropy(ref(x, data.edge_index)[data.train_mask], data.y[data.train_mask])
        loss.backward()
        opt.step()
        ref.eval()
        with torch.no_grad():
            out = ref(x, data.edge_index)
        losses.append(loss.item())
        vals.append(accuracy(out, data, data.val_mask))
        tests.append(accuracy(out, data, data.test_mask))

    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    assert result.losses == losses
    assert result.val_accs == pytest.approx(vals) and result.test_accs == pytest.approx(tests)
    best = vals.index(max(vals))  # the first epoch of best validation accuracy
    assert result.best_epoch == best + 1
    assert result.val_acc == pytest.approx(vals[best])
    assert result.test_acc == pytest.approx(tests[best])
    assert result.epochs == len(result.step_times) == epochs
    assert not model.training


def test_learns(data: Data) -> None:
    torch.manual_seed(0)
    result = fit_full_batch(KipfGCN(FEATS, C), data, epochs=100)
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert result.test_acc >= 80.0, result.test_accs  # chance is 33 %


def test_interleaved_trainers_draw_their_own_masks(data: Data) -> None:
    """Two trainers alternating epochs end as each would alone (each keeps its RNG state)."""

    def trainer(seed: int) -> FullBatchTrainer:
        torch.manual_seed(seed)
        return FullBatchTrainer(KipfGCN(FEATS, C), data)

    a, b = trainer(1), trainer(2)
    for _ in range(5):
        a.step()
        b.step()
    for seed, t in ((1, a), (2, b)):
        torch.manual_seed(seed)
        alone = fit_full_batch(KipfGCN(FEATS, C), data, epochs=5)
        assert t.result.losses == alone.losses


def test_kipf_adam_decays_the_first_layer_only() -> None:
    model = KipfGCN(FEATS, C)
    groups = kipf_adam(model, lr=0.02, weight_decay=1e-3).param_groups
    assert [g["weight_decay"] for g in groups] == [1e-3, 0.0]
    assert [g["lr"] for g in groups] == [0.02, 0.02]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.conv1.parameters()}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.conv2.parameters()}


def test_other_models_need_an_optimizer(data: Data) -> None:
    model = nn.Linear(FEATS, C)
    with pytest.raises(TypeError, match="pass your own optimizer"):
        fit_full_batch(model, data)

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(FEATS, C)

        def forward(self, x, edge_index):
            return self.lin(x)

    mlp = Mlp()
    opt = torch.optim.Adam(mlp.parameters(), lr=0.05)
    result = fit_full_batch(mlp, data, epochs=3, optimizer=opt, sparse_features=False)
    assert result.epochs == 3


def test_bad_input(data: Data) -> None:
    with pytest.raises(ValueError, match="epochs"):
        fit_full_batch(KipfGCN(FEATS, C), data, epochs=0)
    del data.val_mask
    with pytest.raises(ValueError, match=r"data lacks \['val_mask'\]"):
        fit_full_batch(KipfGCN(FEATS, C), data)
