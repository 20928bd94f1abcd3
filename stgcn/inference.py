"""From a video to its region graph in one call: :func:`video_to_graph`.

The steps are those of training (:class:`stgcn.data.ssv2.SomethingSomethingV2` in evaluation
mode), so a trained model sees at inference what it saw in its validation runs:

1. decode with PyAV (:class:`~stgcn.data.video.VideoReader`, which stops after the last sampled
   frame), or take frames already in memory;
2. sample ``num_frames`` frames (:func:`stgcn.data.sampling.sample_indices`, test mode);
3. take the boxes of those frames from a :class:`~stgcn.data.box_source.BoxSource` (a
   Something-Else index or JSON file, a detector, ...), from :class:`FrameBoxes` in the video's
   frame numbering, or run a proposal method (:mod:`stgcn.proposals`) on the sampled frames and
   link its boxes with an :class:`~stgcn.proposals.IoUTracker`;
4. check the boxes against the frame (degenerate ones are an error, partly outside ones are
   clipped, as the dataset does), then resize, centre-crop and normalise the clip with the boxes
   (:func:`stgcn.data.transforms.eval_transform`);
5. run the model once, reading the map its nodes come from with a forward hook (STRG: the
   reduced map of :class:`~stgcn.models.RegionFeatures`; a pooled I3D/C2D: the backbone's last
   stage), and read the RoIAlign node features with the model's own region reader;
6. build the spatial-temporal edges (:func:`stgcn.graphs.space_time_graph`) as the model's GCN
   builds them.

The nodes are those the model reads: boxes on the clip frames ``s * t`` that start each feature
step (``s`` the temporal stride, 2 for I3D), capped per frame as the model caps them, and not
cropped out by the centre crop. Proposals run on the sampled frames only (a motion proposer
compares neighbouring *sampled* frames), not on the whole video at 12 fps as
``python -m stgcn.proposals`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from stgcn.data.box_source import BoxSource, FrameBoxes
from stgcn.data.boxes import BoxIndex, VideoBoxes, clip_boxes, load_json
from stgcn.data.sampling import Sampling, sample_indices
from stgcn.data.something_else import from_something_else
from stgcn.data.transforms import ClipBoxes, eval_transform, to_clip
from stgcn.graphs import VideoGraph, space_time_graph
from stgcn.graphs.nodes import top_k_per_frame
from stgcn.models.region import RegionFeatures, feature_frames
from stgcn.models.resnet3d import ResNet3D
from stgcn.models.strg import STRG
from stgcn.proposals.base import ProposalSource, Proposer
from stgcn.proposals.track import IoUTracker

__all__ = ["DecodedClip", "Inference", "infer", "read_clip", "video_to_graph"]

ANNOTATION_FPS = 12.0
"""Frame rate assumed for frames given in memory without ``fps`` (Something-Else's)."""

Boxes = BoxSource | FrameBoxes | str | Path
Proposals = Proposer | str | Path


@dataclass
class DecodedClip:
    """The sampled frames of one video.

    Attributes:
        frames: ``[T, H, W, 3]`` uint8, at the video's own resolution.
        indices: ``[T]`` int64 index of each frame in the video (repeats in a short video).
        times: ``[T]`` float64 seconds from the video's first frame.
        num_video_frames: frames in the video (the header's estimate for a file).
        video_id: the file stem, or what the caller named in-memory frames.
        fps: the video's frame rate (None when unknown).
    """

    frames: Tensor
    indices: np.ndarray
    times: np.ndarray
    num_video_frames: int
    video_id: str
    fps: float | None


@dataclass
class Inference:
    """What :func:`infer` made of one video.

    Attributes:
        logits: ``[num_classes]`` the model's output for the clip.
        graph: the region graph (see :func:`video_to_graph`), None when no boxes were asked for.
        clip: the decoded, sampled frames.
        cropped_out: boxes left out because the centre crop removed them.
    """

    logits: Tensor
    graph: VideoGraph | None
    clip: DecodedClip
    cropped_out: int


def _window(n: int, frame_range: tuple[int, int] | None, where: str) -> tuple[int, int]:
    if frame_range is None:
        return 0, n
    start, stop = (int(v) for v in frame_range)
    if not 0 <= start < stop:
        raise ValueError(
            f"{where}: frame_range must be (start, stop) with 0 <= start < stop, got {frame_range}"
        )
    if start >= n:
        raise ValueError(
            f"{where}: frame_range starts at frame {start}, but the video has {n} frames"
        )
    return start, min(stop, n)


def read_clip(
    video: str | Path | Tensor | np.ndarray,
    num_frames: int,
    sampling: Sampling = "tsn",
    *,
    stride: int = 2,
    clip_idx: int = 0,
    num_clips: int = 1,
    frame_range: tuple[int, int] | None = None,
    fps: float | None = None,
    video_id: str | None = None,
) -> DecodedClip:
    """Decode (or take) and sample the ``num_frames`` frames of a clip, as testing samples them.

    Args:
        video: a video file (anything FFmpeg decodes), or frames ``[N, H, W, 3]`` uint8 (a tensor
            or a numpy array).
        num_frames: T, frames per clip; a video shorter than T repeats frames
            (:mod:`stgcn.data.sampling`).
        sampling: ``"tsn"``, ``"uniform"`` or ``"dense"``; ``stride`` of dense clips.
        clip_idx, num_clips: the temporal view (multi-view testing).
        frame_range: sample only from the video's frames ``[start, stop)`` (a long video: only
            what is needed is decoded).
        fps: frame rate of in-memory frames (default 12, Something-Else's; it only matters to a
            box source that maps times to annotation frames).
        video_id: the key of the video in a box source (default: the file stem, or ``"video"``).

    Returns:
        :class:`DecodedClip` with frames ``[T, H, W, 3]`` uint8.

    Raises:
        FileNotFoundError: no such file.
        stgcn.data.video.VideoDecodeError: a file that cannot be opened or decoded (names the
            file and the step).
        ValueError: frames of the wrong shape or type, or a bad ``frame_range``.
    """
    if isinstance(video, str | Path):
        from stgcn.data.video import VideoReader

        path = Path(video)
        with VideoReader(path) as reader:
            n = reader.num_frames or reader.count_frames()
            start, stop = _window(n, frame_range, str(path))
            idx = start + sample_indices(
                sampling, stop - start, num_frames, False, None, stride, clip_idx, num_clips
            )
            frames, times = reader.read(idx)
            rate = reader.fps
            # past the end of a stream shorter than its header (within tolerance) the reader
            # gave the last frame: say so in the indices
            idx = np.minimum(idx, reader.decoded - 1)
        return DecodedClip(frames, idx, times, n, video_id or path.stem, rate)
    frames_all = torch.as_tensor(video)
    if frames_all.dim() != 4 or frames_all.shape[-1] != 3 or frames_all.dtype != torch.uint8:
        raise ValueError(
            "video: expected a path or frames [N, H, W, 3] uint8, got "
            f"{tuple(frames_all.shape)} {frames_all.dtype}"
        )
    n = frames_all.shape[0]
    if n == 0 or frames_all.shape[1] == 0 or frames_all.shape[2] == 0:
        raise ValueError(f"video: no frames or empty frames, shape {tuple(frames_all.shape)}")
    start, stop = _window(n, frame_range, "video")
    idx = start + sample_indices(
        sampling, stop - start, num_frames, False, None, stride, clip_idx, num_clips
    )
    rate = fps or ANNOTATION_FPS
    return DecodedClip(
        frames_all[torch.from_numpy(idx)], idx, idx / rate, n, video_id or "video", fps
    )


# ---------------------------------------------------------------------------------------- boxes


def _json_boxes(path: Path, video_id: str, times: np.ndarray) -> FrameBoxes:
    """The boxes of a Something-Else JSON file (``{video_id: [frame entries]}``, or one video's
    list of entries) on the clip frames at ``times``."""
    data = load_json(path)
    if isinstance(data, dict):
        if video_id not in data:
            ids = ", ".join(sorted(map(str, data))[:5]) + (", ..." if len(data) > 5 else "")
            raise ValueError(
                f"{path}: no boxes for video {video_id!r} (the file holds {len(data)} video(s): "
                f"{ids}); name the video with video_id="
            )
        entries = data[video_id]
    elif isinstance(data, list):
        entries = data
    else:
        raise ValueError(
            f"{path}: expected Something-Else boxes, {{video_id: [frame entries]}} or one "
            f"video's list of frame entries, got {type(data).__name__}"
        )
    g = from_something_else(entries, video_id)
    boxes = VideoBoxes(
        len(entries), g.frame.numpy(), g.box.numpy(), g.category.numpy(), g.track.numpy()
    )
    return clip_boxes(boxes, times, ANNOTATION_FPS)


def _frame_boxes_on_clip(boxes: FrameBoxes, indices: np.ndarray) -> FrameBoxes:
    """Boxes numbered by video frame -> the boxes of each sampled frame, ``frame`` = clip position
    (a repeated frame repeats its boxes)."""
    t, m = np.nonzero(np.asarray(boxes.frame)[None, :] == indices[:, None])
    return boxes.select(m)._replace(frame=t.astype(np.int64), source_frame=indices[t])


def build_proposer(
    proposals: Proposals, *, weights: str | Path | None = None, top_k: int | None = 50
) -> Proposer:
    """A proposer from what a caller names.

    Args:
        proposals: a :class:`~stgcn.proposals.Proposer`; a method name of
            ``python -m stgcn.proposals --method`` (``"motion"``, ``"selective_search"``,
            ``"rpn"``, ``"detector"``; the last two need ``weights``); or the path of a detector
            checkpoint (its RPN proposals).
        weights: detector weights for ``"rpn"`` / ``"detector"`` (a checkpoint or a torchvision
            weights name, see :func:`stgcn.proposals.load_proposer`).
        top_k: boxes kept per frame, best first (the paper: 50).
    """
    if isinstance(proposals, Proposer):
        return proposals
    from stgcn.proposals.cli import METHODS, Options
    from stgcn.proposals.cli import build_proposer as from_options

    if isinstance(proposals, str) and proposals in METHODS:
        w = None if weights is None else str(weights)
        return from_options(Options(method=proposals, weights=w, top_k=top_k))
    if isinstance(proposals, str | Path) and Path(proposals).is_file():
        return from_options(Options(method="rpn", weights=str(proposals), top_k=top_k))
    raise ValueError(
        f"proposals: expected a Proposer, one of {', '.join(METHODS)}, or a detector checkpoint "
        f"file; got {proposals!r}"
    )


def _find_boxes(
    clip: DecodedClip,
    boxes: Boxes | None,
    proposals: Proposals | None,
    tracker: Callable[[FrameBoxes], FrameBoxes] | None,
    weights: str | Path | None,
    top_k: int | None,
) -> FrameBoxes:
    if boxes is not None and proposals is not None:
        raise ValueError("give boxes= or proposals=, not both")
    if proposals is not None:
        source: BoxSource = ProposalSource(
            build_proposer(proposals, weights=weights, top_k=top_k), tracker
        )
    elif isinstance(boxes, FrameBoxes):
        return _frame_boxes_on_clip(boxes, clip.indices)
    elif isinstance(boxes, str | Path):
        path = Path(boxes)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: box file not found")
        if path.suffix in (".sqlite", ".db"):
            source = BoxIndex(path, ANNOTATION_FPS)
        else:
            return _json_boxes(path, clip.video_id, clip.times)
    elif isinstance(boxes, BoxSource):
        source = boxes
    else:
        raise ValueError(
            "boxes: expected a BoxSource, FrameBoxes (frame = video frame index), or the path of "
            f"a Something-Else JSON file or box index; got {type(boxes).__name__}"
        )
    found = source.boxes(clip.video_id, clip.frames, clip.times)
    if found is None:
        raise ValueError(f"box source {source!r} has no entry for video {clip.video_id!r}")
    return found


def check_boxes(boxes: FrameBoxes, height: int, width: int, video_id: str) -> FrameBoxes:
    """Boxes checked against an ``height x width`` frame, as the dataset checks them.

    A box that is not finite, inverted (x1 > x2 or y1 > y2), of zero width or height, or wholly
    outside the frame is a ``ValueError`` naming the video, the frame and the box; a box partly
    outside is clipped to the frame. Returns the boxes with ``box`` float32, clipped.
    """
    box = np.asarray(boxes.box, dtype=np.float32).reshape(-1, 4)
    frame = np.asarray(boxes.frame)
    source = boxes.source_frame
    bad = {
        "not finite": ~np.isfinite(box).all(1),
        "inverted (x1 > x2 or y1 > y2)": (box[:, 0] > box[:, 2]) | (box[:, 1] > box[:, 3]),
        "of zero width or height": (box[:, 0] == box[:, 2]) | (box[:, 1] == box[:, 3]),
        "outside the frame": (box[:, 2] <= 0)
        | (box[:, 3] <= 0)
        | (box[:, 0] >= width)
        | (box[:, 1] >= height),
    }
    for reason, mask in bad.items():
        if mask.any():
            k = int(np.flatnonzero(mask)[0])
            at = f"clip frame {int(frame[k])}"
            if source is not None:
                at += f" (frame {int(source[k])} of the box source)"
            raise ValueError(
                f"video {video_id}, {at}: box {box[k].tolist()} is {reason} "
                f"({width}x{height} frame; {int(mask.sum())} such box(es))"
            )
    box[:, 0::2] = box[:, 0::2].clip(0, width)
    box[:, 1::2] = box[:, 1::2].clip(0, height)
    return boxes._replace(box=box)


# ---------------------------------------------------------------------------------------- model


def _map_reader(model: nn.Module) -> tuple[nn.Module, RegionFeatures]:
    """The module whose output is the map the nodes are read from, and the reader."""
    if isinstance(model, STRG):
        return model.region.reduce, model.region
    if isinstance(model, ResNet3D):
        # a pooled model has no region reader: read the backbone's own map, no reduction
        return model.layer4, RegionFeatures(model.out_channels, None, model.feature_stride)
    raise TypeError(
        f"video_to_graph needs an STRG or a ResNet3D (stgcn.models.build_model), got "
        f"{type(model).__name__}"
    )


def infer(
    video: str | Path | Tensor | np.ndarray,
    model: nn.Module,
    boxes: Boxes | None = None,
    proposals: Proposals | None = None,
    num_frames: int | None = None,
    sampling: Sampling = "tsn",
    *,
    size: int = 112,
    stride: int = 2,
    clip_idx: int = 0,
    num_clips: int = 1,
    frame_range: tuple[int, int] | None = None,
    fps: float | None = None,
    video_id: str | None = None,
    weights: str | Path | None = None,
    top_k: int | None = 50,
    tracker: Callable[[FrameBoxes], FrameBoxes] | None = None,
) -> Inference:
    """Run ``model`` on one video: its logits and, when boxes are given or proposed, its graph.

    Arguments as :func:`video_to_graph`. A model that reads boxes (``takes_graph``) needs
    ``boxes`` or ``proposals``; a pooled model runs without (then ``graph`` is None).

    Returns:
        :class:`Inference` with ``logits`` ``[num_classes]``.
    """
    num_frames = num_frames or getattr(model, "num_frames", None)
    if not num_frames:
        raise ValueError("num_frames: the model does not record its clip length; pass num_frames=")
    wants_graph = boxes is not None or proposals is not None
    if getattr(model, "takes_graph", False) and not wants_graph:
        raise ValueError(
            f"{type(model).__name__} reads region boxes: pass boxes= (a box source or file) or "
            "proposals= (e.g. 'motion')"
        )
    clip = read_clip(
        video,
        num_frames,
        sampling,
        stride=stride,
        clip_idx=clip_idx,
        num_clips=num_clips,
        frame_range=frame_range,
        fps=fps,
        video_id=video_id,
    )
    height, width = clip.frames.shape[1:3]
    found = FrameBoxes.empty()
    if wants_graph:
        tracker = tracker if tracker is not None else IoUTracker(iou_threshold=0.3)
        found = _find_boxes(clip, boxes, proposals, tracker, weights, top_k)
        found = check_boxes(found, height, width, clip.video_id)
    x = ClipBoxes.from_frames(clip.frames, torch.from_numpy(found.box))
    x = eval_transform(size)(x, None)
    keep = x.keep.numpy()
    skeleton = VideoGraph(
        box=x.box,
        frame=torch.from_numpy(np.asarray(found.frame, dtype=np.int64)[keep]),
        score=torch.from_numpy(np.asarray(found.score, dtype=np.float32)[keep]),
        category=torch.from_numpy(np.asarray(found.category, dtype=np.int64)[keep]),
        track=torch.from_numpy(np.asarray(found.track, dtype=np.int64)[keep]),
        video_id=clip.video_id,
        num_frames=num_frames,
    )
    device = next(model.parameters()).device
    batch = Batch.from_data_list([skeleton]).to(device)
    clip_tensor = to_clip(x)[None].to(device)
    hooked, reader = _map_reader(model) if wants_graph else (None, None)
    maps: list[Tensor] = []
    handle = hooked.register_forward_hook(lambda m, i, o: maps.append(o)) if hooked else None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            attention = None
            if _has_similarity(model):
                logits, attention = model(clip_tensor, batch, return_attention_weights=True)
            else:
                logits = model(clip_tensor, batch if getattr(model, "takes_graph", False) else None)
            graph = None
            if reader is not None:
                nodes = reader.read(maps[-1], batch, num_frames)
                graph = _graph(nodes, maps[-1], batch, found, keep, clip, model, reader)
                if attention is not None:  # over the reader's nodes, which are the graph's
                    graph.similarity_edge_index = attention[0].cpu()
                    graph.similarity_weight = attention[1].cpu()
    finally:
        model.train(was_training)
        if handle is not None:
            handle.remove()
    return Inference(logits[0].cpu(), graph, clip, int(x.dropped))


def _has_similarity(model: nn.Module) -> bool:
    """Whether ``model`` is an STRG whose GCN learns a similarity graph (it can return it)."""
    gcn = getattr(model, "gcn", None)
    return isinstance(model, STRG) and gcn is not None and "similarity" in gcn.graphs


def _graph(
    nodes: Batch,
    fmap: Tensor,
    skeleton: Batch,
    found: FrameBoxes,
    keep: np.ndarray,
    clip: DecodedClip,
    model: nn.Module,
    reader: RegionFeatures,
) -> VideoGraph:
    """The returned graph: the reader's nodes with their boxes in the video's pixels."""
    num_frames, t_feat = int(skeleton.num_frames[0]), fmap.size(2)
    # which skeleton boxes the reader kept: the same rule it applies, in the same (file) order
    on_step, step = feature_frames(skeleton.frame, num_frames, t_feat)
    kept = on_step.nonzero().flatten()
    if reader.max_boxes_per_frame is not None:
        kept = kept[top_k_per_frame(step[kept], reader.max_boxes_per_frame, skeleton.score[kept])]
    if kept.numel() != nodes.num_nodes:  # pragma: no cover - the reader's rule changed
        raise RuntimeError(
            f"expected {kept.numel()} nodes from the region reader, got {nodes.num_nodes}"
        )
    rows = keep[kept.cpu().numpy()]  # rows of the source's boxes
    stride = num_frames // t_feat
    gcn = getattr(model, "gcn", None)
    iou_threshold = getattr(gcn, "iou_threshold", 0.0)
    st = space_time_graph(nodes.box, nodes.frame, iou_threshold=iou_threshold)
    clip_frame = nodes.frame.cpu() * stride
    graph = VideoGraph(
        x=nodes.x.cpu(),
        box=torch.from_numpy(np.asarray(found.box, dtype=np.float32)[rows]).reshape(-1, 4),
        frame=nodes.frame.cpu(),
        score=nodes.score.cpu(),
        category=nodes.category.cpu(),
        track=nodes.track.cpu(),
        video_id=clip.video_id,
        num_frames=t_feat,
        edge_index=st.edge_index.cpu(),
    )
    graph.edge_weight = st.front_weight.cpu()
    graph.edge_back_weight = st.back_weight.cpu()
    graph.clip_box = nodes.box.cpu()
    graph.clip_frame = clip_frame
    graph.video_frame = torch.from_numpy(clip.indices)[clip_frame]
    graph.sampled_frames = torch.from_numpy(clip.indices)
    graph.frame_size = (int(clip.frames.shape[1]), int(clip.frames.shape[2]))
    return graph


def video_to_graph(
    video: str | Path | Tensor | np.ndarray,
    model: nn.Module,
    boxes: Boxes | None = None,
    proposals: Proposals | None = None,
    num_frames: int | None = None,
    sampling: Sampling = "tsn",
    *,
    size: int = 112,
    stride: int = 2,
    clip_idx: int = 0,
    num_clips: int = 1,
    frame_range: tuple[int, int] | None = None,
    fps: float | None = None,
    video_id: str | None = None,
    weights: str | Path | None = None,
    top_k: int | None = 50,
    tracker: Callable[[FrameBoxes], FrameBoxes] | None = None,
) -> VideoGraph:
    r"""A video's space-time region graph, with the node features of ``model``.

    Args:
        video: a video file (anything FFmpeg decodes) or frames ``[N, H, W, 3]`` uint8.
        model: an STRG (``*_gcn``, ``i3d_roi``: its own region reader and box cap) or a pooled
            ResNet3D (``i3d``, ``c2d``: nodes read from its last stage, C channels), from
            :func:`stgcn.models.build_model`. Run in eval mode, without gradients.
        boxes: where the boxes come from: a :class:`~stgcn.data.box_source.BoxSource` (given the
            sampled frames and their times); :class:`~stgcn.data.box_source.FrameBoxes` whose
            ``frame`` is the index of the video frame (the boxes of each sampled frame are
            taken); a Something-Else JSON file (``{video_id: [frame entries]}`` or one video's
            list, 12 fps, in the video's pixels) or a box index ``.sqlite``.
        proposals: instead of ``boxes``: a :class:`~stgcn.proposals.Proposer`, a method name
            (``"motion"``, ``"selective_search"``, ``"rpn"`` / ``"detector"`` with ``weights``),
            or a detector checkpoint path; run on the sampled frames, ``top_k`` boxes per frame,
            linked by ``tracker`` (default ``IoUTracker(iou_threshold=0.3)``).
        num_frames: T, the clip length (default ``model.num_frames``, what it was built for).
        sampling: ``"tsn"`` (the SSv2 benchmark's), ``"uniform"`` or ``"dense"`` (``stride``).
        size: the square crop the model was trained at (the clip is scaled so its short side is
            ``size``, then centre-cropped, as in validation).
        clip_idx, num_clips, frame_range, fps, video_id: see :func:`read_clip`.

    Returns:
        :class:`~stgcn.graphs.VideoGraph` with K nodes (the boxes the model reads: those on the
        first clip frame of each feature step, not cropped out, within its per-frame cap):

        - ``x`` ``[K, d]`` RoIAlign + max-pool node features;
        - ``box`` ``[K, 4]`` ``x1, y1, x2, y2`` in the **video's own pixels** (as given, clipped to
          the frame); ``clip_box`` ``[K, 4]`` the same boxes in the model's input pixels;
        - ``frame`` ``[K]`` feature step ``0..T'-1`` (T' = T / s, ``num_frames`` = T');
          ``clip_frame`` ``[K]`` = ``s * frame``, the position in the clip;
          ``video_frame`` ``[K]`` the frame's index in the video;
        - ``score``, ``category``, ``track`` ``[K]`` from the box source (a tracker's ids for
          proposals);
        - ``edge_index`` ``[2, E]`` spatial-temporal edges (i at step t, j at t+1, IoU above the
          model's threshold), ``edge_weight`` ``[E]`` the front graph
          :math:`G^{front}_{ij} = \sigma_{ij} / \sum_k \sigma_{ik}`, ``edge_back_weight`` ``[E]``
          the back graph :math:`\sigma_{ij} / \sum_k \sigma_{kj}` (for the flipped edges);
        - ``sampled_frames`` ``[T]`` the video frame index of each clip frame; ``frame_size``
          ``(H, W)`` of the video; ``video_id``.

    Raises:
        FileNotFoundError: a missing video or box file.
        stgcn.data.video.VideoDecodeError: a video that cannot be decoded.
        ValueError: bad frames, degenerate boxes (naming the frame and box), no boxes or
            proposals given, a box source without this video.
    """
    if boxes is None and proposals is None:
        raise ValueError("video_to_graph needs boxes= or proposals= (e.g. proposals='motion')")
    result = infer(
        video,
        model,
        boxes,
        proposals,
        num_frames,
        sampling,
        size=size,
        stride=stride,
        clip_idx=clip_idx,
        num_clips=num_clips,
        frame_range=frame_range,
        fps=fps,
        video_id=video_id,
        weights=weights,
        top_k=top_k,
        tracker=tracker,
    )
    assert result.graph is not None  # boxes or proposals were given
    return result.graph
