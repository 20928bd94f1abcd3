"""python -m stgcn.extract, RegionFeatureDataset and STRGHead: the cache equals the online model,
a killed extraction resumes to the same files, and the head trains through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import region_fixtures
import torch
from region_fixtures import TINY, tiny_checkpoint
from torch_geometric.loader import DataLoader

import stgcn.extract as extract
from stgcn.data.cached import MANIFEST, RegionFeatureDataset, collate_regions, region_shard_name
from stgcn.data.ssv2 import collate
from stgcn.engine import OptimConfig, TrainConfig, fit, load_checkpoint, save_checkpoint
from stgcn.io import load_safe
from stgcn.models import STRGHead

SIZE = 32


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated SSv2-format set: 6 train and 6 validation videos of 32x48 pixels."""
    return region_fixtures.tiny_set(tmp_path_factory.mktemp("ssv2") / "set")


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt", tiny_set)


def _argv(ckpt: Path, root: Path, out: Path, *more: str) -> list[str]:
    return [
        "--checkpoint", str(ckpt), "--data-root", str(root), "--out", str(out),
        "--size", str(SIZE), "--sampling", "tsn", "--stride", "2", "--shard-size", "2", "--batch-size", "2", "--workers", "0",
        "--threads", "1", "--no-progress", *more,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def extracted(tiny_set: Path, tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feats")
    assert extract.main(_argv(tiny_ckpt, tiny_set, out)) == 0
    return out


def test_extraction_writes_shards_that_batch(extracted: Path, tiny_ckpt: Path) -> None:
    model, extra = extract.load_region_model(tiny_ckpt)
    for split in ("train", "validation"):
        ds = RegionFeatureDataset(extracted / split)
        assert len(ds) == 6 and ds.manifest["num_shards"] == 3  # 6 videos, 2 per shard
        assert sorted((extracted / split).glob("shard-*.pt")) == [
            extracted / split / region_shard_name(k) for k in range(3)
        ]
        assert ds.classes == extra["classes"] and ds.manifest["model_name"] == "i3d_gcn"
        g = ds[0]
        n = g.num_nodes
        assert n > 0 and g.x.shape == (n, TINY["region_channels"]) and g.box.shape == (n, 4)
        assert g.track.shape == g.frame.shape == (n,)
        assert int(g.frame.max()) < TINY["frames"] // 2 == g.num_frames  # feature steps: T/2
        assert g.global_feature.shape == (1, TINY["region_channels"]) and g.y.shape == (1,)
        batch = next(iter(DataLoader(ds, batch_size=4)))
        assert batch.num_graphs == 4 and batch.global_feature.shape == (4, 8)
        assert batch.y.tolist() == ds.labels[:4] and batch.video_id == ds.video_ids[:4]


def test_cached_logits_equal_the_full_model(extracted: Path, tiny_ckpt: Path, tiny_set: Path):
    model, _ = extract.load_region_model(tiny_ckpt)
    args = extract.build_parser().parse_args(_argv(tiny_ckpt, tiny_set, extracted))
    online = extract.split_dataset(args, "validation", TINY["frames"])
    cached = RegionFeatureDataset(extracted / "validation")
    head = STRGHead.from_strg(model).eval()
    batch = collate([online[i] for i in range(len(online))])
    cbatch = collate_regions([cached[i] for i in range(len(cached))])
    assert cbatch.video_id == batch.video_id
    with torch.no_grad():
        full = model(batch.clip, batch.graph)
        from_cache = head(cbatch.clip, cbatch.graph)
    # the same float32 operations on the same values; batching may reorder sums in the convs
    tol = 64 * torch.finfo(torch.float32).eps * float(full.abs().max())
    torch.testing.assert_close(from_cache, full, rtol=0.0, atol=tol)
    assert float(full.std()) > 100 * tol  # logits that differ per video and class: a real check


def _shards(out: Path) -> list[dict]:
    return [load_safe(p) for p in sorted(out.glob("shard-*.pt"))]


def test_killed_extraction_resumes_to_the_same_files(
    extracted: Path, tiny_ckpt: Path, tiny_set: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "feats"
    real_save = extract.save_atomic
    calls = []

    def dies_on_the_second_shard(obj, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_save(obj, path)

    monkeypatch.setattr(extract, "save_atomic", dies_on_the_second_shard)
    with pytest.raises(KeyboardInterrupt):
        extract.main(_argv(tiny_ckpt, tiny_set, out, "--split", "train"))
    monkeypatch.setattr(extract, "save_atomic", real_save)
    split = out / "train"
    assert [p.name for p in split.glob("shard-*.pt")] == [region_shard_name(0)]
    with pytest.raises(FileNotFoundError, match="resume"):
        RegionFeatureDataset(split)
    # what a SIGKILL during a write leaves: the temporary file, never a shard name
    stale = split / f".{region_shard_name(1)}.abc123.tmp"
    stale.write_bytes(b"half a shard")

    assert extract.main(_argv(tiny_ckpt, tiny_set, out, "--split", "train")) == 0
    assert not stale.exists()
    resumed, whole = _shards(split), _shards(extracted / "train")
    assert len(resumed) == len(whole) == 3
    for a, b in zip(resumed, whole, strict=True):
        assert a.keys() == b.keys() and a["video_id"] == b["video_id"]
        for key, value in a.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, b[key]), key


def test_errors_are_clear(tiny_set: Path, tiny_ckpt: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(SystemExit, match="not found.*nope.pt"):
        extract.main(_argv(missing, tiny_set, tmp_path / "a"))
    plain = tiny_checkpoint(tmp_path / "i3d.pt", tiny_set, name="i3d")
    with pytest.raises(SystemExit, match="'i3d' has no region features"):
        extract.main(_argv(plain, tiny_set, tmp_path / "b"))
    bare = tiny_checkpoint(tmp_path / "bare.pt", tiny_set, extra=False)
    with pytest.raises(SystemExit, match="model_name"):
        extract.main(_argv(bare, tiny_set, tmp_path / "c"))
    out = tmp_path / "d"
    args = ["--split", "validation", "--limit", "2"]
    assert extract.main(_argv(tiny_ckpt, tiny_set, out, *args)) == 0
    with pytest.raises(ValueError, match="other settings.*size"):  # not mixed into the old cache
        extract.main(_argv(tiny_ckpt, tiny_set, out, *args, "--size", "48"))
    (out / "validation" / MANIFEST).unlink()
    with pytest.raises(FileNotFoundError, match="no region-feature cache"):
        RegionFeatureDataset(out / "validation")


def test_cached_head_trains_through_the_engine(extracted: Path, tiny_ckpt: Path) -> None:
    model, _ = extract.load_region_model(tiny_ckpt)
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head = STRGHead.from_strg(model)
    before = head.fc.weight.detach().clone()
    train = RegionFeatureDataset(extracted / "train")
    val = RegionFeatureDataset(extracted / "validation")
    res = fit(
        head,
        train,
        val,
        TrainConfig(epochs=12, batch_size=3, progress=False, eval_every=0),
        OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.0, schedule="cosine"),
        collate_fn=collate_regions,
    )
    losses = [h["train_loss"] for h in res.history]
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0]  # it fits six videos
    assert res.eval.report["num_videos"] == 6
    assert not torch.equal(model.fc.weight, before)  # the head trained is the STRG's own
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.items())


def test_views_and_skipped_items(tiny_ckpt: Path, tiny_set: Path, tmp_path: Path) -> None:
    from stgcn.data.ssv2 import Skipped

    argv = _argv(tiny_ckpt, tiny_set, tmp_path / "v", "--split", "validation", "--views", "2x1")
    assert extract.main([*argv, "--limit", "4"]) == 0
    ds = RegionFeatureDataset(tmp_path / "v" / "validation")
    assert ds.views == [0, 1, 0, 1] and ds.video_ids[0] == ds.video_ids[1] != ds.video_ids[2]

    model, extra = extract.load_region_model(tiny_ckpt)
    args = extract.build_parser().parse_args(argv)
    online = extract.split_dataset(args, "validation", TINY["frames"])

    class OneUnreadable(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int):
            return Skipped(i, "broken", "decode", "no frames") if i == 1 else online[i]

    out = tmp_path / "s"
    done = extract.extract_regions(model, OneUnreadable(), out, {"classes": extra["classes"]}, 2)
    assert (done["items"], done["skipped"], done["shards"], done["written"]) == (2, 1, 2, 2)
    ds = RegionFeatureDataset(out)
    assert len(ds) == 2 and ds.skipped == [(1, "broken", "decode")]
    assert ds.video_ids == [online[0].video_id, online[2].video_id]


def test_clips_are_sampled_and_cropped_as_the_checkpoint_records(
    tiny_set: Path, tiny_ckpt: Path, tmp_path: Path
) -> None:
    state = load_checkpoint(tiny_ckpt)
    state["extra"]["clips"] = {"sampling": "uniform", "stride": 2, "size": SIZE}  # as ssv2.py does
    recorded = save_checkpoint(state, tmp_path / "recorded.pt")

    def argv(ckpt: Path, out: str) -> list[str]:
        args = _argv(ckpt, tiny_set, tmp_path / out, "--split", "validation", "--limit", "1")
        for flag in ("--size", "--sampling", "--stride"):  # none given: the checkpoint's
            i = args.index(flag)
            args = args[:i] + args[i + 2 :]
        return args

    assert extract.main(argv(recorded, "a")) == 0
    manifest = RegionFeatureDataset(tmp_path / "a" / "validation").manifest
    assert (manifest["sampling"], manifest["stride"], manifest["size"]) == ("uniform", 2, SIZE)
    with pytest.raises(SystemExit, match="does not record the crop size"):
        extract.main(argv(tiny_ckpt, "b"))  # an older checkpoint: --size is needed
