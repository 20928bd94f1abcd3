r"""Two-stream late fusion (Simonyan & Zisserman, *Two-Stream Convolutional Networks for Action
Recognition in Videos*, NIPS 2014; weighted as in TSN, Wang et al., ECCV 2016).

.. math::

    p = \frac{\sum_i w_i \, \mathrm{softmax}(s_i)}{\sum_i w_i}

over the streams' class scores :math:`s_i` ``[B, C]``; TSN weights RGB : flow = 1 : 1.5.
Normalising by :math:`\sum_i w_i` keeps :math:`p` a distribution, which changes no ranking.

:func:`fuse_scores` works on any list of per-stream scores: logits from a forward pass, or the
saved per-video probabilities of :func:`stgcn.engine.evaluate` (``EvalResult.probs``, with
``from_logits=False``), so streams trained apart (two-stream TSN, two-stream I3D) are fused
after the fact. :class:`TwoStream` is the same fusion as a module, for evaluating (or
fine-tuning) both streams in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = ["TSN_FUSION_WEIGHTS", "TwoStream", "fuse_scores"]

TSN_FUSION_WEIGHTS: tuple[float, float] = (1.0, 1.5)
"""TSN's RGB : flow weights."""


def _check_weights(n: int, weights: Sequence[float] | None) -> Tensor:
    w = torch.ones(n) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (n,):
        raise ValueError(f"fusion: {n} streams but {len(w)} weights {list(map(float, w))}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            f"fusion: weights must be finite, >= 0 and not all 0, got {list(map(float, w))}"
        )
    return w


def fuse_scores(
    scores: Sequence[Tensor],
    weights: Sequence[float] | None = None,
    *,
    from_logits: bool = True,
) -> Tensor:
    r"""Weighted late fusion of the streams' scores: :math:`\sum_i w_i \mathrm{softmax}(s_i) /
    \sum_i w_i`.

    Args:
        scores: one ``[B, C]`` tensor per stream (e.g. ``[rgb, flow]``).
        weights: one weight >= 0 per stream (default equal); e.g. :data:`TSN_FUSION_WEIGHTS`.
        from_logits: ``scores`` are logits and go through a softmax first; ``False`` when they
            are probabilities already (``EvalResult.probs`` of saved predictions).

    Returns:
        ``[B, C]`` fused class probabilities, float32 or the inputs' dtype if wider.
    """
    if not scores:
        raise ValueError("fuse_scores: no scores to fuse")
    shape = scores[0].shape
    if len(shape) != 2 or any(s.shape != shape for s in scores):
        raise ValueError(
            f"fuse_scores: every stream needs the same [B, C] scores, got "
            f"{[tuple(s.shape) for s in scores]}"
        )
    w = _check_weights(len(scores), weights)
    dtype = torch.promote_types(scores[0].dtype, torch.float32)
    probs = torch.stack([s.to(dtype) for s in scores])  # [S, B, C]
    if from_logits:
        probs = probs.softmax(dim=-1)
    w = (w / w.sum()).to(dtype=dtype, device=probs.device)
    return torch.einsum("s,sbc->bc", w, probs)


class TwoStream(nn.Module):
    r"""An RGB and a flow network whose softmax scores are fused late (see the module docstring).

    Args:
        rgb: the appearance stream, ``rgb(clip [B, 3, T, H, W]) -> [B, C]`` (a TSN or an I3D).
        flow: the motion stream, ``flow(flow [B, 2L, T, H, W]) -> [B, C]`` (a ``tsn_flow`` or an
            ``i3d_flow``; the layout of the SSv2 reader's ``Sample.flow``).
        weights: RGB and flow weights of the fusion (TSN: 1 and 1.5).

    :meth:`forward` returns the **log** of the fused probabilities, so the engine's cross-entropy
    is the negative log-likelihood of the fused distribution and its softmax gives the fused
    probabilities back; ranking (top-k) is that of :func:`fuse_scores`.
    """

    takes_graph = False
    modality = ("rgb", "flow")
    """What the engine feeds it: ``model(batch.clip, batch.flow)``."""

    def __init__(
        self,
        rgb: nn.Module,
        flow: nn.Module,
        weights: Sequence[float] = TSN_FUSION_WEIGHTS,
    ) -> None:
        super().__init__()
        for name, stream, want in (("rgb", rgb, "rgb"), ("flow", flow, "flow")):
            got = getattr(stream, "modality", "rgb")
            if got != want:
                raise ValueError(f"TwoStream: the {name} stream reads {got!r}, not {want!r}")
        self.rgb = rgb
        self.flow = flow
        self.weights = tuple(float(w) for w in _check_weights(2, weights))

    def stream_logits(
        self, rgb: Tensor | Mapping[str, Tensor], flow: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(rgb logits [B, C], flow logits [B, C])``; inputs as :meth:`forward`."""
        if isinstance(rgb, Mapping):
            if flow is not None:
                raise ValueError("TwoStream: give a dict {'rgb', 'flow'} or two clips, not both")
            missing = sorted({"rgb", "flow"} - set(rgb))
            if missing:
                raise ValueError(f"TwoStream: the input dict has no {missing}; got {sorted(rgb)}")
            rgb, flow = rgb["rgb"], rgb["flow"]
        if flow is None:
            raise ValueError("TwoStream: no flow clip (call model(rgb_clip, flow_clip))")
        return self.rgb(rgb), self.flow(flow)

    def forward(self, rgb: Tensor | Mapping[str, Tensor], flow: Tensor | None = None) -> Tensor:
        """``(rgb [B, 3, T, H, W], flow [B, 2L, T, H, W])``, or a dict with those keys ->
        log fused probabilities ``[B, C]``."""
        scores = self.stream_logits(rgb, flow)
        w = torch.tensor(self.weights)
        log_w = (w / w.sum()).log().to(scores[0].device)
        # log sum_i w_i softmax(s_i), computed stably (a zero weight is a -inf term)
        log_p = torch.stack([s.float().log_softmax(dim=-1) for s in scores])  # [2, B, C]
        return torch.logsumexp(log_p + log_w.view(-1, 1, 1), dim=0)

    def extra_repr(self) -> str:
        return f"weights={self.weights}"
