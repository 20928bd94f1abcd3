"""The plots are written as PNG files."""

from __future__ import annotations

from pathlib import Path

from stgcn.engine.plots import plot_confusion, plot_curves


def test_curves_and_confusion_png(tmp_path: Path) -> None:
    hist = [
        {"epoch": e, "train_loss": 1.0 / (e + 1), "train_top1": 10.0 * e, "val_top1": 8.0 * e}
        for e in range(3)
    ]
    p1 = plot_curves({"a": hist, "b": hist[:2]}, tmp_path / "curves.png")
    p2 = plot_confusion([[3, 1], [0, 0]], ["left to right", "right to left"], tmp_path / "cm.png")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000
