"""``bench("ssv2")``: a script of ``benchmarks/`` loaded as a module, once per test session.

The scripts are not a package; each is loaded from its file under the name ``bench_<name>`` and
registered in ``sys.modules`` (dataclasses look their module up while the file executes). The
``benchmarks`` folder goes on ``sys.path`` for the session, as when a script runs, so the scripts'
shared ``_machine`` helper imports.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def bench() -> Iterator[Callable[[str], ModuleType]]:
    loaded: dict[str, ModuleType] = {}
    sys.path.insert(0, str(BENCHMARKS))

    def load(name: str) -> ModuleType:
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(
                f"bench_{name}", BENCHMARKS / f"{name}.py"
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    yield load
    for name in loaded:
        sys.modules.pop(f"bench_{name}", None)
    sys.path.remove(str(BENCHMARKS))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for the test (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the small benchmarks (Cora, MUTAG) are as fast on one thread on an idle machine and ~10x
    faster on a busy one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
