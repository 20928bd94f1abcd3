"""The loop on stand-ins: learning, exact resume after SIGKILL, DDP == one process, evaluation."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from engine_toys import ToyNet, ToyVideos, toy_collate
from sigkill import sigkill_when

from stgcn.engine import (
    OptimConfig,
    TrainConfig,
    classification_loss,
    evaluate,
    fit,
    load_checkpoint,
    write_predictions,
)

REPO = Path(__file__).resolve().parents[2]
RUN = Path(__file__).resolve().parent / "toy_run.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _fit(tmp: Path | None = None, **kw) -> tuple[ToyNet, object]:
    torch.manual_seed(0)
    model = ToyNet(bn=True)
    train = ToyVideos(32, seed=1)
    val = ToyVideos(10, views=2, augment=False, seed=1)
    cfg = TrainConfig(
        epochs=3, batch_size=8, seed=2, progress=False, out_dir=tmp and str(tmp), **kw
    )
    res = fit(model, train, val, cfg, OptimConfig(lr=0.05), collate_fn=toy_collate)
    return model, res


def test_fit_learns_and_checkpoints(tmp_path: Path) -> None:
    model, res = _fit(tmp_path)
    assert [h["epoch"] for h in res.history] == [0, 1, 2]
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.eval.report["num_videos"] == 10  # 20 items, 2 views each
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["epoch"] == 3 and ck["step_in_epoch"] == 0 and ck["finished"]
    for k, v in model.state_dict().items():
        assert torch.equal(ck["model"][k], v)


def test_workers_do_not_change_the_run() -> None:
    _, a = _fit()
    _, b = _fit(workers=2)
    for ha, hb in zip(a.history, b.history, strict=True):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], abs=1e-6)
    assert torch.allclose(a.eval.probs, b.eval.probs, atol=1e-6)


def test_evaluate_averages_views_and_writes_predictions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ToyNet().eval()
    data = ToyVideos(6, views=3, augment=False)
    res = evaluate(model, data, batch_size=4, collate_fn=toy_collate)
    with torch.no_grad():
        batch = toy_collate([data[i] for i in range(len(data))])
        probs = model(batch.clip, batch.graph).softmax(1).view(6, 3, -1).mean(1)
    assert res.video_ids == [f"vid{v:04d}" for v in range(6)]
    assert torch.allclose(res.probs, probs, atol=1e-6)
    assert res.report["top1"] == pytest.approx(
        100.0 * (probs.argmax(1) == data.labels).float().mean().item()
    )
    lines = write_predictions(res, tmp_path / "pred.csv").read_text().splitlines()
    assert lines[0].startswith("video_id,label,pred") and len(lines) == 7


def test_resume_refuses_a_different_batch_size(tmp_path: Path) -> None:
    _fit(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        fit(
            ToyNet(bn=True),
            ToyVideos(32, seed=1),
            None,
            TrainConfig(epochs=4, batch_size=4, progress=False),
            OptimConfig(),
            collate_fn=toy_collate,
            resume=tmp_path / "checkpoint.pt",
        )


def _result(out: Path) -> dict:
    return torch.load(out / "result.pt", weights_only=True)


def _assert_same_run(a: dict, b: dict, atol: float) -> None:
    assert len(a["history"]) == len(b["history"])
    for ha, hb in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5"):
            assert ha[key] == pytest.approx(hb[key], abs=atol), (key, ha["epoch"])
    assert a["report"]["top1"] == pytest.approx(b["report"]["top1"], abs=atol)
    assert a["video_ids"] == b["video_ids"]
    assert torch.allclose(a["probs"], b["probs"], atol=atol)
    for k, v in a["state"].items():
        assert torch.allclose(v.float(), b["state"][k].float(), atol=atol), k


def test_resume_after_sigkill_mid_epoch_is_exact(tmp_path: Path) -> None:
    """BatchNorm, dropout and python/numpy/torch augmentation all on; 6 steps/epoch, kill in epoch 2."""
    common = ["--epochs", "4", "--checkpoint-every", "2", "--bn"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    subprocess.run([sys.executable, str(RUN), "--out", str(ref), *common], env=ENV, check=True)

    proc = subprocess.Popen(
        [sys.executable, str(RUN), "--out", str(cut), "--sleep", "0.03", *common], env=ENV
    )
    ckpt = cut / "checkpoint.pt"

    def mid_epoch() -> bool:
        if not ckpt.exists():
            return False
        state = load_checkpoint(ckpt)
        return state["epoch"] >= 1 and state["step_in_epoch"] > 0

    sigkill_when(
        proc,
        mid_epoch,
        timeout_s=120,
        exited="the run finished before a mid-epoch checkpoint was seen",
        never="no mid-epoch checkpoint within 120 s",
    )
    state = load_checkpoint(ckpt)
    assert 0 < state["step_in_epoch"] < 6 and state["epoch"] < 4, "the kill did not land mid-epoch"
    assert not (cut / "result.pt").exists()

    subprocess.run(
        [sys.executable, str(RUN), "--out", str(cut), "--resume", str(ckpt), *common],
        env=ENV,
        check=True,
    )
    _assert_same_run(_result(ref), _result(cut), atol=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_processes_match_one(tmp_path: Path) -> None:
    """Same global batch (8 = 2 x 4). The toy has no BatchNorm and no dropout: per-process BN
    statistics and per-process dropout masks would make the two runs differ by design. The 13 x 3
    validation items do not split evenly, so the sampler's padding repeats must be dropped."""
    common = ["--epochs", "2", "--dropout", "0", "--num-train", "40", "--checkpoint-every", "3"]
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(RUN), "--out", str(one), *common], env=ENV, check=True)
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
    ]
    subprocess.run([*launch, str(RUN), "--out", str(two), *common], env=ENV, check=True)
    a, b = _result(one), _result(two)
    assert a["report"]["num_videos"] == b["report"]["num_videos"] == 13
    _assert_same_run(a, b, atol=1e-5)
    assert load_checkpoint(two / "checkpoint.pt")["world_size"] == 2


def test_frozen_backbone_keeps_weights_and_bn_statistics() -> None:
    torch.manual_seed(0)
    model = ToyNet(bn=True)
    model.conv.requires_grad_(False)
    model.bn.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=8, progress=False)
    fit(model, ToyVideos(16, seed=1), None, cfg, OptimConfig(lr=0.1), collate_fn=toy_collate)
    after = model.state_dict()
    for k in ("conv.weight", "bn.weight", "bn.running_mean", "bn.running_var"):
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


class _Skipped(NamedTuple):  # like stgcn.data.ssv2.Skipped: the loop only reads .index
    index: int
    video_id: str
    reason: str


class _SkippingBatch(NamedTuple):
    clip: torch.Tensor
    label: torch.Tensor
    graph: object
    video_id: list
    view: torch.Tensor
    skipped: tuple = ()


class _Skipping(ToyVideos):
    def __getitem__(self, i: int):
        return _Skipped(i, f"vid{i:04d}", "missing_video") if i % 5 == 0 else super().__getitem__(i)


def _skipping_collate(items: list) -> _SkippingBatch:
    batch = toy_collate([s for s in items if not isinstance(s, _Skipped)])
    return _SkippingBatch(*batch, skipped=tuple(s for s in items if isinstance(s, _Skipped)))


def test_skipped_samples_are_left_out_and_counted() -> None:
    torch.manual_seed(0)
    res = fit(
        ToyNet(),
        _Skipping(20, seed=1),
        _Skipping(10, augment=False, seed=1),
        TrainConfig(epochs=1, batch_size=4, progress=False),
        OptimConfig(),
        collate_fn=_skipping_collate,
    )
    assert res.history[0]["skipped"] == 4  # indices 0, 5, 10, 15
    assert res.eval.report["num_videos"] == 8  # 10 videos, 0 and 5 skipped
    assert "vid0005" not in res.eval.video_ids


def test_bfloat16_autocast_on_cpu_trains() -> None:
    _, res = _fit(amp=True)
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in res.history)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_start_epoch_skips_epochs_and_advances_the_schedule() -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=3, batch_size=8, progress=False)
    opt = OptimConfig(lr=0.1, schedule="multistep", milestones=[2], gamma=0.1)
    res = fit(
        ToyNet(), ToyVideos(16, seed=1), None, cfg, opt, collate_fn=toy_collate, start_epoch=2
    )
    assert [h["epoch"] for h in res.history] == [2]
    assert res.history[0]["lr"] == pytest.approx(0.01)  # past the milestone at epoch 2


def test_classification_loss_averages_per_step_cross_entropies() -> None:
    """[B, C]: cross-entropy; [B, S, C] (a recurrent model in training): the mean over the B x S
    steps of each step's cross-entropy against its clip's label, label smoothing included."""

    torch.manual_seed(0)
    logits, label = torch.randn(3, 4, 6), torch.tensor([0, 5, 2])
    by_hand = torch.stack(
        [-(logits[b, s].log_softmax(-1)[label[b]]) for b in range(3) for s in range(4)]
    ).mean()
    torch.testing.assert_close(classification_loss(logits, label), by_hand)
    torch.testing.assert_close(
        classification_loss(logits[:, 1], label), F.cross_entropy(logits[:, 1], label)
    )
    smooth = classification_loss(logits, label, 0.1)
    per_step = [F.cross_entropy(logits[:, s], label, label_smoothing=0.1) for s in range(4)]
    torch.testing.assert_close(smooth, torch.stack(per_step).mean())


def test_loss_fn_trains_a_self_supervised_objective_without_labels() -> None:
    """``fit(loss_fn=...)``: the output need not be logits and the labels are not read; the
    history has the objective's loss and no accuracy."""

    class Denoiser(torch.nn.Module):
        takes_graph = False

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 3, 3, padding=1)

        def forward(self, clip: torch.Tensor, graph: object = None) -> torch.Tensor:
            return self.conv(clip)

    class NoLabels(ToyVideos):
        def __getitem__(self, i: int):  # a label that would crash any use of it
            return super().__getitem__(i)._replace(label=-100)

    def reconstruct(output: torch.Tensor, batch) -> torch.Tensor:  # the batch's own clip
        return F.mse_loss(output, batch.clip)

    torch.manual_seed(0)
    model = Denoiser()
    cfg = TrainConfig(epochs=3, batch_size=8, seed=2, progress=False)
    res = fit(
        model,
        NoLabels(32, augment=False, seed=1),
        None,
        cfg,
        OptimConfig(lr=0.05),
        collate_fn=toy_collate,
        loss_fn=reconstruct,
    )
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.5 * losses[0]
    assert all("train_top1" not in h for h in res.history) and res.eval is None
