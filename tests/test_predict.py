"""python -m stgcn.predict: a tiny checkpoint in the benchmark's format end to end, its JSON and
table, --viz, and each kind of bad checkpoint or video."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch

import stgcn
from stgcn.engine import save_checkpoint
from stgcn.inference import infer
from stgcn.models import build_model
from stgcn.predict import load_model, main

CLASSES = ["Moving something up", "Moving something down", "Pushing something", "Picking up"]
CONFIG = {"depth": 18, "width": 4, "frames": 4, "region_channels": 8, "gcn_layers": 1}
CLIPS = {"sampling": "tsn", "stride": 2, "size": 32}


def write(path: Path, name: str = "i3d_gcn", extra: dict | None = None, **config) -> Path:
    """A checkpoint as benchmarks/ssv2.py writes it (fit's state, the rebuild data in 'extra')."""
    torch.manual_seed(0)
    model = build_model(name, len(CLASSES), **{**CONFIG, **config})
    rebuild = {"model_name": name, "model_config": {**CONFIG, **config}, "classes": CLASSES}
    rebuild["clips"] = CLIPS
    save_checkpoint({"model": model.state_dict(), "epoch": 1, "extra": extra or rebuild}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("predict") / "checkpoint.pt")


def test_json_top_k_is_the_softmax_of_the_models_logits(
    ckpt: Path, videos_dir: Path, capsys
) -> None:
    video = videos_dir / "carphone_pristine.mp4"
    assert (
        main(
            [str(video), "--checkpoint", str(ckpt), "--method", "motion", "--top-k", "3", "--json"]
        )
        == 0
    )
    (out,) = json.loads(capsys.readouterr().out)
    loaded = load_model(ckpt)
    assert loaded.name == "i3d_gcn" and loaded.classes == CLASSES and loaded.clips == CLIPS
    logits = infer(video, loaded.model, proposals="motion", size=32).logits
    prob, index = logits.softmax(-1).topk(3)
    assert [p["class"] for p in out["top_k"]] == [CLASSES[i] for i in index.tolist()]
    assert [p["rank"] for p in out["top_k"]] == [1, 2, 3]
    torch.testing.assert_close(torch.tensor([p["probability"] for p in out["top_k"]]), prob)
    assert out["nodes"] > 0 and len(out["frames"]) == 4


def test_table_lists_every_video_and_reports_a_missing_one(
    ckpt: Path, videos_dir: Path, tmp_path: Path, capsys
) -> None:
    video = videos_dir / "carphone_pristine.mp4"
    missing = tmp_path / "gone.webm"
    rc = main([str(video), str(missing), "--checkpoint", str(ckpt), "--method", "motion"])
    assert rc == 1  # one video failed, the other was still predicted
    text = capsys.readouterr().out
    assert "i3d_gcn, 4 classes" in text and "rank" in text and "probability" in text
    assert sum(c in text for c in CLASSES) == 4  # top-5 of 4 classes: all listed
    assert f"{missing}: video file not found" in text


def test_viz_calls_stgcn_viz_or_says_it_is_missing(
    ckpt: Path, videos_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    calls = []
    fake = types.ModuleType("stgcn.viz")
    fake.draw_graph = lambda frames, graph, path, **kw: calls.append(
        (frames.shape, graph.num_nodes, path)
    )
    monkeypatch.setitem(sys.modules, "stgcn.viz", fake)
    # `from stgcn import viz` takes the package's attribute once stgcn.viz has been imported
    monkeypatch.setattr(stgcn, "viz", fake, raising=False)
    video = videos_dir / "carphone_pristine.mp4"
    out = tmp_path / "graph.png"
    argv = [str(video), "--checkpoint", str(ckpt), "--method", "motion", "--viz", str(out)]
    assert main(argv) == 0
    assert calls and calls[0][0] == (4, 144, 176, 3) and calls[0][2] == out
    monkeypatch.setitem(sys.modules, "stgcn.viz", None)  # as if it were not installed
    monkeypatch.delattr(stgcn, "viz")
    assert main(argv) == 2
    assert "--viz needs stgcn.viz" in capsys.readouterr().err


def test_viz_draws_the_graph_and_its_similarity_edges(
    ckpt: Path, videos_dir: Path, tmp_path: Path
) -> None:
    """The real stgcn.viz: a PNG of the sampled frames, and the model's similarity graph (over the
    region nodes, which are the graph's) handed to draw_graph."""
    video = videos_dir / "carphone_pristine.mp4"
    out = tmp_path / "graph.png"
    argv = [str(video), "--checkpoint", str(ckpt), "--method", "motion", "--viz", str(out)]
    assert main(argv) == 0
    assert out.stat().st_size > 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = load_model(ckpt)
    res = infer(video, loaded.model, proposals="motion", size=loaded.clips["size"])
    g = res.graph
    assert g.num_nodes > 0 and g.similarity_edge_index.max() < g.num_nodes
    # the softmax over sources sums to one at every target node
    sums = torch.zeros(g.num_nodes).index_add_(0, g.similarity_edge_index[1], g.similarity_weight)
    torch.testing.assert_close(sums, torch.ones(g.num_nodes))


def test_bad_checkpoints_are_clear_errors(tmp_path: Path, videos_dir: Path, capsys) -> None:
    video = str(videos_dir / "carphone_pristine.mp4")

    def error(path: Path, *flags: str) -> str:
        assert main([video, "--checkpoint", str(path), "--method", "motion", *flags]) == 2
        return capsys.readouterr().err

    assert "checkpoint not found" in error(tmp_path / "none.pt")
    bare = tmp_path / "bare.pt"
    save_checkpoint({"model": {}, "epoch": 3}, bare)
    assert "no model metadata (model_name, model_config, classes missing)" in error(bare)
    other = tmp_path / "other.pt"
    save_checkpoint(
        {
            "model": {},
            "extra": {"model_name": "slowfast_r50", "model_config": {}, "classes": CLASSES},
        },
        other,
    )
    assert "architecture 'slowfast_r50'" in error(other)
    wrong = write(tmp_path / "wrong.pt")
    state = torch.load(wrong, weights_only=True)
    state["extra"]["model_name"] = "i3d"  # i3d_gcn weights under another architecture's name
    save_checkpoint(state, wrong)
    assert "weights do not fit i3d with 4 classes" in error(wrong)
    detector = tmp_path / "detector.pt"
    save_checkpoint({"format": "stgcn-detector-1", "config": {}, "state_dict": {}}, detector)
    assert "a detector checkpoint" in error(detector)
    # written before checkpoints recorded their clips: the crop size must be given
    rebuild = {"model_name": "i3d_gcn", "model_config": CONFIG, "classes": CLASSES}
    old = write(tmp_path / "old.pt", extra=rebuild)
    assert "pass --size" in error(old)
    with pytest.warns(UserWarning, match="does not record how its clips were sampled"):
        assert main([video, "--checkpoint", str(old), "--method", "motion", "--size", "32"]) == 0
    assert "--boxes or --method, not both" in error(old, "--size", "32", "--boxes", "b.json")


def test_graph_models_need_boxes_pooled_ones_do_not(
    tmp_path: Path, videos_dir: Path, capsys
) -> None:
    video = str(videos_dir / "carphone_pristine.mp4")
    gcn = write(tmp_path / "gcn.pt")
    assert main([video, "--checkpoint", str(gcn)]) == 2
    assert "i3d_gcn reads region boxes" in capsys.readouterr().err
    i3d = write(tmp_path / "i3d.pt", name="i3d", region_channels=512)
    assert main([video, "--checkpoint", str(i3d), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["nodes"] == 0 and len(out["top_k"]) == 4
