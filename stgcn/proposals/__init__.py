"""Boxes for videos without annotations: detectors, region proposals, weight-free proposals, tracking."""

from stgcn.proposals.base import ProposalSource, Proposer
from stgcn.proposals.detector import (
    CPU_CONFIG,
    GPU_CONFIG,
    MOBILENET_CPU_CONFIG,
    CheckpointError,
    DetectorConfig,
    FasterRCNNProposer,
    build_detector,
    load_detector,
    load_proposer,
    save_detector,
)

# weight-free proposals, tracking, the Something-Else writer and the per-video pipeline
from stgcn.proposals.schema import to_something_else
from stgcn.proposals.track import IoUTracker

__all__ = ["ProposalSource", "Proposer"]
__all__ += ["CPU_CONFIG", "GPU_CONFIG", "MOBILENET_CPU_CONFIG", "CheckpointError", "DetectorConfig"]
__all__ += ["FasterRCNNProposer"]
__all__ += ["build_detector", "load_detector", "load_proposer", "save_detector"]
__all__ += ["IoUTracker", "MotionBoxes", "SelectiveSearch", "propose_video", "to_something_else"]

_LAZY = {
    "MotionBoxes": "stgcn.proposals.motion",
    "SelectiveSearch": "stgcn.proposals.selective_search",
    "propose_video": "stgcn.proposals.pipeline",
}


def __getattr__(name: str) -> object:
    # OpenCV (the proposals extra) and PyAV (the video extra) load only when these are used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stgcn.proposals' has no attribute {name!r}")
