"""The dataset writer: :func:`generate` renders and encodes every video (in worker processes),
streams the box files out in id order, writes the label files, the README and the manifest, and
reuses a complete set made by the same generator with the same parameters.

What a set must be regenerated for: the manifest records ``GENERATOR_VERSION``, the parameters and
``GENERATOR_SOURCE``, a SHA-256 over only what decides the pixels and boxes:

- the code of the modules in ``HASHED_MODULES``: :mod:`.scene`, :mod:`.motion`, :mod:`.render`
  (what is drawn), :mod:`.webm` (how it is encoded) and :mod:`.layout` (ids, splits, classes,
  lengths, box and label entries, file names). Their code only: the syntax tree without docstrings,
  printed back by ``ast.unparse``, so comments, docstrings and formatting do not count (the printed
  form may change with the Python version: a new Python regenerates once);
- the class catalogue as the values that reach the files (template, group, partner, placeholder
  count, label index, reversal sources), not as source text, so a class's ``rendering`` prose
  can change.

Not hashed: this module (I/O, caching, worker pool), the CLI, the README template and the catalogue's
prose. An edit there leaves a cached set valid (its README keeps the old prose). A change of how this
module lays files out (JSON indentation, say) must bump ``GENERATOR_VERSION``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import multiprocessing
import os
import shutil
import string
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from stgcn.data.synthetic.classes import CLASSES, SyntheticClass, label_index, reversal_sources
from stgcn.data.synthetic.layout import (
    BOX_FILES,
    LABELS_DIR,
    MANIFEST,
    SPLITS,
    VIDEOS_DIR,
    box_parts,
    frame_entries,
    label_entry,
    video_specs,
)
from stgcn.data.synthetic.render import VideoSpec, render_video
from stgcn.data.synthetic.webm import FPS, encode_webm

__all__ = ["GENERATOR_SOURCE", "GENERATOR_VERSION", "HASHED_MODULES", "generate", "source_digest"]

GENERATOR_VERSION = "1.0"
HASHED_MODULES = ("scene.py", "motion.py", "render.py", "webm.py", "layout.py")
README_TEMPLATE = "README.template.md"


def source_digest(
    folder: str | os.PathLike | None = None, classes: Sequence[SyntheticClass] = CLASSES
) -> str:
    """SHA-256 (hex) of what decides the pixels and boxes of a set: the ``HASHED_MODULES`` source
    files in ``folder`` (default: this package) and the catalogue values of ``classes``.

    A version string alone let a set rendered by an earlier revision of the same version pass as
    current (it happened during development); hashing the whole generator made every edit of its
    prose regenerate every cached set.
    """
    folder = Path(__file__).parent if folder is None else Path(folder)
    h = hashlib.sha256()
    for name in HASHED_MODULES:
        code = _code_of((folder / name).read_text(encoding="utf-8")).encode()
        h.update(f"{name}\0{len(code)}\0".encode())
        h.update(code)
    catalogue = {
        "classes": [[c.template, c.group, c.partner, c.num_placeholders] for c in classes],
        "labels": label_index(classes),
        "reversed": reversal_sources(classes),
    }
    h.update(json.dumps(catalogue, sort_keys=True).encode())
    return h.hexdigest()


def _code_of(source: str) -> str:
    """A module's code without comments, docstrings or layout: its syntax tree, printed back."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _installed_digest() -> str:
    try:
        return source_digest()
    except OSError:  # no source files (frozen install): fall back to the version alone
        return GENERATOR_VERSION


GENERATOR_SOURCE = _installed_digest()


def _make_one(args: tuple[VideoSpec, tuple[int, int], int, str]) -> tuple[str, list, list, int]:
    spec, size, seed, video_dir = args
    video = render_video(spec, size, seed)
    data = encode_webm(video.frames)
    path = Path(video_dir) / f"{spec.video_id}.webm"
    tmp = path.with_suffix(".webm.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return spec.video_id, frame_entries(video, spec.video_id), video.placeholders, len(data)


@contextmanager
def _results(jobs: list, workers: int) -> Iterator[Iterator[tuple[str, list, list, int]]]:
    """Results of ``_make_one`` over ``jobs``, in order, from this process or a worker pool."""
    if workers <= 1 or len(jobs) < 4 * workers:
        yield map(_make_one, jobs)
        return
    # fork where the platform has it: workers need no re-import of the caller's __main__
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool.map(_make_one, jobs, chunksize=8)


def _tmp(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(path.name + ".tmp")


def _write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=indent) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _readme(
    params: dict[str, Any], counts: dict[str, dict[str, int]], labels: dict[str, str]
) -> str:
    """The README.md of a set: ``README.template.md`` with its ``$fields`` filled in."""
    rows = "\n".join(
        f"| {labels[c.name]} | {c.template} | {c.group} | {c.partner or ''} | "
        f"{counts['train'].get(c.template, 0)}/{counts['validation'].get(c.template, 0)}/"
        f"{counts['test'].get(c.template, 0)} | {c.rendering} |"
        for c in sorted(CLASSES, key=lambda c: int(labels[c.name]))
    )
    fields = {
        "GENERATOR_VERSION": GENERATOR_VERSION,
        "FPS": FPS,
        "MANIFEST": MANIFEST,
        "rows": rows,
    }
    fields.update(seed=params["seed"], num_videos=params["num_videos"])
    fields.update(size="{}x{}".format(*params["size"]), frames="{}-{}".format(*params["frames"]))
    fields["splits"] = tuple(params["splits"])
    template = resources.files(__package__).joinpath(README_TEMPLATE).read_text(encoding="utf-8")
    return string.Template(template).substitute(fields)


def _same_dataset(out: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of a complete dataset in ``out`` made with ``params``, else None."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if not manifest.get("complete") or manifest.get("generator_version") != GENERATOR_VERSION:
        return None
    if manifest.get("generator_source") != GENERATOR_SOURCE:
        return None
    if manifest.get("params") != params:
        return None
    for rel, nbytes in manifest["files"].items():
        f = out / rel
        if not f.is_file() or f.stat().st_size != nbytes:
            return None
    return manifest


LOCK = ".synthetic.lock"
"""A file in the output folder that :func:`generate` locks: two processes generating the same folder
(e.g. two benchmarks started at once) take turns, and the second reuses what the first wrote."""


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (``fcntl.flock``; where there is no fcntl, no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(out / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _clear(out: Path) -> None:
    """Remove what a previous (possibly partial) run of the generator left in ``out``."""
    ours = [LABELS_DIR, VIDEOS_DIR, *BOX_FILES, "README.md", MANIFEST, ".synthetic-in-progress"]
    ours += [_tmp(Path(name)).name for name in (*BOX_FILES, MANIFEST)]
    # files a reader derived from the boxes (e.g. an index) may stay: readers check their sources
    foreign = [
        p.name
        for p in out.iterdir()
        if p.name not in (*ours, LOCK) and not p.name.startswith("bounding_box_smthsmth")
    ]
    marked = (out / MANIFEST).exists() or (out / ".synthetic-in-progress").exists()
    if not marked or foreign:
        raise FileExistsError(
            f"{out} is not empty and does not hold a dataset of this generator "
            f"(found {sorted(p.name for p in out.iterdir())[:5]}); choose an empty folder"
        )
    for name in ours:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def generate(
    out_dir: str | os.PathLike,
    num_videos: int,
    seed: int = 0,
    size: tuple[int, int] = (96, 128),
    frames: tuple[int, int] = (24, 60),
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    workers: int | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Write a synthetic SSv2 + Something-Else dataset of ``num_videos`` videos to ``out_dir``.

    Args:
        out_dir: target folder; created if missing. If it already holds a complete dataset made
            with the same parameters and generator version, that dataset is reused as is. A folder
            left by an interrupted run is cleared and regenerated; any other non-empty folder is an
            error.
        num_videos: total number of videos over the three splits.
        seed: the random seed; same seed and parameters give the same bytes in every file.
        size: (height, width) of the frames, both even.
        frames: (min, max) number of frames, drawn uniformly per video.
        splits: fractions (train, validation, test); the test split gets the remainder.
        workers: processes rendering and encoding in parallel (None: one per available CPU, at most
            8; 0 or 1: in this process). The output does not depend on it.
        verbose: print progress.

    Returns:
        The manifest (also written to ``out_dir/synthetic_manifest.json``, last): generator
        version, parameters, class table, counts per split and class, test-split classes and file
        sizes. The returned dict adds ``workers``, ``seconds`` and ``videos_per_s`` of this run
        (absent when an existing dataset was reused: then ``reused`` is True).
    """
    height, width = int(size[0]), int(size[1])
    if height % 2 or width % 2 or height < 32 or width < 32:
        raise ValueError(f"size must be even and at least 32x32, got {size}")
    if not (8 <= frames[0] <= frames[1]):
        raise ValueError(f"frames must be (min, max) with 8 <= min <= max, got {frames}")
    if len(splits) != 3 or min(splits) < 0 or abs(sum(splits) - 1) > 1e-6:
        raise ValueError(f"splits must be three non-negative fractions summing to 1, got {splits}")
    if num_videos < 1:
        raise ValueError(f"num_videos must be positive, got {num_videos}")
    params = {
        "num_videos": int(num_videos),
        "seed": int(seed),
        "size": [height, width],
        "frames": [int(frames[0]), int(frames[1])],
        "splits": [float(s) for s in splits],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        return _generate(out, params, workers, verbose)


def _generate(
    out: Path, params: dict[str, Any], workers: int | None, verbose: bool
) -> dict[str, Any]:
    """:func:`generate`'s work, with ``out`` locked (a dataset there is reused or replaced)."""
    num_videos, seed = params["num_videos"], params["seed"]
    height, width = params["size"]
    frames, splits = params["frames"], tuple(params["splits"])
    reused = _same_dataset(out, params)
    if reused is not None:
        reused["reused"] = True
        return reused
    if any(p.name != LOCK for p in out.iterdir()):
        _clear(out)
    (out / ".synthetic-in-progress").write_text("generation started\n", encoding="utf-8")
    (out / LABELS_DIR).mkdir()
    (out / VIDEOS_DIR).mkdir()

    specs = video_specs(num_videos, seed, (int(frames[0]), int(frames[1])), splits)
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        workers = min(cpus or 1, 8)
    jobs = [(s, (height, width), int(seed), str(out / VIDEOS_DIR)) for s in specs]
    labels = label_index()
    entries: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    files: dict[str, int] = {}
    # results arrive in id order and are streamed out: the parent never holds all box entries
    part_of = box_parts(num_videos)
    written = [0, 0, 0, 0]
    start = time.perf_counter()
    with ExitStack() as stack:
        parts = [stack.enter_context(_tmp(out / name).open("w")) for name in BOX_FILES]
        results = stack.enter_context(_results(jobs, workers))
        for spec, (vid, boxes, placeholders, nbytes) in zip(specs, results, strict=True):
            k = part_of[spec.index]
            parts[k].write(", " if written[k] else "{")
            parts[k].write(f"{json.dumps(vid)}: {json.dumps(boxes)}")
            written[k] += 1
            item = label_entry(spec, placeholders) if spec.split != "test" else {"id": vid}
            entries[spec.split].append(item)
            counts[spec.split][spec.template] = counts[spec.split].get(spec.template, 0) + 1
            files[f"{VIDEOS_DIR}/{vid}.webm"] = nbytes
        for k, f in enumerate(parts):
            f.write(("}" if written[k] else "{}") + "\n")
    elapsed = time.perf_counter() - start
    for name in BOX_FILES:
        os.replace(_tmp(out / name), out / name)
        files[name] = (out / name).stat().st_size
    test_labels = {s.video_id: s.template for s in specs if s.split == "test"}

    _write_json(out / LABELS_DIR / "something-something-v2-labels.json", labels, indent=4)
    for name in ["labels", *SPLITS]:
        rel = f"{LABELS_DIR}/something-something-v2-{name}.json"
        if name != "labels":
            _write_json(out / rel, entries[name])
        files[rel] = (out / rel).stat().st_size
    (out / "README.md").write_text(_readme(params, counts, labels), encoding="utf-8")
    files["README.md"] = (out / "README.md").stat().st_size

    import av

    manifest = {
        "complete": True,
        "generator_version": GENERATOR_VERSION,
        "generator_source": GENERATOR_SOURCE,
        "params": params,
        "classes": [
            {
                "template": c.template,
                "index": int(labels[c.name]),
                "group": c.group,
                "partner": c.partner,
            }
            for c in CLASSES
        ],
        "counts": counts,
        "test_labels": test_labels,
        "files": files,
        "software": {"av": av.__version__, "numpy": np.__version__},
    }
    _write_json(out / MANIFEST, manifest, indent=1)  # last: marks the dataset complete
    (out / ".synthetic-in-progress").unlink()
    # timings are returned, not written, so that every file is reproducible byte for byte
    manifest.update(
        workers=int(workers),
        seconds=round(elapsed, 3),
        videos_per_s=round(num_videos / max(elapsed, 1e-9), 2),
    )
    if verbose:
        print(
            f"wrote {num_videos} videos to {out} in {elapsed:.1f} s "
            f"({manifest['videos_per_s']} videos/s, {workers} workers)"
        )
    return manifest
