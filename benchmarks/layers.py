"""Speed and memory of the region-graph layers against the paper's equations in dense batched form.

Five sections, printed as one table (``--json PATH`` writes the same rows):

* ``layer``: ``SpaceTimeGCN`` with its defaults (similarity + spatial-temporal branches, 3
  layers, d -> d -> d, one similarity graph shared by the layers, LayerNorm + ReLU after every
  convolution, no bias) forward + backward, against the paper's equations in dense form
  (``DenseReference``): every graph a ``[B, M, M]`` adjacency (M = T*K nodes per video) and
  ``torch.bmm``, as the unofficial reimplementation jd730/STRG (``rgcn_models.py``) writes it. The
  reference reuses the model's parameters and its output is checked equal to the model's before
  timing. It is handed its front/back adjacency precomputed (built by the loop below, outside the
  timed region); ``SpaceTimeGCN`` builds its IoU graph inside ``forward``, so its time includes
  graph construction. Target at the paper and the large size: time ratio <= 1.0.
* ``branch``: each branch of the paper-size layer alone (``graphs=(g,)``), the same comparison:
  where the ``layer`` row's time goes.
* ``st-memory``: the spatial-temporal branch alone (``graphs=("spatial_temporal",)``) against its
  dense form, B=2, K=25, d=64, at T = 16, 32, 64 frames: N and E grow like T, the dense
  adjacency like T^2. Its peak memory should follow E and N, not B*M^2. A line under the table
  gives the growth factors.
* ``propagation``: one ``SpatialTemporalGraphConv`` propagation, forward + backward, as the CSR
  sparse x dense product the layer uses against PyG's gather/scatter over an edge list (the
  layer's own ``message()`` path): the measurement behind the layer's choice.
* ``construction``: ``stgcn.graphs.space_time_graph`` (front + back) against jd730's
  ``get_st_graph`` loop (a Python loop over frames and boxes, vectorised over videos and the
  boxes of the next frame). Target: >= 50x faster.

Sizes: paper B=8 videos, T=16 frames, K=10 boxes per frame, d=512; large B=2, T=16, K=50. Boxes
are K tracks per video drifting across the frame with jitter, so consecutive frames overlap like
real detections. Times are medians of ``--repeats`` runs after 2 warm-ups (``time.perf_counter``);
ours and the reference run in alternation (except the slow construction loop, timed after ours),
so that a drift of the machine during the run falls on both alike.
Peak memory is the highest total of live tensor bytes in one forward + backward, from PyTorch's
profiler memory timeline (``profile(profile_memory=True, record_shapes=True, with_stack=True)``,
``export_memory_timeline``): tensors only (parameters, inputs, activations, gradients; not the
Python heap), deterministic, and unaffected by other processes, unlike RSS.

``torch-scatter`` is reported, not required: ``SpaceTimeGCN`` uses ``torch.sparse.mm`` and dense
batched matmuls, so only the gather/scatter row of ``propagation`` could change with it. Run once
in an environment with it and once without to compare.

    python benchmarks/layers.py                    # full table (about a minute on a laptop CPU)
    python benchmarks/layers.py --json layers.json --threads 4
    python benchmarks/layers.py --quick            # tiny sizes: checks that the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric
import torch_geometric.typing
from torch import Tensor
from torch.profiler import ProfilerActivity, profile
from torchvision.ops import box_iou

from stgcn.graphs import space_time_graph
from stgcn.layers import SpaceTimeGCN, SpatialTemporalGraphConv


@dataclass(frozen=True)
class Size:
    """``videos`` clips of ``frames`` frames with ``boxes`` boxes each, ``channels`` features."""

    name: str
    videos: int
    frames: int
    boxes: int
    channels: int

    @property
    def nodes(self) -> int:
        return self.videos * self.frames * self.boxes


PAPER = Size("paper", videos=8, frames=16, boxes=10, channels=512)
LARGE = Size("large", videos=2, frames=16, boxes=50, channels=512)
QUICK_PAPER = Size("paper-quick", videos=2, frames=4, boxes=3, channels=16)
QUICK_LARGE = Size("large-quick", videos=1, frames=4, boxes=6, channels=16)


@dataclass
class Row:
    section: str
    size: str
    what: str
    ours_ms: float
    ref_ms: float
    time_ratio: float  # ours / reference (< 1: ours faster); the table prints ref / ours
    ours_mb: float | None = None
    ref_mb: float | None = None
    nodes: int = 0
    edges: int = 0
    dense_entries: int = 0  # B * M^2, one dense adjacency
    target: str = ""
    met: bool | None = None


# ---------------------------------------------------------------------------------------------
# inputs and references


def make_inputs(size: Size, seed: int = 0) -> dict[str, Tensor]:
    """Nodes ordered (video, frame, box): ``x`` [N, d], ``box`` [N, 4], ``frame`` [N],
    ``batch`` [N], and ``rois`` [B, T, K, 4] (the same boxes in jd730's layout)."""
    g = torch.Generator().manual_seed(seed)
    b, t, k = size.videos, size.frames, size.boxes
    # K tracks per video on a 224 x 224 frame: a start, a drift per frame, a size, some jitter
    start = torch.rand(b, 1, k, 2, generator=g) * 160
    drift = (torch.rand(b, 1, k, 2, generator=g) - 0.5) * 12
    wh = 20 + torch.rand(b, 1, k, 2, generator=g) * 60
    steps = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1)
    xy = start + drift * steps + torch.randn(b, t, k, 2, generator=g) * 3
    rois = torch.cat([xy, xy + wh.expand(b, t, k, 2)], dim=-1)
    return {
        "x": torch.randn(size.nodes, size.channels, generator=g),
        "box": rois.reshape(-1, 4),
        "frame": torch.arange(t).repeat_interleave(k).repeat(b),
        "batch": torch.arange(b).repeat_interleave(t * k),
        "rois": rois,
    }


def loop_st_graph(rois: Tensor, iou_threshold: float = 0.0) -> tuple[Tensor, Tensor]:
    """jd730/STRG's ``get_st_graph``: dense front/back ``[B, M, M]`` graphs filled by a Python loop
    over frames t and boxes i (vectorised over videos and the boxes at t+1), then row-normalised.
    IoU as torchvision computes it (jd730 adds +1 to widths, a pixel convention), IoU > threshold."""
    b, t, k, _ = rois.shape
    m = t * k
    front = rois.new_zeros(b, m, m)
    for step in range(t - 1):
        for i in range(k):
            iou = box_iou(rois[:, step, i : i + 1], rois[:, step + 1])[:, 0]  # [B, K]
            iou = torch.where(iou > iou_threshold, iou, torch.zeros_like(iou))
            front[:, step * k + i, (step + 1) * k : (step + 2) * k] = iou
    back = front.transpose(1, 2)
    front = front / front.sum(-1, keepdim=True)
    back = back / back.sum(-1, keepdim=True)
    return torch.nan_to_num(front), torch.nan_to_num(back)


class DenseReference(torch.nn.Module):
    """The paper's GCN (Wang & Gupta, ECCV 2018, sec. 3.3-3.4) written with ``[B, M, M]`` adjacency
    matrices and ``torch.bmm``, in the branch form, on the model's own parameters:

    * one similarity graph ``G = softmax(bmm(phi(X), phi'(X)^T))`` from the input features,
      shared by the three layers of the similarity branch;
    * the spatial-temporal branch ``bmm(G_front, H W_f) + bmm(G_back, H W_b)``;
    * ``ReLU(LayerNorm(.))`` after every graph convolution; no bias (``Z = GXW``).

    Like jd730/STRG (an unofficial reimplementation) every video is padded to M = T*K nodes (all
    are full here). It mirrors ``SpaceTimeGCN``'s defaults (``similarity="shared"``, ``norm=True``,
    ``bias=False``) and refuses any other configuration."""

    def __init__(self, model: SpaceTimeGCN) -> None:
        super().__init__()
        if model.joint or model.residual or model.bias or not model.norm:
            raise ValueError("DenseReference mirrors the default branch form (norm, no bias)")
        if model.similarity != "shared" or not set(model.graphs) <= {"similarity", "spatial_temporal"}:
            raise ValueError("DenseReference mirrors the shared similarity and spatial-temporal graphs")
        self.model = model

    def forward(self, x: Tensor, front: Tensor, back: Tensor) -> Tensor:  # x [B, M, d]
        model = self.model
        if "similarity" in model.graphs:
            graph = model.edge_builders["similarity"].graph
            sim = torch.bmm(F.linear(x, graph.phi.weight), F.linear(x, graph.phi_prime.weight).transpose(1, 2))
            g = torch.softmax(sim, dim=-1)
        total = 0
        for name in model.graphs:
            h = x
            for depth in range(model.num_layers):
                conv = model.layers[depth][name]
                if name == "similarity":
                    out = torch.bmm(g, F.linear(h, conv.lin.weight))
                else:
                    out = torch.bmm(front, F.linear(h, conv.lin_front.weight))
                    out = out + torch.bmm(back, F.linear(h, conv.lin_back.weight))
                ln = model.norms[depth][name]
                h = F.relu(F.layer_norm(out, ln.normalized_shape, ln.weight, ln.bias, ln.eps))
            total = total + h
        return total


# ---------------------------------------------------------------------------------------------
# measurement


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def paired_median_ms(
    ours: Callable[[], object], ref: Callable[[], object], repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Medians (ms) of ``ours`` and ``ref`` timed in alternation, ours then ref, ``repeats`` times
    each: a drift of the machine (another process, frequency, the allocator warming up) falls on
    both sides alike instead of on whichever ran second."""
    for _ in range(warmup):
        ours()
        ref()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((ours, times[0]), (ref, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak of live tensor bytes (MB) during one ``fn()``, from the profiler's memory timeline."""
    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory.json"
        with warnings.catch_warnings():
            # deprecated in favour of a CUDA-only snapshot API; it is the CPU timeline we need
            warnings.simplefilter("ignore", FutureWarning)
            prof.export_memory_timeline(str(path), device="cpu")
        _, sizes = json.loads(path.read_text())
    return max((sum(point) for point in sizes), default=0) / 1e6


def fwd_bwd(module: torch.nn.Module, forward: Callable[[], Tensor]) -> Callable[[], None]:
    def run() -> None:
        module.zero_grad(set_to_none=True)
        forward().square().mean().backward()

    return run


def bench_layer(
    size: Size,
    repeats: int,
    seed: int,
    target: bool = False,
    graphs: tuple[str, ...] = ("similarity", "spatial_temporal"),
) -> Row:
    torch.manual_seed(seed)
    inp = make_inputs(size, seed)
    d = size.channels
    model = SpaceTimeGCN(d, d, d, num_layers=3, graphs=graphs).train()
    ref = DenseReference(model)
    front, back = loop_st_graph(inp["rois"])
    xd = inp["x"].view(size.videos, size.frames * size.boxes, d)

    def ours() -> Tensor:
        return model(inp["x"], inp["box"], inp["frame"], inp["batch"])

    def dense() -> Tensor:
        return ref(xd, front, back)

    with torch.no_grad():
        expected = dense().reshape(-1, d)
        diff = (ours() - expected).abs().max().item()
    # float32 sums of d=512 products in another order: a few ulps of the output's magnitude
    tol = 1e-4 * max(1.0, expected.abs().max().item())
    if diff > tol:
        raise AssertionError(f"SpaceTimeGCN and the dense reference disagree by {diff:.2e} > {tol:.1e}")
    run_ours, run_ref = fwd_bwd(model, ours), fwd_bwd(model, dense)
    ours_ms, ref_ms = paired_median_ms(run_ours, run_ref, repeats)
    edges = space_time_graph(inp["box"], inp["frame"], inp["batch"]).edge_index.size(1)
    met = ours_ms <= ref_ms if target else None
    m = size.frames * size.boxes
    section, what = "layer", "SpaceTimeGCN fwd+bwd vs dense bmm"
    if len(graphs) == 1:
        section, what = "branch", f"{graphs[0]} alone, fwd+bwd vs dense"
    return Row(
        section, size.name, what, ours_ms, ref_ms, ours_ms / ref_ms,
        peak_mb(run_ours), peak_mb(run_ref), size.nodes, edges, size.videos * m * m,
        "time <= 1.0x" if met is not None else "", met,
    )  # fmt: skip


def bench_st_memory(size: Size, repeats: int, seed: int) -> Row:
    torch.manual_seed(seed)
    inp = make_inputs(size, seed)
    d = size.channels
    model = SpaceTimeGCN(d, d, d, num_layers=3, graphs=("spatial_temporal",)).train()
    ref = DenseReference(model)
    front, back = loop_st_graph(inp["rois"])
    xd = inp["x"].view(size.videos, size.frames * size.boxes, d)
    run_ours = fwd_bwd(model, lambda: model(inp["x"], inp["box"], inp["frame"], inp["batch"]))
    run_ref = fwd_bwd(model, lambda: ref(xd, front, back))
    edges = space_time_graph(inp["box"], inp["frame"], inp["batch"]).edge_index.size(1)
    m = size.frames * size.boxes
    ours_ms, ref_ms = paired_median_ms(run_ours, run_ref, repeats)
    return Row(
        "st-memory", size.name, f"spatial-temporal branch, K={size.boxes} d={d}",
        ours_ms, ref_ms, ours_ms / ref_ms, peak_mb(run_ours), peak_mb(run_ref),
        size.nodes, edges, size.videos * m * m, "memory follows E, not B*M^2",
    )  # fmt: skip


def bench_propagation(size: Size, repeats: int, seed: int) -> Row:
    torch.manual_seed(seed)
    inp = make_inputs(size, seed)
    d, n = size.channels, size.nodes
    conv = SpatialTemporalGraphConv(d, d)
    g = space_time_graph(inp["box"], inp["frame"], inp["batch"])
    index, value = conv.adjacency(g.edge_index, g.front_weight, g.back_weight, n)
    h = torch.randn(2 * n, d, requires_grad=True)

    def csr() -> Tensor:
        adj = torch_geometric.utils.to_torch_csr_tensor(index, value, size=(n, 2 * n))
        return conv.propagate(adj, x=h, weight=None)

    def edge_list() -> Tensor:
        return conv.propagate(index.flip(0), x=h, weight=value, size=(2 * n, n))

    with torch.no_grad():
        diff = (csr() - edge_list()).abs().max().item()
    if diff > 1e-4:
        raise AssertionError(f"CSR and edge-list propagation disagree by {diff:.2e}")

    def run(fn: Callable[[], Tensor]) -> Callable[[], None]:
        def go() -> None:
            h.grad = None
            fn().square().mean().backward()

        return go

    ours_ms, ref_ms = paired_median_ms(run(csr), run(edge_list), repeats)
    return Row(
        "propagation", size.name, "CSR spmm vs gather/scatter (ref)", ours_ms, ref_ms,
        ours_ms / ref_ms, peak_mb(run(csr)), peak_mb(run(edge_list)), n, g.edge_index.size(1),
    )  # fmt: skip


def bench_construction(size: Size, repeats: int, seed: int, target: bool = False) -> Row:
    inp = make_inputs(size, seed)
    graph = space_time_graph(inp["box"], inp["frame"], inp["batch"])
    front, back = loop_st_graph(inp["rois"])
    m = size.frames * size.boxes
    offset = inp["batch"][graph.edge_index[0]] * m
    local = graph.edge_index - offset
    video = inp["batch"][graph.edge_index[0]]
    ok = torch.allclose(front[video, local[0], local[1]], graph.front_weight, atol=1e-5)
    ok &= torch.allclose(back[video, local[1], local[0]], graph.back_weight, atol=1e-5)
    ok &= int((front > 0).sum()) == graph.edge_index.size(1)
    if not ok:
        raise AssertionError("space_time_graph and the loop reference disagree")
    ours_ms = median_ms(lambda: space_time_graph(inp["box"], inp["frame"], inp["batch"]), repeats)
    ref_ms = median_ms(lambda: loop_st_graph(inp["rois"]), max(1, repeats // 4), warmup=1)
    speedup = ref_ms / ours_ms
    return Row(
        "construction", size.name, f"space_time_graph vs loop, T={size.frames} K={size.boxes}",
        ours_ms, ref_ms, ours_ms / ref_ms, nodes=size.nodes, edges=graph.edge_index.size(1),
        dense_entries=size.videos * m * m, target=">= 50x faster" if target else "",
        met=speedup >= 50 if target else None,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# report


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment() -> dict[str, object]:
    return {
        "machine": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "threads": torch.get_num_threads(),
        "torch_scatter": bool(torch_geometric.typing.WITH_TORCH_SCATTER),
        "memory": "peak live tensor bytes, torch.profiler memory timeline",
    }


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(env: dict[str, object], rows: list[Row]) -> None:
    print(
        f"machine: {env['machine']} ({env['cpu_count']} CPUs), {env['platform']}\n"
        f"torch {env['torch']}, torch_geometric {env['torch_geometric']}, "
        f"threads {env['threads']}, torch-scatter installed: {env['torch_scatter']}\n"
        f"memory: {env['memory']}\n"
    )
    head = (
        f"{'section':<13}{'size':<12}{'what':<42}{'ours ms':>9}{'ref ms':>9}{'speedup':>9}"
        f"{'ours MB':>9}{'ref MB':>9}{'mem':>6}{'N':>7}{'E':>8}{'B*M^2':>10}  target"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        mem = r.ours_mb / r.ref_mb if r.ours_mb and r.ref_mb else None
        met = "" if r.met is None else (" (met)" if r.met else " (MISSED)")
        print(
            f"{r.section:<13}{r.size:<12}{r.what:<42}{r.ours_ms:>9.2f}{r.ref_ms:>9.2f}"
            f"{r.ref_ms / r.ours_ms:>8.2f}x{_fmt(r.ours_mb):>9}{_fmt(r.ref_mb):>9}{_fmt(mem, '.2f'):>6}"
            f"{r.nodes:>7}{r.edges:>8}{r.dense_entries:>10}  {r.target}{met}"
        )
    print(
        "\nspeedup = ref ms / ours ms; mem = ours MB / ref MB. ref: dense [B, M, M] bmm (layer, "
        "st-memory), PyG gather/scatter\n(propagation), jd730's loop (construction). N nodes, E IoU "
        "edges, B*M^2 entries of one dense adjacency."
    )


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per row (default 10; quick 2)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 10)
    paper, large = (QUICK_PAPER, QUICK_LARGE) if args.quick else (PAPER, LARGE)
    # More frames: N and E grow like T, one video's M^2 like T^2. d=64 so that a dense adjacency,
    # not the features, dominates the dense form. (More boxes per frame would grow E like K^2 too:
    # boxes of one frame overlap more as they crowd it.)
    ts, k_scaling, d_scaling = ((4, 8), 3, 16) if args.quick else ((16, 32, 64), 25, 64)
    scaling = [Size(f"T={t}", 2, t, k_scaling, d_scaling) for t in ts]

    real = not args.quick
    rows = [
        bench_layer(paper, repeats, args.seed, target=real),
        bench_layer(large, repeats, args.seed, target=real),
    ]
    rows += [bench_layer(paper, repeats, args.seed, graphs=(g,)) for g in ("similarity", "spatial_temporal")]  # fmt: skip
    rows += [bench_st_memory(s, repeats, args.seed) for s in scaling]
    rows += [bench_propagation(s, repeats, args.seed) for s in (paper, large)]
    rows.append(bench_construction(large, repeats, args.seed, target=real))
    env = environment()
    print_table(env, rows)
    st = [r for r in rows if r.section == "st-memory"]
    first, last = st[0], st[-1]
    print(
        f"st-memory growth {first.size} -> {last.size}: ours x{last.ours_mb / first.ours_mb:.1f}, "
        f"dense x{last.ref_mb / first.ref_mb:.1f}; N x{last.nodes / first.nodes:.1f}, "
        f"E x{last.edges / first.edges:.1f}, B*M^2 x{last.dense_entries / first.dense_entries:.1f}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"environment": env, "rows": [asdict(r) for r in rows]}, indent=2)
        )
    return rows


if __name__ == "__main__":
    main()
