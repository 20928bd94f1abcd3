"""Link a clip's per-frame boxes into tracks: IoU cost and the Hungarian assignment.

Frame by frame, the boxes of frame ``t`` are matched to the tracks alive at ``t`` (seen within
the last ``max_age`` frames) by the assignment that minimises the total cost ``1 - IoU(track's
last box, box)`` (Kuhn 1955; ``scipy.optimize.linear_sum_assignment``), as in SORT (Bewley et al.,
ICIP 2016) without its motion model. A pair with ``IoU < iou_threshold``, or of different
categories, may not be matched; a box left unmatched starts a new track. Every box gets a track
id ``0, 1, 2, ...`` in order of first appearance, so the ids of a clip are deterministic.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from stgcn.data.box_source import FrameBoxes


class IoUTracker:
    """``FrameBoxes -> FrameBoxes`` with ``track`` filled; the rows keep their order.

    Args:
        iou_threshold: the least IoU between a track's last box and a box for them to be linked.
        max_age: a track that found no box for more than this many frames ends (1: it must
            continue in the next frame).
        match_category: link only boxes of the same ``category`` (a hand never continues an
            object's track).

    Frames are the ``frame`` indices of the input (clip positions); frames without boxes still
    count towards ``max_age``.
    """

    def __init__(
        self, *, iou_threshold: float = 0.3, max_age: int = 1, match_category: bool = True
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"IoUTracker: iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_age < 1:
            raise ValueError(f"IoUTracker: max_age must be >= 1, got {max_age}")
        self.iou_threshold, self.max_age, self.match_category = (
            iou_threshold,
            max_age,
            match_category,
        )

    def __call__(self, boxes: FrameBoxes) -> FrameBoxes:
        """boxes (N boxes, any ``track``) -> the same N rows with ``track`` ``[N]`` in ``0..``."""
        n = boxes.num_boxes
        track = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return boxes._replace(track=track)
        box = torch.from_numpy(np.ascontiguousarray(boxes.box, dtype=np.float32))
        frames = np.unique(boxes.frame)
        order = np.argsort(boxes.frame, kind="stable")  # rows of each frame, in input order
        bounds = np.searchsorted(boxes.frame[order], frames)
        bounds = np.append(bounds, n)
        # alive tracks: id, last row, last frame
        ids = np.zeros(0, dtype=np.int64)
        last_row = np.zeros(0, dtype=np.int64)
        last_frame = np.zeros(0, dtype=np.int64)
        next_id = 0
        for f, lo, hi in zip(frames, bounds[:-1], bounds[1:], strict=True):
            rows = order[lo:hi]
            alive = (f - last_frame) <= self.max_age
            ids, last_row, last_frame = ids[alive], last_row[alive], last_frame[alive]
            matched_rows = np.zeros(0, dtype=np.int64)
            if len(ids):
                iou = box_iou(box[last_row], box[rows]).numpy()  # [tracks, boxes]
                allowed = iou >= self.iou_threshold
                if self.match_category:
                    allowed &= boxes.category[last_row][:, None] == boxes.category[rows][None, :]
                # forbidden pairs get a cost above any allowed one and are dropped afterwards
                cost = np.where(allowed, 1.0 - iou, 2.0)
                ti, bi = linear_sum_assignment(cost)
                ok = allowed[ti, bi]
                ti, bi = ti[ok], bi[ok]
                track[rows[bi]] = ids[ti]
                last_row[ti], last_frame[ti] = rows[bi], f
                matched_rows = rows[bi]
            new = rows[~np.isin(rows, matched_rows)]
            new_ids = np.arange(next_id, next_id + len(new), dtype=np.int64)
            next_id += len(new)
            track[new] = new_ids
            ids = np.concatenate([ids, new_ids])
            last_row = np.concatenate([last_row, new])
            last_frame = np.concatenate([last_frame, np.full(len(new), f, dtype=np.int64)])
        return boxes._replace(track=track)

    def __repr__(self) -> str:
        return (
            f"IoUTracker(iou_threshold={self.iou_threshold}, max_age={self.max_age}, "
            f"match_category={self.match_category})"
        )
