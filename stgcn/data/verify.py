"""Pre-scan an SSv2 dataset: every video decoded to its end, checked against its header and its boxes.

    python -m stgcn.data.verify ROOT [--boxes PART.json ... | INDEX.sqlite] [--workers W] [--out DIR]

For each video of the split files under ``ROOT/labels`` (or of ``--ids``), the verifier

* opens and decodes the whole stream (:class:`stgcn.data.video.VideoReader`), and lists every
  video that is missing or fails to open or decode, with the reader's message;
* compares the frames decoded with the header's estimate (``round(duration * fps)``): a stream
  that ends early is **truncated**. The reader decodes only up to the last frame a clip samples,
  so a file cut after that frame reads without error (``silent_in_eval`` says whether the
  deterministic evaluation clip of ``--num-frames``/``--sampling`` is such a clip; training clips
  draw later frames sometimes, and then fail at random);
* compares the decoded length at the video's frame rate with the frames of its box annotation
  at ``--annotation-fps`` (12 for Something-Else): frames extracted at another rate leave the
  boxes on the wrong frames (Something-Else issue #11). ``box_frames`` vs ``expected_box_frames``
  and the implied annotation rate are reported when they differ by more than ``--tolerance``.

Output, in ``--out`` (default ``ROOT/verify``): ``report.json`` (per video, sorted by id, and a
summary) and ``exclude.txt`` (one id per line, with the reason after ``#``), which
``SomethingSomethingV2(exclude=...)`` accepts. Unreadable and truncated videos are excluded;
``--exclude-box-mismatch`` and ``--exclude-no-boxes`` add those.

Resuming: each finished video is appended to ``progress.jsonl`` (flushed and fsynced); a rerun
with the same settings skips the videos listed there (a torn last line is redone), so a killed
run and its rerun give the same report as one run. ``report.json`` and ``exclude.txt`` are
written atomically (temporary file in the same folder, fsync, ``os.replace``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from stgcn.data.boxes import PART_FILES, BoxIndex
from stgcn.data.sampling import sample_indices

_VERSION = 1
UNREADABLE = ("missing", "decode_error")


def check_video(path: str | Path, tolerance: int = 1) -> dict[str, Any]:
    """Decode one video to its end.

    Returns:
        ``{"status": "ok" | "truncated" | "missing" | "decode_error", "message", "fps",
        "header_frames" (the estimate the reader samples from), "decoded_frames", "width",
        "height"}``.
    """
    from stgcn.data.video import VideoDecodeError, VideoReader

    out: dict[str, Any] = {"status": "ok", "message": ""}
    try:
        with VideoReader(path, threads=1) as r:
            out.update(fps=r.fps, header_frames=r.num_frames, width=r.width, height=r.height)
            out["decoded_frames"] = r.count_frames()
    except FileNotFoundError as e:
        return {"status": "missing", "message": str(e)}
    except VideoDecodeError as e:
        out.update(status="decode_error", message=str(e))
        return out
    hdr, dec = out["header_frames"], out["decoded_frames"]
    if hdr is not None and hdr - dec > tolerance:
        out["status"] = "truncated"
        out["message"] = f"{path}: the header promises ~{hdr} frames, the stream ends after {dec}"
    return out


def _check_job(job: tuple[str, str, int]) -> tuple[str, dict[str, Any]]:
    video_id, path, tolerance = job
    return video_id, check_video(path, tolerance)


def split_ids(labels_dir: Path) -> list[str]:
    """The video ids of every split file present (train, validation, test), in file order."""
    from stgcn.data.boxes import load_json

    ids: dict[str, None] = {}
    for split in ("train", "validation", "test"):
        path = labels_dir / f"something-something-v2-{split}.json"
        if not path.is_file():
            continue
        entries = load_json(path)
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a list of entries, got {type(entries).__name__}")
        for pos, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("id"), str | int):
                raise ValueError(f"{path}: entry {pos} has no string 'id'")
            ids[str(e["id"])] = None
    return list(ids)


def compare_boxes(
    result: dict[str, Any],
    boxes: BoxIndex | None,
    video_id: str,
    annotation_fps: float,
    tolerance: int,
) -> dict[str, Any]:
    """Add the box checks to a decoded video's ``result`` (in place; returned)."""
    if boxes is None or result["status"] in UNREADABLE:
        return result
    entry = boxes.get(video_id)
    if entry is None:
        result["boxes"] = "missing"
        return result
    n, fps = result["decoded_frames"], result.get("fps")
    result["box_frames"] = entry.num_annotated
    if fps:
        expected = round(n * annotation_fps / fps)
        result["expected_box_frames"] = expected
        mismatch = abs(entry.num_annotated - expected) > tolerance
        result["boxes"] = "mismatch" if mismatch else "ok"
        if mismatch:
            # the rate at which the annotated frames would span the decoded video
            result["implied_annotation_fps"] = round(entry.num_annotated * fps / max(n, 1), 3)
    return result


def eval_clip_check(result: dict[str, Any], num_frames: int, sampling: str) -> dict[str, Any]:
    """For a truncated video: the last frame of the deterministic evaluation clip, and whether
    the reader would read that clip without noticing the truncation."""
    if result["status"] != "truncated":
        return result
    idx = sample_indices(sampling, result["header_frames"], num_frames, False)  # type: ignore[arg-type]
    last = int(idx.max())
    result["eval_clip_last_frame"] = last
    result["silent_in_eval"] = last < result["decoded_frames"]
    return result


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_progress(path: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Finished videos of an earlier run with the same settings (a torn last line is dropped)."""
    if not path.is_file():
        return {}
    done: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        return {}
    if head.get("settings") != settings:
        return {}  # another configuration: start over
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line a kill cut short: that video is redone
        done[row["id"]] = row["result"]
    return done


def _progress(total: int, initial: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the "train" extra; without it, no bar
        return None
    return tqdm(total=total, initial=initial, unit="video", desc="verify", file=sys.stderr)


def verify(
    root: str | Path,
    out: str | Path | None = None,
    boxes: Sequence[str | Path] | None = None,
    ids: Iterable[str] | None = None,
    workers: int = 0,
    videos_dir: str | Path | None = None,
    labels_dir: str | Path | None = None,
    video_ext: str = ".webm",
    annotation_fps: float = 12.0,
    tolerance: int = 1,
    num_frames: int = 8,
    sampling: str = "tsn",
    exclude_box_mismatch: bool = False,
    exclude_no_boxes: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Check every video of an SSv2 root; write ``report.json``, ``exclude.txt`` and (while
    running) ``progress.jsonl`` to ``out`` (see the module docstring). Returns the report."""
    root = Path(root)
    out = Path(out) if out is not None else root / "verify"
    out.mkdir(parents=True, exist_ok=True)
    videos_dir = (
        Path(videos_dir) if videos_dir is not None else root / "20bn-something-something-v2"
    )
    labels_dir = Path(labels_dir) if labels_dir is not None else root / "labels"
    ids = list(dict.fromkeys(str(i) for i in ids)) if ids is not None else split_ids(labels_dir)
    index, box_files = _open_boxes(root, out, boxes, annotation_fps)
    settings = {
        "version": _VERSION,
        "videos_dir": str(videos_dir.resolve()),
        "video_ext": video_ext,
        "tolerance": tolerance,
        "boxes": box_files,  # the annotation files, not where their index was built
        "annotation_fps": annotation_fps,
        "num_frames": num_frames,
        "sampling": sampling,
    }
    progress_path = out / "progress.jsonl"
    done = _read_progress(progress_path, settings)
    todo = [i for i in ids if i not in done]
    with open(progress_path, "w" if not done else "a", encoding="utf-8") as log:
        if not done:
            log.write(json.dumps({"settings": settings}) + "\n")
        else:
            log.write("\n")  # ends a torn line, which is then skipped when read back
        bar = _progress(len(ids), len(ids) - len(todo)) if progress else None
        for video_id, result in _checked(todo, videos_dir, video_ext, tolerance, workers):
            compare_boxes(result, index, video_id, annotation_fps, tolerance)
            eval_clip_check(result, num_frames, sampling)
            log.write(json.dumps({"id": video_id, "result": result}) + "\n")
            log.flush()
            os.fsync(log.fileno())
            done[video_id] = result
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
    report = _report(ids, done, settings, exclude_box_mismatch, exclude_no_boxes)
    _fsync_write(out / "report.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
    lines = [f"{vid}  # {why}" for vid, why in report["exclude"].items()]
    _fsync_write(out / "exclude.txt", "".join(line + "\n" for line in lines))
    return report


def _open_boxes(
    root: Path, out: Path, boxes: Sequence[str | Path] | None, fps: float
) -> tuple[BoxIndex | None, list[str]]:
    if boxes is None:
        found = [root / p for p in PART_FILES if (root / p).is_file()]
        if not found:
            return None, []
        boxes = found
    paths = [Path(b) for b in boxes]
    names = [str(p.resolve()) for p in paths]
    if len(paths) == 1 and paths[0].suffix in (".sqlite", ".db"):
        return BoxIndex(paths[0], fps), names
    return BoxIndex.open_or_build(paths, out / "boxes.index.sqlite", fps), names


def _checked(
    ids: list[str], videos_dir: Path, ext: str, tolerance: int, workers: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    jobs = [(vid, str(videos_dir / f"{vid}{ext}"), tolerance) for vid in ids]
    if workers <= 1:
        yield from map(_check_job, jobs)
        return
    with get_context().Pool(workers) as pool:
        yield from pool.imap_unordered(_check_job, jobs, chunksize=4)


def _report(
    ids: list[str],
    results: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    exclude_box_mismatch: bool,
    exclude_no_boxes: bool,
) -> dict[str, Any]:
    videos = {vid: results[vid] for vid in sorted(ids)}
    exclude = {}
    for vid, r in videos.items():
        if r["status"] != "ok":
            exclude[vid] = r["status"]
        elif exclude_box_mismatch and r.get("boxes") == "mismatch":
            exclude[vid] = "box_frames_mismatch"
        elif exclude_no_boxes and r.get("boxes") == "missing":
            exclude[vid] = "no_boxes"
    summary = {
        "videos": len(videos),
        "status": dict(sorted(Counter(r["status"] for r in videos.values()).items())),
        "boxes": dict(sorted(Counter(r.get("boxes", "n/a") for r in videos.values()).items())),
        "truncated_silent_in_eval": sum(bool(r.get("silent_in_eval")) for r in videos.values()),
        "excluded": len(exclude),
    }
    return {"settings": settings, "summary": summary, "exclude": exclude, "videos": videos}


def main(argv: Sequence[str] | None = None) -> None:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(
        prog="python -m stgcn.data.verify", description=__doc__.splitlines()[0]
    )
    p.add_argument("root", type=Path, help="SSv2 root in the official layout")
    p.add_argument("--boxes", nargs="+", help="box JSON parts or an index (default: found)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: this one)")
    p.add_argument("--out", type=Path, help="output folder (default ROOT/verify)")
    p.add_argument("--ids", nargs="+", help="check these ids instead of the split files'")
    p.add_argument("--videos-dir", type=Path)
    p.add_argument("--labels-dir", type=Path)
    p.add_argument("--video-ext", default=".webm")
    p.add_argument("--annotation-fps", type=float, default=12.0)
    p.add_argument("--tolerance", type=int, default=1, help="frames of slack in each comparison")
    p.add_argument("--num-frames", type=int, default=8, help="T of the clips the reader samples")
    p.add_argument("--sampling", choices=("tsn", "uniform", "dense"), default="tsn")
    p.add_argument("--exclude-box-mismatch", action="store_true")
    p.add_argument("--exclude-no-boxes", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    report = verify(
        a.root,
        a.out,
        boxes=a.boxes,
        ids=a.ids,
        workers=a.workers,
        videos_dir=a.videos_dir,
        labels_dir=a.labels_dir,
        video_ext=a.video_ext,
        annotation_fps=a.annotation_fps,
        tolerance=a.tolerance,
        num_frames=a.num_frames,
        sampling=a.sampling,
        exclude_box_mismatch=a.exclude_box_mismatch,
        exclude_no_boxes=a.exclude_no_boxes,
        progress=not a.no_progress,
    )
    out = a.out if a.out is not None else a.root / "verify"
    print(json.dumps(report["summary"], indent=1))
    for vid, r in report["videos"].items():
        if r["status"] != "ok":
            print(f"{vid}: {r['status']}: {r['message']}")
        elif r.get("boxes") == "missing":
            print(f"{vid}: no box entry")
        elif r.get("boxes") == "mismatch":
            print(
                f"{vid}: {r['box_frames']} annotated frames, {r['expected_box_frames']} expected "
                f"for {r['decoded_frames']} frames at {r['fps']} fps (annotation at "
                f"~{r['implied_annotation_fps']} fps)"
            )
    print(f"report: {out / 'report.json'}; exclusion list: {out / 'exclude.txt'}")


if __name__ == "__main__":
    main()
