"""The shared dense/sparse attention functions against the written-out sums."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_dense_batch

from stgcn.layers.attention import (
    complete_graph_attention,
    complete_graph_weights,
    dense_attention,
    edge_attention_weights,
)

COMBOS = [(s, n) for s in ("dot", "concat") for n in ("softmax", "mean")]


def explicit(q, k, v, score, normalize):
    """y_i = sum_j f(q_i, k_j) v_j / C_i for one graph, as a double loop over pairs."""
    out = torch.zeros(q.size(0), v.size(1), dtype=v.dtype)
    for i in range(q.size(0)):
        if score == "dot":
            s = torch.stack([q[i] @ k[j] for j in range(k.size(0))])
        else:
            s = torch.stack([F.relu(q[i, 0] + k[j, 0]) for j in range(k.size(0))])
        f = torch.exp(s) if normalize == "softmax" else s
        c = f.sum() if normalize == "softmax" else k.size(0)
        out[i] = (f[:, None] * v).sum(0) / c
    return out


def tensors(n, m, score, seed=0):
    gen = torch.Generator().manual_seed(seed)
    d = 3 if score == "dot" else 1
    q = torch.randn(n, d, generator=gen, dtype=torch.float64)
    k = torch.randn(m, d, generator=gen, dtype=torch.float64)
    v = torch.randn(m, 2, generator=gen, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize(("score", "normalize"), COMBOS)
def test_dense_attention_rectangular(score, normalize):
    q, k, v = tensors(4, 3, score)
    out = dense_attention(q[None], k[None], v[None], None, score, normalize)[0]
    torch.testing.assert_close(out, explicit(q, k, v, score, normalize))


BATCHES = {
    "unequal": [1, 1, 1, 3, 4, 4],  # videos 0 and 2 are empty: the padded path
    "equal": [0, 0, 1, 1, 2, 2],  # one size for all: the reshape path
}


@pytest.mark.parametrize("layout", BATCHES)
@pytest.mark.parametrize(("score", "normalize"), COMBOS)
def test_complete_graph_attention_per_video_with_gradients(score, normalize, layout):
    batch = torch.tensor(BATCHES[layout])
    q, k, v = (t.requires_grad_() for t in tensors(6, 6, score))
    out = complete_graph_attention(q, k, v, batch, score, normalize)
    for b in batch.unique():
        s = batch == b
        expected = explicit(q[s], k[s], v[s], score, normalize)
        torch.testing.assert_close(out[s], expected)
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize(("score", "normalize"), COMBOS)
def test_padded_keys_are_ignored(score, normalize):
    batch = torch.tensor([0, 0, 0, 1])
    q, k, v = tensors(4, 4, score)
    (dq, mask), (dk, _), (dv, _) = (to_dense_batch(t, batch) for t in (q, k, v))
    dk[~mask] = 7.0  # padding that is not zero must still be ignored
    dv[~mask] = 7.0
    out = dense_attention(dq, dk, dv, mask, score, normalize)[mask]
    torch.testing.assert_close(out, complete_graph_attention(q, k, v, batch, score, normalize))
    torch.testing.assert_close(out[3:], explicit(q[3:], k[3:], v[3:], score, normalize))


@pytest.mark.parametrize(("score", "normalize"), COMBOS)
def test_edge_weights_match_dense_on_complete_graph(score, normalize):
    q, k, v = tensors(5, 5, score)
    dst, src = torch.ones(5, 5).nonzero().t()
    w = edge_attention_weights(q[dst], k[src], dst, None, 5, score, normalize)
    y = torch.zeros(5, 2, dtype=v.dtype).index_add_(0, dst, w[:, None] * v[src])
    if normalize == "mean":
        y = y / 5
    torch.testing.assert_close(y, explicit(q, k, v, score, normalize))


def test_bad_names_raise():
    q = torch.randn(1, 2, 3)
    with pytest.raises(ValueError, match="score must be one of"):
        dense_attention(q, q, q, score="cosine")
    with pytest.raises(ValueError, match="normalize must be one of"):
        dense_attention(q, q, q, normalize="sum")


@pytest.mark.parametrize("scale", [1.0, 0.25])
@pytest.mark.parametrize("masked", [False, True])
def test_large_softmax_path_equals_explicit_product(masked, scale):
    """Past the size where the CPU switches to the fused SDPA kernel, the numbers do not change."""
    import stgcn.layers.attention as attention

    gen = torch.Generator().manual_seed(0)
    n = 1 << 11  # n * n = 2^22 entries: at the switch
    assert n * n >= attention._CPU_SDPA_MIN_ENTRIES
    q, k, v = (torch.randn(1, n, 8, generator=gen) / 2 for _ in range(3))
    mask = torch.rand(1, n, generator=gen) > 0.3 if masked else None
    out = dense_attention(q, k, v, mask, "dot", "softmax", scale)
    s = q @ k.transpose(-1, -2) * scale
    if masked:
        s = s.masked_fill(~mask[:, None, :], float("-inf"))
    expected = torch.softmax(s, dim=-1) @ v
    # float32, two kernels that sum in different orders: 1e-5 of the output's magnitude (~80 ulps)
    tol = 1e-5 * expected.abs().max().item()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=tol)


@pytest.mark.parametrize("counts", [[4, 4, 4], [3, 0, 1, 5], [6]])
@pytest.mark.parametrize(("score", "normalize"), COMBOS)
def test_complete_graph_weights_are_the_weights_complete_graph_attention_applies(
    counts, score, normalize
):
    """Equal videos (views, no padding), unequal ones with an empty video (padding), one video."""
    gen = torch.Generator().manual_seed(len(counts))
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    n, d = len(batch), 1 if score == "concat" else 3
    q, k = (torch.randn(n, d, generator=gen, dtype=torch.float64) for _ in range(2))
    v = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    att = complete_graph_weights(q, k, batch, score, normalize)
    out = complete_graph_attention(q, k, v, batch, score, normalize)
    torch.testing.assert_close(att.propagate(v), out, atol=1e-12, rtol=1e-10)
    # in edge form: one weight per ordered pair of each video, equal to the explicit sum's weight
    (src, dst), alpha = att.edges()
    assert len(alpha) == sum(c * c for c in counts)
    assert bool((batch[src] == batch[dst]).all())
    assert torch.unique(dst * n + src).numel() == len(alpha)
    y = torch.zeros(n, 4, dtype=v.dtype).index_add_(0, dst, alpha[:, None] * v[src])
    for video in batch.unique():
        sel = batch == video
        expected = explicit(q[sel], k[sel], v[sel], score, normalize)
        torch.testing.assert_close(y[sel], expected, atol=1e-12, rtol=1e-10)
    assert att.index is None if len(set(counts)) == 1 else att.index is not None
