"""NonLocalGraphConv against eq. (1)/(6) of Wang et al., "Non-local Neural Networks" (CVPR 2018)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from graph_checks import all_pairs, assert_each_video_alone, gradcheck_with_parameters, same_video

from stgcn.layers import NonLocalGraphConv

MODES = ["embedded_gaussian", "gaussian", "dot_product", "concatenation"]
C = 6
# Videos of 3, 0, 1 and 4 nodes: an empty and a single-node video among unequal ones.
BATCH = torch.tensor([0, 0, 0, 2, 3, 3, 3, 3])


def lin(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    out = x @ layer.weight.t()
    return out if layer.bias is None else out + layer.bias


def oracle_y(m: NonLocalGraphConv, x: torch.Tensor, x_kv: torch.Tensor, adj: torch.Tensor):
    """y_i = 1/C_i sum_j adj_ij f(x_i, x_j) g(x_j), written out densely; adj [N, M] bool."""
    return oracle_weights(m, x, x_kv, adj) @ lin(m.g, x_kv)


def oracle_weights(m: NonLocalGraphConv, x: torch.Tensor, x_kv: torch.Tensor, adj: torch.Tensor):
    """[N, M] weights adj_ij f(x_i, x_j) / C_i of the non-local sum."""
    a = adj.to(x.dtype)
    # scale=True: the released code's theta^T phi * d_inner^-1/2 before the softmax
    c = x.size(-1) if m.mode == "gaussian" else m.inter_channels
    s = c**-0.5 if m.scale else 1.0
    if m.mode == "gaussian":
        f = torch.exp(s * (x @ x_kv.t()))
    elif m.mode == "embedded_gaussian":
        f = torch.exp(s * (lin(m.theta, x) @ lin(m.phi, x_kv).t()))
    elif m.mode == "dot_product":
        f = lin(m.theta, x) @ lin(m.phi, x_kv).t()
    else:  # ReLU(w^T [theta_i, phi_j]) on the materialised N x M x 2d concatenation
        th, ph = lin(m.theta, x), lin(m.phi, x_kv)
        n, k = th.size(0), ph.size(0)
        pair = torch.cat([th[:, None].expand(n, k, -1), ph[None].expand(n, k, -1)], dim=-1)
        f = F.relu(pair @ m.w_f.weight.t()).squeeze(-1)
    f = f * a
    if m.mode in ("gaussian", "embedded_gaussian"):
        norm = f.sum(1, keepdim=True)
    else:
        norm = a.sum(1, keepdim=True)
    return f / norm.clamp(min=1e-300)


def oracle_z(m: NonLocalGraphConv, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z = BN(W_z y) + x with the BatchNorm written out (batch or running statistics)."""
    z = lin(m.w_z, y)
    if m.bn is not None:
        if m.training:
            mean, var = z.mean(0), z.var(0, unbiased=False)
        else:
            mean, var = m.bn.running_mean, m.bn.running_var
        z = (z - mean) / torch.sqrt(var + m.bn.eps) * m.bn.weight + m.bn.bias
    return z + x


def perturb(m: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BN statistics, so zero-initialised parts are not trivially zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen, dtype=b.dtype) + 0.5)
    return m


def make(mode: str, norm: bool = True, seed: int = 0, **kwargs) -> NonLocalGraphConv:
    torch.manual_seed(seed)
    return perturb(NonLocalGraphConv(C, mode, norm=norm, **kwargs).double(), seed)


def features(n: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, C, generator=torch.Generator().manual_seed(seed), dtype=dtype)


SCALED = [(mode, False) for mode in MODES] + [("embedded_gaussian", True), ("gaussian", True)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize(("mode", "scale"), SCALED)
def test_dense_path_matches_equation(mode, scale, norm, training):
    m = make(mode, norm, scale=scale).train(training)
    x = features(len(BATCH))
    expected = oracle_z(m, x, oracle_y(m, x, x, same_video(BATCH)))
    torch.testing.assert_close(m(x, batch=BATCH), expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize(("mode", "scale"), SCALED)
def test_sparse_path_matches_equation(mode, scale, norm):
    m = make(mode, norm, scale=scale)
    x = features(7)
    adj = torch.rand(7, 7, generator=torch.Generator().manual_seed(3)) < 0.4
    adj[2] = False  # a node without in-edges: y = 0
    dst, src = adj.nonzero().t()
    out = m(x, torch.stack([src, dst]))
    expected = oracle_z(m, x, oracle_y(m, x, x, adj))
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-10)


def test_scale_changes_the_softmax_only_by_the_released_factor():
    x = features(len(BATCH))
    plain, scaled = make("embedded_gaussian"), make("embedded_gaussian", scale=True)
    assert scaled.score_scale == (C // 2) ** -0.5 and plain.score_scale == 1.0
    assert not torch.allclose(plain(x, batch=BATCH), scaled(x, batch=BATCH))
    # theta scaled by d^-1/2 without scale= gives the scaled block
    with torch.no_grad():
        plain.theta.weight.mul_(scaled.score_scale)
        plain.theta.bias.mul_(scaled.score_scale)
    torch.testing.assert_close(
        plain(x, batch=BATCH), scaled(x, batch=BATCH), atol=1e-12, rtol=1e-10
    )
    with pytest.raises(ValueError, match="softmax modes only"):
        NonLocalGraphConv(C, "dot_product", scale=True)
    assert repr(NonLocalGraphConv(8, scale=True)) == (
        "NonLocalGraphConv(8, mode=embedded_gaussian, scale=True)"
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_return_attention_weights_match_the_dense_weights(mode, sparse):
    m = make(mode)
    x = features(len(BATCH))
    edge_index = all_pairs(BATCH) if sparse else None
    out, (ei, alpha) = m(x, edge_index, BATCH, return_attention_weights=True)
    torch.testing.assert_close(out, m(x, edge_index, BATCH), atol=1e-12, rtol=1e-10)
    weights = oracle_weights(m, x, x, same_video(BATCH))
    src, dst = ei
    assert ei.size(1) == int(same_video(BATCH).sum())
    torch.testing.assert_close(alpha, weights[dst, src], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_sparse_equals_dense_on_complete_graph(mode):
    m = make(mode)
    x = features(len(BATCH))
    dense = m(x, batch=BATCH)
    torch.testing.assert_close(m(x, all_pairs(BATCH)), dense, atol=1e-10, rtol=1e-10)

    from stgcn.graphs.edges import complete_edges

    torch.testing.assert_close(m(x, complete_edges(BATCH)), dense, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_float32_against_float64_oracle(mode):
    m = make(mode).eval().float()
    md = copy.deepcopy(m).double()
    x = features(len(BATCH), dtype=torch.float32)
    xd = x.double()
    expected = oracle_z(md, xd, oracle_y(md, xd, xd, same_video(BATCH)))
    # float32 keeps ~7 digits: 1e-5 of the largest output leaves ~80 ulps for the reordered sums
    tol = 1e-5 * expected.abs().max().item()
    for out in (m(x, batch=BATCH), m(x, all_pairs(BATCH))):
        torch.testing.assert_close(out.double(), expected, atol=tol, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_batch_equals_each_video_alone(mode):
    m = make(mode).eval()  # batch statistics would mix videos by design; running ones do not
    assert_each_video_alone(m, features(len(BATCH)), BATCH)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_permutation_equivariance(mode, sparse):
    m = make(mode)
    x = features(len(BATCH))
    # Permute within each video so the batch vector stays sorted.
    perm = torch.tensor([2, 0, 1, 3, 7, 5, 4, 6])
    assert torch.equal(BATCH[perm], BATCH)
    if sparse:
        out, out_p = m(x, all_pairs(BATCH)), m(x[perm], all_pairs(BATCH))
    else:
        out, out_p = m(x, batch=BATCH), m(x[perm], batch=BATCH)
    torch.testing.assert_close(out_p, out[perm], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_new_block_is_identity(mode, norm):
    m = NonLocalGraphConv(C, mode, norm=norm)  # train mode, default initialisation
    x = features(len(BATCH), dtype=torch.float32)
    assert torch.equal(m(x, batch=BATCH), x)
    assert torch.equal(m(x, all_pairs(BATCH)), x)
    grid = torch.randn(2, C, 2, 3, 4)
    assert torch.equal(m.forward_grid(grid), grid)
    m.subsample = True
    assert torch.equal(m.forward_grid(grid), grid)


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_reach_every_parameter(mode, norm):
    torch.manual_seed(0)
    m = NonLocalGraphConv(C, mode, norm=norm)
    x = features(len(BATCH), dtype=torch.float32)
    w = torch.randn(len(BATCH), C)

    def grads():
        m.zero_grad()
        (m(x, batch=BATCH) * w).sum().backward()
        return {n: p.grad for n, p in m.named_parameters()}

    first = grads()
    # A new block is the identity, so at first only the last stage learns: the BN scale
    # and shift (norm=True, where the zero scale also blocks W_z) or W_z (norm=False).
    last = ["bn.weight", "bn.bias"] if norm else ["w_z.weight", "w_z.bias"]
    for name, g in first.items():
        if name in last:
            assert g is not None and g.abs().sum() > 0, name
        else:
            assert g is None or torch.count_nonzero(g) == 0, name
    with torch.no_grad():
        for p in m.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    second = grads()
    for name, g in second.items():
        assert g is not None and g.abs().sum() > 0, f"no gradient reaches {name} after a step"


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(mode, norm, sparse):
    m = make(mode, norm).eval()
    x = features(len(BATCH)).mul(0.5).requires_grad_()
    edge_index = all_pairs(BATCH) if sparse else None
    assert gradcheck_with_parameters(m, x, edge_index, BATCH)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_grid_equals_forward_on_flattened_grid(mode, training):
    m = make(mode).train(training)
    grid = torch.randn(3, C, 2, 3, 3, dtype=torch.float64)
    b, _, t, h, w = grid.shape
    nodes = grid.flatten(2).transpose(1, 2).reshape(-1, C)
    batch = torch.arange(b).repeat_interleave(t * h * w)
    expected = m(nodes, batch=batch).view(b, t * h * w, C).transpose(1, 2).reshape(grid.shape)
    torch.testing.assert_close(m.forward_grid(grid), expected, atol=1e-10, rtol=1e-10)


def max_pool_1x2x2(grid: torch.Tensor) -> torch.Tensor:
    """Max over 2x2 spatial blocks; odd sizes padded with -inf (ceil mode)."""
    h, w = grid.shape[-2:]
    grid = F.pad(grid, (0, w % 2, 0, h % 2), value=float("-inf"))
    b, c, t, h, w = grid.shape
    return grid.view(b, c, t, h // 2, 2, w // 2, 2).amax(dim=(4, 6))


@pytest.mark.parametrize("hw", [(4, 4), (3, 5)])
@pytest.mark.parametrize("subsample", [False, True])
@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_grid_matches_equation(mode, norm, subsample, hw):
    m = make(mode, norm, subsample=subsample)
    grid = torch.randn(2, C, 2, *hw, dtype=torch.float64)
    kv = max_pool_1x2x2(grid) if subsample else grid
    ys = [
        oracle_y(m, g.flatten(1).t(), k.flatten(1).t(), torch.ones(g[0].numel(), k[0].numel()))
        for g, k in zip(grid, kv, strict=True)
    ]
    nodes = grid.flatten(2).transpose(1, 2).reshape(-1, C)
    z = oracle_z(m, nodes, torch.cat(ys))
    expected = z.view(2, -1, C).transpose(1, 2).reshape(grid.shape)
    torch.testing.assert_close(m.forward_grid(grid), expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_grid_gradcheck(mode):
    m = make(mode, subsample=True).eval()
    grid = torch.randn(1, C, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m.forward_grid, (grid,), fast_mode=True)


@pytest.mark.parametrize("mode", MODES)
def test_empty_and_single_node_graphs(mode):
    m = make(mode)
    empty = features(0)
    for out in (m(empty), m(empty, batch=torch.zeros(0, dtype=torch.long))):
        assert out.shape == (0, C)
    one = features(1)
    m.eval()
    torch.testing.assert_close(m(one), oracle_z(m, one, oracle_y(m, one, one, torch.ones(1, 1))))


def test_inter_channels_and_repr():
    m = NonLocalGraphConv(512)
    assert repr(m) == "NonLocalGraphConv(512, mode=embedded_gaussian)"
    assert m.theta.out_features == m.phi.out_features == m.g.out_features == 256
    m = NonLocalGraphConv(8, mode="gaussian", inter_channels=3)
    assert m.theta is None and m.phi is None and m.g.out_features == 3
    assert repr(m) == "NonLocalGraphConv(8, mode=gaussian)"


def test_reset_parameters_restores_identity():
    m = make("embedded_gaussian")
    x = features(5, dtype=torch.float64)
    assert not torch.allclose(m(x), x)
    m.reset_parameters()
    assert torch.equal(m(x), x)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="mode must be one of"):
        NonLocalGraphConv(8, mode="cosine")
    with pytest.raises(ValueError, match="inter_channels"):
        NonLocalGraphConv(1)
    m = NonLocalGraphConv(8)
    with pytest.raises(ValueError, match=r"x must be \[N, 8\]"):
        m(torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"x must be \[B, 8, T, H, W\]"):
        m.forward_grid(torch.randn(2, 8, 3, 3))
