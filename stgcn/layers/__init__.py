"""MessagePassing layers: one per file."""

from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.similarity import SimilarityGraphConv
from stgcn.layers.spectral import SpectralGCNConv

__all__ = [
    "NonLocalGraphConv",
    "SimilarityGraphConv",
    "SpectralGCNConv",
]
