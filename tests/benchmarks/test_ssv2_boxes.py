"""benchmarks/ssv2.py --boxes on the synthetic set: other boxes (e.g. a detector's) replace the
ground truth in training and evaluation, with their own box index and clip cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stgcn.data.boxes import iter_json_object
from stgcn.data.something_else import CATEGORY
from stgcn.data.synthetic import generate
from stgcn.engine.distributed import DistInfo


def _categories(dataset) -> np.ndarray:
    return np.concatenate([dataset[i].graph.category.numpy() for i in range(len(dataset))])


def test_boxes_file_replaces_the_synthetic_ground_truth(bench, tmp_path: Path, monkeypatch) -> None:
    mod = bench("ssv2")
    root = tmp_path / "set"
    generate(root, 6, seed=3, size=(48, 64), frames=(12, 14), splits=(0.5, 0.5, 0.0), workers=0)
    monkeypatch.setattr(mod, "prepare_synthetic", lambda args, preset, dist: root)
    # a "detector" that finds one hand, at the same place, on every annotation frame
    detected = {}
    for part in sorted(root.glob("bounding_box_smthsmth_part*.json")):
        for video_id, entries in iter_json_object(part):
            detected[video_id] = [
                {
                    "name": e["name"],
                    "labels": [
                        {
                            "box2d": {"x1": 4.0, "y1": 6.0, "x2": 30.0, "y2": 40.0},
                            "category": "hand",
                            "standard_category": "hand",
                            "gt_annotation": "object hand",
                        }
                    ],
                    "nr_instances": 1,
                }
                for e in entries
            ]
    det = tmp_path / "det.json"
    det.write_text(json.dumps(detected))
    cache = tmp_path / "cache"

    def data(*flags: str):
        args = mod.build_parser().parse_args(["--smoke", "--cache-dir", str(cache), *flags])
        return mod.build_data(args, mod.resolve(args), DistInfo())

    truth = data()
    found = data("--boxes", str(det))
    for split in ("train", "val"):
        gt, dt = getattr(truth, split), getattr(found, split)
        assert len(gt) == len(dt) > 0
        # ground truth: objects (and hands); the file: one hand per sampled frame, nothing else
        assert (_categories(gt) == CATEGORY["object"]).any()
        cats = _categories(dt)
        assert (cats == CATEGORY["hand"]).all()
        frames = sum(int(dt[i].clip.shape[1]) for i in range(len(dt)))
        assert len(cats) == frames
    # one index for the file, and a clip cache of its own beside the ground truth's
    assert len(list((cache / "boxes").glob("*.index.sqlite"))) == 1
    assert len(list((cache / "clips").glob("validation-*.pt"))) == 2
