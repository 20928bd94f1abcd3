"""`import stgcn.engine` on a core install (no `train` extra) names the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("missing", ["matplotlib", "tqdm"])
def test_import_without_the_train_extra_names_it(missing: str) -> None:
    # None in sys.modules makes `import missing` fail as if the package were not installed
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "try:\n"
        "    import stgcn.engine\n"
        "except ImportError as err:\n"
        "    print(err)\n"
        "else:\n"
        "    print('imported')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"stgcn.engine needs '{missing}'" in out and 'pip install "stgcn[train]"' in out


def test_the_rest_of_the_package_imports_without_it() -> None:
    # tqdm is not blocked here: torch_geometric itself requires it, so a core install has it
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import stgcn.models, stgcn.data.cached, stgcn.io\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_every_listed_name_exists() -> None:
    import importlib

    import stgcn.engine

    for module in ("checkpoint", "data_order", "distributed", "evaluation", "forward",
                   "full_batch", "metrics", "optim", "plots", "seeding", "trainer"):  # fmt: skip
        mod = importlib.import_module(f"stgcn.engine.{module}")
        assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__), module
    assert all(hasattr(stgcn.engine, name) for name in stgcn.engine.__all__)
