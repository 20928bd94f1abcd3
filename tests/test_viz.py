"""stgcn.viz: the grid figure, its boxes and edges, the saved image and animations, bad inputs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from stgcn.graphs import VideoGraph, space_time_iou
from stgcn.viz import draw_graph, render_frames, write_animation

T, H, W = 5, 24, 32


def _video() -> tuple[np.ndarray, VideoGraph]:
    """Two tracks moving right, overlapping themselves frame to frame, plus one box on frame 4."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(T, H, W, 3), dtype=np.uint8)
    box, frame, track = [], [], []
    for t in range(T):
        for k, y in enumerate((2.0, 12.0)):
            box.append([2.0 + 2 * t, y, 10.0 + 2 * t, y + 8])
            frame.append(t)
            track.append(k - 1)  # the hand (-1) and object 0
    box.append([20.0, 2, 30, 10])
    frame.append(4)
    track.append(7)
    return frames, VideoGraph(
        box=torch.tensor(box), frame=torch.tensor(frame), track=torch.tensor(track)
    )


def _gid(fig, gid: str) -> list:
    return fig.findobj(lambda a: a.get_gid() == gid)


def test_one_box_per_node_and_one_trail_per_iou_edge(tmp_path: Path):
    frames, graph = _video()
    path = tmp_path / "g.png"
    fig = draw_graph(frames, graph, path, columns=3, dpi=50)
    assert len(_gid(fig, "box")) == graph.num_nodes == 11
    labels = sorted(t.get_text() for t in _gid(fig, "label"))
    assert labels.count("hand") == T and labels.count("#0") == T and "#7" in labels
    iou_edges = space_time_iou(graph.box, graph.frame)[0].size(1)
    assert iou_edges == 2 * (T - 1)  # each track overlaps itself in the next frame
    assert len(_gid(fig, "iou")) == iou_edges
    assert not _gid(fig, "similarity")
    # the saved image has the figure's size in pixels
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        w, h = fig.get_size_inches() * 50
        assert image.size == (round(w), round(h))
    # 2 rows of 3 panels, the last one empty
    assert sum(ax.has_data() for ax in fig.axes) == T


def test_the_strongest_similarity_edges_are_drawn_without_self_pairs():
    frames, graph = _video()
    n = graph.num_nodes
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="xy")
    edge_index = torch.stack([src.flatten(), dst.flatten()])
    weight = torch.rand(n * n, generator=torch.Generator().manual_seed(0))
    weight[edge_index[0] == edge_index[1]] = 2.0  # self weights are the largest: never drawn
    fig = draw_graph(frames, graph, attention=(edge_index, weight), top_k=4)
    assert len(_gid(fig, "similarity")) == 4
    want = sorted(weight[edge_index[0] != edge_index[1]].tolist(), reverse=True)[:4]
    got = sorted((float(t.get_text()) for t in _gid(fig, "similarity_label")), reverse=True)
    np.testing.assert_allclose(got, want, atol=0.005)
    important = draw_graph(
        frames, graph, edges=("iou",), node_importance=torch.arange(n).float(), top_k=3
    )
    assert len(_gid(important, "importance")) == 3


def test_animation_as_gif_and_mp4(tmp_path: Path):
    frames, graph = _video()
    images = render_frames(frames, graph, panel_inches=1.0, dpi=60)
    assert images.shape[0] == T and images.dtype == np.uint8 and images.shape[-1] == 3
    gif = write_animation(images, tmp_path / "a.gif", fps=5)
    with Image.open(gif) as image:
        assert image.n_frames == T
    mp4 = write_animation(images, tmp_path / "a.mp4", fps=5)
    with av.open(str(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == T


def test_bad_inputs_are_named(tmp_path: Path):
    frames, graph = _video()
    with pytest.raises(ValueError, match="uint8"):
        draw_graph(frames.astype(np.float32), graph)
    with pytest.raises(ValueError, match="frame indices must lie in 0..3"):
        draw_graph(frames[:4], graph)
    with pytest.raises(ValueError, match="needs the attention"):
        draw_graph(frames, graph, edges=("similarity",))
    with pytest.raises(ValueError, match="edges must be among"):
        draw_graph(frames, graph, edges=("knn",))
    with pytest.raises(ValueError, match="one column per layer"):
        draw_graph(
            frames, graph, attention=(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2))
        )
    with pytest.raises(ValueError, match="node_importance"):
        draw_graph(frames, graph, node_importance=torch.zeros(3))
    with pytest.raises(ValueError, match=".gif or .mp4"):
        write_animation(frames, tmp_path / "a.avi")
    assert not list(tmp_path.iterdir())  # nothing half-written
