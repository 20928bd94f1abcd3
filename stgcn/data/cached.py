"""Clips decoded once and kept in memory: ``CachedClips``, a dataset over a saved tensor file.

Decoding webm is the slowest part of a small CPU run. :meth:`CachedClips.write` reads a dataset
once (in evaluation mode: deterministic sampling and crop) and saves every clip as ``uint8``
(denormalised) together with its region graph, and its optical flow when the dataset reads flow
(``Sample.flow`` ``[2L, T, H, W]``, in units of the flow storage bound, quantised to uint8 on
``[-1, 1]`` as :func:`stgcn.data.flow.quantize` stores flow files: half a step, 20/255 px, of
error); :meth:`CachedClips.load` reads the file back with ``torch.load(..., weights_only=True)``, so
a cache on a shared disk cannot run code. The file holds tensors and plain data only: the clips
``[N, 3, T, H, W]`` uint8 (None for a flow-only dataset), the flows ``[N, 2L, T, H, W]`` uint8 (None
without flow), the graphs as dicts of tensors, labels, ids, views, the normalisation and the class
names.

A training set read from the cache has no augmentation: with few epochs on the CPU that costs
little, and decoding each video once is what makes the default benchmark fit its budget.

``RegionFeatureDataset``: the region features of a trained STRG, one level further. ``python -m
stgcn.extract`` runs a trained backbone once over a dataset and writes, per item, the RoIAlign node
features exactly as STRG's GCN consumes them, the global feature its classifier concatenates, the
boxes, frames, tracks, label, id and view, in shards of N items (:func:`pack_region_shard`), each
written atomically, with a ``manifest.json`` that says what made them. The dataset reads the shards
(memory-mapped) and yields one :class:`~stgcn.graphs.VideoGraph` per item; :func:`collate_regions`
batches them for :func:`stgcn.engine.fit`, which then trains only the graph head
(:class:`stgcn.models.STRGHead`): the paper's second stage without running the backbone each
epoch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from stgcn.data.flow import dequantize, quantize
from stgcn.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from stgcn.graphs.video_graph import VideoGraph
from stgcn.io import load_safe, save_atomic

__all__ = [
    "CachedClips",
    "RegionFeatureDataset",
    "collate_regions",
    "pack_region_shard",
    "region_shard_name",
]

FORMAT = 2
"""Version of the file layout (1: pickled PyG graphs, read with ``weights_only=False``)."""

REGION_FORMAT = 1
"""Version of the region-feature shard layout (:func:`pack_region_shard`)."""

MANIFEST = "manifest.json"
"""The file of a region-feature folder that says what made it and how it is sharded."""

_NODE_KEYS = ("x", "box", "frame", "track", "score", "category")


class CachedClips(Dataset):
    """Decoded clips with their region graphs, normalised on the fly.

    ``dataset[i]`` is a :class:`stgcn.data.ssv2.Sample` (``clip`` ``[3, T, H, W]`` float,
    normalised with the stored mean and std, or None; ``flow`` ``[2L, T, H, W]`` float in units of
    the storage bound, or None; ``graph`` a :class:`~stgcn.graphs.VideoGraph`).
    Attributes: ``classes``, ``skipped`` (items the source dataset skipped when the cache was
    written), ``video_ids``, ``labels``, ``views``.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        if state.get("format") != FORMAT:
            raise ValueError(
                f"decoded-clip cache of format {state.get('format')!r}, expected {FORMAT}: "
                "delete the file and it is rebuilt"
            )
        self.clips: Tensor | None = state["clips"]  # [N, 3, T, H, W] uint8
        self.flows: Tensor | None = state.get("flows")  # [N, 2L, T, H, W] uint8 on [-1, 1]
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

        clip = None
        if self.clips is not None:
            clip = (self.clips[i].float() / 255.0 - self.mean) / self.std
        flow = dequantize(self.flows[i], 1.0) if self.flows is not None else None
        return Sample(
            clip, self.labels[i], self.graphs[i], self.video_ids[i], self.views[i], flow=flow
        )

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
        clips, flows, labels, graphs, ids, views, skipped = [], [], [], [], [], [], 0
        for items in loader:
            for s in items:
                if not isinstance(s, Sample):
                    skipped += 1
                    continue
                if s.clip is not None:
                    pixels = (s.clip * std + mean).mul(255.0).round().clamp(0, 255)
                    clips.append(pixels.to(torch.uint8))
                if s.flow is not None:
                    flows.append(torch.from_numpy(quantize(s.flow, 1.0)))
                labels.append(int(s.label))
                graphs.append(s.graph.to_dict())
                ids.append(s.video_id)
                views.append(int(s.view))
        if not labels:
            raise ValueError(f"{path}: nothing to cache: all {skipped} items were skipped")
        state = {
            "format": FORMAT,
            "clips": torch.stack(clips) if clips else None,
            "flows": torch.stack(flows) if flows else None,
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
        size = sum(t.numel() for t in (state["clips"], state["flows"]) if t is not None)
        return {"clips": len(labels), "skipped": skipped, "mib": size / 2**20}


def _classes(dataset: Dataset) -> Sequence[str]:
    classes = getattr(dataset, "classes", None)
    if classes is None:
        raise TypeError(f"{type(dataset).__name__} has no `classes` to store in the cache")
    return classes


def region_shard_name(index: int) -> str:
    """File name of shard ``index`` in a region-feature folder: ``shard-00003.pt``."""
    return f"shard-{index:05d}.pt"


def pack_region_shard(
    graphs: Sequence[VideoGraph],
    global_features: Tensor,
    labels: Sequence[int],
    views: Sequence[int],
    skipped: Sequence[Sequence[Any]] = (),
) -> dict[str, Any]:
    """One shard of :class:`RegionFeatureDataset` as tensors and plain data (``weights_only``).

    Args:
        graphs: per item, a :class:`VideoGraph` with ``x`` [N_i, d], ``box`` [N_i, 4], ``frame``
            [N_i] (feature steps), optional ``track``/``score``/``category`` [N_i], ``video_id``
            and ``num_frames`` (T', the same for every item).
        global_features: ``[n, C_g]``, row i for ``graphs[i]``.
        labels, views: per item.
        skipped: ``(index, video_id, reason)`` of the items the source dataset skipped.

    Returns:
        ``{"format", "num_nodes" [n], "x" [K, d], "box" [K, 4], "frame" [K], optional "track",
        "score", "category" [K], "global_feature" [n, C_g], "label" [n], "view" [n],
        "video_id" list[str], "num_frames" int, "skipped" list}`` with K = sum N_i.
    """
    if len(graphs) != global_features.size(0) or len(graphs) != len(labels):
        raise ValueError(
            f"pack_region_shard: {len(graphs)} graphs, {global_features.size(0)} global "
            f"features and {len(labels)} labels; they must match"
        )
    shard: dict[str, Any] = {
        "format": REGION_FORMAT,
        "num_nodes": torch.tensor([g.num_nodes for g in graphs], dtype=torch.long),
        "global_feature": global_features.detach().cpu().contiguous(),
        "label": torch.tensor(list(labels), dtype=torch.long),
        "view": torch.tensor(list(views), dtype=torch.long),
        "video_id": [str(g.video_id) for g in graphs],
        "num_frames": int(graphs[0].num_frames) if graphs else 0,
        "skipped": [list(s) for s in skipped],
    }
    for key in _NODE_KEYS:
        parts = [g.get(key) for g in graphs]
        if all(isinstance(v, Tensor) for v in parts) and parts:
            shard[key] = torch.cat([v.detach().cpu() for v in parts]).contiguous()
    return shard


class RegionFeatureDataset(Dataset):
    """Cached STRG region features (written by ``python -m stgcn.extract``), one graph per item.

    ``dataset[i]`` is a :class:`~stgcn.graphs.VideoGraph` with ``x`` [N, d] (RoIAlign node
    features after STRG's 1x1x1 reduction conv), ``box`` [N, 4] (clip pixels), ``frame`` [N]
    (feature steps 0..T'-1), ``track`` [N] (and ``score``/``category`` when the boxes had them),
    ``global_feature`` [1, C_g], ``y`` [1] (the label), ``view`` [1], ``video_id`` and
    ``num_frames`` = T'. ``torch_geometric.loader.DataLoader`` batches them (``global_feature``
    [B, C_g], ``y`` [B]); :func:`collate_regions` makes the batch :func:`stgcn.engine.fit` takes.

    Args:
        root: a folder that ``python -m stgcn.extract`` wrote for one split (``OUT/<split>``),
            holding ``manifest.json`` and every shard it lists.
        mmap: map the shards' tensors from disk instead of reading them into memory.

    Attributes: ``manifest`` (what made the cache: checkpoint, model, data settings), ``classes``,
    ``video_ids``, ``labels``, ``views``, ``skipped`` (``(index, video_id, reason)`` of the items
    the source dataset skipped), ``num_node_features`` d, ``global_channels`` C_g.

    Raises:
        FileNotFoundError: no manifest, or shards missing (an extraction not finished yet: run it
            again to resume it).
        ValueError: a shard of another format.
    """

    def __init__(self, root: str | os.PathLike, mmap: bool = True) -> None:
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{manifest_path}: no region-feature cache here; write one with "
                "`python -m stgcn.extract --checkpoint CKPT --out DIR` and pass DIR/<split>"
            )
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        num_shards = int(self.manifest["num_shards"])
        names = [region_shard_name(k) for k in range(num_shards)]
        missing = [n for n in names if not (self.root / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{self.root}: {len(missing)} of {num_shards} shards missing (first: "
                f"{missing[0]}): the extraction has not finished; run the same "
                "`python -m stgcn.extract` command again to resume it"
            )
        shards = [load_safe(self.root / n, mmap=mmap) for n in names]
        for name, shard in zip(names, shards, strict=True):
            if shard.get("format") != REGION_FORMAT:
                raise ValueError(
                    f"{self.root / name}: region-feature shard of format "
                    f"{shard.get('format')!r}, expected {REGION_FORMAT}: extract again"
                )
        shards = [s for s in shards if len(s["video_id"])]
        if not shards:
            raise ValueError(f"{self.root}: the cache holds no items (all were skipped)")
        self.classes: list[str] = list(self.manifest["classes"])
        self.node_keys = [k for k in _NODE_KEYS if k in shards[0]]
        self.skipped = [tuple(s) for shard in shards for s in shard["skipped"]]
        self.video_ids: list[str] = [v for s in shards for v in s["video_id"]]
        self.labels: list[int] = torch.cat([s["label"] for s in shards]).tolist()
        self.views: list[int] = torch.cat([s["view"] for s in shards]).tolist()
        # (shard, row in shard, first node, node count) per item: items index the mapped tensors
        self._where: list[tuple[int, int, int, int]] = []
        for k, s in enumerate(shards):
            counts = s["num_nodes"].tolist()
            start = 0
            for row, n in enumerate(counts):
                self._where.append((k, row, start, n))
                start += n
        self._shards = shards
        self.num_frames = int(shards[0]["num_frames"])
        self.num_node_features = int(shards[0]["x"].size(1))
        self.global_channels = int(shards[0]["global_feature"].size(1))

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, i: int) -> VideoGraph:
        k, row, start, n = self._where[i]
        shard = self._shards[k]
        nodes = {key: shard[key][start : start + n].clone() for key in self.node_keys}
        return VideoGraph(
            **nodes,
            video_id=self.video_ids[i],
            num_frames=self.num_frames,
            global_feature=shard["global_feature"][row : row + 1].clone(),
            y=shard["label"][row : row + 1].clone(),
            view=shard["view"][row : row + 1].clone(),
        )


def collate_regions(items: Sequence[VideoGraph]):
    """Batch :class:`RegionFeatureDataset` items for :func:`stgcn.engine.fit`.

    Returns:
        a :class:`stgcn.data.ssv2.Sample` whose ``clip`` is the global feature ``[B, C_g]`` (the
        engine calls ``model(clip, graph)``; :class:`stgcn.models.STRGHead` takes the global
        feature in its place), ``graph`` the PyG ``Batch`` of the node graphs, ``label`` [B],
        ``video_id`` list[str] and ``view`` [B].
    """
    from torch_geometric.data import Batch

    from stgcn.data.ssv2 import Sample

    batch = Batch.from_data_list(list(items))
    return Sample(
        clip=batch.global_feature,
        label=batch.y,
        graph=batch,
        video_id=list(batch.video_id),
        view=batch.view,
    )
