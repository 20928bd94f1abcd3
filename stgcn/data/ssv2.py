"""Something-Something v2 with Something-Else boxes, read from the official layout unchanged.

Layout under ``root`` (every path can be given separately)::

    labels/something-something-v2-labels.json        {"Pushing something from left to right": "93", ...}
    labels/something-something-v2-{train,validation}.json  [{"id", "label", "template", "placeholders"}]
    labels/something-something-v2-test.json          [{"id"}]
    20bn-something-something-v2/<id>.webm            VP9, 12 fps
    bounding_box_smthsmth_part{1..4}.json            Something-Else boxes (optional)

The class of an entry is ``labels[template.replace("[", "").replace("]", "")]``.

A sample is decoded only up to its last sampled frame (:mod:`stgcn.data.video`); its boxes come
from a :class:`stgcn.data.box_source.BoxSource` given the decoded frames and their times. The
Something-Else index (:class:`stgcn.data.boxes.BoxIndex`) gives those of the annotation frame
nearest each **decoded** frame's timestamp, so the graph's boxes sit on the clip's frames
(Something-Else's own loader samples boxes on other frames than the clip); a detector or proposal
source is given the frames themselves. Boxes go through the same transforms as the frames
(:mod:`stgcn.data.transforms`), and their ``score`` is carried into the graph.

Bad input follows ``on_error``:

=========================  =====================================  ==================================
input                      ``on_error="raise"``                   ``on_error="skip"``
=========================  =====================================  ==================================
missing video file         ``FileNotFoundError`` (path)           sample skipped, counted
corrupt / truncated video, :class:`VideoDecodeError` (path,       sample skipped, counted
any decoder failure        step, library error)
no box entry for a video   :class:`MissingBoxesError` (id, index) sample skipped, counted
box outside the frame,     :class:`BadBoxError` (id, annotation   box dropped, counted by reason
x1 > x2 or y1 > y2,        frame, box)
zero area
template not in labels     ``UnknownTemplateError`` at            entry dropped at construction,
                           construction (file, entry position,    counted
                           template)
malformed JSON             :class:`MalformedJSONError` (file, line, column, char), either policy
JSON of the wrong shape    ``ValueError`` (file, entry, what was expected), either policy
video in ``exclude``       entry dropped at construction, counted (either policy)
=========================  =====================================  ==================================

A skipped sample comes back as a :class:`Skipped` record; :func:`collate` drops it from the batch
and lists it in ``Sample.skipped``. The dataset also writes the outcome of each index into shared
memory, so :meth:`SomethingSomethingV2.error_report` in the main process counts what DataLoader
workers skipped or dropped (for each index, its latest visit), and
:meth:`SomethingSomethingV2.reset_errors` starts a new count (e.g. each epoch). Boxes that a crop
leaves degenerate are normal, not bad input; they are counted as ``cropped_out``.

**Optical flow** (``modality="flow"`` or ``("rgb", "flow")``) is read from ``flow_dir`` (default
``root/flow``), one ``<id>.npz`` per video as ``python -m stgcn.data.flow
root/20bn-something-something-v2 --out root/flow`` writes them (:mod:`stgcn.data.flow`). The
frames sampled for a clip are the same for the RGB, the flow and the boxes: the flow of clip frame
``t`` is the flow from video frame ``t`` to ``t + 1`` (the last frame of a video, which has no
successor, gets the flow of the frame before it; with flow extracted ``--every N``, frame ``t``
gets the last flow computed at or before it). With ``flow_length`` L > 1, frames ``t .. t + L - 1``
are stacked (TSN's temporal stream). The flow is resized to the video's frames (its values scaled
with it, so it is in pixels of the frames), then goes through the same transforms on the same
random draw (:mod:`stgcn.data.transforms`: a crop cuts the same window, a flip negates x) and is
divided by the storage bound (20 px -> 1). The flow is always ``Sample.flow`` ``[2L, T, H, W]``
(batched ``[B, 2L, T, H, W]``, channels ``x_t, y_t, x_{t+1}, y_{t+1}, ...``: what a TSN flow
stream's ``conv1`` reads per segment, and with L = 1 a flow I3D's clip); ``Sample.clip`` is always
the RGB, None with ``modality="flow"`` (:func:`stgcn.engine.model_inputs` feeds each model the
field of its modality). With flow alone, the video is still decoded: its frame count and times
place the sampled frames and the boxes. A missing or unreadable flow file
is counted as ``flow_error`` (``on_error="skip"``) or raises
:class:`stgcn.data.flow.FlowFileError`.

A DataLoader worker that dies (a decoder crash kills the process, and nothing can be caught) is
reported by the DataLoader in the main process as a ``RuntimeError`` naming only its pid; each
worker writes the index it is reading into shared memory, so :meth:`SomethingSomethingV2.reading`
says which video that was, and :func:`stgcn.data.dead_workers.name_dead_worker` re-raises the
error with it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from stgcn.data.box_source import BoxSource, FrameBoxes
from stgcn.data.boxes import PART_FILES, BoxIndex, load_json
from stgcn.data.clip_dataset import Skipped, VideoClipDataset
from stgcn.data.flow import FlowFileError, read_flow
from stgcn.data.sampling import Sampling
from stgcn.data.transforms import ClipBoxes, flip_label_map, to_clip, to_flow_clip
from stgcn.graphs.video_graph import VideoGraph

Split = Literal["train", "validation", "test"]
Modality = Literal["rgb", "flow"] | tuple[str, ...]
VIDEO_DIR = "20bn-something-something-v2"
LABELS_DIR = "labels"
INDEX_NAME = "bounding_box_smthsmth.index.sqlite"

SKIP_REASONS = ("missing_video", "decode_error", "no_boxes")
"""Why a whole sample can be skipped (codes 1, 2, 3 in the shared status; 0 = not skipped);
a dataset that reads flow adds ``"flow_error"`` (code 4)."""
FLOW_DIR = "flow"
BOX_REASONS = ("outside_frame", "inverted", "zero_area", "cropped_out")
"""Why a box can be dropped: three kinds of bad annotation, and boxes a crop left degenerate."""


class MissingBoxesError(KeyError):
    """The box annotation has no entry for a video."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownTemplateError(KeyError):
    """A split entry whose template is not in the labels file."""

    def __str__(self) -> str:
        return str(self.args[0])


class BadBoxError(ValueError):
    """An annotated box outside the frame, inverted (x1 > x2 or y1 > y2) or of zero area."""


def read_exclusions(exclude: str | Path | Iterable[str] | None) -> set[str]:
    """Video ids to leave out: a file with one id per line (text after ``#`` ignored, the format
    ``python -m stgcn.data.verify`` writes) or an iterable of ids."""
    if exclude is None:
        return set()
    if isinstance(exclude, str | Path):
        with open(exclude, encoding="utf-8") as f:
            lines = (line.split("#", 1)[0].strip() for line in f)
            return {line for line in lines if line}
    return {str(v) for v in exclude}


class Sample(NamedTuple):
    """One clip, or (after :func:`collate`) a batch of B clips.

    Attributes:
        clip: ``[3, T, H, W]`` float, normalised (batched ``[B, 3, T, H, W]``); None with
            ``modality="flow"`` (no RGB).
        label: class index, -1 for the test split (batched ``[B]`` long).
        graph: :class:`VideoGraph` skeleton (``x`` None): ``box`` ``[N, 4]`` in clip pixels,
            ``frame`` ``[N]`` in ``0..T-1``, ``category`` and ``track`` ``[N]``, ``video_id``,
            ``num_frames`` = T (batched: a PyG ``Batch`` with a ``batch`` vector).
        video_id: the SSv2 id (batched: list of B).
        view: multi-view index ``clip_idx * num_crops + crop_idx`` (batched ``[B]`` long).
        skipped: after :func:`collate`, the :class:`Skipped` records dropped from this batch.
        flow: with ``modality="flow"`` or ``("rgb", "flow")``, the flow ``[2L, T, H, W]`` of the
            clip's frames: x, y of L stacked fields per frame (``x_t, y_t, x_{t+1}, ...``),
            divided by the storage bound (batched ``[B, 2L, T, H, W]``); otherwise None.
    """

    clip: Tensor | None
    label: int | Tensor
    graph: VideoGraph | Batch | None
    video_id: str | list[str]
    view: int | Tensor = 0
    skipped: tuple[Skipped, ...] = ()
    flow: Tensor | None = None


def collate(items: Sequence[Sample | Skipped]) -> Sample:
    """Batch samples; :class:`Skipped` records are left out of the batch and kept in ``skipped``.

    Returns:
        ``Sample(clip [B, 3, T, H, W] or None, label [B] long, graph Batch, video_id list[str],
        view [B] long, skipped, flow [B, 2L, T, H, W] or None)``; B may be 0 when every item was
        skipped (then ``graph`` is None).
    """
    samples = [s for s in items if isinstance(s, Sample)]
    skipped = tuple(s for s in items if isinstance(s, Skipped))
    if not samples:
        return Sample(
            torch.empty(0, 3, 0, 0, 0),
            torch.empty(0, dtype=torch.long),
            None,
            [],
            torch.empty(0, dtype=torch.long),
            skipped,
        )
    return Sample(
        clip=torch.stack([s.clip for s in samples]) if samples[0].clip is not None else None,
        label=torch.tensor([s.label for s in samples], dtype=torch.long),
        graph=Batch.from_data_list([s.graph for s in samples]),
        video_id=[s.video_id for s in samples],
        view=torch.tensor([s.view for s in samples], dtype=torch.long),
        skipped=skipped,
        flow=torch.stack([s.flow for s in samples]) if samples[0].flow is not None else None,
    )


def _class_index(path: Path, template: str, value: Any) -> int:
    """A labels-file value (``"93"``, or 93) as a class index, or an error naming file and key."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(
        f"{path}: template {template!r} has class index {value!r}; expected a number >= 0 "
        "(an integer or a string of digits)"
    )


def _modality(modality: Any) -> tuple[str, ...]:
    """``"rgb"``, ``"flow"`` or a tuple of both (any order) as ``("rgb",)``, ``("flow",)`` or
    ``("rgb", "flow")``."""
    names = (modality,) if isinstance(modality, str) else tuple(modality)
    if not names or len(set(names)) != len(names) or not set(names) <= {"rgb", "flow"}:
        raise ValueError(f"modality must be 'rgb', 'flow' or ('rgb', 'flow'), got {modality!r}")
    return tuple(m for m in ("rgb", "flow") if m in names)


def _template_key(template: str) -> str:
    return template.replace("[", "").replace("]", "")


class SomethingSomethingV2(VideoClipDataset):
    """Something-Something v2 clips with their Something-Else region graphs.

    Args:
        root: dataset root in the official layout (see the module docstring).
        split: ``"train"``, ``"validation"`` or ``"test"`` (labels -1).
        num_frames: T, frames per clip.
        sampling: ``"tsn"``, ``"uniform"`` or ``"dense"`` (:mod:`stgcn.data.sampling`).
        stride: frame stride of dense clips.
        size: crop size (square).
        train: random sampling and augmentation; default ``split == "train"``.
        views: ``(num_clips, num_crops)`` for multi-view testing; the dataset then has
            ``num_videos * num_clips * num_crops`` items, view ``v`` of video ``i`` at
            ``i * views + v``.
        labels_dir: folder of the label JSONs (default ``root/labels``).
        videos_dir: folder of ``<id>.webm`` (default ``root/20bn-something-something-v2``).
        video_ext: video file extension.
        boxes: where the boxes come from: None = the Something-Else
            ``bounding_box_smthsmth_part*.json`` found under ``root`` (none found: no boxes, with
            a warning); False = no boxes (empty graphs); a path or list of paths of JSON files
            (parts or merged); a built index (``.sqlite``); a :class:`BoxIndex`; or any
            :class:`~stgcn.data.box_source.BoxSource` (a detector, proposals).
        box_index: where JSON boxes are converted to (default ``root/bounding_box_smthsmth.index.sqlite``);
            rebuilt only when the JSON files change.
        train_crop: ``"random"`` or ``"multiscale"`` (:func:`stgcn.data.transforms.train_transform`).
        flip: left/right flip with label swapping in training (off by default: SSv2 labels say
            left and right).
        transform: replaces the default transforms: ``(ClipBoxes, rng) -> ClipBoxes`` with
            normalised frames; with ``num_crops > 1``, a function ``(crop_idx) -> transform``.
            (In training, every crop view gets its own random draw of the one train transform.)
        on_error: ``"raise"`` or ``"skip"`` (see the module docstring).
        annotation_fps: frame rate of the box annotation (12 for Something-Else).
        decode_threads: FFmpeg threads per decoder (0 = FFmpeg's choice).
        exclude: video ids to leave out (a file of ids, one a line, such as the ``exclude.txt``
            of ``python -m stgcn.data.verify``, or an iterable of ids); counted in
            :meth:`error_report` as ``excluded``.
        modality: ``"rgb"`` (``clip`` is RGB, ``flow`` None), ``"flow"`` (``flow`` is the optical
            flow, ``clip`` None) or ``("rgb", "flow")`` (``clip`` RGB and ``flow`` the flow of the
            same frames); see the module docstring.
        flow_dir: folder of the ``<id>.npz`` flow files (default ``root/flow``).
        flow_length: L, flows stacked per sampled frame (1 for a flow I3D; 5 or 10 for TSN).
    """

    skip_errors = (*VideoClipDataset.skip_errors, (MissingBoxesError, "no_boxes"))

    def __init__(
        self,
        root: str | Path,
        split: Split = "train",
        num_frames: int = 8,
        sampling: Sampling = "tsn",
        stride: int = 2,
        size: int = 112,
        train: bool | None = None,
        views: tuple[int, int] = (1, 1),
        labels_dir: str | Path | None = None,
        videos_dir: str | Path | None = None,
        video_ext: str = ".webm",
        boxes: Any = None,
        box_index: str | Path | None = None,
        train_crop: str = "random",
        flip: bool = False,
        transform: Callable[..., Any] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        annotation_fps: float = 12.0,
        decode_threads: int = 0,
        exclude: str | Path | Iterable[str] | None = None,
        modality: Modality = "rgb",
        flow_dir: str | Path | None = None,
        flow_length: int = 1,
    ) -> None:
        if split not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {split!r}; expected train, validation or test")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if sampling not in ("tsn", "uniform", "dense"):
            raise ValueError(f"unknown sampling {sampling!r}; expected tsn, uniform or dense")
        self.modality = _modality(modality)
        if flow_length < 1:
            raise ValueError(f"flow_length must be >= 1, got {flow_length}")
        self.root = Path(root)
        self.flow_dir = Path(flow_dir) if flow_dir is not None else self.root / FLOW_DIR
        self.flow_length = flow_length
        if "flow" in self.modality:
            self.skip_errors = (*type(self).skip_errors, (FlowFileError, "flow_error"))
        self.split, self.on_error, self.annotation_fps = split, on_error, annotation_fps
        self.labels_dir = Path(labels_dir) if labels_dir is not None else self.root / LABELS_DIR
        self.videos_dir = Path(videos_dir) if videos_dir is not None else self.root / VIDEO_DIR
        self.video_ext = video_ext

        labels_file = self.labels_dir / "something-something-v2-labels.json"
        labels = load_json(labels_file)
        if not isinstance(labels, dict):
            raise ValueError(
                f"{labels_file}: expected {{template: index}}, got {type(labels).__name__}"
            )
        self.labels: dict[str, int] = {
            k: _class_index(labels_file, k, v) for k, v in labels.items()
        }
        self.classes = [t for t, _ in sorted(self.labels.items(), key=lambda kv: kv[1])]
        self.records, self.unknown_templates = self._read_split()
        excluded = read_exclusions(exclude)
        self.excluded = [vid for vid, _ in self.records if vid in excluded]
        if self.excluded:
            self.records = [r for r in self.records if r[0] not in excluded]

        self.box_source = self._open_boxes(boxes, box_index)

        self._init_clips(
            num_frames=num_frames,
            sampling=sampling,
            stride=stride,
            size=size,
            train=split == "train" if train is None else train,
            views=views,
            train_crop=train_crop,
            flip_labels=flip_label_map(self.labels) if flip else None,
            transform=transform,
            on_error=on_error,
            decode_threads=decode_threads,
        )
        self._dropped = torch.zeros(len(self), len(BOX_REASONS), dtype=torch.int32).share_memory_()

    @property
    def box_index(self) -> BoxSource | None:
        """The box source (a :class:`BoxIndex` for Something-Else boxes), None without boxes."""
        return self.box_source

    def _read_split(self) -> tuple[list[tuple[str, int]], list[tuple[int, str, str]]]:
        path = self.labels_dir / f"something-something-v2-{self.split}.json"
        entries = load_json(path)
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a list of entries, got {type(entries).__name__}")
        records, unknown = [], []
        for pos, e in enumerate(entries):
            if not isinstance(e, dict) or "id" not in e:
                raise ValueError(f"{path}: entry {pos} has no 'id': {e!r}"[:300])
            if isinstance(e["id"], bool) or not isinstance(e["id"], str | int):
                raise ValueError(f"{path}: entry {pos} has id {e['id']!r}, expected a string"[:300])
            vid = str(e["id"])
            if self.split == "test":
                records.append((vid, -1))
                continue
            template = e.get("template")
            label = self.labels.get(_template_key(template)) if isinstance(template, str) else None
            if label is None:
                msg = (
                    f"{path}: entry {pos} (id {vid}) has template {template!r}, which is not in "
                    f"{self.labels_dir / 'something-something-v2-labels.json'}"
                )
                if self.on_error == "raise":
                    raise UnknownTemplateError(msg)
                unknown.append((pos, vid, str(template)))
                continue
            records.append((vid, label))
        return records, unknown

    def _open_boxes(self, boxes: Any, box_index: str | Path | None) -> BoxSource | None:
        if boxes is False:
            return None
        if isinstance(boxes, BoxIndex):
            boxes.fps = self.annotation_fps
            return boxes
        if isinstance(boxes, BoxSource):
            return boxes
        if boxes is None:
            found = [self.root / p for p in PART_FILES if (self.root / p).is_file()]
            if not found:
                warnings.warn(
                    f"no Something-Else box files ({PART_FILES[0]}, ...) under {self.root}: "
                    "graphs will be empty; pass boxes=False to silence this",
                    stacklevel=3,
                )
                return None
            boxes = found
        paths = [Path(boxes)] if isinstance(boxes, str | Path) else [Path(p) for p in boxes]
        if len(paths) == 1 and paths[0].suffix in (".sqlite", ".db"):
            return BoxIndex(paths[0], self.annotation_fps)
        index_path = Path(box_index) if box_index is not None else self.root / INDEX_NAME
        return BoxIndex.open_or_build(paths, index_path, self.annotation_fps)

    def _clear(self, index: int) -> None:
        super()._clear(index)
        self._dropped[index] = 0

    def _load(self, index: int, video_id: str, label: int, view: int) -> Sample:
        rng = self._rng()
        if isinstance(self.box_source, BoxIndex) and video_id not in self.box_source:
            raise self._missing_boxes(video_id)  # before decoding: the index can tell
        path = self.videos_dir / f"{video_id}{self.video_ext}"
        frames, times, idx = self.read_view(path, view, rng)
        flow = self._flow(video_id, idx, frames.shape[1:3]) if "flow" in self.modality else None
        boxes = None
        if self.box_source is not None:
            boxes = self.box_source.boxes(video_id, frames, times)
            if boxes is None:
                raise self._missing_boxes(video_id)
        (box, frame, score, category, track), bad = self._clip_boxes(
            video_id, boxes, frames.shape[1:3]
        )
        x = ClipBoxes.from_frames(frames, box, label, flow=flow)
        x = self.transform_for(view)(x, rng)
        if flow is not None and (x.flow is None or x.flow.shape[-2:] != x.frames.shape[-2:]):
            raise ValueError(
                f"the transform {self._transforms[0]!r} did not carry the flow with the frames "
                "(a custom transform must map ClipBoxes.flow as stgcn.data.transforms does)"
            )
        bad["cropped_out"] = x.dropped
        self._dropped[index] = torch.tensor([bad.get(r, 0) for r in BOX_REASONS])
        graph = VideoGraph(
            box=x.box,
            frame=frame[x.keep],
            score=score[x.keep] if score is not None else None,
            category=category[x.keep],
            track=track[x.keep],
            video_id=video_id,
            num_frames=self.num_frames,
        )
        rgb = to_clip(x) if "rgb" in self.modality else None
        flow_clip = to_flow_clip(x) if flow is not None else None
        return Sample(rgb, x.label, graph, video_id, view, flow=flow_clip)

    def _flow(self, video_id: str, idx: np.ndarray, hw: Sequence[int]) -> Tensor:
        """Flow ``[T, 2L, H, W]`` in pixels of the ``H x W`` frames, of the sampled frames."""
        path = self.flow_dir / f"{video_id}.npz"
        try:
            stored = read_flow(path)
        except FileNotFoundError as e:
            raise FlowFileError(
                f"{path}: no flow file for video {video_id} (python -m stgcn.data.flow writes them)"
            ) from e
        return stored.at(idx, self.flow_length, (int(hw[0]), int(hw[1])))

    def _missing_boxes(self, video_id: str) -> MissingBoxesError:
        src = self.box_source
        where = f"the box index {src.path}" if isinstance(src, BoxIndex) else f"box source {src!r}"
        return MissingBoxesError(f"video {video_id}: no entry in {where}")

    def _clip_boxes(
        self, video_id: str, boxes: FrameBoxes | None, hw: Sequence[int]
    ) -> tuple[tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor], dict[str, int]]:
        """A source's boxes of the clip, checked against the frame.

        Returns ``(box [N, 4], clip frame [N], score [N] or None without a source, category [N],
        track [N])`` and the number of bad boxes dropped by reason."""
        if boxes is None or boxes.num_boxes == 0:
            empty = torch.zeros(0, dtype=torch.long)
            score = None if boxes is None else torch.zeros(0)
            return (torch.zeros(0, 4), empty, score, empty, empty), {}
        box = np.asarray(boxes.box, dtype=np.float32)
        h, w = hw
        inverted = (box[:, 0] > box[:, 2]) | (box[:, 1] > box[:, 3])
        zero = ~inverted & ((box[:, 0] == box[:, 2]) | (box[:, 1] == box[:, 3]))
        outside = (
            ~inverted
            & ~zero
            & ((box[:, 2] <= 0) | (box[:, 3] <= 0) | (box[:, 0] >= w) | (box[:, 1] >= h))
        )
        bad = {"inverted": inverted, "zero_area": zero, "outside_frame": outside}
        if self.on_error == "raise":
            for reason, mask in bad.items():
                if mask.any():
                    k = int(np.flatnonzero(mask)[0])
                    at = (
                        f"annotation frame {int(boxes.source_frame[k])}"
                        if boxes.source_frame is not None
                        else f"clip frame {int(boxes.frame[k])}"
                    )
                    raise BadBoxError(
                        f"video {video_id}, {at}: box {box[k].tolist()} is "
                        f"{reason.replace('_', ' ')} ({w}x{h} frame; box source "
                        f"{getattr(self.box_source, 'path', self.box_source)}); "
                        f"use on_error='skip' to drop and count such boxes"
                    )
        ok = ~(inverted | zero | outside)
        # partially outside: clipped to the frame, as any crop would
        box = np.stack(
            (
                box[:, 0].clip(0, w),
                box[:, 1].clip(0, h),
                box[:, 2].clip(0, w),
                box[:, 3].clip(0, h),
            ),
            axis=1,
        )
        return (
            torch.from_numpy(box[ok]),
            torch.from_numpy(np.asarray(boxes.frame, dtype=np.int64)[ok]),
            torch.from_numpy(np.asarray(boxes.score, dtype=np.float32)[ok]),
            torch.from_numpy(np.asarray(boxes.category, dtype=np.int64)[ok]),
            torch.from_numpy(np.asarray(boxes.track, dtype=np.int64)[ok]),
        ), {r: int(mask.sum()) for r, mask in bad.items()}

    def error_report(self) -> dict[str, Any]:
        """What was skipped or dropped since construction or :meth:`reset_errors` (the latest
        visit of each index), gathered from all DataLoader workers.

        Returns:
            ``{"skipped": {reason: count}, "skipped_ids": {reason: [video ids]},
            "dropped_boxes": {reason: count}, "unknown_templates": count, "excluded": count,
            "samples": len}``.
        """
        dropped = self._dropped.sum(0).tolist()
        report = self.skip_report()
        return {
            "skipped": report["skipped"],
            "skipped_ids": report["skipped_ids"],
            "dropped_boxes": dict(zip(BOX_REASONS, map(int, dropped), strict=True)),
            "unknown_templates": len(self.unknown_templates),
            "excluded": len(self.excluded),
            "samples": len(self),
        }

    def reset_errors(self) -> None:
        """Start a new count for :meth:`error_report` (e.g. at the start of an epoch)."""
        super().reset_errors()
        self._dropped.zero_()

    def __repr__(self) -> str:
        source = getattr(self, "box_source", None)
        boxes = getattr(source, "path", None)
        boxes = boxes.name if boxes is not None else type(source).__name__ if source else None
        return (
            f"SomethingSomethingV2({self.split}, {len(self.records)} videos, {len(self.classes)} classes, "
            f"T={self.num_frames} {self.sampling}, size={self.size}, views={self.views}, boxes={boxes})"
        )
