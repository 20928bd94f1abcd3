"""benchmarks/box_oracle.py: the box vector layout, and a run on a small generated set."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

from stgcn.data.ssv2 import Sample
from stgcn.data.synthetic import generate
from stgcn.graphs import VideoGraph


def test_box_vector_slots(bench) -> None:
    graph = VideoGraph(
        box=torch.tensor([[0.0, 0, 10, 10], [10.0, 20, 30, 40], [5.0, 5, 6, 6], [1.0, 1, 2, 2]]),
        frame=torch.tensor([0, 1, 1, 0]),
        category=torch.tensor([1, 2, 2, 2]),  # hand, object, object, object
        track=torch.tensor([-1, 0, 7, 1]),  # track 7 has no slot with 3 objects
    )
    v = (
        bench("box_oracle")
        .box_vector(Sample(torch.zeros(1), 0, graph, "v", 0), 2, 3, 40)
        .view(2, 4, 5)
    )
    expected = torch.zeros(2, 4, 5)
    expected[0, 0] = torch.tensor([0.0, 0, 0.25, 0.25, 1])
    expected[1, 1] = torch.tensor([0.25, 0.5, 0.75, 1, 1])
    expected[0, 2] = torch.tensor([0.025, 0.025, 0.05, 0.05, 1])
    torch.testing.assert_close(v, expected)


def test_runs_on_a_generated_set(bench, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "ssv2"
    generate(root, 40, seed=0, size=(48, 64), frames=(24, 30), splits=(0.7, 0.3, 0.0), workers=0)
    bench("box_oracle").main(["--data-root", str(root), "--size", "48", "--epochs", "3"])
    out = capsys.readouterr().out
    assert "28 train / 12 validation videos, 14 classes, 160 box features" in out
    assert re.search(
        r"validation top-1: [\d.]+ ± 0\.0 % over 1 seed\(s\) \[[\d.]+\]; chance 7\.1 %", out
    )


def test_missing_set_is_a_clear_error(bench, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="run `python benchmarks/ssv2.py` first"):
        bench("box_oracle").main(["--data-root", str(tmp_path / "nothing")])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
