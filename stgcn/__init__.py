"""stgcn: videos as space-time region graphs, on PyTorch Geometric."""

__version__ = "0.1.0"
