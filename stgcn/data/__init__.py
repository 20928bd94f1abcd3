"""Datasets, samplers, transforms and the synthetic SSv2-format generator."""

from stgcn.data.boxes import BoxIndex, MalformedJSONError, build_box_index
from stgcn.data.sampling import dense_indices, sample_indices, tsn_indices, uniform_indices
from stgcn.data.transforms import ClipBoxes, eval_transform, train_transform

_NEEDS_AV = {
    "SomethingSomethingV2",
    "Sample",
    "Skipped",
    "collate",
    "VideoReader",
    "VideoDecodeError",
}

__all__ = [
    "BoxIndex",
    "ClipBoxes",
    "MalformedJSONError",
    "build_box_index",
    "dense_indices",
    "eval_transform",
    "sample_indices",
    "train_transform",
    "tsn_indices",
    "uniform_indices",
    *sorted(_NEEDS_AV),
]


def __getattr__(name: str):
    # the reader decodes with PyAV (the "video" extra): imported on first use only
    if name in _NEEDS_AV:
        from stgcn.data import ssv2, video

        return getattr(ssv2, name, None) or getattr(video, name)
    raise AttributeError(f"module 'stgcn.data' has no attribute {name!r}")
