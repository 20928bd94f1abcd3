"""Datasets (SSv2 with Something-Else boxes, UCF101, HMDB51, Kinetics, the Planetoid citation
graphs), box sources, samplers, transforms and the synthetic SSv2-format generator.

What needs PyAV (the ``video`` extra: the reader and the dataset) is imported on first use, so
``import stgcn.data`` works on a core install.
"""

from stgcn.data.box_source import BoxSource, FrameBoxes
from stgcn.data.boxes import (
    BoxIndex,
    MalformedJSONError,
    VideoBoxes,
    annotation_frames,
    build_box_index,
    clip_boxes,
)
from stgcn.data.dead_workers import WorkerDiedError, name_dead_worker
from stgcn.data.planetoid import (
    PLANETOID_DATASETS,
    PLANETOID_RAW_NAMES,
    copy_raw,
    default_root,
    load_planetoid,
)
from stgcn.data.sampling import dense_indices, sample_indices, tsn_indices, uniform_indices
from stgcn.data.something_else import CATEGORY, HAND_TRACK, from_something_else
from stgcn.data.transforms import ClipBoxes, eval_transform, train_transform

_NEEDS_AV = {
    # stgcn.data.ssv2
    "BadBoxError": "ssv2",
    "MissingBoxesError": "ssv2",
    "Sample": "ssv2",
    "Skipped": "ssv2",
    "SomethingSomethingV2": "ssv2",
    "UnknownTemplateError": "ssv2",
    "collate": "ssv2",
    "read_exclusions": "ssv2",
    # stgcn.data.clip_dataset
    "VideoClipDataset": "clip_dataset",
    # stgcn.data.ucf101, hmdb51, kinetics (on stgcn.data.video_files)
    "UCF101": "ucf101",
    "HMDB51": "hmdb51",
    "Kinetics": "kinetics",
    "VideoFileDataset": "video_files",
    # stgcn.data.video
    "VideoDecodeError": "video",
    "VideoReader": "video",
    "open_video": "video",
}

__all__ = [
    "CATEGORY",
    "HAND_TRACK",
    "PLANETOID_DATASETS",
    "PLANETOID_RAW_NAMES",
    "BoxIndex",
    "BoxSource",
    "ClipBoxes",
    "FrameBoxes",
    "MalformedJSONError",
    "VideoBoxes",
    "WorkerDiedError",
    "annotation_frames",
    "build_box_index",
    "clip_boxes",
    "copy_raw",
    "default_root",
    "dense_indices",
    "eval_transform",
    "from_something_else",
    "load_planetoid",
    "name_dead_worker",
    "sample_indices",
    "train_transform",
    "tsn_indices",
    "uniform_indices",
    *sorted(_NEEDS_AV),
]


def __getattr__(name: str):
    # the reader decodes with PyAV (the "video" extra): imported on first use only
    if name in _NEEDS_AV:
        import importlib

        return getattr(importlib.import_module(f"stgcn.data.{_NEEDS_AV[name]}"), name)
    raise AttributeError(f"module 'stgcn.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
