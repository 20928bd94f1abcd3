"""Something-Else box annotations, converted once into an indexed SQLite file.

The Something-Else boxes (Materzynska et al., CVPR 2020) come as four JSON objects
``bounding_box_smthsmth_part{1..4}.json`` of several GB, ``{video_id: [per-frame entry, ...]}``,
where list position k is annotation frame k (image ``<id>/{k+1:04d}.jpg``, 12 fps). Loading them
whole costs every DataLoader worker the whole object graph in RAM. :func:`build_box_index` reads
each file **streamed**, one ``"video_id": [...]`` pair at a time (so peak memory is one chunk plus
the largest video entry, not the file), parses the entry with
:func:`stgcn.data.something_else.from_something_else`, and stores one SQLite row per video with
compact arrays: annotation frame ``int16 [M]``, box ``float32 [M, 4]`` (original-frame pixels),
category ``int8 [M]`` and track ``int16 [M]`` (placeholder index, -1 for the hand). The files may be
given as they come (four parts) or merged into one; when a video id appears twice the later file
wins, and the duplicates are counted.

:class:`BoxIndex` opens the SQLite file read-only on first use **in each process** (it reopens
after a fork and pickles without its connection), so DataLoader workers share the file through the
OS page cache rather than copies of a dict. It is a :class:`stgcn.data.box_source.BoxSource`:
``index.boxes(video_id, frames, times)`` gives the boxes of the annotation frame nearest each
decoded frame's time (:func:`annotation_frames`), so boxes follow the frames actually decoded
whatever the video's rate.

Box geometry is stored as annotated. Inverted (x1 > x2 or y1 > y2) and zero-area boxes are
counted in :attr:`BoxIndex.stats`; whether they raise or are dropped is the reader's policy
(``on_error`` of :class:`stgcn.data.ssv2.SomethingSomethingV2`), which also knows the frame size
and so whether a box lies outside the frame.

Malformed JSON raises :class:`MalformedJSONError` naming the file, line, column and character
offset; a well-formed file with a malformed entry raises ``ValueError`` naming the file, video,
frame entry and label.
"""

from __future__ import annotations

import codecs
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from stgcn.data.box_source import FrameBoxes
from stgcn.data.something_else import from_something_else

PART_FILES = tuple(f"bounding_box_smthsmth_part{i}.json" for i in range(1, 5))
"""The four Something-Else annotation files, as distributed."""

_FORMAT = "stgcn-boxindex-1"


class MalformedJSONError(ValueError):
    """A JSON file that does not parse, with where it breaks (1-based line and column)."""

    def __init__(self, path: str | Path, msg: str, lineno: int, colno: int, pos: int) -> None:
        super().__init__(
            f"{path}: malformed JSON at line {lineno} column {colno} (char {pos}): {msg}"
        )
        self.path, self.msg, self.lineno, self.colno, self.pos = str(path), msg, lineno, colno, pos


def _not_utf8(path: Path, e: UnicodeDecodeError, text_before: str, byte: int) -> MalformedJSONError:
    """The error for bytes that are not UTF-8, at the character where valid text stops."""
    line = text_before.count("\n") + 1
    col = len(text_before) - text_before.rfind("\n")
    bad = e.object[e.start : e.start + 1].hex()
    return MalformedJSONError(
        path,
        f"not UTF-8 (byte 0x{bad} at byte offset {byte}: {e.reason})",
        line,
        col,
        len(text_before),
    )


def load_json(path: str | Path) -> Any:
    """``json.load`` a (small) file; a parse error or bytes that are not UTF-8 become
    :class:`MalformedJSONError`."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e, raw[: e.start].decode("utf-8"), e.start) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise MalformedJSONError(path, e.msg, e.lineno, e.colno, e.pos) from None


class _Stream:
    """A growing text window over a file, with absolute positions for error messages."""

    _WS = " \t\n\r"

    def __init__(self, path: Path, chunk_chars: int) -> None:
        self.path = path
        # bytes decoded here rather than by a text file, so that a byte that is not UTF-8 is
        # reported at its line and column like any other error
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.bytes_read = 0
        self.chunk = chunk_chars
        self.buf = ""
        self.i = 0  # cursor in buf
        self.base = 0  # absolute char offset of buf[0]
        self.base_line, self.base_col = 1, 1  # line and column of buf[0]
        self.eof = False

    def close(self) -> None:
        self.file.close()

    def more(self) -> bool:
        """Read another chunk (at least as big as the window, so re-parsing stays linear)."""
        if self.eof:
            return False
        raw = self.file.read(max(self.chunk, len(self.buf) - self.i))
        try:
            data = self.utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as e:
            # e.object is the decoder's pending bytes followed by raw; all before e.start is valid
            pending = len(e.object) - len(raw)
            self.buf += e.object[: e.start].decode("utf-8")
            byte = self.bytes_read - pending + e.start
            msg = _not_utf8(self.path, e, "", byte).msg  # positioned in the window, not the file
            raise self.error(msg, len(self.buf)) from None
        self.bytes_read += len(raw)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def compact(self) -> None:
        """Forget the text before the cursor."""
        if self.i == 0:
            return
        dropped = self.buf[: self.i]
        nl = dropped.count("\n")
        if nl:
            self.base_line += nl
            self.base_col = len(dropped) - dropped.rfind("\n")
        else:
            self.base_col += len(dropped)
        self.base += self.i
        self.buf, self.i = self.buf[self.i :], 0

    def error(self, msg: str, at: int | None = None) -> MalformedJSONError:
        at = self.i if at is None else at
        head = self.buf[:at]
        nl = head.count("\n")
        line = self.base_line + nl
        col = at - head.rfind("\n") if nl else self.base_col + at
        return MalformedJSONError(self.path, msg, line, col, self.base + at)

    def skip_ws(self) -> None:
        while True:
            n = len(self.buf)
            while self.i < n and self.buf[self.i] in self._WS:
                self.i += 1
            if self.i < n or not self.more():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.i] if self.i < len(self.buf) else ""

    def expect(self, char: str, what: str) -> None:
        c = self.peek()
        if c != char:
            found = repr(c) if c else "end of file"
            raise self.error(f"expecting {what}, found {found}")
        self.i += 1

    def value(self, decoder: json.JSONDecoder) -> Any:
        """Decode one JSON value at the cursor, reading more text until it is complete."""
        self.skip_ws()
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.i)
            except json.JSONDecodeError as e:
                # Only an error at the end of the window can be the window's fault; an
                # unterminated string reports where the string starts.
                near_end = e.pos >= len(self.buf) - 16 or e.msg.startswith("Unterminated string")
                if near_end and self.more():
                    continue
                raise self.error(e.msg, e.pos) from None
            if end == len(self.buf) and self.more():
                continue  # a number could go on in the next chunk
            self.i = end
            return obj


def iter_json_object(path: str | Path, chunk_chars: int = 1 << 20) -> Iterator[tuple[str, Any]]:
    """Stream the ``(key, value)`` pairs of a file holding one JSON object, in file order.

    Memory stays at about one chunk plus the largest value. Raises :class:`MalformedJSONError`
    (file, line, column, char offset) where the text stops being that object.
    """
    s = _Stream(Path(path), chunk_chars)
    decoder = json.JSONDecoder()
    try:
        s.expect("{", "'{' (a JSON object {video_id: [frame entries]})")
        first = True
        while True:
            s.compact()
            if s.peek() == "}":
                s.i += 1
                break
            if not first:
                s.expect(",", "',' or '}' after an object member")
            first = False
            if s.peek() != '"':
                raise s.error("expecting a property name in double quotes")
            key = s.value(decoder)
            s.expect(":", "':' after a property name")
            yield key, s.value(decoder)
        if s.peek():
            raise s.error("extra data after the top-level object")
    finally:
        s.close()


class VideoBoxes(NamedTuple):
    """One video's boxes from the index (M boxes).

    Attributes:
        num_annotated: number of annotated frames (length of the JSON list).
        frame: ``[M]`` int64 annotation frame (list position) of each box.
        box: ``[M, 4]`` float32 ``x1, y1, x2, y2`` in original-frame pixels.
        category: ``[M]`` int64 codes of :data:`stgcn.data.something_else.CATEGORY`.
        track: ``[M]`` int64 placeholder index (-1 for the hand).
    """

    num_annotated: int
    frame: np.ndarray
    box: np.ndarray
    category: np.ndarray
    track: np.ndarray


def annotation_frames(
    times: np.ndarray, fps: float = 12.0, num_annotated: int | None = None
) -> np.ndarray:
    """The annotation frame nearest each decoded frame time.

    Args:
        times: ``[T]`` seconds from the first frame (:meth:`stgcn.data.video.VideoReader.read`).
        fps: rate of the annotation (12 for Something-Else: list position k is time k / 12).
        num_annotated: number of annotated frames; indices are clamped to ``[0, num_annotated)``,
            the nearest annotated frame.

    Returns:
        ``[T]`` int64 annotation list positions.
    """
    a = np.rint(np.asarray(times, dtype=np.float64) * fps).astype(np.int64)
    hi = None if num_annotated is None else max(num_annotated - 1, 0)
    return np.clip(a, 0, hi)


def clip_boxes(boxes: VideoBoxes, times: np.ndarray, fps: float = 12.0) -> FrameBoxes:
    """A video's annotated boxes on the frames of a clip: for each clip frame t, the boxes of the
    annotation frame nearest its time (repeated frames repeat their boxes).

    Args:
        boxes: the video's boxes (:meth:`BoxIndex.get`).
        times: ``[T]`` seconds from the first frame of each clip frame.
        fps: the annotation's frame rate.

    Returns:
        :class:`FrameBoxes` with N boxes, score 1, ``source_frame`` the annotation frame.
    """
    if len(boxes.box) == 0:
        return FrameBoxes.empty()
    ann = annotation_frames(times, fps, boxes.num_annotated)  # [T]
    t, m = np.nonzero(boxes.frame[None, :] == ann[:, None])  # clip frame t holds box m
    return FrameBoxes(
        frame=t.astype(np.int64),
        box=boxes.box[m],
        score=np.ones(len(m), dtype=np.float32),
        category=boxes.category[m],
        track=boxes.track[m],
        source_frame=boxes.frame[m],
    )


def _signature(sources: Sequence[Path]) -> str:
    return json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources])


def _rows(sources: Sequence[Path], stats: dict[str, int]) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for path in sources:
        for video_id, entries in iter_json_object(path):
            try:
                g = from_something_else(entries, video_id=video_id)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
            if video_id in seen:
                stats["duplicates"] += 1
            seen.add(video_id)
            box = g.box.numpy().astype(np.float32)
            w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
            stats["videos"] += 1
            stats["boxes"] += len(box)
            stats["inverted"] += int(((w < 0) | (h < 0)).sum())
            stats["zero_area"] += int(((w == 0) | (h == 0)).sum())
            stats["empty_videos"] += int(len(box) == 0)
            yield (
                video_id,
                int(g.num_frames),
                g.frame.numpy().astype(np.int16).tobytes(),
                box.tobytes(),
                g.category.numpy().astype(np.int8).tobytes(),
                g.track.numpy().astype(np.int16).tobytes(),
            )


def build_box_index(sources: Iterable[str | Path], index_path: str | Path) -> BoxIndex:
    """Convert Something-Else box JSON file(s) into the SQLite index at ``index_path``.

    Args:
        sources: ``bounding_box_smthsmth_part{1..4}.json`` as distributed, or a merged file.
        index_path: where to write; written to a temporary file beside it and renamed, so a
            concurrent reader never sees half an index.

    Returns:
        the opened :class:`BoxIndex`.
    """
    sources = [Path(p) for p in sources]
    if not sources:
        raise ValueError("no Something-Else box file given")
    for p in sources:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: Something-Else box file not found")
    index_path = Path(index_path)
    if not os.access(index_path.parent, os.W_OK):
        raise PermissionError(
            f"{index_path.parent}: missing or not writable, cannot hold the box index {index_path.name}; "
            "give a writable path (box_index=... in SomethingSomethingV2)"
        )
    tmp = index_path.with_name(f".{index_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    stats = dict.fromkeys(
        ("videos", "boxes", "inverted", "zero_area", "empty_videos", "duplicates"), 0
    )
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(
            "CREATE TABLE videos (id TEXT PRIMARY KEY, num_annotated INTEGER, frame BLOB,"
            " box BLOB, category BLOB, track BLOB)"
        )
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.executemany(
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, ?, ?)", _rows(sources, stats)
        )
        meta = {"format": _FORMAT, "sources": _signature(sources), "stats": json.dumps(stats)}
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        conn.commit()
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(tmp, index_path)
    return BoxIndex(index_path)


class BoxIndex:
    """Read-only access to a box index written by :func:`build_box_index`; a
    :class:`stgcn.data.box_source.BoxSource`.

    Args:
        path: the ``.sqlite`` index.
        fps: frame rate of the annotation (12 for Something-Else), used by :meth:`boxes` to
            put annotation frames on decoded frame times.

    The SQLite connection opens lazily in each process (fork- and pickle-safe), so a
    ``BoxIndex`` can be given to a ``Dataset`` used by DataLoader workers.
    """

    def __init__(self, path: str | Path, fps: float = 12.0) -> None:
        self.path = Path(path)
        self.fps = fps
        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: box index not found (build it with build_box_index)"
            )
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        fmt = self._meta("format")
        if fmt != _FORMAT:
            raise ValueError(f"{self.path}: not a box index of format {_FORMAT} (found {fmt!r})")

    @classmethod
    def open_or_build(
        cls, sources: Iterable[str | Path], index_path: str | Path, fps: float = 12.0
    ) -> BoxIndex:
        """Open ``index_path`` if it was built from exactly these files (same paths, sizes and
        modification times), else (re)build it."""
        sources = [Path(p) for p in sources]
        index_path = Path(index_path)
        if index_path.is_file() and all(p.is_file() for p in sources):
            try:
                index = cls(index_path, fps)
                if index._meta("sources") == _signature(sources):
                    return index
            except (ValueError, sqlite3.DatabaseError):
                pass  # stale or foreign file: rebuilt below
        index = build_box_index(sources, index_path)
        index.fps = fps
        return index

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._pid = os.getpid()
        return self._conn

    def _meta(self, key: str) -> str | None:
        try:
            row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path}: not a box index ({e})") from None
        return None if row is None else row[0]

    @property
    def stats(self) -> dict[str, int]:
        """Counts made at build time: videos, boxes, inverted, zero_area, empty_videos, duplicates."""
        return json.loads(self._meta("stats") or "{}")

    def get(self, video_id: str) -> VideoBoxes | None:
        """The boxes of ``video_id``, or None when the annotation has no entry for it."""
        row = (
            self._db()
            .execute(
                "SELECT num_annotated, frame, box, category, track FROM videos WHERE id = ?",
                (str(video_id),),
            )
            .fetchone()
        )
        if row is None:
            return None
        n, frame, box, category, track = row
        return VideoBoxes(
            n,
            np.frombuffer(frame, dtype=np.int16).astype(np.int64),
            np.frombuffer(box, dtype=np.float32).reshape(-1, 4).copy(),
            np.frombuffer(category, dtype=np.int8).astype(np.int64),
            np.frombuffer(track, dtype=np.int16).astype(np.int64),
        )

    def boxes(self, video_id: str, frames: Any, times: np.ndarray) -> FrameBoxes | None:
        """:class:`~stgcn.data.box_source.BoxSource`: the boxes of the annotation frame nearest
        each decoded frame time (``frames`` is not looked at: annotations are in the file's own
        pixels); None when the index has no entry for ``video_id``."""
        boxes = self.get(video_id)
        return None if boxes is None else clip_boxes(boxes, times, self.fps)

    def __contains__(self, video_id: object) -> bool:
        q = "SELECT 1 FROM videos WHERE id = ?"
        return self._db().execute(q, (str(video_id),)).fetchone() is not None

    def __len__(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM videos").fetchone()[0]

    def ids(self) -> list[str]:
        """All video ids in the index."""
        return [r[0] for r in self._db().execute("SELECT id FROM videos")]

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "fps": self.fps, "_conn": None, "_pid": -1}

    def __repr__(self) -> str:
        return f"BoxIndex({str(self.path)!r})"
