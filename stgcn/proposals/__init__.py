"""Boxes for videos without annotations: detectors, region proposals, weight-free proposals, tracking."""

from stgcn.proposals.base import ProposalSource, Proposer

__all__ = ["ProposalSource", "Proposer"]
