"""SpaceTimeGCN against the paper's equations written densely, per branch and joint, every option."""

from __future__ import annotations

import pytest
import torch
from region_videos import random_videos
from torch import nn
from torch_geometric.data import Batch
from torchvision.ops import box_iou

from stgcn.graphs import VideoGraph
from stgcn.layers import GRAPHS, SimilarityGraph, SpaceTimeGCN, register_graph

IN, HID, OUT = 6, 5, 4
BOTH = ("similarity", "spatial_temporal")
ALL = ("similarity", "spatial_temporal", "non_local")
PAPER: dict = {}  # the defaults: one shared similarity graph, LayerNorm + ReLU, no bias
# The form before the fidelity review: a graph per layer, ReLU between layers only, biases.
OLD = {"similarity": "per_layer", "norm": False, "bias": True}
OPTIONS = [PAPER, OLD, {"similarity": "per_layer"}, {"norm": False, "bias": True}]


def dense_st(box, frame, batch):
    iou = torch.nan_to_num(box_iou(box.double(), box.double()))
    link = (batch[:, None] == batch[None, :]) & (frame[None, :] == frame[:, None] + 1)
    sigma = torch.where(link & (iou > 0), iou, torch.zeros_like(iou))
    front = sigma / sigma.sum(1, keepdim=True).clamp_min(1e-300)
    back = sigma.t() / sigma.t().sum(1, keepdim=True).clamp_min(1e-300)
    return front, back


def dense_similarity(w, w_prime, h, batch):
    """G_ij = softmax_j(phi(h_i)^T phi'(h_j)) over the nodes j of i's video, as an [N, N] matrix."""
    s = (h @ w.t()) @ (h @ w_prime.t()).t()
    s = s.masked_fill(batch[:, None] != batch[None, :], float("-inf"))
    return torch.softmax(s, dim=1)


def dense_layer(conv, name: str, h, box, frame, batch, g_shared):
    """One graph convolution Z = G H W (+ b) as the paper writes it, with [N, N] matrices."""
    if name == "similarity":
        g = g_shared
        if g is None:  # per layer: this layer's own phi, phi' on its own input
            g = dense_similarity(conv.phi.weight, conv.phi_prime.weight, h, batch)
        z = g @ h @ conv.lin.weight.t()
    else:
        front, back = (m.to(h.dtype) for m in dense_st(box, frame, batch))
        z = front @ h @ conv.lin_front.weight.t() + back @ h @ conv.lin_back.weight.t()
    return z if conv.bias is None else z + conv.bias


def layer_norm(ln: nn.LayerNorm, z):
    mean, var = z.mean(-1, keepdim=True), z.var(-1, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def oracle(model: SpaceTimeGCN, x, box, frame, batch, mask=None):
    """The dense model; ``mask`` [N, N] multiplies the shared similarity graph entrywise."""
    g_shared = None
    if "similarity" in model.graphs and model.similarity == "shared":
        graph = model.edge_builders["similarity"].graph
        g_shared = dense_similarity(graph.phi.weight, graph.phi_prime.weight, x, batch)
        if mask is not None:
            g_shared = g_shared * mask

    def shortcut(depth, key, h):
        if model.shortcuts is None or key not in model.shortcuts[depth]:
            return 0
        s = model.shortcuts[depth][key]
        return h if isinstance(s, torch.nn.Identity) else h @ s.weight.t()

    def act(depth, key, h):
        if model.norm:  # sigma(LN(.)) after every layer, the last one included
            return torch.relu(layer_norm(model.norms[depth][key], h))
        return h if depth == model.num_layers - 1 else torch.relu(h)

    def conv(depth, g, h):
        return dense_layer(model.layers[depth][g], g, h, box, frame, batch, g_shared)

    if model.joint:
        h = x
        for d in range(model.num_layers):
            out = sum(conv(d, g, h) for g in model.graphs)
            h = act(d, "joint", out + shortcut(d, "joint", h))
        return h
    total = 0
    for g in model.graphs:
        h = x
        for d in range(model.num_layers):
            h = act(d, g, conv(d, g, h) + shortcut(d, g, h))
        total = total + h
    return total


def data(
    counts: list[int], num_frames: int = 4, seed: int = 0, dtype=torch.float64, channels: int = IN
):
    return random_videos(counts, channels, num_frames, seed, dtype)


def make(dtype=torch.float64, seed: int = 0, **kwargs) -> SpaceTimeGCN:
    """Random weights (LayerNorm's scale and shift too, so that they are tested), eval mode."""
    torch.manual_seed(seed)
    kwargs = {"in_channels": IN, "hidden_channels": HID, "out_channels": OUT, **kwargs}
    model = SpaceTimeGCN(**kwargs).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "non_local" not in name:
                p.normal_(0, 0.4)
    return model.eval()


@pytest.mark.parametrize("options", OPTIONS, ids=["paper", "old", "per_layer", "no_norm"])
@pytest.mark.parametrize("graphs", [BOTH, ("spatial_temporal",), ("similarity",)])
@pytest.mark.parametrize(
    ("joint", "residual"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_matches_dense_equations(options, graphs, joint: bool, residual: bool) -> None:
    # unequal videos, 0- and 1-box videos, frames without boxes; float64, so the only difference
    # is the order of summation (~1e-16 relative)
    x, box, frame, batch = data([7, 0, 1, 11], num_frames=5)
    model = make(graphs=graphs, joint=joint, residual=residual, **options)
    out = model(x, box, frame, batch)
    assert out.shape == (19, OUT)
    torch.testing.assert_close(out, oracle(model, x, box, frame, batch), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("joint", [False, True])
def test_paper_form_in_float32(joint: bool) -> None:
    """The default form in float32 against the float64 oracle, to a tolerance from the output's
    magnitude (float32 keeps ~7 digits; 1e-5 of the largest value leaves ~80 ulps)."""
    x, box, frame, batch = data([10, 3, 12], seed=7)
    model = make(joint=joint, graphs=BOTH)
    expected = oracle(model, x, box, frame, batch)
    out = model.float()(x.float(), box.float(), frame, batch)
    scale = expected.abs().max().item()
    torch.testing.assert_close(out.double(), expected, atol=1e-5 * scale, rtol=1e-5)


def test_paper_defaults_and_parameter_count() -> None:
    model = SpaceTimeGCN(512)
    assert (model.similarity, model.norm, model.bias) == ("shared", True, False)
    d, layers = 512, 3
    # one phi, phi' pair (2 d^2); per layer W (d^2) and W_f, W_b (2 d^2); a LayerNorm (2d) per
    # branch and layer; no bias
    expected = 2 * d * d + layers * (3 * d * d + 2 * 2 * d)
    assert sum(p.numel() for p in model.parameters()) == expected == 2_889_728
    old = SpaceTimeGCN(512, **OLD)
    # per layer: phi, phi', W + bias (3 d^2 + d) and W_f, W_b + bias (2 d^2 + d)
    assert sum(p.numel() for p in old.parameters()) == layers * (5 * d * d + 2 * d) == 3_935_232
    names = [n for n, _ in model.named_parameters() if "phi" in n]
    assert names == ["edge_builders.similarity.graph.phi.weight",
                     "edge_builders.similarity.graph.phi_prime.weight"]  # fmt: skip
    assert not any(n.endswith(".bias") and "norms" not in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("joint", [False, True])
def test_one_similarity_graph_per_forward(joint: bool) -> None:
    x, box, frame, batch = data([8, 6], seed=1)
    model = make(graphs=BOTH, joint=joint)
    calls = []
    for m in model.modules():
        if isinstance(m, SimilarityGraph):
            m.register_forward_hook(lambda *args: calls.append(1))
    model(x, box, frame, batch)
    assert len(calls) == 1
    # per layer: no shared graph, every similarity conv has its own phi, phi'
    per_layer = make(graphs=BOTH, joint=joint, similarity="per_layer")
    assert not any(isinstance(m, SimilarityGraph) for m in per_layer.modules())
    assert all(layer["similarity"].learn_graph for layer in per_layer.layers)


@pytest.mark.parametrize("joint", [False, True])
def test_return_attention_weights_matches_dense_softmax(joint: bool) -> None:
    x, box, frame, batch = data([7, 0, 1, 11], seed=2)
    model = make(graphs=BOTH, joint=joint)
    out, (edge_index, alpha) = model(x, box, frame, batch, return_attention_weights=True)
    torch.testing.assert_close(out, model(x, box, frame, batch))
    graph = model.edge_builders["similarity"].graph
    g = dense_similarity(graph.phi.weight, graph.phi_prime.weight, x, batch)
    same = batch[:, None] == batch[None, :]
    assert edge_index.size(1) == int(same.sum()) == 7 * 7 + 1 + 11 * 11
    src, dst = edge_index
    assert bool((batch[src] == batch[dst]).all())
    # every (i, j) pair of a video once; alpha[e] = G[target, source]
    assert torch.unique(dst * 19 + src).numel() == edge_index.size(1)
    torch.testing.assert_close(alpha, g[dst, src], atol=1e-12, rtol=1e-10)

    per_layer = make(graphs=BOTH, joint=joint, similarity="per_layer")
    _, (ei, alphas) = per_layer(x, box, frame, batch, return_attention_weights=True)
    assert torch.equal(ei, edge_index) and alphas.shape == (edge_index.size(1), 3)
    first = per_layer.layers[0]["similarity"]
    g0 = dense_similarity(first.phi.weight, first.phi_prime.weight, x, batch)
    torch.testing.assert_close(alphas[:, 0], g0[dst, src], atol=1e-12, rtol=1e-10)
    # each depth's weights are a softmax over each target's video
    sums = torch.zeros(19, 3, dtype=alphas.dtype).index_add_(0, dst, alphas)
    torch.testing.assert_close(sums, torch.ones(19, 3, dtype=alphas.dtype))
    with pytest.raises(ValueError, match="needs the similarity graph"):
        make(graphs=("spatial_temporal",))(x, box, frame, batch, return_attention_weights=True)


@pytest.mark.parametrize("joint", [False, True])
def test_similarity_mask_multiplies_the_shared_graph_edge_by_edge(joint: bool) -> None:
    x, box, frame, batch = data([7, 0, 1, 11], seed=4)
    model = make(graphs=BOTH, joint=joint)
    _, (edge_index, alpha) = model(x, box, frame, batch, return_attention_weights=True)
    mask = torch.rand(alpha.shape, dtype=alpha.dtype, generator=torch.Generator().manual_seed(0))
    dense_mask = torch.zeros(19, 19, dtype=x.dtype)
    dense_mask[edge_index[1], edge_index[0]] = mask  # G[target, source]
    out = model(x, box, frame, batch, similarity_mask=mask)
    torch.testing.assert_close(out, oracle(model, x, box, frame, batch, dense_mask))
    assert not torch.allclose(out, model(x, box, frame, batch))
    ones = model(x, box, frame, batch, similarity_mask=torch.ones_like(mask))
    torch.testing.assert_close(ones, model(x, box, frame, batch))
    with pytest.raises(ValueError, match="edge_weight must be"):
        model(x, box, frame, batch, similarity_mask=mask[:-1])
    with pytest.raises(ValueError, match="shared"):
        make(graphs=BOTH, similarity="per_layer")(x, box, frame, batch, similarity_mask=mask)


def test_branches_differ_from_joint() -> None:
    x, box, frame, batch = data([8, 6], seed=1)
    branch = make(graphs=BOTH)
    joint = make(graphs=BOTH, joint=True)
    shared = {k: v for k, v in branch.state_dict().items() if "norms" not in k}
    joint.load_state_dict(shared, strict=False)
    assert not torch.allclose(branch(x, box, frame, batch), joint(x, box, frame, batch), atol=1e-3)


@pytest.mark.parametrize("options", [PAPER, OLD], ids=["paper", "old"])
@pytest.mark.parametrize("graphs", [BOTH, ALL])
def test_batch_equals_each_video_alone(graphs, options) -> None:
    counts = [6, 0, 1, 10]
    x, box, frame, batch = data(counts, seed=2)
    kwargs = {"hidden_channels": IN, "out_channels": IN} if "non_local" in graphs else {}
    model = make(graphs=graphs, residual=True, **kwargs, **options)
    together = model(x, box, frame, batch)
    start = 0
    for c in counts:
        sl = slice(start, start + c)
        torch.testing.assert_close(
            together[sl], model(x[sl], box[sl], frame[sl]), atol=1e-12, rtol=1e-10
        )
        start += c
    pooled = model.readout(together, batch, len(counts))
    assert pooled.shape == (4, together.size(1))
    assert torch.equal(pooled[1], torch.zeros(together.size(1), dtype=pooled.dtype))
    torch.testing.assert_close(pooled[3], together[7:].mean(0))


@pytest.mark.parametrize("joint", [False, True])
def test_permutation_within_videos(joint: bool) -> None:
    x, box, frame, batch = data([9, 5, 7], seed=3)
    model = make(graphs=ALL, hidden_channels=IN, out_channels=IN, joint=joint)
    out = model(x, box, frame, batch)
    perm = torch.cat([torch.randperm(9), 9 + torch.randperm(5), 14 + torch.randperm(7)])
    torch.testing.assert_close(
        model(x[perm], box[perm], frame[perm], batch[perm]), out[perm], atol=1e-12, rtol=1e-10
    )


@pytest.mark.parametrize("options", [PAPER, OLD], ids=["paper", "old"])
@pytest.mark.parametrize("joint", [False, True])
def test_gradients_reach_every_parameter(joint: bool, options) -> None:
    x, box, frame, batch = data([8, 6], seed=4)
    model = make(
        graphs=ALL, hidden_channels=IN, out_channels=IN, joint=joint, residual=True, **options
    ).train()
    with torch.no_grad():  # a new non-local block is the identity: open it so θ, φ, g get gradient
        for layer in model.layers:
            layer["non_local"].bn.weight.fill_(1.0)
    model(x, box, frame, batch).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert any("phi_prime" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("options", [PAPER, OLD], ids=["paper", "old"])
def test_gradcheck_float64(options) -> None:
    x, box, frame, batch = data([4, 3], num_frames=3, seed=5, channels=3)
    model = make(
        in_channels=3, hidden_channels=2, out_channels=2, num_layers=2, residual=True, **options
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
        x, box, frame, _ = data([c], seed=10 + i, dtype=torch.float32)
        graphs.append(VideoGraph(x=x, box=box, frame=frame, num_frames=4))
    b = Batch.from_data_list(graphs)
    model = make(torch.float32, graphs=BOTH, dropout=0.5).train()
    out = model(b.x, b.box, b.frame, b.batch)
    pooled = model.readout(out, b.batch, b.num_graphs)
    assert out.shape == (18, OUT) and pooled.shape == (4, OUT)
    assert torch.isfinite(out).all() and torch.isfinite(pooled).all()
    # no boxes at all
    x, box, frame, batch = data([0], seed=0, dtype=torch.float32)
    assert model(x, box, frame, batch).shape == (0, OUT)
    assert torch.equal(model.readout(model(x, box, frame, None), None, 2), torch.zeros(2, OUT))


class ScaledIdentity(nn.Module):
    """A toy graph convolution for the registry test: Z = G H W with G = I / n_video."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, h, weight):
        return self.lin(h) * weight[:, None]


def test_a_new_graph_type_is_one_registration() -> None:
    def edges(gcn):
        def build(x, box, frame, batch):
            return {"weight": 1.0 / torch.bincount(batch)[batch].to(x.dtype)}

        return build

    register_graph("scaled_identity", conv=lambda gcn, i, o: ScaledIdentity(i, o), edges=edges)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_graph("scaled_identity", conv=lambda gcn, i, o: None, edges=edges)
        x, box, frame, batch = data([3, 5], seed=6)
        model = make(graphs=("scaled_identity", "spatial_temporal"), norm=False)
        out = model(x, box, frame, batch)
        w = (1.0 / torch.bincount(batch)[batch].to(x.dtype))[:, None]
        h = x
        for d in range(3):
            h = h @ model.layers[d]["scaled_identity"].lin.weight.t() * w
            h = h if d == 2 else torch.relu(h)
        st = make(graphs=("spatial_temporal",), norm=False)
        st.load_state_dict({k: v for k, v in model.state_dict().items() if "scaled" not in k})
        torch.testing.assert_close(out, h + st(x, box, frame, batch), atol=1e-12, rtol=1e-10)
    finally:
        del GRAPHS["scaled_identity"]


def test_defaults_repr_and_bad_arguments() -> None:
    model = SpaceTimeGCN(16)
    assert model.hidden_channels == model.out_channels == 16 and model.num_layers == 3
    assert (
        repr(model)
        == "SpaceTimeGCN(16, 16, num_layers=3, graphs=('similarity', 'spatial_temporal'))"
    )
    assert repr(SpaceTimeGCN(16, **OLD)).endswith("similarity='per_layer', norm=False, bias=True)")
    assert len(model.layers) == 3 and set(model.layers[0]) == set(BOTH)
    assert set(model.norms[0]) == set(BOTH)
    assert SpaceTimeGCN(16, norm=False).norms is None
    with pytest.raises(ValueError, match="graphs must be distinct names"):
        SpaceTimeGCN(8, graphs=("similarity", "kipf"))
    with pytest.raises(ValueError, match="graphs must be distinct names"):
        SpaceTimeGCN(8, graphs=("similarity", "similarity"))
    with pytest.raises(ValueError, match="non_local graph keeps the channel count"):
        SpaceTimeGCN(8, 4, graphs=ALL)
    with pytest.raises(ValueError, match="num_layers"):
        SpaceTimeGCN(8, num_layers=0)
    with pytest.raises(ValueError, match="similarity must be one of"):
        SpaceTimeGCN(8, similarity="per_video")
    x, box, frame, batch = data([3, 4])
    with pytest.raises(ValueError, match="batch must be sorted"):
        make(graphs=BOTH)(x, box, frame, batch.flip(0))
    with pytest.raises(ValueError, match=r"box must be \[7, 4\]"):
        make(graphs=BOTH)(x, box[:5], frame, batch)
