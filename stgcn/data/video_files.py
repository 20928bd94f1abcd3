"""Action datasets of one labelled video file per sample and no boxes (UCF101, HMDB51, Kinetics):
what they share on top of :class:`~stgcn.data.clip_dataset.VideoClipDataset`.

A subclass fills ``records`` (``[(video_id, label)]``) and ``files`` (each record's path,
relative to ``videos_dir`` or absolute), then calls ``_init_clips``. Loading is the same for all:
decode the view's frames, transform them, and return a :class:`~stgcn.data.ssv2.Sample` whose
graph is an empty :class:`~stgcn.graphs.VideoGraph` (no boxes), so graph-free models read it
as any SSv2 batch (:func:`stgcn.data.ssv2.collate`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from stgcn.data.clip_dataset import VideoClipDataset
from stgcn.data.ssv2 import Sample
from stgcn.data.transforms import ClipBoxes, to_clip
from stgcn.graphs.video_graph import VideoGraph

__all__ = ["VideoFileDataset"]


class VideoFileDataset(VideoClipDataset):
    """Base of the one-file-per-video datasets (see the module docstring).

    Attributes a subclass sets: ``videos_dir`` (Path), ``files`` (one path per record),
    ``classes`` (names in label order), ``records``.

    Items: ``Sample(clip [3, T, size, size], label, empty graph, video_id, view)`` or, skipped,
    :class:`~stgcn.data.clip_dataset.Skipped`.
    """

    videos_dir: Path
    files: list[str | Path]
    classes: list[str]

    def video_path(self, i: int) -> Path:
        """The file of video ``i`` (``records[i]``)."""
        return self.videos_dir / self.files[i]

    def _load(self, index: int, video_id: str, label: int, view: int) -> Sample:
        rng = self._rng()
        frames, _, _ = self.read_view(self.video_path(index // self.views), view, rng)
        x = self.transform_for(view)(ClipBoxes.from_frames(frames, label=label), rng)
        empty = torch.zeros(0, dtype=torch.long)
        graph = VideoGraph(
            box=torch.zeros(0, 4),
            frame=empty,
            category=empty,
            track=empty,
            video_id=video_id,
            num_frames=self.num_frames,
        )
        return Sample(to_clip(x), x.label, graph, video_id, view)
