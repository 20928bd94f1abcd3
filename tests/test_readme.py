"""The README's first example (the region graph in your own project) runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_space_time_gcn_example_runs_as_written() -> None:
    block = _python_blocks()[0]
    assert "from stgcn.layers import SpaceTimeGCN" in block
    scope: dict = {}
    torch.manual_seed(0)
    exec(compile(block, str(README), "exec"), scope)
    assert scope["h"].shape == (14, 512)  # the shapes its comments state
    assert scope["v"].shape == (2, 512)
    batch = scope["batch"]
    torch.testing.assert_close(scope["v"][1], scope["h"][batch.batch == 1].mean(0))
