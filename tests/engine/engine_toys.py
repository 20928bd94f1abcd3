"""Stand-ins for the real dataset and models, so the engine is tested on its own.

``ToyVideos`` yields Sample-like items whose clip carries a class-dependent pattern plus an
augmentation that draws from python's ``random``, numpy's and torch's global generators (so a resume
that does not reproduce all three would show). ``ToyNet`` reads the clip and the graph's boxes and has
dropout (and optionally BatchNorm).
"""

from __future__ import annotations

import random
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool


class ToySample(NamedTuple):
    clip: Tensor
    label: Tensor | int
    graph: Data | Batch
    video_id: str | list[str]
    view: int | Tensor = 0


class ToyVideos(torch.utils.data.Dataset):
    """``num`` clips [3, T, H, W] of ``num_classes`` classes; ``views`` items per video id."""

    def __init__(
        self,
        num: int = 48,
        num_classes: int = 4,
        frames: int = 4,
        size: int = 8,
        views: int = 1,
        augment: bool = True,
        sleep: float = 0.0,
        seed: int = 0,
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        # class = a colour (per-channel offset) that survives global pooling, under pixel noise
        self.patterns = torch.randn(num_classes, 3, 1, 1, 1, generator=g).expand(
            -1, -1, frames, size, size
        )
        self.labels = torch.randint(num_classes, (num,), generator=g)
        self.noise = torch.randn(num, 3, frames, size, size, generator=g)
        self.views = views
        self.augment = augment
        self.sleep = sleep
        self.size = size

    def __len__(self) -> int:
        return len(self.labels) * self.views

    def __getitem__(self, i: int) -> ToySample:
        v, view = divmod(i, self.views)
        label = int(self.labels[v])
        clip = self.patterns[label] + self.noise[v]
        if self.augment:
            clip = clip.roll(random.randint(0, 3), dims=-1)
            scale = float(np.random.uniform(0.8, 1.2))  # noqa: NPY002 (global on purpose)
            clip = clip * scale + 0.1 * torch.randn_like(clip)
        clip = clip.roll(view, dims=-2)
        k = 3
        xy = torch.rand(k, 2, generator=torch.Generator().manual_seed(v)) * (self.size - 2)
        graph = Data(box=torch.cat([xy, xy + 2], dim=1), frame=torch.arange(k) % clip.shape[1])
        graph.num_nodes = k
        if self.sleep:
            time.sleep(self.sleep)
        return ToySample(clip, label, graph, f"vid{v:04d}", view)


def toy_collate(items: list[ToySample]) -> ToySample:
    return ToySample(
        clip=torch.stack([s.clip for s in items]),
        label=torch.tensor([s.label for s in items], dtype=torch.long),
        graph=Batch.from_data_list([s.graph for s in items]),
        video_id=[s.video_id for s in items],
        view=torch.tensor([s.view for s in items]),
    )


class ToyNet(nn.Module):
    """Conv3d -> (BatchNorm) -> pooled -> dropout -> linear, plus a term from the pooled boxes."""

    takes_graph = True

    def __init__(
        self, num_classes: int = 4, width: int = 8, bn: bool = False, dropout: float = 0.3
    ):
        super().__init__()
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm3d(width) if bn else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(width, num_classes)
        self.box_fc = nn.Linear(4, num_classes)

    def forward(self, clip: Tensor, graph: Batch | None = None) -> Tensor:
        h = torch.relu(self.bn(self.conv(clip))).mean(dim=(2, 3, 4))
        out = self.fc(self.drop(h))
        if graph is not None:
            out = out + self.box_fc(
                global_mean_pool(graph.box / 8, graph.batch, size=clip.shape[0])
            )
        return out
