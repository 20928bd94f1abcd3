"""``random_videos``: region nodes of a few videos, as the space-time layers' tests feed them."""

from __future__ import annotations

import torch
from torch import Tensor


def random_videos(
    counts: list[int],
    channels: int,
    num_frames: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``counts[v]`` boxes in video ``v``: features ``x [N, channels]``, boxes ``[N, 4]`` (x1, y1,
    x2, y2, sides 5..35 in a 75-pixel frame), random frames ``[N]`` below ``num_frames``, and the
    video of each node ``batch [N]``, grouped by video as in a PyG ``Batch``."""
    g = torch.Generator().manual_seed(seed)
    n = sum(counts)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 40
    box = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g, dtype=dtype) * 30], 1)
    frame = torch.randint(0, num_frames, (n,), generator=g)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return torch.randn(n, channels, generator=g, dtype=dtype), box, frame, batch
