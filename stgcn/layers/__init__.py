"""MessagePassing layers: one per file."""

from stgcn.layers.non_local import NonLocalGraphConv

__all__ = [
    "NonLocalGraphConv",
]
