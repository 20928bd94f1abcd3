"""Every notebook in notebooks/ executes top to bottom without error.

A notebook that reads the test data lists the folders it needs under ``../shared`` in its metadata,
``{"stgcn": {"needs_shared": ["data/planetoid/raw"]}}``; it is skipped when one is absent (a user's
clone, offline), and finds ``../shared`` through ``$STGCN_SHARED`` since it runs in a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="the notebooks extra is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the notebooks extra is not installed")
    nb = nbformat.read(path, as_version=4)
    missing = [
        str(SHARED / need)
        for need in nb.metadata.get("stgcn", {}).get("needs_shared", [])
        if not (SHARED / need).exists()
    ]
    if missing:
        pytest.skip(f"{path.name} needs {missing}, absent beside the repository")
    # the kernel inherits this process's environment
    monkeypatch.setenv("STGCN_SHARED", str(SHARED))
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"
