"""python -m stgcn.data.verify: unreadable, truncated and box-misaligned videos found, the report
and exclusion list written atomically, the exclusion list accepted by the dataset, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ssv2_fixtures import box_entries, make_ssv2

import stgcn.data.verify as verify_mod
from stgcn.data.ssv2 import MissingBoxesError, Sample, SomethingSomethingV2
from stgcn.data.verify import check_video, main, verify

LENGTHS = {"101": 24, "102": 30, "103": 20, "104": 36, "105": 36, "106": 24}
EVAL = dict(num_frames=8, size=32, train=False)


def _cut_to(path: Path, frames: int) -> None:
    """Cut ``path`` to the shortest prefix that still decodes ``frames`` frames (binary search:
    the decoded count grows with the prefix)."""
    data = path.read_bytes()
    lo, hi = 0, len(data)
    while lo < hi:
        mid = (lo + hi) // 2
        path.write_bytes(data[:mid])
        r = check_video(path)
        if r.get("decoded_frames", 0) >= frames and r["status"] != "decode_error":
            hi = mid
        else:
            lo = mid + 1
    path.write_bytes(data[:lo])


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_ssv2(tmp_path_factory.mktemp("verify") / "ssv2", LENGTHS)
    videos = root / "20bn-something-something-v2"
    (videos / "102.webm").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8)  # corrupt
    (videos / "103.webm").unlink()  # missing
    # 104: 36 frames in the header; cut after frame 33, the last the 8-frame TSN eval clip reads
    _cut_to(videos / "104.webm", 34)
    # 105: annotated at 24 fps (72 entries for a 3 s video): Something-Else issue #11
    # 106: no box entry
    for part in root.glob("bounding_box_smthsmth_part*.json"):
        boxes = json.loads(part.read_text())
        if "105" in boxes:
            boxes["105"] = box_entries("105", 72)
        boxes.pop("106", None)
        part.write_text(json.dumps(boxes))
    return root


def test_findings(damaged: Path, tmp_path: Path):
    report = verify(damaged, tmp_path / "out", progress=False)
    v = report["videos"]
    assert list(v) == sorted(LENGTHS)
    assert {k: r["status"] for k, r in v.items()} == {
        "101": "ok",
        "102": "decode_error",
        "103": "missing",
        "104": "truncated",
        "105": "ok",
        "106": "ok",
    }
    assert "102.webm" in v["102"]["message"] and "103.webm" in v["103"]["message"]
    assert (v["104"]["header_frames"], v["104"]["decoded_frames"]) == (36, 34)
    assert v["104"]["eval_clip_last_frame"] == 33 and v["104"]["silent_in_eval"] is True
    assert (v["105"]["boxes"], v["105"]["box_frames"], v["105"]["expected_box_frames"]) == (
        "mismatch",
        72,
        36,
    )
    assert v["105"]["implied_annotation_fps"] == pytest.approx(24.0, abs=1e-3)
    assert v["106"]["boxes"] == "missing" and v["101"]["boxes"] == "ok"
    assert report["summary"]["truncated_silent_in_eval"] == 1
    assert report["exclude"] == {"102": "decode_error", "103": "missing", "104": "truncated"}
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporary


def test_truncation_after_the_clip_is_silent_to_the_reader(damaged: Path):
    # what the verifier is for: the reader itself cannot see 104's truncation in evaluation
    ds = SomethingSomethingV2(damaged, "validation", **EVAL, boxes=False, exclude=["102", "103"])
    assert isinstance(ds[[vid for vid, _ in ds.records].index("104")], Sample)


def test_exclusion_list_is_accepted_by_the_dataset(damaged: Path, tmp_path: Path):
    verify(damaged, tmp_path / "out", progress=False, exclude_no_boxes=True)
    exclude = tmp_path / "out" / "exclude.txt"
    assert exclude.read_text().splitlines() == [
        "102  # decode_error",
        "103  # missing",
        "104  # truncated",
        "106  # no_boxes",
    ]
    ds = SomethingSomethingV2(damaged, "validation", **EVAL, on_error="raise", exclude=exclude)
    assert [r[0] for r in ds.records] == ["101", "105"]
    assert ds.error_report()["excluded"] == 4
    assert all(isinstance(ds[i], Sample) for i in range(len(ds)))  # raise policy: nothing bad
    with pytest.raises(MissingBoxesError, match="video 106"):
        SomethingSomethingV2(damaged, "validation", **EVAL, on_error="raise", exclude=["102"])[4]


def test_killed_and_rerun_gives_the_same_report(
    damaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    full = tmp_path / "full"
    verify(damaged, full, progress=False)
    # a run killed after two videos, in the middle of writing the third line
    killed = tmp_path / "killed"
    killed.mkdir()
    lines = (full / "progress.jsonl").read_text().splitlines()
    (killed / "progress.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    shutil.copy(full / "boxes.index.sqlite", killed / "boxes.index.sqlite")
    calls = []
    real = verify_mod.check_video
    monkeypatch.setattr(verify_mod, "check_video", lambda p, t=1: calls.append(p) or real(p, t))
    verify(damaged, killed, progress=False)
    assert len(calls) == len(LENGTHS) - 2  # finished videos are not redone
    for name in ("report.json", "exclude.txt"):
        assert (killed / name).read_bytes() == (full / name).read_bytes()
    # other settings: the earlier progress does not count
    calls.clear()
    verify(damaged, killed, progress=False, tolerance=3)
    assert len(calls) == len(LENGTHS)


def test_workers_and_command_line(damaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    one = verify(damaged, tmp_path / "one", progress=False)
    main([str(damaged), "--out", str(tmp_path / "two"), "--workers", "2", "--no-progress"])
    printed = capsys.readouterr().out
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    assert two == json.loads(json.dumps(one))
    assert "104: truncated" in printed and "105: 72 annotated frames, 36 expected" in printed
    assert "exclude.txt" in printed
