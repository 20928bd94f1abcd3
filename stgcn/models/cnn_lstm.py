r"""ConvNet+LSTM: Carreira & Zisserman, *Quo Vadis, Action Recognition? A New Model and the
Kinetics Dataset*, CVPR 2017, Sec. 2.1 (architecture (a) of their Fig. 2), after Donahue et al.
(LRCN, CVPR 2015) and Ng et al. (CVPR 2015).

.. math::

    x_t = F(I_t; W) \in \mathbb{R}^{D}, \qquad
    (h_t, c_t) = \mathrm{LSTM}(x_t, h_{t-1}, c_{t-1}), \qquad
    s_t = W_{fc}\, h_t + b_{fc}

with :math:`F` a torchvision 2D ResNet up to its global average pool (the paper uses
Inception-V1) applied to every frame :math:`I_t` of the clip, an LSTM of 512 hidden units
(``torch.nn.LSTM``) and a linear classifier. The paper's LSTM has batch normalisation inside
(Cooijmans et al.); ``torch.nn.LSTM`` has none. The 2D network's BatchNorm layers are frozen
(their statistics and affine parameters stay those of the ImageNet weights, as in the paper,
whose batches of frames from few videos would give poor statistics).

Training and testing, as in the paper: "trained using cross-entropy losses on the outputs at all
time steps. During testing we consider only the output on the last frame". In training mode
:meth:`CNNLSTM.forward` returns the per-step logits ``[B, T, C]`` and in eval mode the last
step's ``[B, C]``. The engine's loss (:func:`stgcn.engine.classification_loss`) takes a
``[B, T, C]`` output as the mean of the T per-step cross-entropies, each against the clip's
label, which is the paper's loss exactly.

(Why not return something ``[B, C]`` in training instead, e.g. :math:`z = \frac{1}{T}\sum_t
\log\mathrm{softmax}(s_t)`? Then :math:`\mathrm{CE}(z, y) = \frac{1}{T}\sum_t \mathrm{CE}(s_t,
y) + \log\sum_c \prod_t p_t(c)^{1/T}`, and the second term is :math:`\le 0` by the AM-GM
inequality, zero only when all steps predict the same distribution: a different loss with a
different gradient, so the engine gets the per-step outputs.)

Shapes: clip ``[B, 3, T, H, W]`` -> ``[B, T, num_classes]`` (train) / ``[B, num_classes]``
(eval).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torchvision.models import ResNet, resnet18, resnet50

__all__ = ["CNNLSTM", "cnn_lstm_r18", "cnn_lstm_r50"]


class CNNLSTM(nn.Module):
    """A 2D ResNet per frame, an LSTM over the frames and a classifier (see the module docstring).

    Args:
        backbone: a torchvision :class:`~torchvision.models.ResNet` (its ``fc`` is removed).
        num_classes: outputs of the classifier.
        hidden: LSTM hidden units (512 in the paper).
        dropout: before the classifier.
        freeze_bn: freeze every BatchNorm of the backbone (parameters and statistics).

    Shapes: clip ``[B, 3, T, H, W]`` -> :meth:`step_logits` ``[B, T, num_classes]``;
    :meth:`forward` returns those in training mode and the last step ``[B, num_classes]`` in
    eval mode.
    """

    takes_graph = False
    """The engine's declaration: ``forward(clip, graph)`` ignores the graph."""

    def __init__(
        self,
        backbone: ResNet,
        num_classes: int,
        *,
        hidden: int = 512,
        dropout: float = 0.5,
        freeze_bn: bool = True,
    ) -> None:
        super().__init__()
        features = backbone.fc.in_features
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)
        self.num_classes, self.hidden, self.freeze_bn = num_classes, hidden, freeze_bn
        if freeze_bn:
            for bn in self.frozen_norms():
                bn.requires_grad_(False)

    def frozen_norms(self) -> list[nn.BatchNorm2d]:
        """The backbone's BatchNorm layers when ``freeze_bn`` (else empty)."""
        if not self.freeze_bn:
            return []
        return [m for m in self.backbone.modules() if isinstance(m, nn.BatchNorm2d)]

    def train(self, mode: bool = True) -> CNNLSTM:
        """``nn.Module.train``, with the frozen BatchNorm layers kept in eval mode."""
        super().train(mode)
        if mode:
            for bn in self.frozen_norms():
                bn.eval()
        return self

    def step_logits(self, clip: Tensor) -> Tensor:
        """Clip ``[B, 3, T, H, W]`` -> logits of every step ``[B, T, num_classes]``."""
        if clip.dim() != 5 or clip.shape[1] != 3:
            raise ValueError(f"CNNLSTM: expected a clip [B, 3, T, H, W], got {tuple(clip.shape)}")
        b, c, t, h, w = clip.shape
        frames = clip.transpose(1, 2).reshape(b * t, c, h, w)
        x = self.backbone(frames).view(b, t, -1)  # [B, T, D]
        out, _ = self.lstm(x)  # [B, T, hidden]
        return self.fc(self.dropout(out))

    def forward(self, clip: Tensor, graph: object | None = None) -> Tensor:
        """Training: per-step logits ``[B, T, C]`` (every step is supervised); eval: the last
        step's ``[B, C]``. ``graph`` is accepted for the common interface and ignored."""
        logits = self.step_logits(clip)
        return logits if self.training else logits[:, -1]

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, freeze_bn={self.freeze_bn}"


_BACKBONES: dict[str, Callable[..., ResNet]] = {"r18": resnet18, "r50": resnet50}


def _cnn_lstm(depth: str, num_classes: int, weights: object, **kwargs: object) -> CNNLSTM:
    return CNNLSTM(_BACKBONES[depth](weights=weights), num_classes, **kwargs)  # type: ignore[arg-type]


def cnn_lstm_r18(num_classes: int, *, weights: object = None, **kwargs: object) -> CNNLSTM:
    """ConvNet+LSTM on ResNet-18; ``weights`` a ``ResNet18_Weights`` (or its name), None for
    random; ``kwargs`` go to :class:`CNNLSTM`."""
    return _cnn_lstm("r18", num_classes, weights, **kwargs)


def cnn_lstm_r50(num_classes: int, *, weights: object = None, **kwargs: object) -> CNNLSTM:
    """ConvNet+LSTM on ResNet-50; ``weights`` a ``ResNet50_Weights`` (or its name), None for
    random; ``kwargs`` go to :class:`CNNLSTM`."""
    return _cnn_lstm("r50", num_classes, weights, **kwargs)
