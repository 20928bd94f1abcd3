"""benchmarks/data.py at tiny size: the box files it writes, the RSS children, the loader table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "data.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
sys.path.insert(0, str(REPO / "tests" / "data"))
from ssv2_fixtures import make_ssv2  # noqa: E402


def test_box_files_are_something_else_schema(bench, tmp_path: Path):
    from stgcn.data.boxes import build_box_index, iter_json_object

    parts = bench("data").write_box_files(tmp_path, 9)
    assert [p.name for p in parts] == [f"bounding_box_smthsmth_part{i}.json" for i in range(1, 5)]
    merged = {}
    for p in parts:
        data = json.loads(p.read_text())
        assert dict(iter_json_object(p, chunk_chars=64)) == data
        merged.update(data)
    assert sorted(merged, key=int) == [str(i) for i in range(1, 10)]
    frame = merged["1"][0]
    assert frame["name"] == "1/0001.jpg" and frame["nr_instances"] == len(frame["labels"])
    assert len(build_box_index(parts, tmp_path / "i.sqlite")) == 9


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_rss_children_report_memory(bench, tmp_path: Path, capsys: pytest.CaptureFixture):
    mod = bench("data")
    parts = mod.write_box_files(tmp_path, 20)
    index = tmp_path / "i.sqlite"
    # the build in a fresh process, as the benchmark runs it; the other modes here (same code)
    cmd = [sys.executable, str(SCRIPT), "--child", "build", "--index", str(index), *map(str, parts)]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True).stdout
    rows = {"build": json.loads(out.strip().splitlines()[-1])}
    assert index.is_file()
    for mode in ("json", "index"):
        mod.child(mode, [str(p) for p in parts], str(index))
        rows[mode] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for mode, r in rows.items():
        assert r["mode"] == mode
        assert r["peak_rss_mib"] >= r["rss_before_mib"] > 0
        assert r["extra_mib"] == pytest.approx(r["peak_rss_mib"] - r["rss_before_mib"], abs=0.11)


def test_loader_table(bench, tmp_path: Path):
    root = make_ssv2(tmp_path / "ssv2")
    rows = bench("data").measure_loader(root, "train", batch=2, frames=4, size=48, batches=2)
    assert [r["workers"] for r in rows[:-1]] == [0, 1, 2]
    for r in rows[:-1]:
        assert r["clips"] == 4 and r["clips_per_s"] > 0 and r["startup_s"] >= 0
    assert rows[-1]["skipped"] == {"missing_video": 0, "decode_error": 0, "no_boxes": 0}
