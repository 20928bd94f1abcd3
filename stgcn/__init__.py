"""stgcn: videos as space-time region graphs, on PyTorch Geometric."""

__version__ = "0.1.0"

# top-level tools, imported on first use so that `import stgcn` stays light
_LAZY = {"video_to_graph": "stgcn.inference"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stgcn' has no attribute {name!r}")
