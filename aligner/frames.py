"""Which phone each 50 Hz frame belongs to: CTC spikes spread into the blank frames around them.

T2S's alignment help (maskvox/frame_phones.py) gives every semantic frame the phone it is said in.
CTC forced alignment (aligner/ctc.py) marks each spoken phone with a spike of a frame or a few
and leaves the rest blank; this turns that path into one owner per frame, as a position in the
transcript's phone ids (punctuation and word separators included, as T2S reads them):

- the spike frames of a phone are its own;
- blank frames between two phones go EDGE_FRAMES to each; the rest goes to a pause mark (",",
  ".", ...) written between them if there is one, else is split at the middle;
- before the first phone and after the last, EDGE_FRAMES go to the phone and the rest is
  silence (-1).
"""

from __future__ import annotations

from functools import cache
from typing import Sequence

import numpy as np

from maskvox.text import PhoneVocabulary
from maskvox.text.vocab import PUNCTUATION_PHONES

EDGE_FRAMES = 3  # 60 ms: CTC spikes sit inside a phone, about this far from its edges
SILENCE = -1
PAUSE_MARKS = frozenset(PUNCTUATION_PHONES) - {"_", "'"}  # "_" separates words; "'" is no pause


@cache
def phone_roles() -> tuple[frozenset[int], frozenset[int]]:
    """The ids of the official vocabulary that are never said (punctuation, word separators),
    and those of them that mark a pause."""
    phones = PhoneVocabulary.official().phones
    return (frozenset(i for i, p in phones.items() if p in PUNCTUATION_PHONES),
            frozenset(i for i, p in phones.items() if p in PAUSE_MARKS))


def frame_owners(token_of_frame: np.ndarray, spoken: Sequence[int], pauses: Sequence[int] = ()) -> np.ndarray:
    """(T,) owner positions from `token_of_frame` (T,) (the spoken token index of each frame,
    -1 on blanks, as `forced_align` returns it), `spoken` (K,) the position of each spoken token
    in the phone ids, `pauses` the positions of pause marks."""
    owners = np.full(len(token_of_frame), SILENCE, dtype=np.int64)
    firsts, lasts = [], []
    for k, position in enumerate(spoken):
        frames = np.flatnonzero(token_of_frame == k)
        if len(frames) == 0:
            raise ValueError(f"spoken token {k} has no frame in the path")
        owners[frames[0] : frames[-1] + 1] = position
        firsts.append(int(frames[0]))
        lasts.append(int(frames[-1]))
    owners[max(0, firsts[0] - EDGE_FRAMES) : firsts[0]] = spoken[0]
    owners[lasts[-1] + 1 : lasts[-1] + 1 + EDGE_FRAMES] = spoken[-1]
    for k in range(len(spoken) - 1):
        start, end = lasts[k] + 1, firsts[k + 1]  # the blank frames between them
        gap = end - start
        between = [p for p in pauses if spoken[k] < p < spoken[k + 1]]
        if between and gap > 2 * EDGE_FRAMES:
            owners[start : start + EDGE_FRAMES] = spoken[k]
            owners[start + EDGE_FRAMES : end - EDGE_FRAMES] = between[0]
            owners[end - EDGE_FRAMES : end] = spoken[k + 1]
        else:
            middle = start + (gap + 1) // 2
            owners[start:middle] = spoken[k]
            owners[middle:end] = spoken[k + 1]
    return owners


def spread_frames(weights: Sequence[float], total: int) -> np.ndarray:
    """(L,) whole frame counts summing to `total`, each about total x its share of `weights`
    (largest remainders get the leftover frames). For generation, where no recording says how
    long each phone lasts."""
    weights = np.asarray(weights, dtype=np.float64)
    if total < 0 or weights.sum() <= 0:
        raise ValueError("need a non-negative total and some positive weight")
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    leftover = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:leftover]] += 1
    return counts


def owners_of_counts(counts: Sequence[int], offset: int = 0) -> np.ndarray:
    """(sum(counts),) positions offset + i repeated counts[i] times."""
    return np.repeat(np.arange(len(counts)) + offset, np.asarray(counts, dtype=np.int64))
