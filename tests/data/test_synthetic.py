"""Tests for stgcn.data.synthetic: the official SSv2 + Something-Else layout, decoding, determinism,
box placement, class balance and the time symmetry of the reversal pairs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stgcn.data import synthetic as S
from stgcn.data.synthetic.classes import REVERSED, SyntheticClass, class_groups, reversal_sources
from stgcn.data.synthetic.render import _capsule_rows
from stgcn.data.synthetic.writer import HASHED_MODULES, LOCK, source_digest

av = pytest.importorskip("av")

SIZE = (64, 96)
FRAMES = (12, 20)
SPLITS = (0.5, 0.25, 0.25)
NUM = 28  # two videos per class
SEED = 3
# box coordinates (at most 96 px here) are written with two decimals: half a unit of the last
# decimal, plus a few ulps of the coordinate
JSON_ATOL = 0.005 + 8 * np.finfo(np.float64).eps * max(SIZE)

REQUIRED = (
    "Pushing [something] from left to right",
    "Pushing [something] from right to left",
    "Moving [something] up",
    "Moving [something] down",
    "Moving [something] closer to [something]",
    "Moving [something] away from [something]",
    "Covering [something] with [something]",
    "Uncovering [something]",
    "Putting [something] next to [something]",
    "Pretending to pick [something] up",
    "Moving [something] and [something] closer to each other",
)


def _make(root: Path, num_videos: int = NUM, **kw) -> dict:
    args = dict(seed=SEED, size=SIZE, frames=FRAMES, splits=SPLITS, workers=0) | kw
    return S.generate(root, num_videos, **args)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "ssv2"
    _make(root)
    return root


def _load(root: Path) -> dict:
    labels_dir = root / "labels"
    out = {
        "labels": json.loads((labels_dir / "something-something-v2-labels.json").read_text()),
        "train": json.loads((labels_dir / "something-something-v2-train.json").read_text()),
        "validation": json.loads(
            (labels_dir / "something-something-v2-validation.json").read_text()
        ),
        "test": json.loads((labels_dir / "something-something-v2-test.json").read_text()),
        "manifest": json.loads((root / "synthetic_manifest.json").read_text()),
        "boxes": {},
        "parts": [],
    }
    for k in range(1, 5):
        part = json.loads((root / f"bounding_box_smthsmth_part{k}.json").read_text())
        out["parts"].append(part)
        out["boxes"].update(part)
    return out


def _templates(data: dict) -> dict[str, str]:
    """video id -> template, for every split (the test split's from the manifest)."""
    t = {e["id"]: e["template"] for s in ("train", "validation") for e in data[s]}
    t.update(data["manifest"]["test_labels"])
    return t


def _decode(path: Path) -> tuple[np.ndarray, list, object]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        return np.stack([f.to_ndarray(format="rgb24") for f in frames]), frames, stream


# ------------------------------------------------------------------------------------ classes


def test_classes_use_real_templates_with_groups_and_partners():
    templates = {c.template for c in S.CLASSES}
    assert set(REQUIRED) <= templates
    assert len(S.CLASSES) >= 12 and len(templates) == len(S.CLASSES)
    by = {c.template: c for c in S.CLASSES}
    for c in S.CLASSES:
        assert c.group in ("temporal_reversal", "relational", "other")
        assert c.num_placeholders == c.template.count("[something]")
        if c.group == "temporal_reversal":
            assert by[c.partner].partner == c.template and by[c.partner].group == c.group
        else:
            assert c.partner is None
    for rel in (
        "Putting [something] next to [something]",
        "Pretending to pick [something] up",
        "Moving [something] and [something] closer to each other",
    ):
        assert by[rel].group == "relational"


def test_label_index_is_alphabetical_over_bracket_free_templates():
    labels = S.label_index()
    names = sorted(labels, key=lambda n: int(labels[n]))
    assert names == sorted(c.template.replace("[", "").replace("]", "") for c in S.CLASSES)
    assert [labels[n] for n in names] == [str(i) for i in range(len(names))]


def test_reversed_classes_are_derived_from_the_partners():
    """The second class of each pair (in catalogue order) is rendered from the first."""
    assert REVERSED == {
        "Pushing [something] from right to left": "Pushing [something] from left to right",
        "Moving [something] down": "Moving [something] up",
        "Moving [something] away from [something]": "Moving [something] closer to [something]",
        "Uncovering [something]": "Covering [something] with [something]",
    }
    swapped = list(S.CLASSES)
    swapped[0], swapped[1] = swapped[1], swapped[0]  # the catalogue order picks the forward one
    assert reversal_sources(swapped)["Pushing [something] from left to right"] == (
        "Pushing [something] from right to left"
    )
    lonely = replace(S.CLASSES[0], partner="Moving [something] up")
    with pytest.raises(ValueError, match="from left to right.*does not pair back"):
        reversal_sources([lonely, *S.CLASSES[1:]])


def test_class_groups_by_label_index():
    labels = S.label_index()
    names = sorted(labels, key=lambda n: int(labels[n]))
    groups = class_groups(names)
    by_name = {c.name: c for c in S.CLASSES}
    for group in ("temporal_reversal", "relational"):
        want = [int(labels[c.name]) for c in S.CLASSES if c.group == group]
        assert groups[group] == sorted(want) and len(want) >= 4
    assert set(groups) == {"temporal_reversal", "relational"}
    assert by_name[names[groups["relational"][0]]].group == "relational"
    # real SSv2 names that are not synthetic classes belong to no group; empty groups are left out
    real = ["Holding something", "Moving something up", "Tearing something into two pieces"]
    assert class_groups(real) == {"temporal_reversal": [1]}
    assert class_groups([]) == {}


# ------------------------------------------------------------------------------------ layout


def test_label_files_have_the_official_schema(dataset: Path):
    data = _load(dataset)
    assert data["labels"] == S.label_index()
    ids = []
    for split in ("train", "validation"):
        assert data[split], split
        for e in data[split]:
            assert set(e) == {"id", "label", "template", "placeholders"}
            assert e["id"].isdigit()
            key = e["template"].replace("[", "").replace("]", "")
            assert key in data["labels"], e
            assert len(e["placeholders"]) == e["template"].count("[something]")
            filled = e["template"]
            for p in e["placeholders"]:
                filled = filled.replace("[something]", p, 1)
            assert e["label"] == filled[0].lower() + filled[1:]
            ids.append(e["id"])
    assert all(set(e) == {"id"} for e in data["test"])
    ids += [e["id"] for e in data["test"]]
    assert len(ids) == len(set(ids)) == NUM
    assert len(data["train"]) == 14 and len(data["validation"]) == 7 and len(data["test"]) == 7
    videos = sorted(p.stem for p in (dataset / "20bn-something-something-v2").glob("*.webm"))
    assert videos == sorted(ids)
    readme = (dataset / "README.md").read_text()
    assert S.GENERATOR_VERSION in readme and f"seed {SEED}" in readme
    assert all(c.template in readme for c in S.CLASSES)
    assert not (dataset / ".synthetic-in-progress").exists()


def test_boxes_have_the_something_else_schema_for_every_frame(dataset: Path):
    data = _load(dataset)
    templates = _templates(data)
    placeholders = {e["id"]: e["placeholders"] for s in ("train", "validation") for e in data[s]}
    assert all(data["parts"]) and sum(len(p) for p in data["parts"]) == NUM
    assert set(data["boxes"]) == set(templates)
    h, w = SIZE
    for vid, entries in data["boxes"].items():
        n = len(entries)
        assert FRAMES[0] <= n <= FRAMES[1]
        seen = set()
        for k, e in enumerate(entries):
            assert set(e) == {"name", "labels", "gt_placeholders", "nr_instances"}
            assert e["name"] == f"{vid}/{k + 1:04d}.jpg"
            assert e["nr_instances"] == len(e["labels"])
            if vid in placeholders:
                assert e["gt_placeholders"] == placeholders[vid]
            for lab in e["labels"]:
                assert set(lab) == {"box2d", "category", "standard_category", "gt_annotation"}
                b = lab["box2d"]
                assert set(b) == {"x1", "y1", "x2", "y2"}
                assert all(isinstance(v, float | int) for v in b.values())
                assert 0 <= b["x1"] < b["x2"] <= w and 0 <= b["y1"] < b["y2"] <= h
                pair = (lab["standard_category"], lab["gt_annotation"])
                assert pair in {("hand", "object hand"), ("0000", "object 0"), ("0001", "object 1")}
                if pair[0] == "hand":
                    assert lab["category"] == "hand"
                elif templates[vid] == "Uncovering [something]" and pair[0] == "0001":
                    assert lab["category"] not in e["gt_placeholders"]  # the cover
                else:
                    assert lab["category"] == e["gt_placeholders"][int(pair[0])]
                seen.add(pair[0])
        want = {"0000", "hand"} | ({"0001"} if templates[vid].count("[something]") == 2 else set())
        if templates[vid] == "Uncovering [something]":
            want.add("0001")  # the cover keeps its box so the reversal pair has the same boxes
        assert seen == want, (vid, templates[vid], seen)


def test_every_video_decodes_at_12_fps_with_one_box_entry_per_frame(dataset: Path):
    data = _load(dataset)
    for vid, entries in data["boxes"].items():
        arr, frames, stream = _decode(dataset / "20bn-something-something-v2" / f"{vid}.webm")
        assert stream.codec_context.name == "vp9"
        assert stream.average_rate == 12
        assert arr.shape == (len(entries), *SIZE, 3)
        times = np.array([f.time for f in frames])
        # WebM stores timestamps in milliseconds: k / 12 s is rounded to the nearest 1 ms
        np.testing.assert_allclose(times, np.arange(len(entries)) / 12, rtol=0, atol=0.5e-3)


def test_classes_are_balanced_within_each_split(dataset: Path):
    data = _load(dataset)
    counts = data["manifest"]["counts"]
    for split in ("train", "validation", "test"):
        c = np.array([counts[split].get(k.template, 0) for k in S.CLASSES])
        assert c.max() - c.min() <= 1, (split, c)
        assert c.sum() == len(data[split])
    assert {t for t in _templates(data).values()} == {c.template for c in S.CLASSES}


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_bytes_in_every_file(dataset: Path, tmp_path: Path):
    again = tmp_path / "again"
    _make(again, workers=2)  # also: the worker count does not change the output

    def data_files(root: Path) -> list[Path]:  # the lock file is empty and not part of the set
        return sorted(
            p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != LOCK
        )

    files = data_files(dataset)
    assert files == data_files(again)
    assert len(files) == NUM + 4 + 4 + 2
    for rel in files:
        assert (dataset / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    _make(other, seed=SEED + 1, num_videos=4)
    a = (dataset / "20bn-something-something-v2" / "1.webm").read_bytes()
    assert a != (other / "20bn-something-something-v2" / "1.webm").read_bytes()


def test_encode_webm_is_bit_exact_and_rejects_odd_sizes():
    frames = np.random.default_rng(0).integers(0, 256, size=(5, 16, 24, 3), dtype=np.uint8)
    assert S.encode_webm(frames) == S.encode_webm(frames.copy())
    with pytest.raises(ValueError, match="even"):
        S.encode_webm(frames[:, :15])


# ------------------------------------------------------------------------------------ caching


def test_complete_dataset_is_reused_and_partial_one_regenerated(tmp_path: Path):
    root = tmp_path / "d"
    first = _make(root, num_videos=4)
    assert "videos_per_s" in first and not first.get("reused")
    video = root / "20bn-something-something-v2" / "1.webm"
    stamp = video.stat().st_mtime_ns
    second = _make(root, num_videos=4)
    assert second["reused"] and video.stat().st_mtime_ns == stamp
    assert second["files"] == first["files"]

    # a killed run: the manifest is not there yet, a video is truncated, a box file half written
    (root / "synthetic_manifest.json").unlink()
    (root / ".synthetic-in-progress").write_text("x")
    (root / "bounding_box_smthsmth_part1.json.tmp").write_text('{"1": [')
    video.write_bytes(video.read_bytes()[:50])
    third = _make(root, num_videos=4)
    assert (
        not third.get("reused")
        and video.stat().st_size == first["files"]["20bn-something-something-v2/1.webm"]
    )

    # other parameters: regenerated, no stale videos left behind; a reader's box index may stay
    (root / "bounding_box_smthsmth.index.sqlite").write_bytes(b"index")
    _make(root, num_videos=3)
    assert (root / "bounding_box_smthsmth.index.sqlite").exists()
    assert sorted(p.name for p in (root / "20bn-something-something-v2").iterdir()) == [
        "1.webm",
        "2.webm",
        "3.webm",
    ]


def _generate_into(root: str, queue) -> None:
    from stgcn.data import synthetic as S

    queue.put(S.generate(root, num_videos=6, size=(32, 32), frames=(8, 8), workers=0))


def test_two_processes_generating_one_folder_take_turns(tmp_path: Path):
    """Two benchmarks started at once on an empty cache: one generates, the other waits for its
    lock and reuses the set (unlocked, both wrote the same temporary box files and corrupted them)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    root = str(tmp_path / "d")
    procs = [ctx.Process(target=_generate_into, args=(root, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    manifests = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert sorted(bool(m.get("reused")) for m in manifests) == [False, True]
    for name in manifests[0]["files"]:
        if name.endswith(".json"):
            json.loads((tmp_path / "d" / name).read_text())  # every JSON file whole


def test_a_set_from_another_generator_revision_is_regenerated(tmp_path: Path):
    """Same version string and parameters, but rendered by other generator source: not reused."""
    root = tmp_path / "d"
    first = _make(root, num_videos=3)
    assert first["generator_source"] == S.GENERATOR_SOURCE and len(S.GENERATOR_SOURCE) == 64
    manifest_path = root / "synthetic_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["generator_source"] = "0" * 64  # as if written by an earlier edit of this module
    manifest_path.write_text(json.dumps(manifest))
    again = _make(root, num_videos=3)
    assert not again.get("reused") and again["files"] == first["files"]
    assert json.loads(manifest_path.read_text())["generator_source"] == S.GENERATOR_SOURCE


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new, 1))


def test_source_digest_covers_rendering_but_not_prose(tmp_path: Path):
    """The reuse digest changes with what decides pixels and boxes, not with prose or the CLI."""
    package = Path(S.__file__).parent
    assert source_digest(package) == S.GENERATOR_SOURCE
    copy = tmp_path / "synthetic"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _edit(copy / "README.template.md", "## Known properties", "## Known properties (edited)")
    _edit(copy / "cli.py", "output folder", "output directory")
    _edit(copy / "writer.py", "The dataset writer", "The set writer")
    _edit(copy / "classes.py", "lets go and leaves", "releases it and leaves")
    # prose and layout inside the hashed modules: docstrings, comments, line breaks
    _edit(copy / "render.py", "Rendering: one video's", "Rendering of one video's")
    _edit(copy / "render.py", "    # appearance jitter", "    # jitter of the appearance")
    _edit(
        copy / "motion.py",
        '    """Positions [T, 2] through keyframes',
        '    """Positions [T, 2] via keys',
    )
    _edit(copy / "webm.py", "FPS = 12\n", "FPS = (\n    12\n)\n")
    assert "writer.py" not in HASHED_MODULES and "classes.py" not in HASHED_MODULES
    assert source_digest(copy) == S.GENERATOR_SOURCE
    reworded = [replace(c, rendering=c.rendering + " Edited.") for c in S.CLASSES]
    assert source_digest(copy, reworded) == S.GENERATOR_SOURCE

    for module, old, new in [
        ("render.py", "level = int(rng.integers(2, 7))", "level = int(rng.integers(2, 8))"),
        ("motion.py", "rng.uniform(0.3, 0.5) * scene.w", "rng.uniform(0.3, 0.6) * scene.w"),
        ("webm.py", '"crf": "30"', '"crf": "31"'),
        ("layout.py", "round(float(b[0]), 2)", "round(float(b[0]), 3)"),
        ("scene.py", "rng.uniform(0.13, 0.24, size=2)", "rng.uniform(0.12, 0.24, size=2)"),
    ]:
        changed = tmp_path / module
        shutil.copytree(copy, changed)
        _edit(changed / module, old, new)
        assert source_digest(changed) != S.GENERATOR_SOURCE, module
    swapped = list(S.CLASSES)
    swapped[0], swapped[1] = swapped[1], swapped[0]  # another class is rendered forwards
    assert source_digest(copy, swapped) != S.GENERATOR_SOURCE


def test_refuses_a_folder_that_is_not_its_own(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        _make(tmp_path, num_videos=2)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(size=(63, 96)), "even"),
        (dict(frames=(20, 12)), "frames"),
        (dict(frames=(4, 12)), "frames"),
        (dict(splits=(0.5, 0.2, 0.2)), "splits"),
        (dict(num_videos=0), "num_videos"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kw: dict, match: str):
    with pytest.raises(ValueError, match=match):
        _make(tmp_path / "x", **kw)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "cli"
    args = "--videos 2 --seed 5 --height 32 --width 48 --min-frames 8 --max-frames 9 --workers 0"
    S.main(["--out", str(out), *args.split()])
    assert "videos/s" in capsys.readouterr().out
    manifest = json.loads((out / "synthetic_manifest.json").read_text())
    assert manifest["params"]["size"] == [32, 48] and manifest["params"]["seed"] == 5


def test_python_dash_m_runs_the_command_line(tmp_path: Path):
    out = tmp_path / "m"
    args = "--videos 1 --seed 1 --height 32 --width 32 --min-frames 8 --max-frames 8 --workers 0"
    cmd = [sys.executable, "-m", "stgcn.data.synthetic", "--out", str(out), *args.split()]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(S.__file__).parents[3])
    assert run.returncode == 0, run.stderr
    assert "videos/s" in run.stdout and (out / "synthetic_manifest.json").is_file()


# ------------------------------------------------------------------------------------ content


def test_arm_rows_match_the_dense_distance_to_the_segment():
    """The closed-form row intervals of the arm equal {p : dist(p, segment) <= r} on the grid."""
    rng = np.random.default_rng(0)
    h, w = 40, 56
    px, py = np.arange(w) + 0.5, np.arange(h) + 0.5
    for trial in range(60):
        a, b = rng.uniform(-20, 70, (3, 2)), rng.uniform(-20, 70, (3, 2))
        b[0, trial % 2] = a[0, trial % 2]  # an axis-parallel segment
        b[1] = a[1] if trial % 3 == 0 else b[1]  # a point
        r = rng.uniform(1, 8)
        left, right = _capsule_rows(a, b, r, h)
        got = (px >= left[:, :, None]) & (px <= right[:, :, None])
        v = b - a
        dx, dy = px[None, None] - a[:, 0, None, None], py[None, :, None] - a[:, 1, None, None]
        s = (dx * v[:, 0, None, None] + dy * v[:, 1, None, None]) / np.maximum(
            (v**2).sum(1), 1e-12
        )[:, None, None]
        s = np.clip(s, 0, 1)
        dist = np.hypot(dx - s * v[:, 0, None, None], dy - s * v[:, 1, None, None])
        want = dist <= r
        # pixel centres on the boundary may fall either way: the closed form and the distance
        # each carry a few ulps of the coordinates (at most ~100 px here)
        tol = 64 * np.finfo(np.float64).eps * 100
        assert np.all((got == want) | (np.abs(dist - r) < tol)), trial


def test_boxes_sit_on_the_rendered_objects(dataset: Path):
    """The decoded pixels inside a box have the boxed thing's colour, those around it do not."""
    data = _load(dataset)
    templates = _templates(data)
    h, w = SIZE
    wins = trials = 0
    for vid, entries in data["boxes"].items():
        spec = S.VideoSpec(int(vid) - 1, vid, templates[vid], "train", len(entries))
        video = S.render_video(spec, SIZE, SEED)
        for role, box in video.boxes.items():  # the JSON holds the rendered boxes
            for k, e in enumerate(entries):
                got = [lab["box2d"] for lab in e["labels"] if lab["gt_annotation"] == role]
                if np.isnan(box[k, 0]):
                    assert not got
                else:
                    # the JSON keeps two decimals: off by at most 0.005 px, plus float rounding
                    np.testing.assert_allclose(
                        [got[0][c] for c in ("x1", "y1", "x2", "y2")],
                        box[k],
                        rtol=0,
                        atol=JSON_ATOL,
                    )
        arr, _, _ = _decode(dataset / "20bn-something-something-v2" / f"{vid}.webm")
        for k in range(len(entries)):
            boxes = {r: b[k] for r, b in video.boxes.items() if not np.isnan(b[k, 0])}
            for role, (x1, y1, x2, y2) in boxes.items():
                if x1 < 3 or y1 < 3 or x2 > w - 3 or y2 > h - 3 or (x2 - x1) * (y2 - y1) < 36:
                    continue
                others = [b for r, b in boxes.items() if r != role]
                if any(
                    min(x2, b[2]) > max(x1, b[0]) and min(y2, b[3]) > max(y1, b[1]) for b in others
                ):
                    continue  # overlapped: the pixels may be another thing's
                cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 4, (y2 - y1) / 4
                core = arr[
                    k,
                    int(cy - bh + 0.5) : int(cy + bh + 0.5),
                    int(cx - bw + 0.5) : int(cx + bw + 0.5),
                ]
                ring = np.ones((h, w), bool)
                ring[max(int(y1) - 3, 0) : int(y2) + 4, max(int(x1) - 3, 0) : int(x2) + 4] = False
                ring[max(int(y1) - 6, 0) : int(y2) + 7, max(int(x1) - 6, 0) : int(x2) + 7] ^= True
                ring = ~ring
                colour = video.colours[role]
                d_in = np.abs(core.reshape(-1, 3).mean(0) - colour).sum()
                d_out = np.abs(arr[k][ring].mean(0) - colour).sum()
                wins += d_in < d_out
                trials += 1
    assert trials > 200
    assert wins / trials > 0.9, (wins, trials)


def test_reversal_partner_is_the_same_video_played_backwards():
    for c in S.CLASSES:
        if c.group != "temporal_reversal" or c.template not in REVERSED:
            continue
        for index in range(3):
            fwd = S.render_video(S.VideoSpec(index, "1", c.partner, "train", 14), (32, 48), 0)
            rev = S.render_video(S.VideoSpec(index, "1", c.template, "train", 14), (32, 48), 0)
            np.testing.assert_array_equal(rev.frames, fwd.frames[::-1])
            assert set(rev.boxes) == set(fwd.boxes)
            for role in fwd.boxes:
                np.testing.assert_array_equal(rev.boxes[role], fwd.boxes[role][::-1])
            assert rev.names == fwd.names


def _centres(template: str, first_index: int, n: int, frame: int) -> np.ndarray:
    """Centres [n, 2] of object 0 in one frame of n videos of a class (indices from first_index)."""
    out = []
    for index in range(first_index, first_index + n):
        v = S.render_video(S.VideoSpec(index, "1", template, "train", 16), (48, 64), 7)
        b = v.boxes["object 0"][frame]
        out.append([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    return np.array(out)


@pytest.mark.parametrize("pair", [c for c in S.CLASSES if c.template in REVERSED])
def test_a_single_frame_does_not_tell_a_reversal_pair_apart(pair: SyntheticClass):
    """The object's position in the first frames of a class is distributed like in the last
    frames of its partner (compared on independent videos), while the first frames of the two
    classes differ: the statistic has the power to see a class."""
    n = 40
    forward, backward = pair.partner, pair.template
    first_fwd = _centres(forward, 1000, n, 0)
    last_bwd = _centres(backward, 5000, n, -1)
    first_bwd = _centres(backward, 5000, n, 0)
    se = np.sqrt(first_fwd.var(0) / n + last_bwd.var(0) / n)
    assert np.all(np.abs(first_fwd.mean(0) - last_bwd.mean(0)) < 3.5 * se)
    if "Pushing" in forward or "Moving [something] up" in forward:
        axis = 0 if "Pushing" in forward else 1
        z = (first_bwd.mean(0) - first_fwd.mean(0)) / np.sqrt(
            first_fwd.var(0) / n + first_bwd.var(0) / n
        )
        assert abs(z[axis]) > 5, z
