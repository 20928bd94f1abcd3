"""STRG and build_model: the model interface, errors, and a tiny STRG that overfits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch_geometric.data import Batch

from stgcn.graphs import VideoGraph
from stgcn.models import MODELS, STRG, ResNet3D, STRGHead, build_model

TINY = {"depth": "r18", "width": 8, "region_channels": 16, "gcn_layers": 2}
T, SIZE = 8, 32


def _graph(boxes_per_video: list[torch.Tensor], frames: int = T) -> Batch:
    """Each video: the given [4] box on every frame 0..frames-1."""
    return Batch.from_data_list(
        [
            VideoGraph(box=b.repeat(frames, 1), frame=torch.arange(frames), num_frames=frames)
            for b in boxes_per_video
        ]
    )


STREAM_MODELS = {"tsn", "tsn_flow", "i3d_flow", "two_stream", "two_stream_i3d"}  # test_two_stream
QUO_VADIS = {
    "cnn_lstm",
    "c3d",
    "fused_two_stream",
}  # test_cnn_lstm, test_c3d, test_fused_two_stream


@pytest.mark.parametrize("name", sorted(set(MODELS) - STREAM_MODELS - QUO_VADIS))
def test_every_model_gives_logits(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, frames=T, **TINY).eval()
    clip = torch.randn(2, 3, T, SIZE, SIZE)
    graph = _graph([torch.tensor([0.0, 0, 16, 16]), torch.tensor([8.0, 8, 30, 30])])
    assert model.takes_graph == (name.endswith("_gcn") or name == "i3d_roi")
    assert type(model).takes_graph is model.takes_graph  # a class attribute, one per model class
    assert isinstance(model, STRG if model.takes_graph else ResNet3D)
    with torch.no_grad():
        assert model(clip, graph).shape == (2, 5)
        if not model.takes_graph:
            torch.testing.assert_close(model(clip), model(clip, graph))


def test_strg_structure() -> None:
    model = build_model("i3d_nl_gcn", num_classes=7, depth=50, width=8, region_channels=32)
    assert model.region.in_channels == 256 and model.region.out_channels == 32
    assert model.region.feature_stride == 16  # res5 stride 1 by default, as in STRG
    assert model.gcn.in_channels == 32 and model.gcn.num_layers == 3
    # the global feature is the pooled 32-d reduced map, the same size as the GCN feature
    assert model.global_feature == "reduced"
    assert model.fc.in_features == 32 + 32 and model.fc.out_features == 7
    backbone_global = build_model(
        "i3d_gcn", num_classes=7, depth=50, width=8, region_channels=32, global_feature="backbone"
    )
    assert backbone_global.fc.in_features == 256 + 32
    assert model.dropout.p == 0.3
    assert sum(m.__class__.__name__ == "NonLocalGraphConv" for m in model.backbone.modules()) == 5


def test_strg_errors() -> None:
    model = build_model("i3d_gcn", num_classes=3, **TINY).eval()
    clip = torch.randn(1, 3, T, SIZE, SIZE)
    with pytest.raises(ValueError, match="needs the region graph"):
        model(clip)
    late = Batch.from_data_list(
        [VideoGraph(box=torch.tensor([[0.0, 0, 8, 8]]), frame=torch.tensor([T]))]
    )
    with pytest.raises(ValueError, match=f"T={T}"):
        model(clip, late)
    with pytest.raises(ValueError, match="2 video"):
        model(clip, _graph([torch.tensor([0.0, 0, 8, 8])] * 2))
    with pytest.raises(ValueError, match="unknown model"):
        build_model("i3d_transformer", num_classes=3)
    with pytest.raises(ValueError, match="unknown config keys"):
        build_model("i3d", num_classes=3, detph="r18")
    with pytest.raises(ValueError, match="depth"):
        build_model("i3d", num_classes=3, depth="r101")
    with pytest.raises(ValueError, match="multiple"):
        build_model("i3d", num_classes=3, frames=7, **TINY)
    with pytest.raises(ValueError, match="global_feature"):
        build_model("i3d_gcn", num_classes=3, global_feature="both", **TINY)
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        model(torch.randn(1, 2, T, SIZE, SIZE), _graph([torch.tensor([0.0, 0, 8, 8])]))


def test_video_without_boxes_uses_global_branch_only() -> None:
    torch.manual_seed(0)
    model = build_model("i3d_gcn", num_classes=3, **TINY).eval()
    clip = torch.randn(2, 3, T, SIZE, SIZE)
    empty = VideoGraph(box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long))
    full = VideoGraph(box=torch.tensor([[0.0, 0, 16, 16]]).repeat(T, 1), frame=torch.arange(T))
    with torch.no_grad():
        logits = model(clip, Batch.from_data_list([empty, full]))
        reduced = model.region.reduce(model.backbone.forward_features(clip))
        pooled = reduced.mean(dim=(2, 3, 4))
    zeros = torch.zeros(1, model.gcn.out_channels)
    want = model.fc(torch.cat([pooled[0:1], zeros], 1))
    torch.testing.assert_close(logits[0:1], want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("global_feature", ["reduced", "backbone"])
def test_roi_ablation_is_strg_without_the_graph(global_feature: str) -> None:
    """``i3d_roi``: the same backbone, boxes and RoIAlign nodes as ``i3d_gcn``, mean-pooled per
    video with no graph: logits = fc([avgpool(G) || mean_n X_n]), G = W_r * F ("reduced") or F
    ("backbone"). In float64, so the tolerance is far below any real difference."""
    torch.manual_seed(0)
    model = build_model("i3d_roi", num_classes=4, frames=T, global_feature=global_feature, **TINY)
    model = model.double().eval()
    global_channels = 16 if global_feature == "reduced" else model.backbone.out_channels
    assert model.gcn is None and model.fc.in_features == global_channels + 16
    clip = torch.randn(3, 3, T, SIZE, SIZE, dtype=torch.float64)
    boxes = [torch.tensor([0.0, 0, 16, 16]), torch.tensor([8.0, 4, 30, 20])]
    graph = Batch.from_data_list(
        [
            VideoGraph(box=torch.cat([b.repeat(T, 1) for b in boxes]), frame=torch.arange(T).repeat(2)),
            VideoGraph(box=torch.zeros(0, 4), frame=torch.zeros(0, dtype=torch.long)),
            VideoGraph(box=boxes[1].repeat(T, 1), frame=torch.arange(T)),
        ]
    )  # fmt: skip
    graph.box = graph.box.double()
    with torch.no_grad():
        logits = model(clip, graph)
        features = model.backbone.forward_features(clip)
        nodes = model.region(features, graph, num_frames=T)
        reduced = torch.einsum("bcthw,dc->bdthw", features, model.region.reduce.weight.flatten(1))
        reduced = reduced + model.region.reduce.bias[:, None, None, None]
        pooled = (reduced if global_feature == "reduced" else features).mean(dim=(2, 3, 4))
    means = torch.stack([nodes.x[nodes.batch == b].mean(0) if (nodes.batch == b).any() else torch.zeros(16, dtype=torch.float64) for b in range(3)])  # fmt: skip
    want = model.fc(torch.cat([pooled, means], 1))
    torch.testing.assert_close(logits, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())
    assert nodes.x.size(0) == (2 + 1) * T // model.backbone.temporal_stride
    with pytest.raises(ValueError, match="region reader"):
        STRG(model.backbone, None, 4)


def test_inflate_from_state_dict() -> None:
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    model = build_model("i3d_gcn", num_classes=3, depth="r18", inflate_from=sd)
    report = model.inflation_report
    assert not report.missing and not report.skipped
    assert report.unexpected == ["fc.weight", "fc.bias"]  # STRG has its own classifier
    torch.testing.assert_close(model.backbone.stem.conv1.weight.sum(2), sd["conv1.weight"])


def test_tiny_strg_overfits_through_the_graph() -> None:
    """Three identical clips whose labels differ only by where their boxes are: the global branch
    sees the same clip, so only the region/GCN branch can fit the labels."""
    torch.manual_seed(0)
    model = build_model("i3d_gcn", num_classes=3, frames=T, **TINY)
    clip = torch.randn(1, 3, T, SIZE, SIZE).expand(3, -1, -1, -1, -1).contiguous()
    labels = torch.tensor([0, 1, 2])
    graph = _graph([torch.tensor([4.0 + 8 * k, 4.0 + 8 * k, 16.0 + 8 * k, 16.0 + 8 * k]) for k in range(3)])  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = F.cross_entropy(model(clip, graph), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.5
    assert losses[-1] < 0.05
    model.eval()
    with torch.no_grad():
        assert model(clip, graph).argmax(1).tolist() == labels.tolist()


def test_build_model_is_channels_last_by_default() -> None:
    """``build_model`` keeps every conv weight (backbone and STRG's 1x1x1 region conv) in
    channels_last_3d and converts the clip itself; ``channels_last=False`` keeps them contiguous."""
    cl = torch.channels_last_3d
    model = build_model("i3d_gcn", num_classes=3, frames=T, **TINY)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert model.region.reduce in convs and model.backbone.channels_last
    assert all(m.weight.is_contiguous(memory_format=cl) for m in convs)
    plain = build_model("i3d_gcn", num_classes=3, frames=T, channels_last=False, **TINY)
    assert not plain.backbone.channels_last
    assert not plain.backbone.stem.conv1.weight.is_contiguous(memory_format=cl)
    clip = torch.randn(2, 3, T, SIZE, SIZE)  # contiguous, as the data loader gives it
    graph = _graph([torch.tensor([0.0, 0, 16, 16]), torch.tensor([8.0, 8, 30, 30])])
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        got, want = model.eval()(clip, graph), plain.eval()(clip, graph)
    # float32 through two memory layouts: oneDNN sums in different orders, so the tolerance
    # scales with the logits' magnitude
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_box_cap_reaches_the_region_reader() -> None:
    model = build_model("i3d_gcn", num_classes=3, max_boxes_per_frame=50, **TINY)
    assert model.region.max_boxes_per_frame == 50
    assert build_model("i3d_roi", num_classes=3, **TINY).region.max_boxes_per_frame is None


def test_gcn_follows_the_paper_by_default_with_the_options_kept() -> None:
    model = build_model("i3d_gcn", num_classes=3, **TINY)
    assert (model.gcn.similarity, model.gcn.norm, model.gcn.bias) == ("shared", True, False)
    old = build_model(
        "i3d_gcn", num_classes=3, gcn_similarity="per_layer", gcn_norm=False, gcn_bias=True,
        global_feature="backbone", **TINY,
    )  # fmt: skip
    assert (old.gcn.similarity, old.gcn.norm, old.gcn.bias) == ("per_layer", False, True)
    assert old.global_feature == "backbone"


@pytest.mark.parametrize("name", ["i3d_gcn", "i3d_roi"])
def test_head_on_encoded_regions_is_the_whole_model(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, frames=T, **TINY).eval()
    clip = torch.randn(2, 3, T, SIZE, SIZE)
    graph = _graph([torch.tensor([0.0, 0, 16, 16]), torch.tensor([8.0, 8, 30, 30])])
    head = STRGHead.from_strg(model)
    own = dict(model.named_parameters())
    assert head.takes_graph and all(p is own[k] for k, p in head.named_parameters())
    with torch.no_grad():
        pooled, nodes = model.encode(clip, graph)
        assert pooled.shape == (2, TINY["region_channels"]) and nodes.x.size(0) == 2 * T // 2
        torch.testing.assert_close(head(pooled, nodes), model(clip, graph), rtol=0, atol=0)
    with pytest.raises(ValueError, match="node graph"):
        head(pooled, None)
    with pytest.raises(TypeError, match="needs an STRG"):
        STRGHead.from_strg(build_model("i3d", num_classes=5, **TINY))


def test_strg_returns_the_similarity_graph_of_its_region_nodes() -> None:
    """``return_attention_weights``: the same logits, and alpha is the dense softmax
    G = softmax(phi(X) phi'(X)^T) over each video's region nodes (what ``encode`` reads)."""
    torch.manual_seed(0)
    model = build_model("i3d_gcn", num_classes=3, frames=T, **TINY).double().eval()
    clip = torch.randn(2, 3, T, SIZE, SIZE, dtype=torch.float64)
    graph = _graph([torch.tensor([0.0, 0, 16, 16]), torch.tensor([8.0, 8, 30, 30])])
    graph.box = graph.box.double()
    with torch.no_grad():
        logits, (edge_index, alpha) = model(clip, graph, return_attention_weights=True)
        torch.testing.assert_close(logits, model(clip, graph))
        pooled, nodes = model.encode(clip, graph)
        torch.testing.assert_close(model.classify(pooled, nodes), logits)
    sim = model.gcn.edge_builders["similarity"].graph
    scores = (nodes.x @ sim.phi.weight.t()) @ (nodes.x @ sim.phi_prime.weight.t()).t()
    same = nodes.batch[:, None] == nodes.batch[None, :]
    g = torch.softmax(scores.masked_fill(~same, float("-inf")), dim=1)
    assert edge_index.size(1) == int(same.sum())
    torch.testing.assert_close(alpha, g[edge_index[1], edge_index[0]], rtol=1e-9, atol=1e-12)
    roi = build_model("i3d_roi", num_classes=3, frames=T, **TINY).eval()
    with pytest.raises(ValueError, match="no attention weights"):
        roi(clip.float(), graph, return_attention_weights=True)
