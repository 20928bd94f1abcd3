"""Seeded fuzzing of the SSv2 reader: damaged videos and JSON files, and what came out of them.

The reader promises (:mod:`stgcn.data.ssv2`) that under ``on_error="skip"`` no exception escapes
``__getitem__``: every video is a sample or a counted :class:`~stgcn.data.ssv2.Skipped` with a
reason, and that a broken label or box JSON is a clear error naming the file (and, for a parse
error, the line and column). This module checks it on a copy of a valid dataset:

* :func:`fuzz_videos` damages every video of the split in rounds, each with one of
  :data:`VIDEO_MUTATIONS` (byte flips anywhere or in the first 4 KB where the container header
  and stream metadata live, truncation, zeroed blocks, an empty file, the header alone, random
  bytes, a valid PNG or an MP4 under the ``.webm`` name), reads every index and checks each item
  and the dataset's own count of skips.
* :func:`fuzz_json` damages one of the label, split or box files with one of
  :data:`JSON_MUTATIONS` (truncation, a value of the wrong type, a missing key, bytes that are not
  UTF-8) and checks what constructing and reading the dataset does.

The test suite runs a short fuzz; the long run is the command line::

    python -m stgcn.data.fuzz --reads 3000 --seed 0        # prints a JSON report
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import tempfile
import traceback
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stgcn.data.boxes import MalformedJSONError

VIDEO_MUTATIONS = (
    "flip",
    "flip_header",
    "truncate",
    "zero_block",
    "empty",
    "header_only",
    "random_bytes",
    "png",
    "mp4",
)
"""How :func:`mutate_video` damages a file."""

JSON_MUTATIONS = ("truncate", "wrong_type", "missing_key", "not_utf8")
"""How :func:`mutate_json` damages a file."""

_HEADER = 4096  # the first 4 KB hold the EBML header, segment info, tracks and their metadata
_CLUSTER_ID = b"\x1f\x43\xb6\x75"  # a Matroska cluster: the frames start here


def png_bytes(height: int, width: int, rng: np.random.Generator) -> bytes:
    """A valid RGB PNG of random pixels (written by hand: zlib and CRCs, nothing to install)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def mp4_bytes(frames: np.ndarray, fps: int = 12) -> bytes:
    """``[T, H, W, 3]`` uint8 frames as MPEG-4 part 2 in an MP4 container."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        for img in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")))
        c.mux(s.encode())
    return buf.getvalue()


def mutate_video(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """``data`` (a valid webm) damaged by ``kind`` (one of :data:`VIDEO_MUTATIONS`)."""
    b = bytearray(data)
    n = len(b)
    if kind in ("flip", "flip_header"):
        hi = min(_HEADER, n) if kind == "flip_header" else n
        for p in rng.integers(0, hi, int(rng.integers(1, 9))):
            b[int(p)] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if kind == "truncate":
        return bytes(b[: int(rng.integers(0, n))])
    if kind == "zero_block":
        start = int(rng.integers(0, n))
        end = min(n, start + int(rng.integers(16, 2048)))
        b[start:end] = bytes(end - start)
        return bytes(b)
    if kind == "empty":
        return b""
    if kind == "header_only":
        end = data.find(_CLUSTER_ID)
        return data[: end if end > 0 else min(_HEADER, n)]
    if kind == "random_bytes":
        return rng.integers(0, 256, int(rng.integers(1, 2 * n)), dtype=np.uint8).tobytes()
    if kind == "png":
        return png_bytes(int(rng.integers(8, 64)), int(rng.integers(8, 64)), rng)
    if kind == "mp4":
        h, w = 2 * int(rng.integers(8, 24)), 2 * int(rng.integers(8, 24))
        return mp4_bytes(rng.integers(0, 256, (int(rng.integers(2, 12)), h, w, 3), np.uint8))
    raise ValueError(f"unknown video mutation {kind!r}; expected one of {VIDEO_MUTATIONS}")


@dataclass
class FuzzReport:
    """What the fuzz did and saw. ``escaped`` lists each exception that left the reader (the
    property is that it stays empty) and ``violations`` each other broken promise."""

    reads: int = 0
    mutated: int = 0
    samples: int = 0
    skipped: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    escaped: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = dict(self.skipped)
        d["by_kind"] = {k: dict(v) for k, v in self.by_kind.items()}
        return d


def _working_copy(root: Path, into: Path) -> Path:
    dst = into / "ssv2"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("*.sqlite", "*.tmp"))
    return dst


def fuzz_videos(
    root: str | Path,
    reads: int,
    seed: int = 0,
    split: str = "train",
    kinds: tuple[str, ...] = VIDEO_MUTATIONS,
) -> FuzzReport:
    """Damage the videos of a copy of ``root`` and read them with ``on_error="skip"``.

    Each round mutates every video of ``split`` (mutation kinds in turn, from a seeded rng) and
    reads every index once; ``reads`` is rounded up to whole rounds. Checked per item: a
    :class:`Sample` or a :class:`Skipped` whose reason is a known one and whose message names
    the video; per round: :meth:`error_report` counts exactly the skips returned.
    """
    from stgcn.data.ssv2 import SKIP_REASONS, Sample, Skipped, SomethingSomethingV2

    rng = np.random.default_rng(seed)
    report = FuzzReport()
    with tempfile.TemporaryDirectory(prefix="stgcn-fuzz-") as tmp:
        work = _working_copy(Path(root), Path(tmp))
        ds = SomethingSomethingV2(
            work, split, num_frames=4, size=32, train=False, on_error="skip", decode_threads=1
        )
        paths = [ds.videos_dir / f"{vid}{ds.video_ext}" for vid, _ in ds.records]
        originals = [p.read_bytes() for p in paths]
        turn = 0
        while report.reads < reads:
            ds.reset_errors()
            kind_of = {}
            for path, data in zip(paths, originals, strict=True):
                kind = kinds[turn % len(kinds)]
                turn += 1
                path.write_bytes(mutate_video(data, kind, rng))
                kind_of[path.stem] = kind
                report.mutated += 1
            skipped_here = Counter()
            for i in range(len(ds)):
                vid = ds.records[i // ds.views][0]
                kind = kind_of[vid]
                counts = report.by_kind.setdefault(kind, Counter())
                report.reads += 1
                try:
                    item = ds[i]
                except Exception as e:  # the property under test: nothing may escape
                    report.escaped.append(
                        f"{kind} {vid}: {''.join(traceback.format_exception_only(e)).strip()}"
                    )
                    counts["escaped"] += 1
                    continue
                if isinstance(item, Sample):
                    report.samples += 1
                    counts["sample"] += 1
                    if item.clip.shape != (3, 4, 32, 32):
                        report.violations.append(f"{kind} {vid}: clip {tuple(item.clip.shape)}")
                elif isinstance(item, Skipped):
                    report.skipped[item.reason] += 1
                    skipped_here[item.reason] += 1
                    counts[f"skipped:{item.reason}"] += 1
                    if item.reason not in SKIP_REASONS or vid not in item.message:
                        report.violations.append(f"{kind} {vid}: unclear skip {item}")
                else:
                    report.violations.append(f"{kind} {vid}: returned {type(item).__name__}")
            counted = {r: c for r, c in ds.error_report()["skipped"].items() if c}
            if counted != dict(skipped_here):
                report.violations.append(f"round counted {counted}, returned {dict(skipped_here)}")
    return report


def _paths_in(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) to a value inside a parsed JSON document."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths_in(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths_in(v, (*prefix, i))
    return out


def mutate_json(raw: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """``raw`` (a valid JSON file) damaged by ``kind`` (one of :data:`JSON_MUTATIONS`): cut
    short, one value replaced by a value of another type, one object key removed, or one
    invalid UTF-8 byte inserted."""
    if kind == "truncate":
        return raw[: int(rng.integers(0, len(raw)))]
    if kind == "not_utf8":
        p = int(rng.integers(0, len(raw) + 1))
        return raw[:p] + bytes([int(rng.choice([0x80, 0xC0, 0xFF, 0xFE]))]) + raw[p:]
    doc = json.loads(raw)
    paths = _paths_in(doc)
    if kind == "missing_key":
        paths = [p for p in paths if p and isinstance(_get(doc, p[:-1]), dict)]
    elif kind != "wrong_type":
        raise ValueError(f"unknown JSON mutation {kind!r}; expected one of {JSON_MUTATIONS}")
    if not paths:
        return raw
    path = paths[int(rng.integers(0, len(paths)))]
    if kind == "missing_key":
        del _get(doc, path[:-1])[path[-1]]
    else:
        old = _get(doc, path)
        others = [v for v in (7, 2.5, "x", [], {}, None, True) if type(v) is not type(old)]
        new = others[int(rng.integers(0, len(others)))]
        if path:
            _get(doc, path[:-1])[path[-1]] = new
        else:
            doc = new
    return json.dumps(doc).encode()


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def fuzz_json(
    root: str | Path, rounds: int, seed: int = 0, kinds: tuple[str, ...] = JSON_MUTATIONS
) -> FuzzReport:
    """Damage one label, split or box file of a copy of ``root`` per round, then build the
    dataset (``on_error="skip"``) and read every index.

    Allowed outcomes: the dataset builds and every item is a sample or a skip; or construction
    raises :class:`MalformedJSONError` (which must give a line and column) or a ``ValueError`` /
    ``KeyError`` whose message names the damaged file. Anything else is ``escaped``.
    """
    from stgcn.data.ssv2 import Sample, Skipped, SomethingSomethingV2

    rng = np.random.default_rng(seed)
    report = FuzzReport()
    with tempfile.TemporaryDirectory(prefix="stgcn-fuzz-json-") as tmp:
        work = _working_copy(Path(root), Path(tmp))
        # the files a train-split reader opens
        files = [work / "labels" / f"something-something-v2-{n}.json" for n in ("labels", "train")]
        files += sorted(work.glob("bounding_box_smthsmth_part*.json"))
        originals = {p: p.read_bytes() for p in files}
        for r in range(rounds):
            path = files[int(rng.integers(0, len(files)))]
            kind = kinds[r % len(kinds)]
            path.write_bytes(mutate_json(originals[path], kind, rng))
            report.mutated += 1
            what = "boxes" if path.name.startswith("bounding_box") else path.stem.rsplit("-", 1)[1]
            counts = report.by_kind.setdefault(f"{what}:{kind}", Counter())
            for index in work.glob("*.sqlite"):
                index.unlink()  # rebuilt from the damaged file
            try:
                ds = SomethingSomethingV2(
                    work, "train", num_frames=4, size=32, train=False, on_error="skip"
                )
                for i in range(len(ds)):
                    report.reads += 1
                    item = ds[i]
                    if isinstance(item, Sample):
                        report.samples += 1
                    elif isinstance(item, Skipped):
                        report.skipped[item.reason] += 1
                counts["built"] += 1
            except MalformedJSONError as e:
                counts["malformed"] += 1
                if e.path != str(path) or e.lineno < 1 or e.colno < 1:
                    report.violations.append(f"{path.name} {kind}: badly located: {e}"[:400])
            except (ValueError, KeyError) as e:
                counts["clear_error"] += 1
                if path.name not in str(e):
                    report.violations.append(f"{path.name} {kind}: file not named: {e!r}"[:400])
            except Exception as e:  # the property under test: nothing else may escape
                counts["escaped"] += 1
                report.escaped.append(
                    f"{path.name} {kind}: {''.join(traceback.format_exception_only(e)).strip()}"[
                        :400
                    ]
                )
            path.write_bytes(originals[path])
    return report


def main(argv: list[str] | None = None) -> None:
    """``python -m stgcn.data.fuzz --reads N --json-rounds M --seed S [--root ROOT]``"""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, help="a valid SSv2 root (default: generate a small one)")
    p.add_argument("--videos", type=int, default=40, help="videos to generate (no --root)")
    p.add_argument("--reads", type=int, default=3000, help="damaged-video reads")
    p.add_argument("--json-rounds", type=int, default=400, help="damaged JSON files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the report here (JSON)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stgcn-fuzz-set-") as tmp:
        root = a.root
        if root is None:
            from stgcn.data.synthetic import generate

            root = Path(tmp) / "ssv2"
            generate(root, a.videos, seed=a.seed, size=(32, 48), frames=(12, 24), workers=1)
        result = {
            "seed": a.seed,
            "videos": fuzz_videos(root, a.reads, a.seed).as_dict(),
            "json": fuzz_json(root, a.json_rounds, a.seed).as_dict(),
        }
    text = json.dumps(result, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text)
    bad = sum(len(result[k]["escaped"]) + len(result[k]["violations"]) for k in ("videos", "json"))
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
