"""Throughput of the video backbones (I3D / C2D / NL-I3D, R18 and R50) on this machine.

For each variant: forward and forward+backward clips/s at a CPU-sized config, and forward-only at
the paper's config (one clip of 32x224x224, res5 stride 1 as in STRG). FLOPs per clip are counted
with ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (FLOPs = 2 x MACs; the
backward is counted the same way), and the achieved GFLOP/s is given as a fraction of this machine's
measured fp32 peak: the best of a large matmul and a large 3x3 oneDNN convolution, both timed in the
same run with the same thread count (on some CPUs oneDNN's convolutions run well above the BLAS
matmul, so a matmul alone would understate the peak and give fractions above 100%). Each variant runs in both memory
formats (contiguous NCDHW and ``channels_last_3d``) unless ``--memory-format`` picks one. The
channels_last_3d rows build the backbone with ``channels_last=True`` (what ``build_model`` does by
default) and feed it the contiguous clip a data loader gives, so the clip's conversion inside
``forward`` is timed too; the contiguous rows build it with ``channels_last=False``.

    python benchmarks/backbone.py                      # full table (minutes on a laptop CPU)
    python benchmarks/backbone.py --profile --json backbone.json
    python benchmarks/backbone.py --quick              # tiny widths/sizes: checks the script runs
    python benchmarks/backbone.py --sizes              # Table-4 models: parameters and GMACs only

``--sizes`` prints, instead of timings, the parameters and GMACs of ``build_model``'s Table-4 models
(174 classes, R50) at the paper's 32x224^2 with ``--boxes-per-frame`` boxes on every input frame
(50: the paper's proposal count), counted by ``FlopCounterMode`` in eval mode on the CPU (the region
graph needs real box values, so not on the meta device). These figures are deterministic.

Only the model call is timed (and ``loss.backward()`` for forward+backward); clips are random.
Forward runs in eval mode under ``torch.inference_mode``; forward+backward in train mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from _machine import cpu_name
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import FlopCounterMode

from stgcn.models import resnet3d as r3d
from stgcn.models.complexity import count_parameters
from stgcn.models.resnet3d import ResNet3D

VARIANTS: dict[str, Callable[..., ResNet3D]] = {
    "c2d_r18": r3d.c2d_r18,
    "i3d_r18": r3d.i3d_r18,
    "i3d_nl_r18": r3d.i3d_nl_r18,
    "c2d_r50": r3d.c2d_r50,
    "i3d_r50": r3d.i3d_r50,
    "i3d_nl_r50": r3d.i3d_nl_r50,
}
PAPER_VARIANTS = ("c2d_r50", "i3d_r50", "i3d_nl_r50")
FORMATS = {"contiguous": torch.contiguous_format, "channels_last_3d": torch.channels_last_3d}


@dataclass(frozen=True)
class Config:
    """One input size: ``batch`` clips of ``frames`` x ``size`` x ``size``, backbone ``width``."""

    name: str
    batch: int
    frames: int
    size: int
    width: int = 64
    res5_stride: int = 1

    def clip_shape(self) -> tuple[int, int, int, int, int]:
        return (self.batch, 3, self.frames, self.size, self.size)


CPU = Config("cpu", batch=2, frames=8, size=112)
PAPER = Config("paper", batch=1, frames=32, size=224)
QUICK_CPU = Config("cpu-quick", batch=2, frames=4, size=32, width=8)
QUICK_PAPER = Config("paper-quick", batch=1, frames=8, size=64, width=8)


@dataclass
class Row:
    variant: str
    config: str
    clip: str
    memory_format: str
    mode: str
    params_m: float
    gflop_per_clip: float
    seconds_per_iter: float
    clips_per_s: float
    gflop_per_s: float
    fraction_of_peak: float


def build(
    variant: str, cfg: Config, num_classes: int = 400, channels_last: bool = False
) -> ResNet3D:
    return VARIANTS[variant](
        num_classes=num_classes,
        width=cfg.width,
        res5_stride=cfg.res5_stride,
        channels_last=channels_last,
    )


TABLE4 = ("i3d", "i3d_nl", "i3d_roi", "i3d_gcn", "i3d_nl_gcn")


def model_sizes(cfg: Config, boxes_per_frame: int, num_classes: int = 174) -> list[dict]:
    """Parameters and GMACs of one clip for each ``build_model`` Table-4 model (R50 at ``cfg``),
    the graph models with ``boxes_per_frame`` random boxes on each of the ``cfg.frames`` frames."""
    from torch_geometric.data import Batch

    from stgcn.graphs import VideoGraph
    from stgcn.models import build_model

    g = torch.Generator().manual_seed(0)
    n = cfg.frames * boxes_per_frame
    corner = torch.rand(n, 2, generator=g) * cfg.size * 0.6
    extent = cfg.size * (0.1 + 0.2 * torch.rand(n, 2, generator=g))
    graph = Batch.from_data_list(
        [
            VideoGraph(
                box=torch.cat([corner, corner + extent], 1),
                frame=torch.arange(cfg.frames).repeat_interleave(boxes_per_frame),
                num_frames=cfg.frames,
            )
        ]
    )
    clip = torch.randn(1, 3, cfg.frames, cfg.size, cfg.size, generator=g)
    rows = []
    for name in TABLE4:
        torch.manual_seed(0)
        model = build_model(
            name, num_classes, depth="r50", width=cfg.width, frames=cfg.frames
        ).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(clip, graph if model.takes_graph else None)
        rows.append(
            {
                "model": name,
                "params": count_parameters(model),
                "gmacs": counter.get_total_flops() / 2e9,
            }
        )
    return rows


def count_flops(variant: str, cfg: Config, backward: bool) -> int:
    """FLOPs of one iteration on ``cfg.batch`` clips, counted on the meta device."""
    with torch.device("meta"):
        model = build(variant, cfg)
        model.train(backward)
        clip = torch.empty(cfg.clip_shape())
        with FlopCounterMode(display=False) as counter:
            out = model(clip)
            if backward:
                out.sum().backward()
    return counter.get_total_flops()


def _best_gflops(fn: Callable[[], object], flop: float, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def matmul_peak(n: int, repeats: int) -> float:
    """Best fp32 GFLOP/s of an n x n @ n x n matmul over ``repeats`` calls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return _best_gflops(lambda: a @ b, 2 * n**3, repeats)


def conv_peak(repeats: int, quick: bool = False) -> float:
    """Best fp32 GFLOP/s of a 3x3 convolution, 256 -> 256 channels on 8 x 56 x 56 (oneDNN)."""
    n, c, hw = (1, 64, 28) if quick else (8, 256, 56)
    x, w = torch.randn(n, c, hw, hw), torch.randn(c, c, 3, 3)
    with torch.inference_mode():
        return _best_gflops(lambda: F.conv2d(x, w, padding=1), 2 * n * c * c * 9 * hw * hw, repeats)


def time_iterations(step: Callable[[], None], warmup: int, repeats: int) -> float:
    """Median seconds of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fuse_conv_bn(model: ResNet3D) -> ResNet3D:
    """Fold every eval-mode BatchNorm3d into the conv before it (inference only), in place."""
    model.eval()
    pairs = [(model.stem, "conv1", "bn1")]
    for block in (b for layer in (model.layer1, model.layer2, model.layer3, model.layer4)
                  for b in layer):  # fmt: skip
        pairs += [(block, f"conv{i}", f"bn{i}") for i in (1, 2, 3) if hasattr(block, f"bn{i}")]
        if block.downsample is not None:
            pairs.append((block.downsample, "0", "1"))
    for owner, conv, bn in pairs:
        fused = fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn))
        setattr(owner, conv, fused)
        setattr(owner, bn, nn.Identity())
    return model


def make_step(model: nn.Module, clip: torch.Tensor, backward: bool) -> Callable[[], None]:
    if backward:
        model.train()

        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(clip).sum().backward()

    else:
        model.eval()

        def step() -> None:
            with torch.inference_mode():
                model(clip)

    return step


def bench(
    variant: str,
    cfg: Config,
    fmt: str,
    backward: bool,
    peak: float,
    warmup: int,
    repeats: int,
    fuse_bn: bool = False,
) -> Row:
    torch.manual_seed(0)
    channels_last = fmt == "channels_last_3d"
    model = build(variant, cfg, channels_last=channels_last)
    if fuse_bn:
        model = fuse_conv_bn(model).to(memory_format=FORMATS[fmt])
    clip = torch.randn(cfg.clip_shape())  # contiguous, as a data loader gives it
    seconds = time_iterations(make_step(model, clip, backward), warmup, repeats)
    flops = count_flops(variant, cfg, backward)
    gflops = flops / seconds / 1e9
    return Row(
        variant=variant,
        config=cfg.name,
        clip=f"{cfg.batch}x{cfg.frames}x{cfg.size}x{cfg.size} w{cfg.width}",
        memory_format=fmt,
        mode="fwd+bwd" if backward else ("fwd-fused" if fuse_bn else "fwd"),
        params_m=count_parameters(model) / 1e6,
        gflop_per_clip=flops / cfg.batch / 1e9,
        seconds_per_iter=seconds,
        clips_per_s=cfg.batch / seconds,
        gflop_per_s=gflops,
        fraction_of_peak=gflops / peak,
    )


def profile(variant: str, cfg: Config, fmt: str, backward: bool, rows: int) -> str:
    """``torch.profiler`` table of the ops with the most self CPU time, one iteration."""
    torch.manual_seed(0)
    model = build(variant, cfg, channels_last=fmt == "channels_last_3d")
    clip = torch.randn(cfg.clip_shape())
    step = make_step(model, clip, backward)
    step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def print_table(rows: list[Row], peak: float) -> None:
    head = (
        f"| {'variant':<11} | {'config':<11} | {'clip':<22} | {'format':<16} | {'mode':<9} "
        f"| {'params M':>8} | {'GFLOP/clip':>10} | {'clips/s':>8} | {'GFLOP/s':>8} | {'% peak':>6} |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        print(
            f"| {r.variant:<11} | {r.config:<11} | {r.clip:<22} | {r.memory_format:<16} "
            f"| {r.mode:<9} | {r.params_m:>8.2f} | {r.gflop_per_clip:>10.2f} "
            f"| {r.clips_per_s:>8.3f} | {r.gflop_per_s:>8.1f} | {100 * r.fraction_of_peak:>5.1f}% |"
        )
    print(f"\n% peak: of {peak:.1f} GFLOP/s, the best fp32 kernel measured in this run")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--memory-format", choices=[*FORMATS, "both"], default="both", dest="memory_format"
    )
    parser.add_argument(
        "--fuse-bn", action="store_true", help="also time forward with BN folded into the convs"
    )
    parser.add_argument("--no-paper", action="store_true", help="skip the 32x224^2 forward rows")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--profile", action="store_true", help="torch.profiler top ops")
    parser.add_argument("--profile-variant", default="i3d_r50", choices=list(VARIANTS))
    parser.add_argument("--json", default=None, help="write the rows and machine info here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument(
        "--sizes",
        action="store_true",
        help="only parameters and GMACs of the Table-4 models (build_model, R50, 32x224^2)",
    )
    parser.add_argument("--boxes-per-frame", type=int, default=50, help="boxes per frame (--sizes)")
    args = parser.parse_args(argv)

    if args.sizes:
        cfg = QUICK_PAPER if args.quick else PAPER
        rows = model_sizes(cfg, args.boxes_per_frame)
        print(
            f"# Table-4 models, R50 width {cfg.width}, {cfg.frames}x{cfg.size}^2, 174 classes, "
            f"{args.boxes_per_frame} boxes per frame; torch {torch.__version__}"
        )
        print("| model | parameters | GMACs/clip |\n|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['params']:,} | {r['gmacs']:.2f} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"sizes": rows}, f, indent=2)
        return

    if args.threads:
        torch.set_num_threads(args.threads)
    cpu_cfg, paper_cfg = (QUICK_CPU, QUICK_PAPER) if args.quick else (CPU, PAPER)
    if args.quick:
        args.warmup, args.repeats, args.matmul_size = 0, 1, min(args.matmul_size, 256)
    formats = list(FORMATS) if args.memory_format == "both" else [args.memory_format]
    machine = {
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
    }
    print(
        f"# backbone benchmark: torch {machine['torch']}, {machine['processor']}, "
        f"{machine['cpus']} CPUs, {machine['threads']} threads, mkldnn={machine['mkldnn']}"
    )
    peak_repeats = 5 if not args.quick else 2
    mm_peak = matmul_peak(args.matmul_size, peak_repeats)
    cv_peak = conv_peak(peak_repeats, args.quick)
    peak = max(mm_peak, cv_peak)
    rows: list[Row] = []
    for variant in args.variants:
        for fmt in formats:
            for backward in (False, True):
                rows.append(bench(variant, cpu_cfg, fmt, backward, peak, args.warmup, args.repeats))
            if args.fuse_bn:
                rows.append(
                    bench(variant, cpu_cfg, fmt, False, peak, args.warmup, args.repeats, True)
                )
    if not args.no_paper:
        for variant in (v for v in PAPER_VARIANTS if v in args.variants):
            for fmt in formats:
                for fuse in (False, True) if args.fuse_bn else (False,):
                    rows.append(
                        bench(variant, paper_cfg, fmt, False, peak, args.warmup, args.repeats, fuse)
                    )
    # re-measure the peak after the runs and keep the better one: load may change during the run
    mm_peak = max(mm_peak, matmul_peak(args.matmul_size, peak_repeats))
    cv_peak = max(cv_peak, conv_peak(peak_repeats, args.quick))
    peak = max(mm_peak, cv_peak)
    for r in rows:
        r.fraction_of_peak = r.gflop_per_s / peak
    print_table(rows, peak)
    print(f"fp32 peaks measured in this run: matmul {mm_peak:.1f}, 3x3 conv {cv_peak:.1f} GFLOP/s")

    prof_table = None
    if args.profile:
        fmt = formats[-1]
        for backward in (False, True):
            mode = "fwd+bwd" if backward else "fwd"
            print(f"\n## torch.profiler, {args.profile_variant}, {cpu_cfg.name}, {fmt}, {mode}")
            prof_table = profile(args.profile_variant, cpu_cfg, fmt, backward, rows=15)
            print(prof_table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": machine,
                    "matmul_peak_gflops": mm_peak,
                    "conv_peak_gflops": cv_peak,
                    "peak_gflops": peak,
                    "rows": [asdict(r) for r in rows],
                },
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
