"""What the weight-free proposers share: importing OpenCV with a clear error, and the reduced size
a frame is searched at."""

from __future__ import annotations

from types import ModuleType


def import_cv2(user: str, contrib: bool = False) -> ModuleType:
    """``cv2``, or an :class:`ImportError` that names ``user`` (the module that needs it) and the
    extra to install. ``contrib``: also require the contrib modules (``cv2.ximgproc``)."""
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        what = "OpenCV's contrib modules" if contrib else "OpenCV"
        raise ImportError(
            f"{user} needs {what}: pip install 'stgcn[proposals]' (opencv-contrib-python-headless)"
        ) from e
    if contrib and not hasattr(cv2, "ximgproc"):  # pragma: no cover - plain opencv shadows contrib
        raise ImportError(
            "cv2 has no ximgproc module: this OpenCV build lacks the contrib modules. Uninstall "
            "opencv-python / opencv-python-headless and install opencv-contrib-python-headless"
        )
    return cv2


def shrunk_size(height: int, width: int, max_side: int | None) -> tuple[int, int] | None:
    """``(h, w)`` with the longer side at ``max_side`` and the aspect ratio kept (each side at
    least 1), or None when the frame is already small enough or ``max_side`` is None."""
    if max_side is None or max(height, width) <= max_side:
        return None
    s = max(height, width) / max_side
    return max(1, round(height / s)), max(1, round(width / s))
