"""Boxes for videos without annotations: detectors, region proposals, weight-free proposals, tracking."""

from stgcn.proposals.base import ProposalSource, Proposer
from stgcn.proposals.detector import (
    CPU_CONFIG,
    GPU_CONFIG,
    CheckpointError,
    DetectorConfig,
    FasterRCNNProposer,
    build_detector,
    load_detector,
    load_proposer,
    save_detector,
)

__all__ = ["ProposalSource", "Proposer"]
__all__ += ["CPU_CONFIG", "GPU_CONFIG", "CheckpointError", "DetectorConfig", "FasterRCNNProposer"]
__all__ += ["build_detector", "load_detector", "load_proposer", "save_detector"]
