"""``python -m stgcn.proposals``: boxes for any video, written as a Something-Else box file.

Run::

    python -m stgcn.proposals INPUT... --out BOXES.json [--method motion] [--every N]
        [--top-k K] [--score-threshold S] [--shard I/N] [--workers W] [--on-error skip]

``INPUT`` are video files and folders (searched recursively for webm, mp4, avi, mkv, mov, m4v,
mpg, mpeg). ``BOXES.json`` maps each video's file stem to its Something-Else frame entries
(:mod:`stgcn.proposals.schema`, 12 entries per second of video, boxes in the video's pixels),
videos in sorted order, and loads unchanged with ``SomethingSomethingV2(root, boxes=BOXES.json)``.

**Resume.** Each finished video is appended to the sidecar ``BOXES.json.progress.jsonl`` (one JSON
line, flushed and fsynced) before the next; the options of the run are its first line. A run
killed at any moment and started again with the same command reads the sidecar, keeps the
videos it holds (a torn last line is cut off), processes the rest and writes ``BOXES.json``,
which is always written whole to a temporary file in the same folder and renamed into place.
Output order does not depend on the order videos finish in, so the file is the same as an
uninterrupted run's. The sidecar stays as the run's record (what was skipped and why). A rerun
tries skipped videos again, processes only new ones when videos were added to the inputs, and
refuses to mix runs with other options.

**Shards.** ``--shard I/N`` (``I`` in ``1..N``) takes every N-th video of the sorted input list,
starting at the I-th; ``python -m stgcn.proposals merge A.json B.json ... --out ALL.json``
merges the shard files (streamed, sorted by video; a video in two files is an error), giving the
same bytes as one run over all videos.

**Bad input.** A missing, unreadable, truncated or frame-less video stops the run with an error
naming the file (finished videos are kept in the sidecar), or with ``--on-error skip`` is left
out of ``BOXES.json`` and counted with its reason. A frame where the method finds nothing gets
an entry with no labels.

This module is a little over 600 lines because it holds the command line end to end (inputs and
shards, the sidecar, the worker pool, the atomic writer and the merge), each part used only here;
the work on one video is :mod:`stgcn.proposals.pipeline`.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from stgcn.data.boxes import iter_json_object
from stgcn.data.video import VideoDecodeError
from stgcn.proposals.base import Proposer
from stgcn.proposals.pipeline import propose_video
from stgcn.proposals.track import IoUTracker

VIDEO_EXTENSIONS = (".webm", ".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")
"""File endings (case-insensitive) taken from an input folder."""

METHODS = ("detector", "rpn", "selective_search", "motion")
"""The ``--method`` choices: a Faster R-CNN's detections or RPN proposals (``--weights``), or the
weight-free selective search and motion boxes."""

PROGRESS_FORMAT = "stgcn-proposals-progress-1"
SKIP_REASONS = ("missing", "decode_error", "no_frames")
"""Why a video is skipped: the file is gone; it cannot be opened or decoded, or is truncated; it
opens but holds no video frame (an empty or audio-only file)."""

# VideoReader's reasons for a file that opens but yields no frame, without an FFmpeg error
_NO_FRAMES = ("no video stream", "no frame could be decoded")


@dataclass(frozen=True)
class Options:
    """What decides a run's boxes (recorded in the sidecar; a resume must match it).

    ``shard`` is ``(i, n)``, 1-based. Workers and the error policy are not here: they do not
    change a finished video's boxes.
    """

    method: str = "motion"
    weights: str | None = None
    weights_sha256: str | None = None
    arch: str | None = None
    device: str = "cpu"
    every: int = 1
    top_k: int | None = 50
    score_threshold: float = 0.0
    annotation_fps: float = 12.0
    selective_search_mode: str = "fast"
    motion_source: str = "diff"
    track_iou: float = 0.3
    shard: tuple[int, int] = (1, 1)

    def record(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shard"] = list(self.shard)
        return d


def build_proposer(options: Options) -> Proposer:
    """The proposer that ``options.method`` names, configured by ``options``.

    Raises:
        ValueError: ``detector`` or ``rpn`` without ``weights``.
        stgcn.proposals.CheckpointError: weights of another architecture than ``options.arch``
            (naming both) or a file that is no detector checkpoint.
    """
    if options.method in ("detector", "rpn"):
        from stgcn.proposals.detector import load_proposer

        if options.weights is None:
            raise ValueError(
                f"--method {options.method} needs --weights: a checkpoint written by "
                "stgcn.proposals.train, or a torchvision weights name such as "
                "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1 (downloaded when online)"
            )
        return load_proposer(
            options.weights,
            options.method,  # type: ignore[arg-type]
            arch=options.arch,
            device=options.device,
            top_k=options.top_k if options.top_k is not None else 1000,
            score_threshold=options.score_threshold,
        )
    if options.method == "selective_search":
        from stgcn.proposals.selective_search import SelectiveSearch

        return SelectiveSearch(mode=options.selective_search_mode, top_k=options.top_k)
    if options.method == "motion":
        from stgcn.proposals.motion import MotionBoxes

        if options.motion_source == "diff":
            return MotionBoxes(source="diff", top_k=options.top_k)
        return MotionBoxes(source="flow", flow=options.motion_source, top_k=options.top_k)
    raise ValueError(f"unknown method {options.method!r} (choose from {', '.join(METHODS)})")


# --------------------------------------------------------------------------- inputs


def find_videos(inputs: Sequence[str | Path]) -> list[Path]:
    """Video files of ``inputs`` (files as given, folders searched recursively), sorted by stem
    then path.

    Raises:
        FileNotFoundError: an input that does not exist.
        ValueError: no video at all, or two videos with the same stem (they would share a key).
    """
    found: dict[Path, None] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            videos = [
                f
                for f in sorted(p.rglob("*"))
                if f.suffix.lower() in VIDEO_EXTENSIONS and f.is_file()
            ]
            if not videos:
                raise ValueError(f"{p}: no video ({', '.join(VIDEO_EXTENSIONS)}) in this folder")
            found.update(dict.fromkeys(f.resolve() for f in videos))
        elif p.exists():
            found[p.resolve()] = None
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not found:
        raise ValueError("no input video given")
    by_stem: dict[str, Path] = {}
    for f in found:
        if f.stem in by_stem:
            raise ValueError(
                f"two videos share the stem {f.stem!r} (the key of the box file): "
                f"{by_stem[f.stem]} and {f}; rename one or run them into separate files"
            )
        by_stem[f.stem] = f
    return [by_stem[s] for s in sorted(by_stem)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be I/N, e.g. 1/4, got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
    return i, n


def shard_of(videos: Sequence[Path], shard: tuple[int, int]) -> list[Path]:
    """The videos of shard ``(i, n)``: positions ``i-1, i-1+n, ...`` of the sorted list."""
    i, n = shard
    return list(videos[i - 1 :: n])


# --------------------------------------------------------------------------- one video


def process(path: Path, proposer: Proposer, options: Options) -> dict[str, Any]:
    """One video -> its sidecar record: ``status`` ``"done"`` with ``entries`` and counts, or
    ``"skipped"`` with a ``reason`` of :data:`SKIP_REASONS` and the error's text."""
    record: dict[str, Any] = {"video": path.stem, "path": str(path)}
    try:
        result = propose_video(
            path,
            proposer,
            tracker=IoUTracker(iou_threshold=options.track_iou),
            every=options.every,
            top_k=options.top_k,
            score_threshold=options.score_threshold,
            annotation_fps=options.annotation_fps,
        )
    except FileNotFoundError as e:
        return {**record, "status": "skipped", "reason": "missing", "detail": str(e)}
    except VideoDecodeError as e:
        reason = "no_frames" if e.reason.startswith(_NO_FRAMES) else "decode_error"
        return {**record, "status": "skipped", "reason": reason, "detail": e.reason}
    return {
        **record,
        "status": "done",
        "frames": result.num_frames,
        "proposed": result.num_proposed,
        "boxes": result.num_boxes,
        "entries": result.entries,
    }


_WORKER: tuple[Proposer, Options] | None = None


def _init_worker(options: Options, threads: int) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass  # methods without OpenCV
    _WORKER = (build_proposer(options), options)


def _work(path: str) -> dict[str, Any]:
    assert _WORKER is not None, "worker not initialised"
    return process(Path(path), *_WORKER)


def _results(
    todo: Sequence[Path], options: Options, workers: int, proposer: Proposer | None = None
) -> Iterator[dict[str, Any]]:
    """Records of ``todo`` in the order they finish (this process, or a pool of ``workers``)."""
    if workers <= 1:
        proposer = build_proposer(options) if proposer is None else proposer
        for path in todo:
            yield process(path, proposer, options)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: a fresh interpreter per worker, not a fork of a process that may hold torch threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(options, threads)
    ) as pool:
        pending: set[Future] = set()
        queue = iter(todo)
        try:
            for path in queue:  # keep a few tasks per worker in flight, not the whole list
                pending.add(pool.submit(_work, str(path)))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for path in queue:
                    pending.add(pool.submit(_work, str(path)))
                    if len(pending) >= 2 * workers:
                        break
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


# --------------------------------------------------------------------------- files


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def write_boxes(out: Path, items: Iterable[tuple[str, list[dict[str, Any]]]]) -> int:
    """Write ``{video_id: entries}`` to ``out`` (one video a line), atomically: a temporary file
    in the same folder, fsynced, then renamed. Returns the number of videos."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("{")
            for key, entries in items:
                f.write(",\n" if n else "\n")
                f.write(json.dumps(key) + ":" + json.dumps(entries, separators=(",", ":")))
                n += 1
            f.write("\n}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(out.parent)
    return n


def progress_path(out: Path) -> Path:
    """The sidecar of ``out``: ``<out>.progress.jsonl``."""
    return out.with_name(out.name + ".progress.jsonl")


class Progress:
    """The sidecar: a header line with the run's options, then one line per finished video.

    Opening it cuts a torn last line (a kill while writing) and indexes the records by video:
    ``records[stem] = (byte offset, status, path, reason)``; the entries are read back only
    when the output is written.
    """

    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        self.records: dict[str, tuple[int, str, str, str | None]] = {}
        header = {"format": PROGRESS_FORMAT, "options": options.record()}
        if not path.exists() or path.stat().st_size == 0 or not self._valid_header(path):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(header) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        self._load(header)
        self.file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self._reader: BinaryIO | None = None

    @staticmethod
    def _valid_header(path: Path) -> bool:
        with open(path, "rb") as f:
            line = f.readline()
        try:
            return line.endswith(b"\n") and json.loads(line).get("format") == PROGRESS_FORMAT
        except (json.JSONDecodeError, AttributeError):
            return False

    def _load(self, header: dict[str, Any]) -> None:
        with open(self.path, "rb") as f:
            first = json.loads(f.readline())
            if first["options"] != header["options"]:
                theirs, ours = first["options"], header["options"]
                diff = ", ".join(
                    f"{k}: {theirs.get(k)!r} there, {v!r} now"
                    for k, v in ours.items()
                    if theirs.get(k) != v
                )
                raise ValueError(
                    f"{self.path} records a run with other options ({diff}); "
                    "rerun with that run's options to resume it, or give another --out "
                    "(or delete the sidecar to start over)"
                )
            good = f.tell()
            while True:
                offset = f.tell()
                line = f.readline()
                if not line:
                    break
                try:
                    rec = json.loads(line) if line.endswith(b"\n") else None
                except json.JSONDecodeError:
                    rec = None
                if rec is None:  # torn by a kill: everything after it is gone too
                    break
                self.records[rec["video"]] = (offset, rec["status"], rec["path"], rec.get("reason"))
                good = f.tell()
        if good < self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def add(self, record: dict[str, Any]) -> None:
        """Append one video's record, durably, before the next one is taken."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        offset = self.file.tell()
        self.file.write(line)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.records[record["video"]] = (
            offset,
            record["status"],
            record["path"],
            record.get("reason"),
        )

    def read(self, stem: str) -> dict[str, Any]:
        """The full record of a video."""
        if self._reader is None:
            self.file.flush()
            self._reader = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._reader.seek(self.records[stem][0])
        return json.loads(self._reader.readline())

    def close(self) -> None:
        self.file.close()
        if self._reader is not None:
            self._reader.close()


# --------------------------------------------------------------------------- run and merge


def run(
    inputs: Sequence[str | Path],
    out: str | Path,
    options: Options,
    *,
    workers: int = 1,
    on_error: str = "raise",
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Propose boxes for the videos of ``inputs`` and write ``out`` (see the module docstring).

    Returns the summary: ``done``, ``done_before`` (from an earlier run), ``skipped``
    ``{reason: count}``, ``skipped_videos`` ``[(stem, reason, detail)]``, ``frames``, ``boxes``.

    Raises:
        FileNotFoundError / VideoDecodeError: with ``on_error="raise"``, the first bad video
            (naming the file); videos finished before it stay in the sidecar.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    log = log or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: the folder of --out does not exist")
    videos = shard_of(find_videos(inputs), options.shard)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # an earlier run killed between write and rename
    # built here first, so that bad weights fail at once with their own error, not in a worker
    proposer = build_proposer(options)
    state = Progress(progress_path(out), options)
    # a video done before (same file) is kept; one skipped before is tried again
    todo = [
        v for v in videos if state.records.get(v.stem, (0, "", "", None))[1:3] != ("done", str(v))
    ]
    before = len(videos) - len(todo)
    try:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(todo), unit="video", disable=None if progress is None else not progress
        )
        try:
            for record in _results(todo, options, workers, proposer if workers <= 1 else None):
                if record["status"] == "skipped" and on_error == "raise":
                    hint = " (--on-error skip leaves such videos out and counts them)"
                    if record["reason"] == "missing":
                        raise FileNotFoundError(record["detail"] + hint)
                    raise VideoDecodeError(record["path"], record["detail"] + hint)
                state.add(record)
                bar.update(1)
        finally:
            bar.close()
        summary = _summarise(state, videos, before)
        write_boxes(
            out,
            (
                (v.stem, state.read(v.stem)["entries"])
                for v in videos
                if state.records[v.stem][1] == "done"
            ),
        )
    finally:
        state.close()
    log(_final_line(summary, out))
    return summary


def _summarise(state: Progress, videos: Sequence[Path], before: int) -> dict[str, Any]:
    done, frames, boxes = 0, 0, 0
    skipped: Counter[str] = Counter()
    skipped_videos = []
    for v in videos:
        _, status, _, reason = state.records[v.stem]
        if status == "done":
            rec = state.read(v.stem)
            done += 1
            frames += rec["frames"]
            boxes += rec["boxes"]
        else:
            skipped[reason] += 1
            skipped_videos.append((v.stem, reason, state.read(v.stem)["detail"]))
    return {
        "done": done,
        "done_before": before,
        "skipped": dict(skipped),
        "skipped_videos": skipped_videos,
        "frames": frames,
        "boxes": boxes,
    }


def _final_line(summary: dict[str, Any], out: Path) -> str:
    skipped = summary["skipped"]
    why = ", ".join(f"{r}: {c}" for r, c in sorted(skipped.items()))
    per_frame = summary["boxes"] / summary["frames"] if summary["frames"] else 0.0
    lines = [
        f"stgcn.proposals: {summary['done']} videos done ({summary['done_before']} from an "
        f"earlier run), {sum(skipped.values())} skipped{f' ({why})' if why else ''}, "
        f"{per_frame:.2f} boxes per frame over {summary['frames']} frames -> {out}"
    ]
    for stem, reason, detail in summary["skipped_videos"][:20]:
        lines.append(f"  skipped {stem}: {reason}: {detail}")
    if len(summary["skipped_videos"]) > 20:
        lines.append(f"  ... {len(summary['skipped_videos']) - 20} more in {progress_path(out)}")
    return "\n".join(lines)


def merge(files: Sequence[str | Path], out: str | Path) -> int:
    """Merge box files whose videos are disjoint and sorted (as :func:`run` writes them) into
    ``out``, streamed; returns the number of videos.

    Raises:
        ValueError: a file not sorted by video, or a video in two files (naming both).
    """
    if not files:
        raise ValueError("merge: no file given")

    def keyed(path: Path) -> Iterator[tuple[str, Path, Any]]:
        last = None
        for key, entries in iter_json_object(path):
            if last is not None and key <= last:
                raise ValueError(
                    f"{path}: videos not in sorted order ({last!r} before {key!r}); merge takes "
                    "files written by python -m stgcn.proposals"
                )
            last = key
            yield key, path, entries

    def unique(stream: Iterator[tuple[str, Path, Any]]) -> Iterator[tuple[str, Any]]:
        prev: tuple[str, Path] | None = None
        for key, path, entries in stream:
            if prev is not None and key == prev[0]:
                raise ValueError(f"video {key!r} is in both {prev[1]} and {path}")
            prev = (key, path)
            yield key, entries

    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: box file not found")
    streams = [keyed(p) for p in paths]
    return write_boxes(Path(out), unique(heapq.merge(*streams, key=lambda t: t[0])))


# --------------------------------------------------------------------------- argparse


def _sha256(path: str) -> str:
    """Content hash of a weights file: a resume with other weights at the same path must not
    mix their boxes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stgcn.proposals",
        description="Region proposals for videos, written as a Something-Else box file "
        "(python -m stgcn.proposals merge ... merges shard files).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files and folders")
    p.add_argument("--out", required=True, type=Path, help="the box file to write (BOXES.json)")
    p.add_argument("--method", choices=METHODS, default="motion")
    p.add_argument(
        "--weights",
        default=None,
        help="detector, rpn: a checkpoint (stgcn.proposals.train) or a torchvision weights name",
    )
    p.add_argument("--arch", default=None, help="detector architecture the weights must be")
    p.add_argument("--device", default="cpu", help="detector, rpn: torch device")
    p.add_argument("--every", type=int, default=1, help="propose on every N-th frame (12 fps)")
    p.add_argument("--top-k", type=int, default=50, help="boxes per frame (<= 0: all)")
    p.add_argument("--score-threshold", type=float, default=0.0)
    p.add_argument("--shard", type=parse_shard, default=(1, 1), help="I/N: this run's part")
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise")
    p.add_argument("--annotation-fps", type=float, default=12.0, help="entries per second")
    p.add_argument("--selective-search-mode", choices=("fast", "quality"), default="fast")
    p.add_argument("--motion-source", choices=("diff", "dis", "farneback"), default="diff")
    p.add_argument("--track-iou", type=float, default=0.3, help="least IoU to continue a track")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        p = argparse.ArgumentParser(
            prog="python -m stgcn.proposals merge",
            description="Merge shard box files (disjoint videos) into one.",
        )
        p.add_argument("files", nargs="+", type=Path)
        p.add_argument("--out", required=True, type=Path)
        a = p.parse_args(argv[1:])
        n = merge(a.files, a.out)
        print(
            f"stgcn.proposals merge: {n} videos from {len(a.files)} files -> {a.out}",
            file=sys.stderr,
        )
        return 0
    a = _run_parser().parse_args(argv)
    if a.every < 1:
        raise SystemExit("--every must be >= 1")
    weights = a.weights
    if weights is not None and Path(weights).is_file():
        weights = str(Path(weights).resolve())
    options = Options(
        method=a.method,
        weights=weights,
        weights_sha256=_sha256(weights) if weights and Path(weights).is_file() else None,
        arch=a.arch,
        device=a.device,
        every=a.every,
        top_k=a.top_k if a.top_k > 0 else None,
        score_threshold=a.score_threshold,
        annotation_fps=a.annotation_fps,
        selective_search_mode=a.selective_search_mode,
        motion_source=a.motion_source,
        track_iou=a.track_iou,
        shard=a.shard,
    )
    run(
        a.inputs,
        a.out,
        options,
        workers=a.workers,
        on_error=a.on_error,
        progress=False if a.no_progress else None,
    )
    return 0
