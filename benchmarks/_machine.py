"""The machine a benchmark ran on, for its report, and the resident memory of a process: helpers
shared by the scripts here.

Scripts import it as ``from _machine import machine`` (``python benchmarks/x.py`` puts this folder
first on ``sys.path``; the tests' ``bench`` fixture does the same).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch
import torch_geometric


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux
    return platform.processor() or platform.machine()


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB; None when the field
    is absent or the process (or ``/proc``) is not there."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass  # the process is gone, or not Linux
    return None


def machine() -> dict[str, Any]:
    """CPU, core count, platform, python, torch and PyG versions, torch threads, GPU (or None)."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count() or 0,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
