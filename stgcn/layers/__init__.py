"""MessagePassing layers: one per file."""

from stgcn.layers.attention import DenseAttention, complete_graph_weights
from stgcn.layers.non_local import NonLocalGraphConv
from stgcn.layers.similarity import SimilarityGraph, SimilarityGraphConv
from stgcn.layers.space_time_gcn import GRAPHS, GraphType, SpaceTimeGCN, register_graph
from stgcn.layers.spatial_temporal import SpatialTemporalGraphConv
from stgcn.layers.spectral import SpectralGCNConv

__all__ = [
    "GRAPHS",
    "DenseAttention",
    "GraphType",
    "NonLocalGraphConv",
    "SimilarityGraph",
    "SimilarityGraphConv",
    "SpaceTimeGCN",
    "SpatialTemporalGraphConv",
    "SpectralGCNConv",
    "complete_graph_weights",
    "register_graph",
]
