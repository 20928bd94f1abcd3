"""top_k_per_frame keeps the best-scored boxes of each (video, frame), against a Python loop."""

from __future__ import annotations

import pytest
import torch

from stgcn.graphs import top_k_per_frame


def loop_oracle(frame, k, score, batch):
    """The same rule written box by box: per (video, frame), sort by (-score, file position)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(frame.numel()):
        key = (0 if batch is None else int(batch[i]), int(frame[i]))
        groups.setdefault(key, []).append(i)
    keep = []
    for members in groups.values():
        if score is not None:
            members = sorted(members, key=lambda i: (-float(score[i]), i))
        keep += members[:k]
    return torch.tensor(sorted(keep), dtype=torch.long)


@pytest.mark.parametrize("k", [0, 1, 2, 5])
@pytest.mark.parametrize("with_score", [True, False])
@pytest.mark.parametrize("with_batch", [True, False])
def test_matches_loop_oracle(k: int, with_score: bool, with_batch: bool) -> None:
    g = torch.Generator().manual_seed(k)
    n = 60
    frame = torch.randint(0, 4, (n,), generator=g)
    batch = torch.randint(0, 3, (n,), generator=g) if with_batch else None
    # Scores on a coarse grid, so that ties occur and file order must break them.
    score = torch.randint(0, 5, (n,), generator=g).float() if with_score else None
    keep = top_k_per_frame(frame, k, score, batch)
    assert torch.equal(keep, loop_oracle(frame, k, score, batch))


def test_keeps_the_top_scored_boxes() -> None:
    # video 0 frame 0: scores .1 .9 .5 -> keep .9 and .5; video 0 frame 1: a tie -> file order;
    # video 1 frame 0: .2 .8 -> both (k = 2).
    frame = torch.tensor([0, 0, 0, 1, 1, 1, 0, 0])
    batch = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    score = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7, 0.3, 0.2, 0.8])
    assert top_k_per_frame(frame, 2, score, batch).tolist() == [1, 2, 3, 4, 6, 7]
    assert top_k_per_frame(frame, 1, score, batch).tolist() == [1, 4, 7]
    # no scores: the first boxes of each frame in file order
    assert top_k_per_frame(frame, 1, None, batch).tolist() == [0, 3, 6]
    # without batch, the two videos' frame 0 are one group
    assert top_k_per_frame(frame, 1, score).tolist() == [1, 4]
    # k larger than any frame keeps everything
    assert top_k_per_frame(frame, 10, score, batch).tolist() == list(range(8))


def test_order_of_nodes_does_not_matter() -> None:
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(0, 5, (40,), generator=g)
    batch = torch.randint(0, 2, (40,), generator=g)
    score = torch.rand(40, generator=g)
    perm = torch.randperm(40, generator=g)
    kept = set(top_k_per_frame(frame, 3, score, batch).tolist())
    kept_perm = set(perm[top_k_per_frame(frame[perm], 3, score[perm], batch[perm])].tolist())
    assert kept == kept_perm


def test_empty_and_bad_input() -> None:
    empty = torch.zeros(0, dtype=torch.long)
    assert top_k_per_frame(empty, 3).shape == (0,)
    frame = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="k must be >= 0"):
        top_k_per_frame(frame, -1)
    with pytest.raises(ValueError, match=r"score must have shape \[2\]"):
        top_k_per_frame(frame, 1, torch.ones(3))
    with pytest.raises(ValueError, match="box 1 has nan"):
        top_k_per_frame(frame, 1, torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match=r"batch must have shape \[2\]"):
        top_k_per_frame(frame, 1, batch=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0"):
        top_k_per_frame(torch.tensor([0, -1]), 1)
