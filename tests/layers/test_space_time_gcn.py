"""SpaceTimeGCN against its equations written densely, per branch and joint."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torchvision.ops import box_iou

from stgcn.graphs import VideoGraph
from stgcn.layers import SpaceTimeGCN

IN, HID, OUT = 6, 5, 4
BOTH = ("similarity", "spatial_temporal")
ALL = ("similarity", "spatial_temporal", "non_local")
# The form before the fidelity review: a graph per layer, ReLU between layers only, biases.
OLD = {"similarity": "per_layer", "norm": False, "bias": True}


def dense_st(box, frame, batch):
    iou = torch.nan_to_num(box_iou(box.double(), box.double()))
    link = (batch[:, None] == batch[None, :]) & (frame[None, :] == frame[:, None] + 1)
    sigma = torch.where(link & (iou > 0), iou, torch.zeros_like(iou))
    front = sigma / sigma.sum(1, keepdim=True).clamp_min(1e-300)
    back = sigma.t() / sigma.t().sum(1, keepdim=True).clamp_min(1e-300)
    return front, back


def dense_layer(conv, name: str, h, box, frame, batch):
    """One graph convolution as the paper writes it, with [N, N] matrices."""
    if name == "similarity":
        s = (h @ conv.phi.weight.t()) @ (h @ conv.phi_prime.weight.t()).t()
        s = s.masked_fill(batch[:, None] != batch[None, :], float("-inf"))
        z = torch.softmax(s, dim=1) @ h @ conv.lin.weight.t()
    else:
        front, back = (m.to(h.dtype) for m in dense_st(box, frame, batch))
        z = front @ h @ conv.lin_front.weight.t() + back @ h @ conv.lin_back.weight.t()
    return z + conv.bias


def oracle(model: SpaceTimeGCN, x, box, frame, batch):
    def shortcut(depth, key, h):
        if model.shortcuts is None:
            return 0
        s = model.shortcuts[depth][key]
        return h if isinstance(s, torch.nn.Identity) else h @ s.weight.t()

    def act(depth, h):
        return h if depth == model.num_layers - 1 else torch.relu(h)

    if model.joint:
        h = x
        for d in range(model.num_layers):
            out = sum(
                dense_layer(model.layers[d][g], g, h, box, frame, batch) for g in model.graphs
            )
            h = act(d, out + shortcut(d, "joint", h))
        return h
    total = 0
    for g in model.graphs:
        h = x
        for d in range(model.num_layers):
            h = act(d, dense_layer(model.layers[d][g], g, h, box, frame, batch) + shortcut(d, g, h))
        total = total + h
    return total


def data(
    counts: list[int], num_frames: int = 4, seed: int = 0, dtype=torch.float32, channels: int = IN
):
    g = torch.Generator().manual_seed(seed)
    n = sum(counts)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 40
    box = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g, dtype=dtype) * 30], 1)
    frame = torch.randint(0, num_frames, (n,), generator=g)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return torch.randn(n, channels, generator=g, dtype=dtype), box, frame, batch


def make(dtype=torch.float32, seed: int = 0, **kwargs) -> SpaceTimeGCN:
    torch.manual_seed(seed)
    kwargs = {"in_channels": IN, "hidden_channels": HID, "out_channels": OUT, **OLD, **kwargs}
    model = SpaceTimeGCN(**kwargs).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "non_local" not in name:
                p.normal_(0, 0.4)
    return model.eval()


@pytest.mark.parametrize("graphs", [BOTH, ("spatial_temporal",), ("similarity",)])
@pytest.mark.parametrize(
    ("joint", "residual"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_matches_dense_equations(graphs, joint: bool, residual: bool) -> None:
    # unequal videos, 0- and 1-box videos, frames without boxes
    x, box, frame, batch = data([7, 0, 1, 11], num_frames=5)
    model = make(graphs=graphs, joint=joint, residual=residual)
    out = model(x, box, frame, batch)
    assert out.shape == (19, OUT)
    torch.testing.assert_close(out, oracle(model, x, box, frame, batch), atol=1e-5, rtol=1e-5)


def test_branches_differ_from_joint() -> None:
    x, box, frame, batch = data([8, 6], seed=1)
    branch = make(graphs=BOTH)
    joint = make(graphs=BOTH, joint=True)
    joint.load_state_dict(branch.state_dict())
    assert not torch.allclose(branch(x, box, frame, batch), joint(x, box, frame, batch), atol=1e-3)


@pytest.mark.parametrize("graphs", [BOTH, ALL])
def test_batch_equals_each_video_alone(graphs) -> None:
    counts = [6, 0, 1, 10]
    x, box, frame, batch = data(counts, seed=2)
    kwargs = {"hidden_channels": IN, "out_channels": IN} if "non_local" in graphs else {}
    model = make(graphs=graphs, residual=True, **kwargs)
    together = model(x, box, frame, batch)
    start = 0
    for c in counts:
        sl = slice(start, start + c)
        torch.testing.assert_close(
            together[sl], model(x[sl], box[sl], frame[sl]), atol=1e-5, rtol=1e-5
        )
        start += c
    pooled = model.readout(together, batch, len(counts))
    assert pooled.shape == (4, together.size(1))
    assert torch.equal(pooled[1], torch.zeros(together.size(1)))  # the video without boxes
    torch.testing.assert_close(pooled[3], together[7:].mean(0))


@pytest.mark.parametrize("joint", [False, True])
def test_permutation_within_videos(joint: bool) -> None:
    x, box, frame, batch = data([9, 5, 7], seed=3)
    model = make(graphs=ALL, hidden_channels=IN, out_channels=IN, joint=joint)
    out = model(x, box, frame, batch)
    perm = torch.cat([torch.randperm(9), 9 + torch.randperm(5), 14 + torch.randperm(7)])
    torch.testing.assert_close(
        model(x[perm], box[perm], frame[perm], batch[perm]), out[perm], atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("joint", [False, True])
def test_gradients_reach_every_parameter(joint: bool) -> None:
    x, box, frame, batch = data([8, 6], seed=4)
    model = make(
        graphs=ALL, hidden_channels=IN, out_channels=IN, joint=joint, residual=True
    ).train()
    with torch.no_grad():  # a new non-local block is the identity: open it so θ, φ, g get gradient
        for layer in model.layers:
            layer["non_local"].bn.weight.fill_(1.0)
    model(x, box, frame, batch).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert any("phi_prime" in name for name, _ in model.named_parameters())


def test_gradcheck_float64() -> None:
    x, box, frame, batch = data([4, 3], num_frames=3, seed=5, dtype=torch.float64, channels=3)
    model = make(
        torch.float64, in_channels=3, hidden_channels=2, out_channels=2, num_layers=2, residual=True
    )
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda a: model(a, box, frame, batch), (x,))
    params = dict(model.named_parameters())

    def by_params(*ps):
        return torch.func.functional_call(
            model, dict(zip(params, ps, strict=True)), (x.detach(), box, frame, batch)
        )

    assert torch.autograd.gradcheck(
        by_params, tuple(p.detach().requires_grad_() for p in params.values()), fast_mode=True
    )


def test_from_a_pyg_batch_of_video_graphs_and_no_nan() -> None:
    graphs = []
    for i, c in enumerate([0, 1, 5, 12]):
        x, box, frame, _ = data([c], seed=10 + i)
        graphs.append(VideoGraph(x=x, box=box, frame=frame, num_frames=4))
    b = Batch.from_data_list(graphs)
    model = make(graphs=BOTH, dropout=0.5).train()
    out = model(b.x, b.box, b.frame, b.batch)
    pooled = model.readout(out, b.batch, b.num_graphs)
    assert out.shape == (18, OUT) and pooled.shape == (4, OUT)
    assert torch.isfinite(out).all() and torch.isfinite(pooled).all()
    # no boxes at all
    x, box, frame, batch = data([0], seed=0)
    assert model(x, box, frame, batch).shape == (0, OUT)
    assert torch.equal(model.readout(model(x, box, frame, None), None, 2), torch.zeros(2, OUT))


def test_defaults_repr_and_bad_arguments() -> None:
    model = SpaceTimeGCN(16)
    assert model.hidden_channels == model.out_channels == 16 and model.num_layers == 3
    assert (
        repr(model)
        == "SpaceTimeGCN(16, 16, num_layers=3, graphs=('similarity', 'spatial_temporal'))"
    )
    assert len(model.layers) == 3 and set(model.layers[0]) == set(BOTH)
    with pytest.raises(ValueError, match="graphs must be distinct names"):
        SpaceTimeGCN(8, graphs=("similarity", "kipf"))
    with pytest.raises(ValueError, match="graphs must be distinct names"):
        SpaceTimeGCN(8, graphs=("similarity", "similarity"))
    with pytest.raises(ValueError, match="non_local graph keeps the channel count"):
        SpaceTimeGCN(8, 4, graphs=ALL)
    with pytest.raises(ValueError, match="num_layers"):
        SpaceTimeGCN(8, num_layers=0)
    x, box, frame, batch = data([3, 4])
    with pytest.raises(ValueError, match="batch must be sorted"):
        make(graphs=BOTH)(x, box, frame, batch.flip(0))
    with pytest.raises(ValueError, match=r"box must be \[7, 4\]"):
        make(graphs=BOTH)(x, box[:5], frame, batch)
