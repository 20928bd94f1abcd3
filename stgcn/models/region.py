"""Region features: one node vector per object box per feature frame, read with RoIAlign.

STRG (Wang & Gupta, *Videos as Space-Time Region Graphs*, ECCV 2018, Sec. 4.1): a 1x1x1 conv
reduces the backbone map (2048 -> 512 channels), RoIAlign reads a 7x7 patch per box on its feature
frame, and a max-pool over the patch gives the node's d-dim vector.

Projection rules (input clip [B, 3, T, H, W], feature map [B, C, T', H', W']):

- time: the temporal stride is ``s = T / T'`` (2 for I3D/C2D here; T must be a multiple of T').
  Feature step t takes the boxes of input frame ``s * t``; boxes on the other input frames are
  dropped (they fall inside the same feature step, and the paper samples one box set per feature
  frame). A box on input frame f therefore becomes a node on feature frame f // s iff f % s == 0;
- space: boxes stay in input-frame pixels; ``roi_align`` maps them with
  ``spatial_scale = 1 / feature_stride`` (1/16 with res5 stride 1 at 224 -> 14x14, 1/32 with
  stride 2) and ``aligned=True`` (the half-pixel correction of Detectron2's ROIAlignV2): the
  feature cell (i, j) covers pixels [s*j, s*(j+1)) x [s*i, s*(i+1)).

All boxes of the batch go through one ``roi_align`` call on the map reshaped to [B*T', C, H', W'],
roi index ``b * T' + t``.

Boxes per frame: ``max_boxes_per_frame`` keeps at most K boxes of each (video, feature frame), the
highest ``score`` first, or the first K in file order when the graph has no scores
(:func:`stgcn.graphs.top_k_per_frame`). The paper takes the top 50 RPN proposals per frame; the
default keeps every box, which is what ground-truth boxes want.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torchvision.ops import roi_align

from stgcn.graphs import top_k_per_frame
from stgcn.graphs.video_graph import VideoGraph

_CARRIED = ("score", "category", "track")


def feature_frames(
    frame: Tensor, num_frames: int, num_feature_frames: int
) -> tuple[Tensor, Tensor]:
    """Project input-frame indices onto feature steps.

    Args:
        frame: ``[N]`` long, input-frame index of each box (0..T-1).
        num_frames: T, frames of the input clip.
        num_feature_frames: T', frames of the feature map; T must be a multiple of T'.

    Returns:
        ``(keep [N] bool, feature_frame [N] long)``: ``keep`` marks the boxes on input frames
        ``s * t`` (s = T / T'), ``feature_frame = frame // s``.
    """
    if num_feature_frames < 1 or num_frames % num_feature_frames:
        raise ValueError(
            f"feature_frames: clip length T={num_frames} is not a multiple of the feature length "
            f"T'={num_feature_frames}"
        )
    if frame.numel() and (int(frame.min()) < 0 or int(frame.max()) >= num_frames):
        raise ValueError(
            f"feature_frames: box frame indices must lie in 0..{num_frames - 1} (the clip has "
            f"T={num_frames} frames), got min {int(frame.min())}, max {int(frame.max())}"
        )
    stride = num_frames // num_feature_frames
    return frame % stride == 0, torch.div(frame, stride, rounding_mode="floor")


def roi_features(
    features: Tensor,
    box: Tensor,
    feature_frame: Tensor,
    batch: Tensor,
    spatial_scale: float,
    output_size: int = 7,
) -> Tensor:
    """RoIAlign + max-pool of every box on its own feature frame, in one ``roi_align`` call.

    Args:
        features: ``[B, C, T', H', W']`` feature map.
        box: ``[N, 4]`` ``(x1, y1, x2, y2)`` in input pixels.
        feature_frame: ``[N]`` long feature step of each box (0..T'-1).
        batch: ``[N]`` long video index of each box (0..B-1).
        spatial_scale: ``1 / feature_stride``.
        output_size: RoIAlign grid (7 in STRG) before the max-pool.

    Returns:
        ``[N, C]`` node features.
    """
    b, c, t, h, w = features.shape
    # roi_align wants one dtype for the map and the rois; a half/bfloat16 roi index is exact only
    # up to 2048/256, so low-precision maps are read in float32
    dtype = torch.promote_types(features.dtype, torch.float32)
    maps = features.transpose(1, 2).reshape(b * t, c, h, w).to(dtype)
    index = (batch * t + feature_frame).to(dtype)
    rois = torch.cat([index[:, None], box.to(dtype)], dim=1)
    patches = roi_align(
        maps, rois, output_size, spatial_scale=spatial_scale, sampling_ratio=-1, aligned=True
    )
    return patches.amax(dim=(2, 3)).to(features.dtype)


class RegionFeatures(nn.Module):
    r"""Node features for a batch of region graphs, from a backbone feature map.

    .. math::
        \mathbf{x}_n = \max_{7 \times 7}\,\mathrm{RoIAlign}\big(W * F_{b_n, :, t_n},\;
            \mathrm{box}_n\big) \in \mathbb{R}^{d}

    with :math:`W` the 1x1x1 reduction conv (``in_channels`` -> ``out_channels``).

    Args:
        in_channels: channels of the backbone map (2048 for R50).
        out_channels: node size d after the 1x1x1 conv (512 in STRG); ``None`` keeps
            ``in_channels`` and has no conv.
        feature_stride: spatial stride of the feature map w.r.t. the input (16 with res5
            stride 1); ``spatial_scale = 1 / feature_stride``.
        output_size: RoIAlign grid before the max-pool.
        max_boxes_per_frame: keep at most this many boxes per video and feature frame, highest
            ``score`` first (file order without scores); ``None`` keeps all (ground-truth boxes).
            The paper uses 50 RPN proposals per frame.

    Shapes: ``forward(features [B, C, T', H', W'], graph, num_frames=T)`` -> a
    ``VideoGraphBatch`` with ``x`` [K, d], ``box`` [K, 4] (input pixels), ``frame`` [K] (feature
    steps 0..T'-1), ``batch`` [K], ``num_frames`` [B] = T', and ``score``/``category``/``track``
    carried over when the input graph has them. K <= N (see the module docstring for which boxes
    are kept). ``to_data_list()`` works on the result.
    """

    def __init__(
        self,
        in_channels: int = 2048,
        out_channels: int | None = 512,
        feature_stride: int = 16,
        output_size: int = 7,
        max_boxes_per_frame: int | None = None,
    ) -> None:
        super().__init__()
        if max_boxes_per_frame is not None and max_boxes_per_frame < 1:
            raise ValueError(
                f"RegionFeatures: max_boxes_per_frame must be >= 1 or None, got {max_boxes_per_frame}"
            )
        self.max_boxes_per_frame = max_boxes_per_frame
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.feature_stride = feature_stride
        self.output_size = output_size
        self.reduce = (
            nn.Conv3d(in_channels, out_channels, kernel_size=1) if out_channels else nn.Identity()
        )

    def forward(self, features: Tensor, graph: Data, num_frames: int) -> Batch:
        """See the class docstring. ``graph``: a ``Batch`` of ``VideoGraph`` skeletons (or one
        ``VideoGraph`` when B = 1) with ``box`` in input pixels and ``frame`` in 0..T-1."""
        if features.dim() != 5 or features.size(1) != self.in_channels:
            raise ValueError(
                f"RegionFeatures: features must be [B, {self.in_channels}, T', H', W'], "
                f"got {list(features.shape)}"
            )
        return self.read(self.reduce(features), graph, num_frames)

    def read(self, reduced: Tensor, graph: Data, num_frames: int) -> Batch:
        """The nodes of :meth:`forward` from the map after the 1x1x1 conv,
        ``reduced`` [B, out_channels, T', H', W'] (the map STRG also pools for its global
        feature, so the conv runs once)."""
        if reduced.dim() != 5 or reduced.size(1) != self.out_channels:
            raise ValueError(
                f"RegionFeatures.read: the reduced map must be [B, {self.out_channels}, T', H', "
                f"W'], got {list(reduced.shape)}"
            )
        num_videos, t_feat = reduced.size(0), reduced.size(2)
        box, frame = graph.box, graph.frame
        if box is None or frame is None:
            raise ValueError("RegionFeatures: the graph needs box [N, 4] and frame [N]")
        batch = graph.batch if isinstance(graph, Batch) else None
        graphs_given = graph.num_graphs if isinstance(graph, Batch) else 1
        if graphs_given != num_videos:
            raise ValueError(
                f"RegionFeatures: the graph holds {graphs_given} video(s) but the clip batch has "
                f"{num_videos}"
            )
        if batch is None:
            batch = frame.new_zeros(frame.shape)
        declared = graph.get("num_frames")
        if declared is not None:
            declared = torch.as_tensor(declared).reshape(-1)
            if bool((declared != num_frames).any()):
                raise ValueError(
                    f"RegionFeatures: graph num_frames {declared.tolist()} does not match the "
                    f"clip length T={num_frames}"
                )
        keep, frame_feat = feature_frames(frame, num_frames, t_feat)
        keep_idx = keep.nonzero().flatten()
        if self.max_boxes_per_frame is not None:
            score = graph.get("score")
            top = top_k_per_frame(
                frame_feat[keep_idx],
                self.max_boxes_per_frame,
                score=None if score is None else score[keep_idx],
                batch=batch[keep_idx],
            )
            keep_idx = keep_idx[top]
        batch = batch[keep_idx]
        frame_feat = frame_feat[keep_idx]
        box = box[keep_idx]
        x = roi_features(
            reduced, box, frame_feat, batch, 1.0 / self.feature_stride, self.output_size
        )
        carried = {k: graph[k][keep_idx] for k in _CARRIED if isinstance(graph.get(k), Tensor)}
        return node_batch(num_videos, batch, t_feat, x=x, box=box, frame=frame_feat, **carried)

    def __repr__(self) -> str:
        cap = (
            ""
            if self.max_boxes_per_frame is None
            else f", max_boxes_per_frame={self.max_boxes_per_frame}"
        )
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"feature_stride={self.feature_stride}, output_size={self.output_size}{cap})"
        )


def node_batch(num_videos: int, batch: Tensor, num_frames: int, **node_attrs: Tensor) -> Batch:
    """A ``VideoGraphBatch`` from flat node tensors: what ``Batch.from_data_list`` gives for the
    per-video ``VideoGraph`` s that the rows of ``batch`` [K] (sorted, 0..num_videos-1) describe.

    Each ``node_attrs`` tensor has K rows; ``num_frames`` is stored per video. Videos without nodes
    keep their place, so ``to_data_list()`` / ``get_example()`` work as on any PyG batch.
    """
    counts = torch.bincount(batch, minlength=num_videos).tolist()
    parts = {k: v.split(counts) for k, v in node_attrs.items()}
    graphs = []
    for i, n in enumerate(counts):
        # the argument-free constructor is the one PyG's own collate uses: the rows come from a
        # batch that was checked when it was built, so they are not validated again here
        g = VideoGraph(num_frames=num_frames)
        for k, v in parts.items():
            g[k] = v[i]
        g.num_nodes = n
        graphs.append(g)
    return Batch.from_data_list(graphs)
