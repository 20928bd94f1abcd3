"""MessagePassing layers: one per file."""

from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.similarity import SimilarityGraphConv
from stgcn.layers.space_time_gcn import SpaceTimeGCN
from stgcn.layers.spatial_temporal import SpatialTemporalGraphConv
from stgcn.layers.spectral import SpectralGCNConv

__all__ = [
    "NonLocalGraphConv",
    "SimilarityGraphConv",
    "SpaceTimeGCN",
    "SpatialTemporalGraphConv",
    "SpectralGCNConv",
]
