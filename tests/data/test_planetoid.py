"""load_planetoid: Cora's public split from the raw files in ../shared, offline; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stgcn.data import planetoid
from stgcn.data.planetoid import copy_raw, default_root, load_planetoid


def test_cora_public_split(planetoid_root: Path) -> None:
    data = load_planetoid("Cora", planetoid_root)
    assert (data.num_nodes, data.num_features, data.num_edges) == (2708, 1433, 10556)
    assert int(data.y.max()) + 1 == 7
    counts = [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)]
    assert counts == [140, 500, 1000]
    assert torch.bincount(data.y[data.train_mask]).tolist() == [20] * 7
    # NormalizeFeatures: each row sums to 1 (or is all zero)
    sums = data.x.sum(1)
    ones = torch.ones_like(sums)
    assert torch.all(torch.isclose(sums, ones) | (sums == 0))


def test_raw_dir_is_copied_into_root(shared_dir: Path, tmp_path: Path) -> None:
    raw = shared_dir / "data" / "planetoid" / "raw"
    data = load_planetoid("CiteSeer", tmp_path / "root", raw_dir=raw)
    assert (data.num_nodes, data.num_features) == (3327, 3703)
    copied = sorted(p.name for p in (tmp_path / "root" / "CiteSeer" / "raw").iterdir())
    assert copied == sorted(f"ind.citeseer.{n}" for n in planetoid.PLANETOID_RAW_NAMES)


def test_raw_dir_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing Planetoid raw files .*ind\.citeseer\.x"):
        copy_raw(tmp_path, tmp_path / "root", "CiteSeer")


def test_offline_without_raw_files_says_where_to_put_them(tmp_path: Path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(planetoid, "Planetoid", offline)
    raw = tmp_path / "Cora" / "raw"
    with pytest.raises(FileNotFoundError, match=rf"ind\.cora\.\* in {raw}.*raw_dir=") as err:
        load_planetoid("Cora", tmp_path)
    assert "Temporary failure in name resolution" in str(err.value)


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown Planetoid dataset 'cora'"):
        load_planetoid("cora", tmp_path)


def test_default_root_follows_xdg_cache_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_root() == tmp_path / "stgcn" / "planetoid"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == Path.home() / ".cache" / "stgcn" / "planetoid"
