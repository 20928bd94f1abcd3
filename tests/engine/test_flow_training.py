"""Flow models train end to end on real reader batches: a tiny SSv2 in the official layout, flow
extracted by the ``python -m stgcn.data.flow`` CLI (DIS), the reader's flow modalities, and
:func:`stgcn.engine.fit`: ``tsn_flow`` on L = 2 stacks, ``i3d_flow`` on single fields, the
``two_stream`` TSN on both, and the decoded-clip cache carrying the flow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from ssv2_fixtures import make_ssv2  # noqa: E402

from stgcn.data.cached import CachedClips  # noqa: E402
from stgcn.data.flow import main as flow_cli  # noqa: E402
from stgcn.data.ssv2 import VIDEO_DIR, SomethingSomethingV2, collate  # noqa: E402
from stgcn.engine import OptimConfig, TrainConfig, fit, model_inputs  # noqa: E402
from stgcn.models import build_model  # noqa: E402

pytest.importorskip("cv2")

T, SIZE = 2, 32


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_ssv2(tmp_path_factory.mktemp("flowfit"), {"101": 12, "102": 14, "103": 10})
    report = flow_cli(
        [str(root / VIDEO_DIR), "--out", str(root / "flow"), "--method", "dis", "--no-progress"]
    )
    assert sorted(p.stem for p in (root / "flow").glob("*.npz")) == ["101", "102", "103"], report
    return root


def reader(root: Path, split: str, modality, length: int) -> SomethingSomethingV2:
    return SomethingSomethingV2(
        root, split, num_frames=T, size=SIZE, boxes=False, modality=modality, flow_length=length
    )


CASES = {
    # name: (build_model keywords, reader modality, flow_length L)
    "tsn_flow": (dict(depth=18, new_length=2, partial_bn=False), "flow", 2),
    "i3d_flow": (dict(depth=18, width=4), "flow", 1),
    "two_stream": (dict(depth=18, new_length=2, partial_bn=False), ("rgb", "flow"), 2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_flow_models_train_on_reader_batches(root: Path, name: str, tmp_path: Path) -> None:
    cfg, modality, length = CASES[name]
    train, val = (
        reader(root, "train", modality, length),
        reader(root, "validation", modality, length),
    )
    batch = collate([train[0], train[1]])
    assert batch.flow.shape == (2, 2 * length, T, SIZE, SIZE)
    assert (batch.clip is None) == (modality == "flow")
    torch.manual_seed(0)
    model = build_model(name, len(train.classes), **cfg)
    inputs = model_inputs(model, batch, torch.device("cpu"))
    assert inputs[-1 if name == "two_stream" else 0] is batch.flow
    before = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    res = fit(
        model,
        train,
        val,
        TrainConfig(epochs=1, batch_size=2, out_dir=str(tmp_path), progress=False),
        OptimConfig(lr=0.01),
    )
    assert len(res.history) == 1 and torch.isfinite(torch.tensor(res.history[0]["train_loss"]))
    assert res.eval.report["num_videos"] == len(val) and 0 <= res.eval.report["top1"] <= 100
    changed = [k for k, v in model.state_dict().items() if k in before and not v.equal(before[k])]
    first_conv = "flow.backbone.conv1.weight" if name == "two_stream" else None
    assert changed and (first_conv is None or first_conv in changed), changed


def test_the_clip_cache_carries_the_flow(root: Path, tmp_path: Path) -> None:
    """The cache gives back the reader's flow within half a uint8 step on [-1, 1], beside the
    RGB, and a flow-only cache has no clip."""
    ds = SomethingSomethingV2(
        root, "validation", num_frames=T, size=SIZE, boxes=False, modality=("rgb", "flow"),
        flow_length=2,
    )  # fmt: skip
    CachedClips.write(ds, tmp_path / "both.pt")
    cache = CachedClips.load(tmp_path / "both.pt")
    for i in range(len(ds)):
        s, c = ds[i], cache[i]
        assert c.flow.shape == s.flow.shape == (4, T, SIZE, SIZE)
        assert (c.flow - s.flow.clamp(-1, 1)).abs().max() <= 1 / 255 + 1e-6
        assert c.clip.shape == s.clip.shape
    only = reader(root, "validation", "flow", 1)
    CachedClips.write(only, tmp_path / "flow.pt")
    flow_cache = CachedClips.load(tmp_path / "flow.pt")
    assert flow_cache[0].clip is None and flow_cache[0].flow.shape == (2, T, SIZE, SIZE)
    assert collate([flow_cache[0], flow_cache[1]]).clip is None
