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
from stgcn.graphs.nodes import top_k_per_frame
from stgcn.graphs.video_graph import (
    CATEGORY,
    HAND_TRACK,
    VideoGraph,
    from_something_else,
    to_networkx,
)

__all__ = [
    "CATEGORY",
    "HAND_TRACK",
    "SpaceTimeEdges",
    "VideoGraph",
    "back_edges",
    "complete_edges",
    "from_something_else",
    "row_normalize",
    "space_time_edges",
    "space_time_graph",
    "space_time_iou",
    "to_networkx",
    "eigs",
    "laplacian",
    "laplacian_spectrum",
    "normalized_adjacency",
    "top_k_per_frame",
]
