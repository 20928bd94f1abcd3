"""Data pipeline: DataLoader clips/s, and peak memory of the Something-Else box index vs the JSON.

1. Clips/s: ``SomethingSomethingV2`` over a generated dataset (``stgcn.data.synthetic``, or
   ``--root`` for a real one), batches of ``--batch`` clips through ``collate``, with 0, 1 and 2
   DataLoader workers. ``clips/s`` is timed from the first batch on (after worker start-up; the
   workers may already hold up to ``2 * workers - 1`` prefetched batches then, so use enough
   ``--batches``); ``incl. start-up`` from the creation of the iterator.
2. Peak RSS: Something-Else-schema box files of ``--box-videos`` videos (4 parts, about 40 frames and
   3 boxes per frame like the real ones), then in a fresh subprocess each (``ru_maxrss``):
   ``baseline`` (imports only), ``json`` (``json.load`` of every part into one dict, what a reader
   without an index holds in each worker), ``build`` (streamed conversion to the SQLite index) and
   ``index`` (open the index and look up 1,000 random videos). Each reports its RSS after the
   imports and the peak during the work alone (``/proc/self/clear_refs``), Linux only.
3. ``--parsers``: the box index's hand-written JSON streamer (``stgcn.data.boxes.iter_json_object``)
   against ``ijson.kvitems`` (C backend yajl2_c), parsing the same box files in fresh processes,
   in alternation (``--repeats`` rounds): peak RSS, seconds and the time ratio, whether both give
   the same pairs, and what each says about a broken file (ijson is optional: pip install ijson).

3. Transforms, alone (``--transforms``): stgcn's training transforms (short side to a random
   128-160, random 112 crop, flip, normalise; ``torchvision.transforms.v2`` kernels) against the
   same module with the hand-written kernels it had before (``F.interpolate``, slicing, clamps;
   read from git at ``HANDWRITTEN``), on the same clips with the same random draws, in
   alternation; checks the outputs are bit for bit equal and prints ms/clip and the ratio for a
   synthetic-sized and an SSv2-sized clip.

    python benchmarks/data.py                 # 240 videos, 20,000 box videos (~0.5 GB of JSON)
    python benchmarks/data.py --transforms    # the paired transforms benchmark only
    python benchmarks/data.py --quick         # tiny: checks the script runs
    python benchmarks/data.py --root /data/ssv2 --split validation
    python benchmarks/data.py --parsers --box-videos 20000 --repeats 3   # streamer vs ijson
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_name, status_kib

REPO = Path(__file__).resolve().parents[1]


def write_box_files(out: Path, num_videos: int, seed: int = 0) -> list[Path]:
    """Four ``bounding_box_smthsmth_part*.json`` of ``num_videos`` synthetic videos, written one
    video at a time (this process never holds the whole object)."""
    rng = random.Random(seed)
    paths = [out / f"bounding_box_smthsmth_part{p}.json" for p in range(1, 5)]
    files = [open(p, "w", encoding="utf-8") for p in paths]  # noqa: SIM115
    for f in files:
        f.write("{")
    for v in range(num_videos):
        vid = str(1 + v)
        frames = []
        for k in range(rng.randint(24, 60)):
            labels = []
            for obj in ("hand", "0000", "0001")[: rng.randint(1, 3)]:
                x, y = rng.uniform(0, 380), rng.uniform(0, 200)
                labels.append(
                    {
                        "box2d": {"x1": round(x, 2), "y1": round(y, 2),
                                  "x2": round(x + rng.uniform(8, 60), 2),
                                  "y2": round(y + rng.uniform(8, 40), 2)},
                        "category": "hand" if obj == "hand" else f"thing {obj}",
                        "standard_category": obj,
                        "gt_annotation": f"object {'hand' if obj == 'hand' else int(obj)}",
                    }
                )  # fmt: skip
            frames.append(
                {"name": f"{vid}/{k + 1:04d}.jpg", "labels": labels,
                 "gt_placeholders": ["thing 0000", "thing 0001"], "nr_instances": len(labels)}
            )  # fmt: skip
        f = files[v % 4]
        f.write(("" if v < 4 else ", ") + json.dumps(vid) + ": " + json.dumps(frames))
    for f in files:
        f.write("}")
        f.close()
    return paths


CHILD = {
    "baseline": "pass",
    "json": "d = {}\nfor p in parts: d.update(json.load(open(p)))\nn = len(d)",
    "build": "n = len(build_box_index(parts, index))",
    "index": (
        "ix = BoxIndex(index); ids = ix.ids(); rng = random.Random(0)\n"
        "n = sum(len(ix.get(rng.choice(ids)).box) for _ in range(1000))"
    ),
    # the two JSON streamers, parsing every (video id, frames) pair of every part
    "stream": "n = sum(1 for p in parts for _ in iter_json_object(p))",
    "ijson": (
        "import ijson\nn = 0\nfor p in parts:\n"
        "    with open(p, 'rb') as f:\n"
        "        n += sum(1 for _ in ijson.kvitems(f, '', use_float=True))"
    ),
}


def _status_mib(field: str) -> float:
    kib = status_kib(field)
    return float("nan") if kib is None else kib / 1024


def child(mode: str, parts: list[str], index: str) -> None:
    """Run one memory measurement in this (fresh) process; print its memory in MiB as JSON.

    ``rss_before``: resident after the imports (torch, PyG); ``peak_rss``: the high-water mark
    during the work alone (``/proc/self/clear_refs`` resets it after the imports), so the import
    peak does not hide the work's."""
    import random as _random

    from stgcn.data.boxes import (  # same imports in every mode
        BoxIndex,
        build_box_index,
        iter_json_object,
    )

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _status_mib("VmRSS")
    start = time.perf_counter()
    scope = {"parts": parts, "index": index, "json": json, "random": _random}
    scope.update(
        BoxIndex=BoxIndex, build_box_index=build_box_index, iter_json_object=iter_json_object
    )
    exec(CHILD[mode], scope)
    seconds = time.perf_counter() - start
    # The kernel's RSS counters are batched per CPU and VmHWM is refreshed lazily, so a VmHWM read
    # can trail a VmRSS read taken earlier by a few pages (CI saw 890.6 < 890.7 MiB). The peak of
    # the work is at least every resident size observed during it.
    peak = max(_status_mib("VmHWM"), before, _status_mib("VmRSS"))
    print(json.dumps({"mode": mode, "rss_before_mib": round(before, 1),
                      "peak_rss_mib": round(peak, 1), "extra_mib": round(peak - before, 1),
                      "seconds": round(seconds, 2)}))  # fmt: skip


def _run_child(mode: str, parts: list[Path], index: Path) -> dict:
    """One memory measurement in a fresh interpreter (see :func:`child`)."""
    cmd = [sys.executable, __file__, "--child", mode, "--index", str(index), *map(str, parts)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_rss(box_videos: int, workdir: Path) -> list[dict]:
    parts = write_box_files(workdir, box_videos)
    json_mib = sum(p.stat().st_size for p in parts) / 2**20
    index = workdir / "boxes.sqlite"
    rows = []
    for mode in ("baseline", "json", "build", "index"):
        rows.append(_run_child(mode, parts, index))
    rows.append({"mode": "sizes", "json_mib": round(json_mib, 1),
                 "index_mib": round(index.stat().st_size / 2**20, 1)})  # fmt: skip
    return rows


def measure_loader(root: Path, split: str, batch: int, frames: int, size: int, batches: int) -> list[dict]:  # fmt: skip
    from torch.utils.data import DataLoader

    from stgcn.data.ssv2 import SomethingSomethingV2, collate

    ds = SomethingSomethingV2(
        root, split, num_frames=frames, size=size, train=True, on_error="skip", decode_threads=1
    )
    rows = []
    for workers in (0, 1, 2):
        torch.manual_seed(0)
        loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                            collate_fn=collate, drop_last=True)  # fmt: skip
        start = time.perf_counter()
        it = iter(loader)
        first = next(it)  # worker start-up and first decode
        clips, t1 = len(first.video_id), time.perf_counter()
        steady = 0
        for _ in range(batches - 1):
            b = next(it, None)
            if b is None:
                break
            steady += len(b.video_id)
        end = time.perf_counter()
        del it
        rows.append({"workers": workers, "clips": clips + steady, "startup_s": round(t1 - start, 2),
                     "clips_per_s": round(steady / max(end - t1, 1e-9), 1),
                     "clips_per_s_with_startup": round((clips + steady) / (end - start), 1)})  # fmt: skip
    rows.append({"skipped": ds.error_report()["skipped"]})
    return rows


# ---------------------------------------------------------------------------------------------
# transforms: stgcn's (v2 kernels) vs the hand-written kernels they replaced, paired

# name: (frames, height, width, crop); None: --frames / --size. The last row is all fixed cost.
TRANSFORM_CLIPS = {
    "synthetic": (None, 96, 128, None),
    "ssv2": (None, 240, 320, None),
    "per-call cost": (1, 12, 16, 8),
}
HANDWRITTEN = "8a6bb85"  # the last commit whose stgcn/data/transforms.py has hand-written kernels


def handwritten_transforms() -> types.ModuleType:
    """``stgcn/data/transforms.py`` as of ``HANDWRITTEN``, read from git: the same classes and
    random draws as today's, on ``F.interpolate``, slicing and clamps instead of v2 kernels."""
    name = "stgcn_transforms_handwritten"
    if name not in sys.modules:
        cmd = ["git", "-C", str(REPO), "show", f"{HANDWRITTEN}:stgcn/data/transforms.py"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(
                f"--transforms compares with stgcn/data/transforms.py at {HANDWRITTEN}: run it in a "
                f"git checkout of stgcn that has that commit ({run.stderr.strip()})"
            )
        module = types.ModuleType(name)
        sys.modules[name] = module  # dataclasses look their module up
        exec(
            compile(run.stdout, f"{HANDWRITTEN}:stgcn/data/transforms.py", "exec"), module.__dict__
        )
    return sys.modules[name]


def measure_transforms(
    shape: tuple[int, int], frames: int, size: int, clips: int, rounds: int, seed: int = 0
) -> dict:
    """ms per clip of ``train_transform(size, flip_labels={})``, hand-written and v2, on the same
    ``clips`` (uint8 noise, 3 boxes per frame, some cut by the crop) with the same draws; each
    round times both over all clips, the order swapped every round. Raises if an output differs
    in a single bit."""
    from stgcn.data import transforms as v2

    hand = handwritten_transforms()
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    inputs = []
    for _ in range(clips):
        video = torch.randint(0, 256, (frames, h, w, 3), dtype=torch.uint8, generator=g)
        xy = torch.rand(3 * frames, 2, generator=g) * torch.tensor([w, h])
        wh = torch.rand(3 * frames, 2, generator=g) * torch.tensor([w, h]) / 3
        inputs.append((video, torch.cat([xy, xy + wh], 1)))
    variants = {
        name: (module.ClipBoxes.from_frames, module.train_transform(size, flip_labels={}))
        for name, module in (("hand-written", hand), ("v2", v2))
    }

    def run(name: str, r: int) -> list:
        wrap, transform = variants[name]
        return [
            transform(wrap(*x), np.random.default_rng([seed, r, i])) for i, x in enumerate(inputs)
        ]

    for a, b in zip(run("hand-written", rounds), run("v2", rounds), strict=True):  # + warm-up
        same = [torch.equal(getattr(a, f), getattr(b, f)) for f in ("frames", "box", "keep")]
        if not all(same) or (a.label, a.dropped) != (b.label, b.dropped):
            raise AssertionError(f"{shape}: the v2 transforms differ from the hand-written ones")
    seconds: dict[str, list[float]] = {"hand-written": [], "v2": []}
    for r in range(rounds):
        for name in list(seconds) if r % 2 == 0 else list(seconds)[::-1]:
            start = time.perf_counter()
            run(name, r)
            seconds[name].append(time.perf_counter() - start)
    hw, tv = np.array(seconds["hand-written"]), np.array(seconds["v2"])
    return {
        "shape": list(shape),
        "frames": frames,
        "size": size,
        "clips": clips,
        "rounds": rounds,
        "exact": True,
        "hand_ms_per_clip": round(float(np.median(hw)) / clips * 1e3, 3),
        "v2_ms_per_clip": round(float(np.median(tv)) / clips * 1e3, 3),
        "ratio_v2_over_hand": round(float(np.median(tv / hw)), 4),
        "ratio_range": [round(float((tv / hw).min()), 4), round(float((tv / hw).max()), 4)],
    }


def run_transforms(a: argparse.Namespace) -> list[dict]:
    """``--transforms``: the paired benchmark on each clip of ``TRANSFORM_CLIPS``; a table."""
    import torchvision

    torch.set_num_threads(a.tf_threads)
    clips, rounds = (4, 3) if a.quick else (a.tf_clips, a.tf_rounds)
    print(f"machine: {cpu_name()} | {os.cpu_count()} CPUs | torch {torch.__version__} | "
          f"torchvision {torchvision.__version__} | {torch.get_num_threads()} threads")  # fmt: skip
    print(f"\ntrain_transform, hand-written ({HANDWRITTEN}) vs v2 kernels: {clips} clips x {rounds} "
          "rounds, alternated; outputs checked bit-exact")  # fmt: skip
    print(f"{'clip (T x H x W -> crop)':>34} {'hand-written ms':>16} {'v2 ms':>8} "
          f"{'v2 / hand':>10} {'range':>14}")  # fmt: skip
    rows = []
    for name, (t, h, w, size) in TRANSFORM_CLIPS.items():
        t, size = t or a.frames, size or a.size
        r = measure_transforms((h, w), t, size, clips, rounds)
        rows.append({"clip": name, **r})
        lo, hi = r["ratio_range"]
        print(f"{f'{name} {t}x{h}x{w} -> {size}':>34} {r['hand_ms_per_clip']:>16} "
              f"{r['v2_ms_per_clip']:>8} {r['ratio_v2_over_hand']:>10} {f'{lo}-{hi}':>14}")  # fmt: skip
    return rows


def _have_ijson() -> bool:
    import importlib.util

    return importlib.util.find_spec("ijson") is not None


# Broken box files, and what each parser says about them (the index promises file and position).
BROKEN = {
    "truncated": '{"1": [{"labels": []}], "2": [{"lab',
    "missing comma": '{"1": [{"labels": []}]\n "2": []}',
    "trailing data": '{"1": []} {"2": []}',
    "not an object": '[{"1": []}]',
    "not UTF-8": b'{"1": [{"labels": [], "name": "\xff\xfe"}]}',
}


def parser_errors(workdir: Path) -> list[dict]:
    """What the hand-written streamer and ijson raise (or return) for each :data:`BROKEN` file."""
    from stgcn.data.boxes import iter_json_object

    rows = []
    for name, text in BROKEN.items():
        path = workdir / f"broken-{name.replace(' ', '-')}.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        row = {"case": name}
        parsers = {"stream": lambda p: list(iter_json_object(p, chunk_chars=8))}
        if _have_ijson():
            import ijson

            def _ijson(p: Path) -> list:
                with open(p, "rb") as f:
                    return list(ijson.kvitems(f, "", use_float=True))

            parsers["ijson"] = _ijson
        for parser, parse in parsers.items():
            try:
                row[parser] = f"no error: {len(parse(path))} pairs"
            except Exception as e:  # the benchmark reports whatever each parser raises
                row[parser] = f"{type(e).__name__}: {' '.join(str(e).split())}"[:160]
        rows.append(row)
    return rows


def measure_parsers(box_videos: int, workdir: Path, repeats: int) -> dict:
    """The streamer and ijson over the same files: same pairs?, and peak RSS and seconds of each
    in fresh processes, alternating ``repeats`` times (order bias removed), with the time ratio."""
    from stgcn.data.boxes import iter_json_object

    parts = write_box_files(workdir, box_videos)
    result: dict = {"json_mib": round(sum(p.stat().st_size for p in parts) / 2**20, 1)}
    modes = ["stream", "ijson"] if _have_ijson() else ["stream"]
    if "ijson" in modes:
        import ijson

        same = True
        for p in parts:
            with open(p, "rb") as f:
                same &= list(ijson.kvitems(f, "", use_float=True)) == list(iter_json_object(p))
        result["same_pairs"] = same
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(repeats):
        for mode in modes if r % 2 == 0 else modes[::-1]:
            runs[mode].append(_run_child(mode, parts, workdir / "unused.sqlite"))
    for mode, rows in runs.items():
        result[mode] = {
            "peak_extra_mib": max(x["extra_mib"] for x in rows),
            "seconds": sorted(x["seconds"] for x in rows)[len(rows) // 2],  # median
        }
    if "ijson" in modes:
        result["time_ijson_over_stream"] = round(
            result["ijson"]["seconds"] / max(result["stream"]["seconds"], 1e-9), 3
        )
    result["errors"] = parser_errors(workdir)
    return result


def print_parsers(result: dict, box_videos: int) -> None:
    print(f"\nJSON streamers, {box_videos} videos of boxes ({result['json_mib']} MiB in 4 parts), "
          f"median of fresh processes in alternation")  # fmt: skip
    print(f"{'parser':>8} {'peak extra RSS MiB':>19} {'seconds':>8}")
    for mode in ("stream", "ijson"):
        if mode in result:
            r = result[mode]
            print(f"{mode:>8} {r['peak_extra_mib']:>19} {r['seconds']:>8}")
    if "ijson" not in result:
        print("   ijson not installed (pip install ijson): no comparison")
        return
    print(f"ijson / stream time: {result['time_ijson_over_stream']}; "
          f"same pairs: {result['same_pairs']}")  # fmt: skip
    for row in result["errors"]:
        print(f"{row['case']}:\n   stream: {row['stream']}\n   ijson:  {row['ijson']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    p.add_argument("--transforms", action="store_true", help="only the paired transforms benchmark")
    p.add_argument("--tf-clips", type=int, default=32, help="clips per shape (--transforms)")
    p.add_argument("--tf-rounds", type=int, default=20, help="timed rounds (--transforms)")
    p.add_argument("--tf-threads", type=int, default=1, help="torch threads (--transforms)")
    p.add_argument("--root", type=Path, help="an SSv2 root (default: generate a synthetic one)")
    p.add_argument("--split", default="train")
    p.add_argument("--videos", type=int, default=240, help="synthetic videos to generate")
    p.add_argument("--box-videos", type=int, default=20000, help="videos in the box JSON for RSS")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batches", type=int, default=24, help="timed batches per worker count")
    p.add_argument("--only", choices=("loader", "rss"), help="run one of the two measurements")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--parsers", action="store_true", help="only: hand-written JSON streamer vs ijson"
    )
    p.add_argument("--repeats", type=int, default=3, help="--parsers rounds (alternating)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--index", help=argparse.SUPPRESS)
    p.add_argument("parts", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child, a.parts, a.index)
        return
    if a.transforms:
        print_json({"transforms": run_transforms(a)}, a.json)
        return
    if a.quick:
        a.videos, a.box_videos, a.batch, a.batches, a.size = 24, 200, 2, 3, 64

    print(f"machine: {cpu_name()} | {os.cpu_count()} CPUs | "
          f"torch {torch.__version__} | {torch.get_num_threads()} threads | python {platform.python_version()}")  # fmt: skip
    results: dict = {}
    if a.parsers:
        with tempfile.TemporaryDirectory(prefix="stgcn-bench-data-") as tmp:
            results["parsers"] = measure_parsers(a.box_videos, Path(tmp), a.repeats)
        print_parsers(results["parsers"], a.box_videos)
        print_json(results, a.json)
        return
    with tempfile.TemporaryDirectory(prefix="stgcn-bench-data-") as tmp:
        tmp = Path(tmp)
        root = a.root
        if root is None and a.only != "rss":
            from stgcn.data.synthetic import generate

            root = tmp / "ssv2"
            m = generate(root, a.videos, seed=0)
            print(f"generated {a.videos} synthetic videos ({m.get('videos_per_s')} videos/s)")
        if a.only != "rss":
            results["loader"] = measure_loader(root, a.split, a.batch, a.frames, a.size, a.batches)
            print(
                f"\nDataLoader, batch {a.batch}, T={a.frames}, {a.size}x{a.size}, TSN, train transforms"
            )
            print(
                f"{'workers':>8} {'clips':>6} {'start-up s':>11} {'clips/s':>8} {'incl. start-up':>15}"
            )
            for r in results["loader"][:-1]:
                print(f"{r['workers']:>8} {r['clips']:>6} {r['startup_s']:>11} {r['clips_per_s']:>8} "
                      f"{r['clips_per_s_with_startup']:>15}")  # fmt: skip
            print(f"skipped: {results['loader'][-1]['skipped']}")

        if a.only != "loader":
            (tmp / "rss").mkdir()
            results["rss"] = measure_rss(a.box_videos, tmp / "rss")
            sizes = results["rss"][-1]
            print(f"\nPeak RSS, {a.box_videos} videos of boxes: JSON {sizes['json_mib']} MiB in 4 parts, "
                  f"index {sizes['index_mib']} MiB")  # fmt: skip
            print(
                f"{'process':>10} {'RSS after imports':>18} {'peak RSS':>9} {'extra':>7} {'seconds':>8}  (MiB)"
            )
            for r in results["rss"][:-1]:
                print(f"{r['mode']:>10} {r['rss_before_mib']:>18} {r['peak_rss_mib']:>9} "
                      f"{r['extra_mib']:>7} {r['seconds']:>8}")  # fmt: skip
    print_json(results, a.json)


def print_json(results: dict, path: Path | None) -> None:
    """Write ``results`` to ``path`` as JSON (nothing when ``path`` is None)."""
    if path is not None:
        path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
