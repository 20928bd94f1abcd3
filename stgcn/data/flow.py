"""Dense optical flow of whole videos: computed once with OpenCV, stored as uint8, read back in pixels.

    python -m stgcn.data.flow INPUT... --out DIR [--method tvl1|farneback|dis] [--every N]
        [--size S] [--workers W] [--shard I/N] [--param NAME=VALUE ...]

**Methods** (OpenCV, the ``flow`` extra: ``opencv-contrib-python-headless``), on grey frames:

* ``tvl1``: TV-L1 (Zach, Pock & Bischof 2007), what TSN and I3D feed their flow streams
  (``cv2.optflow.DualTVL1OpticalFlow_create``). OpenCV's defaults (5 scales, 5 warps, 10 x 30
  iterations, median filter 5, stopping threshold ``epsilon`` 0.01) are slow on a CPU. Ours
  differ in two: ``nscales=3`` (the two coarsest of 5 scales, 0.41x and 0.51x, add little at
  the <= 256 px a clip is trained at) and ``epsilon=0.02`` (each warp stops iterating sooner).
  On a 112 x 112 textured square moving (6, 3) px a frame, both settings find the square's mean
  flow within 1.5 %, ours ~2.4x faster on one core; ``epsilon=0.05`` is faster again but 16 % off,
  and was rejected. Every parameter can be changed (``--param nscales=5``).
* ``farneback``: ``cv2.calcOpticalFlowFarneback`` (polynomial expansion, 3 levels, window 15).
* ``dis``: DIS (Kroeger et al. 2016), ``cv2.DISOpticalFlow_create`` at its ``MEDIUM`` preset.

Flow ``t`` is the flow from frame ``t`` to frame ``t + 1`` (x right, y down, in pixels of the
stored frames). ``--every N`` computes it for frames ``0, N, 2N, ...`` only (always between
consecutive frames, so the magnitudes do not depend on N). ``--size S`` scales every frame so
its short side is S before the flow is computed (TSN computes at 340 x 256); the flow is then in
pixels of those frames.

**Storage**, as TSN and mmaction2 do it: x and y clipped to ``[-bound, bound]`` (bound 20 px) and
mapped linearly onto ``0..255`` (``q = round((f + bound) * 255 / (2 bound))``); one compressed
``.npz`` per video (a single file renames atomically and costs one inode, where JPEG pairs cost
two files per frame), holding:

==============  ============================  ===============================================
key             type                          meaning
==============  ============================  ===============================================
``flow``        uint8 ``[K, 2, h, w]``        quantised (x, y) flow of K frames
``frames``      int64 ``[K]``                 the source frame ``t`` of each flow (t -> t+1)
``times``       float64 ``[n]``               presentation time of every decoded frame (s)
``num_frames``  int64 ``()``                  n, frames decoded from the video
``size``        int64 ``[2]``                 (H, W) of the video's frames
``bound``       float64 ``()``                the clipping bound, px
``method``      str ``()``                    ``tvl1``, ``farneback`` or ``dis``
``params``      str ``()``                    JSON of the method's parameters, ``every`` and
                                              ``size``
``version``     int64 ``()``                  format version (1)
==============  ============================  ===============================================

:func:`read_flow` opens a file (:class:`FlowFile`); :meth:`FlowFile.at` gives the float flow
of any frames, dequantised (error at most half a step, ``bound / 255``).

**Output layout**: a video file ``a/b.webm`` given on the command line is written to
``DIR/b.npz``; a folder is searched recursively for videos, and ``folder/x/y.avi`` goes to
``DIR/x/y.npz`` (so SSv2's ``20bn-something-something-v2/`` gives ``DIR/<id>.npz`` and UCF101's
class folders are kept).

**Resume**: each video is written to a temporary name in its folder and renamed when complete, so
a file under its final name is always whole; a rerun skips those (after checking that they were
made with the same method and settings); a file cut short by a kill is only ever a hidden
``.<name>.npz.<pid>.tmp`` (removed unless the process was killed outright; never read; safe to
delete). Videos that
cannot be read (missing, corrupt, fewer than 2 frames) are skipped, counted by reason and listed
with their error in ``DIR/flow_report.json`` (a rerun tries them again). ``--shard I/N`` takes
every N-th video from the I-th (0-based) of the sorted list, for N machines or jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor


def _cv2() -> Any:
    """OpenCV, imported where flow is computed: reading stored flow needs only numpy."""
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "computing optical flow needs OpenCV: pip install 'stgcn[flow]' "
            "(opencv-contrib-python-headless)"
        ) from e
    return cv2


__all__ = [
    "BOUND",
    "DEFAULT_PARAMS",
    "METHODS",
    "FlowFile",
    "FlowFileError",
    "TooFewFramesError",
    "dequantize",
    "extract",
    "extract_video",
    "flow_estimator",
    "quantize",
    "read_flow",
    "video_flow",
    "write_flow",
]

Method = Literal["tvl1", "farneback", "dis"]
METHODS: tuple[str, ...] = ("tvl1", "farneback", "dis")
BOUND = 20.0
"""Flow is clipped to ``[-BOUND, BOUND]`` pixels before quantisation (TSN, mmaction2)."""
VIDEO_EXTS = (".webm", ".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")
REPORT = "flow_report.json"
_VERSION = 1

DEFAULT_PARAMS: dict[str, dict[str, float | int]] = {
    # OpenCV's own defaults except nscales (5 there) and epsilon (0.01); see the module docstring
    "tvl1": {
        "tau": 0.25,
        "lambda": 0.15,
        "theta": 0.3,
        "nscales": 3,
        "warps": 5,
        "epsilon": 0.02,
        "inner_iterations": 30,
        "outer_iterations": 10,
        "scale_step": 0.8,
        "gamma": 0.0,
        "median_filtering": 5,
    },
    "farneback": {
        "pyr_scale": 0.5,
        "levels": 3,
        "winsize": 15,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.2,
    },
    # preset 1 = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    "dis": {"preset": 1},
}
"""Parameters of each method; :func:`flow_estimator` takes any of them as keywords."""

_TVL1_SETTERS = {
    "tau": "setTau",
    "lambda": "setLambda",
    "theta": "setTheta",
    "nscales": "setScalesNumber",
    "warps": "setWarpingsNumber",
    "epsilon": "setEpsilon",
    "inner_iterations": "setInnerIterations",
    "outer_iterations": "setOuterIterations",
    "scale_step": "setScaleStep",
    "gamma": "setGamma",
    "median_filtering": "setMedianFiltering",
}


class FlowFileError(ValueError):
    """A flow file that cannot be read (not a flow ``.npz``, damaged, another version)."""


class TooFewFramesError(ValueError):
    """A video of fewer than 2 frames: it has no flow."""


def _params(method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unknown flow method {method!r}; expected one of {', '.join(METHODS)}")
    defaults = DEFAULT_PARAMS[method]
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown {method} parameter(s) {unknown}; expected some of {sorted(defaults)}"
        )
    # each value takes the type of its default (a CLI gives strings)
    return {k: type(v)(overrides.get(k, v)) for k, v in defaults.items()}


def flow_estimator(
    method: Method = "tvl1", **params: Any
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function ``(prev, next) -> flow`` for grey frames ``[H, W]`` uint8, giving ``[H, W, 2]``
    float32 (x, y) in pixels: where each pixel of ``prev`` moves to in ``next``.

    ``params`` override :data:`DEFAULT_PARAMS` of ``method``; an unknown name is a ValueError.
    """
    p = _params(method, params)
    cv2 = _cv2()
    if method == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        for name, setter in _TVL1_SETTERS.items():
            getattr(tvl1, setter)(p[name])
        return lambda a, b: tvl1.calc(a, b, None)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(p["preset"])
        return lambda a, b: dis.calc(a, b, None)
    return lambda a, b: cv2.calcOpticalFlowFarneback(
        a,
        b,
        None,
        p["pyr_scale"],
        p["levels"],
        p["winsize"],
        p["iterations"],
        p["poly_n"],
        p["poly_sigma"],
        0,
    )


def _short_side(height: int, width: int, size: int) -> tuple[int, int]:
    if height <= width:
        return size, max(1, round(width * size / height))
    return max(1, round(height * size / width)), size


def video_flow(
    frames: np.ndarray | Tensor,
    method: Method = "tvl1",
    every: int = 1,
    size: int | None = None,
    **params: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Flow of a decoded video.

    Args:
        frames: ``[n, H, W, 3]`` uint8 RGB (or ``[n, H, W]`` grey), n >= 2.
        method: ``"tvl1"``, ``"farneback"`` or ``"dis"``.
        every: compute the flow of frames ``0, every, 2 every, ...`` (each to its next frame).
        size: scale frames so their short side is ``size`` first (None: as they are).
        params: method parameters (:data:`DEFAULT_PARAMS`).

    Returns:
        flow ``[K, 2, h, w]`` float32 (x, y) in pixels of the (scaled) frames, and the source frame
        of each flow ``[K]`` int64 (``K = ceil((n - 1) / every)``).
    """
    frames = frames.numpy() if isinstance(frames, Tensor) else np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(
            f"expected frames [n, H, W, 3] or [n, H, W] uint8, got {frames.shape} {frames.dtype}"
        )
    if len(frames) < 2:
        raise ValueError(f"optical flow needs at least 2 frames, got {len(frames)}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    estimate = flow_estimator(method, **params)
    cv2 = _cv2()
    h, w = frames.shape[1:3]
    hw = _short_side(h, w, size) if size is not None else (h, w)

    def grey(k: int) -> np.ndarray:
        f = frames[k]
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 else f
        # INTER_AREA: the anti-aliased choice for shrinking, as torchvision's antialias resize
        return g if hw == (h, w) else cv2.resize(g, hw[::-1], interpolation=cv2.INTER_AREA)

    sources = np.arange(0, len(frames) - 1, every, dtype=np.int64)
    flow = np.stack([estimate(grey(t), grey(t + 1)) for t in sources.tolist()])
    return np.ascontiguousarray(flow.transpose(0, 3, 1, 2), dtype=np.float32), sources


def quantize(flow: np.ndarray | Tensor, bound: float = BOUND) -> np.ndarray:
    """Clip to ``[-bound, bound]`` and map linearly onto ``0..255`` (any shape; uint8 out).
    ``0`` flow is stored as 128 (127.5 rounded half to even)."""
    f = flow.numpy() if isinstance(flow, Tensor) else np.asarray(flow, dtype=np.float32)
    q = (np.clip(f, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.rint(q).astype(np.uint8)


def dequantize(q: np.ndarray | Tensor, bound: float = BOUND) -> Tensor:
    """Undo :func:`quantize`: uint8 (any shape) to float32 pixels, within ``bound / 255`` (half a
    step) of the clipped flow."""
    t = torch.as_tensor(np.asarray(q)) if not isinstance(q, Tensor) else q
    return t.float() * (2 * bound / 255.0) - bound


@dataclass
class FlowFile:
    """One video's stored flow (the ``.npz`` of the module docstring), quantised.

    Attributes:
        flow: ``[K, 2, h, w]`` uint8.
        frames: ``[K]`` int64, source frame of each flow, increasing.
        times: ``[n]`` float64 time of every decoded frame.
        num_frames: n.
        size: ``(H, W)`` of the video's frames.
        bound: clipping bound (px of the stored ``h x w``).
        method: ``"tvl1"``, ``"farneback"`` or ``"dis"``.
        params: the method's parameters, ``every`` and ``size``.
        path: where it was read from.
    """

    flow: np.ndarray
    frames: np.ndarray
    times: np.ndarray
    num_frames: int
    size: tuple[int, int]
    bound: float
    method: str
    params: dict[str, Any]
    path: Path | None = None

    def index(self, frames: np.ndarray | Sequence[int]) -> np.ndarray:
        """For each video frame ``t``, the row of the stored flow that serves it: the last stored
        source frame ``<= t`` (flow ``t -> t + 1`` itself with ``every=1``; the last frame, which
        has no successor, gets the flow of the frame before it). ``[T]`` int64."""
        t = np.asarray(frames, dtype=np.int64)
        return np.clip(np.searchsorted(self.frames, t, side="right") - 1, 0, len(self.frames) - 1)

    def at(
        self,
        frames: np.ndarray | Sequence[int],
        length: int = 1,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        """Float flow of video frames ``frames`` (``[T]``), in pixels.

        Args:
            frames: video frame indices (any order, repeats allowed).
            length: L, stacked flows per frame (TSN's temporal stream): frames ``t .. t + L - 1``
                (clamped to the video), as channels ``x_t, y_t, x_{t+1}, y_{t+1}, ...``.
            size: ``(H, W)`` to resize the flow fields to (bilinear); their values are scaled by
                the same factors, so the flow stays in pixels of the output. None: as stored.

        Returns:
            ``[T, 2L, h, w]`` float32 (``h, w`` = ``size`` when given).
        """
        t = np.asarray(frames, dtype=np.int64).reshape(-1, 1) + np.arange(length)
        t = np.minimum(t, self.num_frames - 1)
        rows = self.index(t.reshape(-1))
        flow = dequantize(self.flow[rows], self.bound)  # [T * L, 2, h, w]
        if size is not None and tuple(size) != flow.shape[-2:]:
            h, w = flow.shape[-2:]
            flow = torch.nn.functional.interpolate(
                flow, size=tuple(size), mode="bilinear", align_corners=False, antialias=True
            )
            scale = torch.tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)
            flow = flow * scale
        return flow.reshape(len(t), 2 * length, *flow.shape[-2:])

    def __repr__(self) -> str:
        k, _, h, w = self.flow.shape
        return (
            f"FlowFile({self.method}, {k} flows of {h}x{w} for {self.num_frames} frames of "
            f"{self.size[0]}x{self.size[1]}, bound={self.bound})"
        )


def read_flow(path: str | Path) -> FlowFile:
    """Open a flow ``.npz`` (quantised; :meth:`FlowFile.at` dequantises). A missing file is a
    FileNotFoundError, any other unreadable one a :class:`FlowFileError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: flow file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["version"])
            if version != _VERSION:
                raise FlowFileError(f"{path}: flow format version {version}, expected {_VERSION}")
            return FlowFile(
                flow=z["flow"],
                frames=z["frames"],
                times=z["times"],
                num_frames=int(z["num_frames"]),
                size=tuple(int(s) for s in z["size"]),  # type: ignore[arg-type]
                bound=float(z["bound"]),
                method=str(z["method"]),
                params=json.loads(str(z["params"])),
                path=path,
            )
    except FlowFileError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as e:  # zipfile.BadZipFile is an OSError
        raise FlowFileError(f"{path}: not a readable flow file: {type(e).__name__}: {e}") from e


def _settings(method: str, every: int, size: int | None, params: dict[str, Any]) -> dict[str, Any]:
    return {"method": method, "every": every, "size": size, **_params(method, params)}


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def extract_video(
    video: str | Path,
    out: str | Path,
    method: Method = "tvl1",
    every: int = 1,
    size: int | None = None,
    bound: float = BOUND,
    **params: Any,
) -> FlowFile:
    """Decode ``video`` (PyAV, every frame), compute its flow (:func:`video_flow`) and write it to
    ``out`` atomically (temporary name, fsync, rename). Returns the file's content.

    Raises FileNotFoundError (missing video), :class:`stgcn.data.video.VideoDecodeError`
    (unreadable), :class:`TooFewFramesError` (fewer than 2 frames).
    """
    from stgcn.data.video import VideoReader

    out = Path(out)
    with VideoReader(video, threads=1) as r:
        n = r.count_frames()
        frames, times = r.read(np.arange(n))
    if n < 2:
        raise TooFewFramesError(f"{video}: {n} frame, optical flow needs at least 2")
    flow, sources = video_flow(frames, method, every, size, **params)
    ff = FlowFile(
        flow=quantize(flow, bound),
        frames=sources,
        times=times,
        num_frames=n,
        size=(int(frames.shape[1]), int(frames.shape[2])),
        bound=float(bound),
        method=method,
        params=_settings(method, every, size, params),
        path=out,
    )
    write_flow(out, ff)
    return ff


def write_flow(path: str | Path, ff: FlowFile) -> None:
    """Write ``ff`` (quantised: ``ff.flow`` uint8 ``[K, 2, h, w]``) to ``path`` in the format of
    the module docstring, atomically (temporary name, fsync, rename); folders are created."""
    path = Path(path)
    if ff.flow.dtype != np.uint8 or ff.flow.ndim != 4 or ff.flow.shape[1] != 2:
        raise ValueError(
            f"expected quantised flow [K, 2, h, w] uint8, got {ff.flow.shape} {ff.flow.dtype}"
        )
    if len(ff.frames) != len(ff.flow) or np.any(np.diff(ff.frames) <= 0):
        raise ValueError(f"{path}: frames must be increasing, one per flow; got {ff.frames}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(
        path,
        {
            "flow": ff.flow,
            "frames": np.asarray(ff.frames, dtype=np.int64),
            "times": np.asarray(ff.times, dtype=np.float64),
            "num_frames": np.int64(ff.num_frames),
            "size": np.asarray(ff.size, dtype=np.int64),
            "bound": np.float64(ff.bound),
            "method": np.str_(ff.method),
            "params": np.str_(json.dumps(ff.params, sort_keys=True)),
            "version": np.int64(_VERSION),
        },
    )


def find_videos(inputs: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """``(video, output name relative to DIR)`` for each input file, and for each video (by
    extension, :data:`VIDEO_EXTS`) under each input folder, sorted by output name. Two videos
    with the same output name are a ValueError naming both; a missing input a FileNotFoundError."""
    found: dict[Path, Path] = {}
    for inp in map(Path, inputs):
        if inp.is_dir():
            pairs = [
                (p, p.relative_to(inp).with_suffix(".npz"))
                for p in sorted(inp.rglob("*"))
                if p.suffix.lower() in VIDEO_EXTS and p.is_file()
            ]
        elif inp.exists() or inp.suffix.lower() in VIDEO_EXTS:
            pairs = [(inp, Path(inp.name).with_suffix(".npz"))]  # a missing file is counted later
        else:
            raise FileNotFoundError(f"{inp}: no such video file or folder")
        for video, name in pairs:
            if name in found and found[name] != video:
                raise ValueError(f"{found[name]} and {video} would both be written to {name}")
            found[name] = video
    return sorted(((v, n) for n, v in found.items()), key=lambda vn: str(vn[1]))


def _job(job: tuple[str, str, str, int, int | None, float, dict[str, Any]]) -> dict[str, Any]:
    video, out, method, every, size, bound, params = job
    from stgcn.data.video import VideoDecodeError

    start = time.perf_counter()
    try:
        ff = extract_video(video, out, method, every, size, bound, **params)  # type: ignore[arg-type]
    except FileNotFoundError as e:
        return {"video": video, "status": "missing_video", "message": str(e)}
    except VideoDecodeError as e:
        return {"video": video, "status": "decode_error", "message": str(e)}
    except TooFewFramesError as e:
        return {"video": video, "status": "too_short", "message": str(e)}
    return {
        "video": video,
        "status": "ok",
        "flows": len(ff.frames),
        "seconds": time.perf_counter() - start,
    }


def _init_worker() -> None:
    _cv2().setNumThreads(1)  # one process per core: OpenCV's own threads would oversubscribe them


def _results(jobs: list[tuple], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(jobs) <= 1:  # no pool (its fork server takes seconds) for a rerun
        yield from map(_job, jobs)
        return
    # not fork: a child forked from a process whose OpenCV (or torch) thread pool has run can
    # deadlock on the pool's locks at its first call. A fork server imports this module once and
    # forks the workers from that clean process (spawn would import torch again in every worker).
    if "forkserver" in get_all_start_methods():
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["stgcn.data.flow"])
    else:  # pragma: no cover - Windows
        ctx = get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_job, jobs)


def _check_existing(path: Path, settings: dict[str, Any], bound: float) -> None:
    """A finished file of an earlier run must have this run's settings (only its small entries
    are read: the flow itself is not decompressed)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            made = json.loads(str(z["params"])), float(z["bound"])
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise FlowFileError(f"{path}: not a readable flow file: {type(e).__name__}: {e}") from e
    if made != (settings, bound):
        raise ValueError(
            f"{path} was made with {made[0]} (bound {made[1]}), not {settings} "
            f"(bound {bound}): use another --out, or delete the old files"
        )


def extract(
    inputs: Sequence[str | Path],
    out: str | Path,
    method: Method = "tvl1",
    every: int = 1,
    size: int | None = None,
    workers: int = 0,
    shard: tuple[int, int] = (0, 1),
    bound: float = BOUND,
    progress: bool = True,
    **params: Any,
) -> dict[str, Any]:
    """Extract the flow of every video in ``inputs`` (files or folders) to ``out`` (layout,
    resume and skipping in the module docstring) and write ``out/flow_report.json``.

    Args:
        workers: processes (0 or 1: this one).
        shard: ``(i, n)``: only the videos at positions ``i, i + n, ...`` of the sorted list.

    Returns:
        the report: ``{"settings", "videos" (of this shard), "done" (written now), "existing"
        (already there), "skipped": {reason: count}, "errors": {video: message},
        "flows_per_s" (of the videos written now, per worker)}``.
    """
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: expected 0 <= I < N")
    out = Path(out)
    settings = _settings(method, every, size, params)
    videos = find_videos(inputs)[i::n]
    todo = []
    for video, name in videos:
        target = out / name
        if target.is_file():
            _check_existing(target, settings, bound)
        else:
            todo.append((str(video), str(target), method, every, size, float(bound), params))
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=len(videos),
                initial=len(videos) - len(todo),
                unit="video",
                desc=f"flow {method}",
                file=sys.stderr,
            )
        except ImportError:  # tqdm is in the "train" extra; without it, no bar
            pass
    skipped: Counter[str] = Counter()
    errors: dict[str, str] = {}
    flows, seconds = 0, 0.0
    for r in _results(todo, workers):
        if r["status"] == "ok":
            flows, seconds = flows + r["flows"], seconds + r["seconds"]
        else:
            skipped[r["status"]] += 1
            errors[r["video"]] = r["message"]
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    report = {
        "settings": {**settings, "bound": bound, "shard": f"{i}/{n}"},
        "videos": len(videos),
        "done": len(todo) - sum(skipped.values()),
        "existing": len(videos) - len(todo),
        "skipped": dict(sorted(skipped.items())),
        "errors": dict(sorted(errors.items())),
        "flows_per_s": flows / seconds if seconds else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    name = REPORT if n == 1 else f"flow_report.shard{i}of{n}.json"
    tmp = out / f".{name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, out / name)
    return report


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 0/4), got {text!r}") from None
    return i, n


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line; see the module docstring. Returns the report."""
    p = argparse.ArgumentParser(
        prog="python -m stgcn.data.flow", description=__doc__.splitlines()[0]
    )
    p.add_argument("inputs", nargs="+", help="video files or folders (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--method", choices=METHODS, default="tvl1")
    p.add_argument("--every", type=int, default=1, help="flow of every N-th frame (default 1)")
    p.add_argument("--size", type=int, help="short side of the frames the flow is computed on")
    p.add_argument("--workers", type=int, default=0, help="processes (0: this one)")
    p.add_argument("--shard", type=_shard, default=(0, 1), help="I/N: this job's share")
    p.add_argument("--bound", type=float, default=BOUND, help="clipping bound, px (default 20)")
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method parameter (stgcn.data.flow.DEFAULT_PARAMS), repeatable",
    )
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    report = extract(
        a.inputs,
        a.out,
        a.method,
        a.every,
        a.size,
        a.workers,
        a.shard,
        a.bound,
        progress=not a.no_progress,
        **dict(a.param),
    )
    print(
        f"{report['videos']} videos: {report['done']} written, {report['existing']} already there, "
        f"{sum(report['skipped'].values())} skipped {report['skipped']}"
    )
    for video, message in report["errors"].items():
        print(f"  {video}: {message}")
    return report


if __name__ == "__main__":
    main()
