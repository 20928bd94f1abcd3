"""Shared fixtures: the read-only ../shared folder that CI lays beside the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder, or a skip with the reason when it is absent (a user's clone)."""
    if not (SHARED / "data").is_dir():
        pytest.skip(
            f"../shared/data not found next to the repository ({SHARED}); it holds the test data"
        )
    return SHARED


@pytest.fixture(scope="session")
def planetoid_root(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable Planetoid root with Cora/ and CiteSeer/ raw files copied from ../shared."""
    root = tmp_path_factory.mktemp("planetoid")
    raw = shared_dir / "data" / "planetoid" / "raw"
    for name, prefix in (("Cora", "ind.cora."), ("CiteSeer", "ind.citeseer.")):
        dst = root / name / "raw"
        dst.mkdir(parents=True)
        for f in raw.glob(prefix + "*"):
            shutil.copy(f, dst / f.name)
    return root


@pytest.fixture(scope="session")
def videos_dir(shared_dir: Path) -> Path:
    """The two real videos in ../shared/data/videos."""
    return shared_dir / "data" / "videos"
