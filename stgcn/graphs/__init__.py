"""Graph construction: Laplacians, video region graphs, edges, receptive fields. No nn.Module here."""

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
from stgcn.graphs.nodes import top_k_per_frame
from stgcn.graphs.patchy_san import PatchySAN, ReceptiveFields, receptive_fields
from stgcn.graphs.video_graph import VideoGraph, to_networkx

__all__ = [
    "PatchySAN",
    "ReceptiveFields",
    "SpaceTimeEdges",
    "VideoGraph",
    "back_edges",
    "complete_edges",
    "eigs",
    "laplacian",
    "laplacian_spectrum",
    "normalized_adjacency",
    "receptive_fields",
    "row_normalize",
    "space_time_edges",
    "space_time_graph",
    "space_time_iou",
    "to_networkx",
    "top_k_per_frame",
]
