"""Why does the global-pooling I3D of ``benchmarks/ssv2.py`` stay at chance? Cheap experiments.

Two commands, both on the same cached clips as ``benchmarks/ssv2.py`` (every argument after
``--`` is passed to its parser, so ``--cache-dir``, ``--lr``, ``--epochs``, ``--width`` ... work):

``probe``: linear probes (multinomial logistic regression, sklearn) on the features of an
I3D backbone, random-init or loaded from a checkpoint, pooled in several ways: global average
(what ``i3d`` sees), global max, average over space keeping time, and the raw clip averaged
to a small grid. Tells whether the information is in the features and whether pooling loses it.

``train``: ``stgcn.engine.fit`` on the preset (optionally on a subset of the train split), with
the per-step gradient norm of each stage (stem, layer1..4, fc) recorded by parameter hooks and
printed per epoch beside the loss and accuracy. Its switches are the diagnosis's experiments, not
library features: ``--fc-std`` (head init), ``--zero-init-residual``, ``--dropout``, ``--bn-neck``
(BatchNorm1d before fc), ``--adamw`` (AdamW instead of SGD), ``--freeze-backbone CLIPS`` (fc only,
on the random backbone), ``--rgb-diff`` (clip + frame differences), ``--subset N``.
The figures they gave are in ``docs/baseline-diagnosis.md``. The models start from random weights,
the setting the diagnosis studied (the CPU preset now starts them from a motion pre-training):
``--init-from CKPT`` after ``--`` starts from that backbone instead, e.g. ssv2.py's cached
``<cache-dir>/pretrain/motion-*/backbone.pt``.

Examples::

    python benchmarks/ssv2_diagnose.py probe -- --cache-dir /tmp/stgcn-cache-models --threads 1
    python benchmarks/ssv2_diagnose.py train --subset 300 -- --model i3d --epochs 3 --lr 0.01
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ssv2  # noqa: E402

from stgcn.data.ssv2 import collate  # noqa: E402
from stgcn.engine import DistInfo, fit, load_checkpoint, seed_everything  # noqa: E402
from stgcn.models import build_model, init_from  # noqa: E402

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")


def _clips(dataset, batch: int = 32):
    """Yield (clip [B, 3, T, H, W], label [B]) over a dataset of Samples, in order."""
    for start in range(0, len(dataset), batch):
        items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        b = collate(items)
        yield b.clip, b.label


@torch.no_grad()
def pooled_features(backbone: nn.Module, dataset) -> dict[str, Tensor]:
    """Features of every clip [N, D] under several poolings of the last map [B, C, T', H', W']."""
    backbone.eval()
    out = defaultdict(list)
    for clip, label in _clips(dataset):
        fmap = backbone.forward_features(clip).float()
        out["gap"].append(fmap.mean((2, 3, 4)))
        out["gmp"].append(fmap.amax((2, 3, 4)))
        out["space_avg_keep_time"].append(fmap.mean((3, 4)).flatten(1))
        out["pixels_4x4_keep_time"].append(
            nn.functional.adaptive_avg_pool3d(clip, (clip.shape[2], 4, 4)).flatten(1)
        )
        out["label"].append(label)
    return {k: torch.cat(v) for k, v in out.items()}


def linear_probe(train: Tensor, ytr: Tensor, val: Tensor, yva: Tensor) -> tuple[float, float]:
    """(train, val) top-1 % of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train.numpy())
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit(scaler.transform(train.numpy()), ytr.numpy())
    acc_tr = 100.0 * clf.score(scaler.transform(train.numpy()), ytr.numpy())
    acc_va = 100.0 * clf.score(scaler.transform(val.numpy()), yva.numpy())
    return acc_tr, acc_va


def cmd_probe(opts: argparse.Namespace, args: argparse.Namespace, preset: ssv2.Preset) -> dict:
    data = ssv2.build_data(args, preset, DistInfo())
    seed_everything(opts.seed)
    model = build_model("i3d", len(data.classes), **ssv2.model_arguments(preset))
    if opts.checkpoint:
        state = load_checkpoint(opts.checkpoint)
        model.load_state_dict(state["model"])
    tic = time.perf_counter()
    tr = pooled_features(model, data.train)
    va = pooled_features(model, data.val)
    print(
        f"features of {len(data.train)} + {len(data.val)} clips in {time.perf_counter() - tic:.0f} s"
    )
    gap = tr["gap"]
    rows: dict = {
        # how much of a pooled feature varies between clips: small = the clip-level signal is a
        # small ripple on a large common offset, hard for SGD on an un-normalised linear layer
        "gap_between_clip_std_over_rms": float(gap.std(0).norm() / gap.pow(2).mean(0).sqrt().norm())
    }
    print(f"gap features: between-clip std / rms = {rows['gap_between_clip_std_over_rms']:.3f}")
    for key in tr:
        if key == "label":
            continue
        acc = linear_probe(tr[key], tr["label"], va[key], va["label"])
        rows[key] = {"dim": tr[key].shape[1], "train_top1": acc[0], "val_top1": acc[1]}
        print(
            f"{key:24s} dim {tr[key].shape[1]:5d}: train {acc[0]:5.1f}  val {acc[1]:5.1f}",
            flush=True,
        )
    return rows


class RGBDiff(nn.Module):
    """Diagnosis: the clip and its frame differences (TSN's RGB-difference modality) stacked on
    the channels, [B, 3, T, H, W] -> [B, 6, T, H, W] (the first difference is 0)."""

    takes_graph = False

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.fc = net.fc

    def forward(self, clip: Tensor, graph: object = None) -> Tensor:
        diff = torch.diff(clip, dim=2, prepend=clip[:, :, :1])
        return self.net(torch.cat([clip, diff], 1))


@torch.no_grad()
def calibrate_bn(model: nn.Module, dataset, clips: int) -> None:
    """Set every BatchNorm's running statistics to the exact mean/var over ``clips`` clips (train
    mode, cumulative average), so that a frozen random backbone in eval mode sees its own stats."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    clips = min(clips, len(dataset))
    for start in range(0, clips, 16):
        model(collate([dataset[i] for i in range(start, min(start + 16, clips))]).clip)


def lp_init(model: nn.Module, train) -> None:
    """Set ``model.fc`` to a logistic regression fitted (L-BFGS) on the pooled features of the
    train clips, with the BN statistics of the untrained backbone measured first."""
    from sklearn.linear_model import LogisticRegression

    calibrate_bn(model, train, 320)
    feats = pooled_features(model, train)
    x, y = feats["gap"].double(), feats["label"]
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(((x - mu) / sd).numpy(), y.numpy())
    w, b = torch.from_numpy(clf.coef_), torch.from_numpy(clf.intercept_)
    fc = model.fc
    if isinstance(fc, nn.Sequential):  # BN neck: it standardises, fc takes the probe as is
        fc[0].running_mean.copy_(mu.float())
        fc[0].running_var.copy_(sd.float() ** 2)
        fc = fc[1]
    else:  # undo the standardisation: w (x - mu) / sd + b
        w = w / sd
        b = b - (w * mu).sum(1)
    with torch.no_grad():
        fc.weight.copy_(w.float())
        fc.bias.copy_(b.float())
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1
    print(
        f"lp-init: train top-1 of the fitted fc {100 * clf.score(((x - mu) / sd).numpy(), y.numpy()):.1f}"
    )


class StageGradNorms:
    """Per-step gradient norm of each stage, from ``register_post_accumulate_grad_hook``.

    A training-mode forward of the model opens a new step (evaluation forwards do not).
    """

    def __init__(self, model: nn.Module) -> None:
        self.sq: dict[str, list[float]] = defaultdict(list)
        self.step = -1
        model.register_forward_pre_hook(self._new_step)
        for name, p in model.named_parameters():
            stage = name.removeprefix("net.").split(".")[0]
            if stage in STAGES and p.requires_grad:
                p.register_post_accumulate_grad_hook(self._hook(stage))

    def _new_step(self, module: nn.Module, inputs: object) -> None:
        if module.training:
            self.step += 1
            for s in STAGES:
                self.sq[s].append(0.0)

    def _hook(self, stage: str):
        def hook(p: Tensor) -> None:
            self.sq[stage][self.step] += float(p.grad.detach().float().pow(2).sum())

        return hook

    def norms(self, start: int, stop: int) -> dict[str, float]:
        """Mean over steps [start, stop) of each stage's gradient norm."""
        return {
            s: sum(v**0.5 for v in self.sq[s][start:stop]) / max(1, stop - start) for s in STAGES
        }


def cmd_train(opts: argparse.Namespace, args: argparse.Namespace, preset: ssv2.Preset) -> dict:
    data = ssv2.build_data(args, preset, DistInfo())
    train = data.train
    if opts.subset:
        g = torch.Generator().manual_seed(0)
        train = Subset(train, torch.randperm(len(train), generator=g)[: opts.subset].tolist())
    name = (args.model or ["i3d"])[0]
    seed_everything(opts.seed)
    kwargs = ssv2.model_arguments(preset)
    if opts.dropout is not None:
        kwargs["dropout"] = opts.dropout
    if opts.rgb_diff:
        kwargs["in_channels"] = 6
    model = build_model(name, len(data.classes), **kwargs)
    if args.init_from:  # e.g. the motion pre-training's backbone.pt (ssv2.py's cache)
        init_from(model, args.init_from, freeze=args.freeze_backbone)
    if opts.rgb_diff:
        model = RGBDiff(model)
    if opts.fc_std is not None:  # PySlowFast's head init: normal(0, 0.01), zero bias
        nn.init.normal_(model.fc.weight, std=opts.fc_std)
        nn.init.zeros_(model.fc.bias)
    if opts.bn_neck:  # standardise the pooled feature before the classifier
        model.fc = nn.Sequential(nn.BatchNorm1d(model.out_channels), model.fc)
    if opts.zero_init_residual:
        model.reset_parameters(zero_init_residual=True)
    if opts.lp_init:  # LP-FT: fit fc by logistic regression on the random backbone's features
        lp_init(model, train)
    if opts.freeze_backbone:  # train fc alone on the random backbone, BN statistics calibrated
        calibrate_bn(model, train, opts.freeze_backbone)
        for n, p in model.named_parameters():
            p.requires_grad_(n.removeprefix("net.").startswith("fc."))
    hooks = StageGradNorms(model)
    if opts.adamw:  # diagnosis only: swap fit's SGD for AdamW at the same schedule
        import stgcn.engine.trainer as trainer

        trainer.build_optimizer = lambda m, c: torch.optim.AdamW(
            [p for p in m.parameters() if p.requires_grad], lr=c.lr, weight_decay=opts.adamw
        )
    cfg = replace(preset.train, seed=opts.seed, out_dir=None, progress=False)
    tic = time.perf_counter()
    res = fit(model, train, data.val, cfg, preset.optim, class_groups=data.groups)
    steps = max(1, hooks.step + 1) // max(1, cfg.epochs)
    rows = []
    for e, h in enumerate(res.history):
        grad = hooks.norms(e * steps, (e + 1) * steps)
        rows.append({**h, "grad_norm": grad})
        print(
            f"epoch {e + 1}: train loss {h['train_loss']:.3f} top-1 {h['train_top1']:.1f}  "
            f"val top-1 {h.get('val_top1', float('nan')):.1f}  grad "
            + " ".join(f"{s} {v:.3g}" for s, v in grad.items()),
            flush=True,
        )
    print(f"{time.perf_counter() - tic:.0f} s")
    if opts.save:
        torch.save({"model": model.state_dict()}, opts.save)
    return {"history": rows}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, theirs = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("probe", "train"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=Path, help="probe: weights of a trained i3d")
    p.add_argument("--subset", type=int, default=0, help="train: first N of a fixed shuffle")
    p.add_argument("--zero-init-residual", action="store_true")
    p.add_argument("--dropout", type=float, help="train: dropout before fc (i3d default 0.5)")
    p.add_argument("--fc-std", type=float, help="train: re-init fc as normal(0, std), bias 0")
    p.add_argument("--bn-neck", action="store_true", help="train: BatchNorm1d before fc")
    p.add_argument("--adamw", type=float, default=0.0, help="train: AdamW with this weight decay")
    p.add_argument(
        "--freeze-backbone",
        type=int,
        default=0,
        metavar="CLIPS",
        help="train: only fc, on the random backbone with BN stats from CLIPS clips",
    )
    p.add_argument("--rgb-diff", action="store_true", help="train: clip + frame differences")
    p.add_argument("--lp-init", action="store_true", help="train: fc from a logistic regression")
    p.add_argument("--save", type=Path, help="train: save the trained weights here")
    p.add_argument("--json", type=Path, help="append the result as one JSON line here")
    opts = p.parse_args(ours)
    args = ssv2.build_parser().parse_args(theirs)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = ssv2.resolve(args)
    result = (cmd_probe if opts.command == "probe" else cmd_train)(opts, args, preset)
    if opts.json:
        with opts.json.open("a") as f:
            f.write(json.dumps({"argv": argv, "result": result}, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
