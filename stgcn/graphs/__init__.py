"""Graph construction: Laplacians, video region graphs, edges. No nn.Module here."""

from stgcn.graphs.edges import (
    SpaceTimeEdges,
    back_edges,
    complete_edges,
    row_normalize,
    space_time_edges,
    space_time_graph,
    space_time_iou,
)
from stgcn.graphs.laplacian import eigs, laplacian, laplacian_spectrum, normalized_adjacency
from stgcn.graphs.video_graph import VideoGraph, to_networkx

__all__ = [
    "SpaceTimeEdges",
    "VideoGraph",
    "back_edges",
    "complete_edges",
    "row_normalize",
    "space_time_edges",
    "space_time_graph",
    "space_time_iou",
    "to_networkx",
    "eigs",
    "laplacian",
    "laplacian_spectrum",
    "normalized_adjacency",
]
