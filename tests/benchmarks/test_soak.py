"""benchmarks/soak.py at tiny size: corrupted videos skipped and counted in every epoch, RSS read
per process and per epoch, no worker death."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from ssv2_fixtures import make_ssv2  # noqa: E402


def test_corruptions_are_unreadable(tmp_path: Path, bench):
    from stgcn.data.video import VideoDecodeError, VideoReader

    root = make_ssv2(tmp_path / "ssv2", {"1": 24})
    video = root / "20bn-something-something-v2" / "1.webm"
    data = video.read_bytes()
    rng = np.random.default_rng(0)
    soak = bench("soak")
    for kind in soak.CORRUPTIONS:
        video.write_bytes(data)
        soak.corrupt(video, kind, rng)
        with pytest.raises(VideoDecodeError):
            with VideoReader(video) as r:  # the TSN clip's last frame is past the cut
                r.read(np.array([0, 23]))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_soak_epochs(tmp_path: Path, bench):
    src = make_ssv2(tmp_path / "src")
    root = tmp_path / "work"
    shutil.copytree(src, root)
    result = bench("soak").soak(root, epochs=2, workers=2, corrupt_fraction=0.5, batch=2,
                                 frames=4, size=32)  # fmt: skip
    assert result["videos"] == 4 and result["corrupted"] == 2
    assert result["worker_deaths"] == []
    for row in result["epochs"]:
        assert row["samples"] == 2 and row["skipped"] == row["skipped_in_batches"] == 2
        assert row["skipped_are_the_corrupted"] is True
        assert row["peak_rss_mib"]["main"] > 0 and len(row["peak_rss_mib"]["workers"]) == 2
        assert row["sum_of_peaks_mib"] == pytest.approx(
            row["peak_rss_mib"]["main"] + sum(row["peak_rss_mib"]["workers"]), abs=0.2
        )  # three values each rounded to 0.1 MiB
        assert row["sampled_total_peak_mib"] <= row["sum_of_peaks_mib"] + 0.2
    first, last = result["epochs"][0]["sum_of_peaks_mib"], result["epochs"][-1]["sum_of_peaks_mib"]
    assert result["growth_pct"] == pytest.approx(100 * (last - first) / first, abs=0.01)
