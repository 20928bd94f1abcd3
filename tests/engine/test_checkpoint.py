"""Checkpoints: atomic (a write killed half-way leaves the previous one intact), and read with
``weights_only=True`` (a file whose pickle would run code is refused)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sigkill import sigkill_when

from stgcn.engine.checkpoint import UnsafeFileError, load_checkpoint, save_checkpoint
from stgcn.engine.seeding import rng_state, set_rng_state

REPO = Path(__file__).resolve().parents[2]


def test_roundtrip_leaves_no_temporary_file(tmp_path: Path) -> None:
    state = {"w": torch.arange(5.0), "epoch": 3, "history": [{"loss": 1.0}]}
    save_checkpoint(state, tmp_path / "ck.pt")
    save_checkpoint({**state, "epoch": 4}, tmp_path / "ck.pt")
    back = load_checkpoint(tmp_path / "ck.pt")
    assert back["epoch"] == 4 and torch.equal(back["w"], state["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_failed_write_keeps_old_checkpoint_and_removes_temp(tmp_path: Path) -> None:
    save_checkpoint({"epoch": 1}, tmp_path / "ck.pt")
    with pytest.raises(Exception, match="pickle|lambda|local object"):
        save_checkpoint({"epoch": 2, "bad": lambda: 0}, tmp_path / "ck.pt")
    assert load_checkpoint(tmp_path / "ck.pt")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_sigkill_during_write_keeps_old_checkpoint(tmp_path: Path) -> None:
    """Kill the writer after the new bytes are in the temp file but before the rename."""
    script = textwrap.dedent(
        f"""
        import os, time, torch
        from stgcn.engine.checkpoint import save_checkpoint
        path = {str(tmp_path / "ck.pt")!r}
        save_checkpoint({{"epoch": 1, "w": torch.ones(1000)}}, path)
        real_fsync = os.fsync
        def slow_fsync(fd):
            time.sleep(60)
            real_fsync(fd)
        os.fsync = slow_fsync
        save_checkpoint({{"epoch": 2, "w": torch.zeros(1000)}}, path)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    sigkill_when(
        proc,
        lambda: bool(list(tmp_path.glob(".ck.pt.*.tmp"))),
        timeout_s=60,
        exited="the writer exited before starting the second write",
        never="the temporary file never appeared",
        poll_s=0.02,
        settle_s=0.2,  # the temp file is now being filled / fsync-ed
    )
    back = load_checkpoint(tmp_path / "ck.pt")
    assert back["epoch"] == 1 and torch.equal(back["w"], torch.ones(1000))


class _RunsCode:
    """Unpickling this calls ``open(path, "w")``: a stand-in for any code a pickle can run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_checkpoint_whose_pickle_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    save_checkpoint({"epoch": 1, "payload": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match=r"evil\.pt: refused to load.*could run code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)  # what the refusal prevents
    assert marker.exists()


def test_rng_state_is_plain_data(tmp_path: Path) -> None:
    """What a checkpoint carries of the generators loads with weights_only and restores them."""
    save_checkpoint({"rng": rng_state()}, tmp_path / "ck.pt")
    back = torch.load(tmp_path / "ck.pt", weights_only=True)["rng"]
    a = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    set_rng_state(back)
    b = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
