"""Clips decoded once and kept in memory: ``CachedClips``, a dataset over a saved tensor file.

Decoding webm is the slowest part of a small CPU run. :meth:`CachedClips.write` reads a dataset
once (in evaluation mode: deterministic sampling and crop) and saves every clip as ``uint8``
(denormalised) together with its region graph; :meth:`CachedClips.load` reads the file back with
``torch.load(..., weights_only=True)``, so a cache on a shared disk cannot run code. The file holds
tensors and plain data only: the clips ``[N, 3, T, H, W]`` uint8, the graphs as dicts of tensors,
labels, ids, views, the normalisation and the class names.

A training set read from the cache has no augmentation: with few epochs on the CPU that costs
little, and decoding each video once is what makes the default benchmark fit its budget.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from stgcn.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn.graphs.video_graph import VideoGraph
from stgcn.io import load_safe, save_atomic

__all__ = ["CachedClips"]

FORMAT = 2
"""Version of the file layout (1: pickled PyG graphs, read with ``weights_only=False``)."""


class CachedClips(Dataset):
    """Decoded clips with their region graphs, normalised on the fly.

    ``dataset[i]`` is a :class:`stgcn.data.ssv2.Sample` (``clip`` ``[3, T, H, W]`` float,
    normalised with the stored mean and std; ``graph`` a :class:`~stgcn.graphs.VideoGraph`).
    Attributes: ``classes``, ``skipped`` (items the source dataset skipped when the cache was
    written), ``video_ids``, ``labels``, ``views``.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        if state.get("format") != FORMAT:
            raise ValueError(
                f"decoded-clip cache of format {state.get('format')!r}, expected {FORMAT}: "
                "delete the file and it is rebuilt"
            )
        self.clips: Tensor = state["clips"]  # [N, 3, T, H, W] uint8
        self.labels: list[int] = state["labels"]
        self.graphs = [VideoGraph.from_dict(g) for g in state["graphs"]]
        self.video_ids: list[str] = state["video_ids"]
        self.views: list[int] = state["views"]
        self.mean = torch.tensor(state["mean"]).view(3, 1, 1, 1)
        self.std = torch.tensor(state["std"]).view(3, 1, 1, 1)
        self.classes: list[str] = state["classes"]
        self.skipped: int = state["skipped"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from stgcn.data.ssv2 import Sample

        clip = (self.clips[i].float() / 255.0 - self.mean) / self.std
        return Sample(clip, self.labels[i], self.graphs[i], self.video_ids[i], self.views[i])

    @classmethod
    def load(cls, path: str | os.PathLike) -> CachedClips:
        """Read a cache written by :meth:`write` (``weights_only=True``)."""
        return cls(load_safe(path))

    @staticmethod
    def write(
        dataset: Dataset, path: str | os.PathLike, workers: int = 0, batch_size: int = 8
    ) -> dict[str, Any]:
        """Decode every item of ``dataset`` once and save the cache to ``path`` atomically.

        ``dataset`` yields :class:`stgcn.data.ssv2.Sample` items normalised with the ImageNet mean
        and std (anything else, e.g. a ``Skipped`` record, is counted in ``skipped``) and has
        ``classes``. Returns a summary: ``{"clips", "skipped", "mib"}``.
        """
        from stgcn.data.ssv2 import Sample

        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=list)
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
        clips, labels, graphs, ids, views, skipped = [], [], [], [], [], 0
        for items in loader:
            for s in items:
                if not isinstance(s, Sample):
                    skipped += 1
                    continue
                pixels = (s.clip * std + mean).mul(255.0).round().clamp(0, 255)
                clips.append(pixels.to(torch.uint8))
                labels.append(int(s.label))
                graphs.append(s.graph.to_dict())
                ids.append(s.video_id)
                views.append(int(s.view))
        if not clips:
            raise ValueError(f"{path}: nothing to cache: all {skipped} items were skipped")
        state = {
            "format": FORMAT,
            "clips": torch.stack(clips),
            "labels": labels,
            "graphs": graphs,
            "video_ids": ids,
            "views": views,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "classes": list(_classes(dataset)),
            "skipped": skipped,
        }
        save_atomic(state, path)
        return {"clips": len(labels), "skipped": skipped, "mib": state["clips"].numel() / 2**20}


def _classes(dataset: Dataset) -> Sequence[str]:
    classes = getattr(dataset, "classes", None)
    if classes is None:
        raise TypeError(f"{type(dataset).__name__} has no `classes` to store in the cache")
    return classes
