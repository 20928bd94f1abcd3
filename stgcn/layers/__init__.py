"""MessagePassing layers: one per file."""

from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.spectral import SpectralGCNConv

__all__ = [
    "NonLocalGraphConv",
    "SpectralGCNConv",
]
