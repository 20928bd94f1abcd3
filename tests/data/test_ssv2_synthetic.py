"""A generated dataset read back through SomethingSomethingV2: each clip frame is the rendered frame
its hand box belongs to (found by pixels, not by the reader's own timestamps)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stgcn.data.something_else import CATEGORY
from stgcn.data.ssv2 import SomethingSomethingV2, collate
from stgcn.data.synthetic import VideoSpec, generate, render_video
from stgcn.data.transforms import IMAGENET_MEAN, IMAGENET_STD

SIZE = (96, 128)
SEED = 3


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, 10, seed=SEED, size=SIZE, frames=(24, 40), workers=0)
    return out


def test_generated_dataset_reads_back_with_aligned_boxes(root: Path):
    # short side 96 -> 96 (no scaling), centre crop 96 of 128: x shifts by 16
    ds = SomethingSomethingV2(root, "train", num_frames=6, sampling="uniform", size=96, train=False)
    templates = {
        e["id"]: e["template"]
        for e in json.loads((root / "labels" / "something-something-v2-train.json").read_text())
    }
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    checked = 0
    for i in range(len(ds)):
        s = ds[i]
        vid = s.video_id
        n = ds.box_index.get(vid).num_annotated
        video = render_video(VideoSpec(int(vid) - 1, vid, templates[vid], "train", n), SIZE, SEED)
        rendered = torch.from_numpy(video.frames[:, :, 16:112]).float()  # [n, 96, 96, 3]
        clip = ((s.clip * std + mean) * 255).permute(1, 2, 3, 0)  # [T, 96, 96, 3]
        g = s.graph
        for t in range(ds.num_frames):
            # which rendered frame is this clip frame? (noise differs frame to frame)
            err = ((rendered - clip[t]) ** 2).mean(dim=(1, 2, 3))
            k = int(err.argmin())
            assert err[k] < 0.5 * err.median(), f"video {vid} clip frame {t}: no clear match"
            hand = g.box[(g.frame == t) & (g.category == CATEGORY["hand"])]
            truth = video.boxes["object hand"][k]
            expect = np.clip(truth - [16, 0, 16, 0], 0, 96)
            if np.isnan(truth[0]) or min(expect[2] - expect[0], expect[3] - expect[1]) < 1:
                assert len(hand) == 0  # not annotated, or cut under 1 pixel by the crop
                continue
            assert len(hand) == 1, f"video {vid} clip frame {t} (frame {k}): {len(hand)} hands"
            # two decimals in the JSON (0.005 px), then float32 boxes of at most 128 px
            atol = 0.005 + 4 * np.finfo(np.float32).eps * max(SIZE)
            np.testing.assert_allclose(hand[0].numpy(), expect, rtol=0, atol=atol)
            checked += 1
    assert checked >= len(ds) * 3
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch.graph.num_graphs == len(ds) and batch.clip.shape[0] == len(ds)
