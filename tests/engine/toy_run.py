"""A tiny training run of the engine on the toys; launched as a subprocess by the tests.

Works alone or under torchrun. Rank 0 writes ``<out>/result.pt`` with the history, the final
evaluation and the final weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_toys import ToyNet, ToyVideos, toy_collate  # noqa: E402

from stgcn.engine import OptimConfig, TrainConfig, fit, init_distributed  # noqa: E402
from stgcn.engine.distributed import cleanup_distributed  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-train", type=int, default=48)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--resume", default=None)
    p.add_argument("--bn", action="store_true")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--augment", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)
    dist = init_distributed("cpu")
    torch.manual_seed(0)
    model = ToyNet(bn=args.bn, dropout=args.dropout)
    train = ToyVideos(args.num_train, sleep=args.sleep, augment=bool(args.augment), seed=1)
    val = ToyVideos(13, views=3, augment=False, seed=1)
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        workers=args.workers,
        seed=3,
        out_dir=args.out,
        checkpoint_every=args.checkpoint_every,
        progress=False,
    )
    opt = OptimConfig(lr=0.05, warmup_epochs=0.5, clip_grad_norm=5.0, weight_decay=1e-3)
    res = fit(model, train, val, cfg, opt, dist=dist, collate_fn=toy_collate, resume=args.resume)
    if dist.is_main:
        torch.save(
            {
                "history": res.history,
                "report": res.eval.report,
                "probs": res.eval.probs,
                "video_ids": res.eval.video_ids,
                "state": model.state_dict(),
            },
            Path(args.out) / "result.pt",
        )
    cleanup_distributed()


if __name__ == "__main__":
    main()
