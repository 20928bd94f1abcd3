"""The README's first example (the region graph in your own project) runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


@pytest.mark.slow
def test_cora_example_runs_as_written(shared_dir: Path, tmp_path: Path) -> None:
    """The Cora section's Python block, with its root in a temporary folder."""
    (block,) = [b for b in _python_blocks() if "KipfGCN" in b]
    raw = shared_dir / "data" / "planetoid" / "raw"
    assert '"/tmp/planetoid"' in block and '"../shared/data/planetoid/raw"' in block
    block = block.replace('"/tmp/planetoid"', repr(str(tmp_path))).replace(
        '"../shared/data/planetoid/raw"', repr(str(raw))
    )
    scope: dict = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Cora is as fast on one thread, and much faster on a busy machine
    try:
        exec(compile(block, str(README), "exec"), scope)
    finally:
        torch.set_num_threads(threads)
    result = scope["result"]
    assert result.epochs == 200 and 1 <= result.best_epoch <= 200
    assert result.test_acc >= 79.5  # Kipf & Welling: 81.5; as tests/benchmarks/test_cora.py
