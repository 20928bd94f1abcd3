"""Soak test of the data path: epochs of webm decoding through DataLoader workers, 10 % corrupt.

Generates the default synthetic set (the ``cpu`` preset of ``benchmarks/ssv2.py``: 1,875 videos of
96x128, splits 0.8/0.16/0.04, seed 0) with ``python -m stgcn.data.synthetic`` into its own folder,
damages a seeded ``--corrupt`` fraction of the training videos (in turn: emptied, random bytes,
header only, cut to a third; each is unreadable whatever frames a clip samples), and reads the
training split ``--epochs`` times through a ``DataLoader`` with ``--workers`` persistent workers,
decoding the webm files every time (no decoded cache), with ``on_error="skip"``.

Per epoch it reports:

* peak RSS of the main process and of each worker (``VmHWM``, reset at the start of each epoch
  with ``/proc/PID/clear_refs``), their sum (an upper bound of the whole loader's peak), and the
  peak of the sampled total (every 0.2 s); growth is epoch 1 -> last of the summed peaks (goal
  <= 5 %: PyAV leaks would show here, the workers living through all epochs);
* samples read and videos skipped, and whether the skipped ones are exactly the corrupted ones,
  from :meth:`SomethingSomethingV2.error_report`;
* worker deaths (a decoder segfault): the loop runs inside :func:`stgcn.data.dead_workers.name_dead_worker`,
  so a death is reported with the video the worker was reading.

    python benchmarks/soak.py                        # the measurement (minutes)
    python benchmarks/soak.py --quick                # tiny: checks the script runs
    python benchmarks/soak.py --fresh-workers        # new workers each epoch, as the trainer does

RSS figures are valid on a loaded machine; times are printed for information only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_name, status_kib

REPO = Path(__file__).resolve().parents[1]
CORRUPTIONS = ("empty", "random_bytes", "header_only", "third")


def corrupt(video: Path, kind: str, rng: np.random.Generator) -> None:
    """Make ``video`` unreadable by ``kind`` (one of :data:`CORRUPTIONS`)."""
    from stgcn.data.fuzz import mutate_video

    data = video.read_bytes()
    if kind == "third":  # frames for the first third only: any TSN clip samples past the end
        video.write_bytes(data[: len(data) // 3])
    else:
        video.write_bytes(mutate_video(data, kind, rng))


def _status_kib(pid: int, field: str) -> int:
    return status_kib(field, pid) or 0  # the process is gone: nothing resident


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := current RSS


class RSSSampler(threading.Thread):
    """Samples the RSS of a set of processes every ``period`` s: ``peak`` of their sum and
    ``each`` (the largest of each process), in KiB."""

    def __init__(self, pids: list[int], period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pids, self.period, self.peak = pids, period, 0
        self.each = dict.fromkeys(pids, 0)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss = {p: _status_kib(p, "VmRSS") for p in self.pids}
            self.peak = max(self.peak, sum(rss.values()))
            self.each = {p: max(self.each[p], r) for p, r in rss.items()}
            self._stop_event.wait(self.period)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def generate(out: Path, videos: int, height: int, width: int) -> Path:
    """The synthetic set through its command line (reused when already complete)."""
    root = out / f"ssv2-synthetic-n{videos}-{height}x{width}-seed0"
    cmd = [sys.executable, "-m", "stgcn.data.synthetic", "--out", str(root),
           "--videos", str(videos), "--seed", "0", "--height", str(height), "--width", str(width),
           "--splits", "0.8", "0.16", "0.04"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return root


def soak(
    root: Path,
    epochs: int,
    workers: int,
    corrupt_fraction: float,
    batch: int,
    frames: int,
    size: int,
    persistent: bool = True,
    seed: int = 0,
) -> dict:
    """Corrupt a copy's training videos and read the training split ``epochs`` times."""
    from torch.utils.data import DataLoader

    from stgcn.data.dead_workers import WorkerDiedError, name_dead_worker
    from stgcn.data.ssv2 import SomethingSomethingV2, collate

    ds = SomethingSomethingV2(
        root, "train", num_frames=frames, size=size, train=True, on_error="skip", decode_threads=1
    )
    rng = np.random.default_rng(seed)
    ids = [vid for vid, _ in ds.records]
    chosen = sorted(rng.choice(len(ids), round(corrupt_fraction * len(ids)), replace=False))
    corrupted = {}
    for k, i in enumerate(chosen):
        kind = CORRUPTIONS[k % len(CORRUPTIONS)]
        corrupt(ds.videos_dir / f"{ids[i]}{ds.video_ext}", kind, rng)
        corrupted[ids[i]] = kind
    torch.manual_seed(seed)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                        collate_fn=collate, persistent_workers=persistent and workers > 0)  # fmt: skip
    rows, deaths = [], []
    main_pid = os.getpid()
    for epoch in range(1, epochs + 1):
        ds.reset_errors()
        start = time.perf_counter()
        it = iter(loader)
        pids = [main_pid, *(w.pid for w in getattr(it, "_workers", []))]
        for pid in pids:
            _reset_peak(pid)
        sampler = RSSSampler(pids)
        sampler.start()
        samples = skipped_in_batches = 0
        try:
            with name_dead_worker(ds):
                for b in it:
                    samples += len(b.video_id)
                    skipped_in_batches += len(b.skipped)
        except WorkerDiedError as e:
            deaths.append({"epoch": epoch, "error": str(e)})
        sampled = sampler.stop()
        # VmHWM is refreshed lazily and can trail a VmRSS read: the peak is at least every sample
        peaks = [max(_status_kib(p, "VmHWM"), sampler.each[p]) for p in pids]
        report = ds.error_report()
        skipped_ids = {v for ids_ in report["skipped_ids"].values() for v in ids_}
        rows.append({
            "epoch": epoch,
            "seconds": round(time.perf_counter() - start, 1),
            "samples": samples,
            "skipped": sum(report["skipped"].values()),
            "skipped_in_batches": skipped_in_batches,
            "skipped_are_the_corrupted": skipped_ids == set(corrupted),
            "peak_rss_mib": {"main": round(peaks[0] / 1024, 1),
                             "workers": [round(p / 1024, 1) for p in peaks[1:]]},
            "sum_of_peaks_mib": round(sum(peaks) / 1024, 1),
            "sampled_total_peak_mib": round(sampled / 1024, 1),
        })  # fmt: skip
        if not persistent:
            del it
    first, last = rows[0]["sum_of_peaks_mib"], rows[-1]["sum_of_peaks_mib"]
    first_w = sum(rows[0]["peak_rss_mib"]["workers"])
    last_w = sum(rows[-1]["peak_rss_mib"]["workers"])
    return {
        "videos": len(ids),
        "corrupted": len(corrupted),
        "corruptions": {k: list(corrupted.values()).count(k) for k in CORRUPTIONS},
        "epochs": rows,
        "growth_pct": round(100 * (last - first) / first, 2),
        "worker_growth_pct": round(100 * (last_w - first_w) / first_w, 2) if first_w else None,
        "worker_deaths": deaths,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    p.add_argument("--root", type=Path, help="a dataset to copy and damage (default: generate)")
    p.add_argument("--cache-dir", type=Path, help="where to generate (default: a temporary dir)")
    p.add_argument("--videos", type=int, default=1875, help="synthetic videos (cpu preset)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--corrupt", type=float, default=0.1, help="fraction of training videos")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--fresh-workers", action="store_true", help="not persistent across epochs")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    height, width = 96, 128
    if a.quick:
        a.videos, a.batch, a.size, a.frames, height, width = 30, 4, 32, 4, 32, 48
    print(f"machine: {cpu_name()} | {os.cpu_count()} CPUs | torch {torch.__version__} | "
          f"{torch.get_num_threads()} threads | python {platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stgcn-soak-") as tmp:
        import shutil

        source = a.root or generate(a.cache_dir or Path(tmp), a.videos, height, width)
        work = Path(tmp) / "work"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("*.sqlite"))
        result = soak(work, a.epochs, a.workers, a.corrupt, a.batch, a.frames, a.size,
                      persistent=not a.fresh_workers)  # fmt: skip
    result.update(command=" ".join(["python benchmarks/soak.py", *(argv or sys.argv[1:])]))
    print(f"\n{result['videos']} training videos, {result['corrupted']} corrupted "
          f"{result['corruptions']}, {a.workers} {'fresh' if a.fresh_workers else 'persistent'} "
          f"workers, batch {a.batch}, T={a.frames}, {a.size}px")  # fmt: skip
    print(f"{'epoch':>5} {'samples':>8} {'skipped':>8} {'=corrupt':>8} {'main MiB':>9} "
          f"{'workers MiB':>16} {'sum MiB':>8} {'sampled MiB':>12} {'s':>6}")  # fmt: skip
    for r in result["epochs"]:
        w = "/".join(str(x) for x in r["peak_rss_mib"]["workers"])
        print(f"{r['epoch']:>5} {r['samples']:>8} {r['skipped']:>8} "
              f"{str(r['skipped_are_the_corrupted']):>8} {r['peak_rss_mib']['main']:>9} {w:>16} "
              f"{r['sum_of_peaks_mib']:>8} {r['sampled_total_peak_mib']:>12} {r['seconds']:>6}")  # fmt: skip
    print(f"peak RSS growth epoch 1 -> {len(result['epochs'])}: {result['growth_pct']} % "
          f"(workers alone {result['worker_growth_pct']} %; goal <= 5 %); "
          f"worker deaths: {len(result['worker_deaths'])}")  # fmt: skip
    for d in result["worker_deaths"]:
        print(f"  epoch {d['epoch']}: {d['error']}")
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
