"""CachedClips: the decoded clips and graphs come back as the dataset gave them, from a file that
loads with weights_only=True; a file that would run code, or of an older format, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ssv2_fixtures import make_ssv2

from stgcn.data.cached import CachedClips
from stgcn.data.ssv2 import SomethingSomethingV2, collate
from stgcn.data.transforms import IMAGENET_STD
from stgcn.io import UnsafeFileError, save_atomic


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> SomethingSomethingV2:
    root = make_ssv2(tmp_path_factory.mktemp("ssv2"), {"101": 24, "102": 30, "103": 20, "104": 36})
    (root / "20bn-something-something-v2" / "103.webm").unlink()  # one video to skip
    return SomethingSomethingV2(root, "train", num_frames=4, size=48, train=False, on_error="skip")


def test_cache_gives_back_the_samples(dataset: SomethingSomethingV2, tmp_path: Path) -> None:
    done = CachedClips.write(dataset, tmp_path / "c.pt", batch_size=2)
    cache = CachedClips.load(tmp_path / "c.pt")
    samples = [s for s in (dataset[i] for i in range(len(dataset))) if hasattr(s, "clip")]
    assert done["clips"] == len(cache) == len(samples) and done["skipped"] == cache.skipped == 1
    assert cache.classes == list(dataset.classes)
    # uint8 storage: each value is within half a grey level (0.5 / 255 / std) of the dataset's
    tol = 0.5 / 255 / min(IMAGENET_STD) + 1e-6
    for i, s in enumerate(samples):
        c = cache[i]
        assert (c.clip - s.clip).abs().max() <= tol
        assert (c.label, c.video_id, c.view) == (s.label, s.video_id, s.view)
        assert c.graph.to_dict().keys() == s.graph.to_dict().keys()
    a, b = collate([cache[i] for i in range(len(cache))]), collate(samples)
    for key in ("box", "frame", "category", "track", "batch"):
        assert torch.equal(a.graph[key], b.graph[key]), key
    assert a.graph.video_id == b.graph.video_id
    assert torch.load(tmp_path / "c.pt", weights_only=True)["format"] == 2


def test_a_cache_that_names_a_global_is_refused(tmp_path: Path) -> None:
    """A pickled function is a global the unpickler would import: the way a pickle runs code."""
    save_atomic({"format": 2, "clips": print}, tmp_path / "c.pt")
    with pytest.raises(UnsafeFileError, match="refused to load"):
        CachedClips.load(tmp_path / "c.pt")


def test_an_older_format_says_to_rebuild(tmp_path: Path) -> None:
    save_atomic({"clips": torch.zeros(1, 3, 1, 1, 1, dtype=torch.uint8)}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="format None, expected 2: delete the file"):
        CachedClips.load(tmp_path / "c.pt")
