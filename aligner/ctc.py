"""Viterbi over the CTC topology, and word spans widened into the blank frames beside them."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# CTC gives a phone a spike of a frame or two inside it, so the frames of a word's phones stop
# short of its edges (by about 35 ms at either end on flite speech, recipes/aligner/evaluate.py):
# a word takes up to this many of the blank frames beside it, at most half of a gap it shares.
EDGE_FRAMES = 2


def forced_align(log_probs: np.ndarray, tokens: Sequence[int], blank: int) -> tuple[np.ndarray, float]:
    """The most likely CTC path of `tokens` through (T, V) log-probabilities.

    States interleave blanks and tokens (blank, t0, blank, t1, ..., blank); a path may
    stay, step to the next state, or skip a blank between two different tokens. Returns
    each frame's token index (-1 on blank frames) and the path's total log-probability.
    """
    frames, count = log_probs.shape[0], len(tokens)
    if count == 0:
        raise ValueError("nothing to align: no tokens")
    labels = np.full(2 * count + 1, blank, dtype=np.int64)
    labels[1::2] = tokens
    emissions = log_probs[:, labels]  # (T, S)
    states = labels.size
    can_skip = np.zeros(states, dtype=bool)
    can_skip[3::2] = labels[3::2] != labels[1:-2:2]
    score = np.full(states, -np.inf)
    score[:2] = emissions[0, :2]
    moves = np.zeros((frames, states), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, frames):
        from_previous = np.concatenate([[-np.inf], score[:-1]])
        from_skip = np.where(can_skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        candidates = np.stack([score, from_previous, from_skip])
        moves[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emissions[t]
    end = states - 1 if states == 1 or score[-1] >= score[-2] else states - 2
    total = float(score[end])
    if not math.isfinite(total):
        raise ValueError(f"{frames} frames cannot hold {count} tokens")
    path = np.empty(frames, dtype=np.int64)
    for t in range(frames - 1, -1, -1):
        path[t] = end
        end -= int(moves[t, end])
    return np.where(path % 2 == 1, path // 2, -1), total


def widened(bounds: list[tuple[int, int]], frames: int) -> list[tuple[int, int]]:
    """Each word's [start, end) frames grown by up to EDGE_FRAMES into the blank frames beside
    it; a gap between two words is shared, so neighbours never overlap."""
    grown = []
    for index, (start, end) in enumerate(bounds):
        before = start - (bounds[index - 1][1] if index > 0 else 0)
        after = (bounds[index + 1][0] if index + 1 < len(bounds) else frames) - end
        take_before = min(EDGE_FRAMES, before if index == 0 else before // 2)
        take_after = min(EDGE_FRAMES, after if index + 1 == len(bounds) else after // 2)
        grown.append((start - take_before, end + take_after))
    return grown
