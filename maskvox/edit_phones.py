"""Frame phones for an edit (a T2S with alignment help, `maskvox.frame_phones`).

A clone tells such a T2S each prompt frame's phone (the aligner's) and spreads the target's
phones over the target's frames. An edit's window is its own prompt: most of its frames are
kept from the recording, a few are regenerated. Without help, T2S must find by attention which
of the new words' phones a regenerated frame says, which the demo T2S, trained with the help,
does badly (no edited word was heard). So here:

- kept frames are told the phone the aligner finds in the recording, mapped from the old
  transcript's phone ids to the new text's (the kept words are the same phones in both);
- a region's frames are told the phones between the last kept phone before it and the first
  kept phone after it, spread by their mean lengths.

Only an edit in one window over the whole recording (up to 30 s) gets the help; longer
recordings, cut into windows of words, are edited as before.
"""

from __future__ import annotations

import difflib
from typing import Sequence

import numpy as np
import torch

from .aligner.frames import SILENCE, owners_of_counts, spread_frames


def mapped_positions(old_ids: Sequence[int], new_ids: Sequence[int]) -> dict[int, int]:
    """Position in `new_ids` of each position of `old_ids` that the two share (their matching
    runs of phone ids)."""
    matcher = difflib.SequenceMatcher(a=list(old_ids), b=list(new_ids), autojunk=False)
    return {a + k: b + k for a, b, size in matcher.get_matching_blocks() for k in range(size)}


def window_owners(window, old_ids: Sequence[int], new_ids: Sequence[int], old_owners: np.ndarray,
                  mean_frames: torch.Tensor) -> torch.Tensor:
    """(window.new_frames,) each frame's position in `new_ids` (-1 silence) for an edit window
    laid out as `edit._window_tokens` lays it (kept frames, each region's new frames, ...).

    `old_owners` (T,): each recording frame's position in `old_ids` (the aligner's);
    `mean_frames`: FramePhones.mean_frames, the weights a region's phones are spread by."""
    mapping = mapped_positions(old_ids, new_ids)

    def kept(start: int, stop: int) -> np.ndarray:
        return np.array([mapping.get(int(o), SILENCE) if o >= 0 else SILENCE for o in old_owners[start:stop]],
                        dtype=np.int64)

    def first_said(owners: np.ndarray, default: int) -> int:
        said = owners[owners >= 0]
        return int(said[0]) if said.size else default

    def last_said(owners: np.ndarray, default: int) -> int:
        said = owners[owners >= 0]
        return int(said[-1]) if said.size else default

    # The kept runs around the regions: before the first, between each two, after the last.
    bounds = [window.start, *(edge for region in window.regions for edge in (region.start, region.end)), window.end]
    runs = [kept(start, stop) for start, stop in zip(bounds[::2], bounds[1::2])]
    pieces, said = [runs[0]], last_said(runs[0], -1)  # the last new phone said so far
    for region, after in zip(window.regions, runs[1:]):
        spread = spread_region(new_ids, said + 1, first_said(after, len(new_ids)), region.frames, mean_frames)
        pieces += [spread, after]
        said = last_said(after, last_said(spread, said))
    return torch.from_numpy(np.concatenate(pieces))


def spread_region(new_ids: Sequence[int], low: int, high: int, frames: int, mean_frames: torch.Tensor) -> np.ndarray:
    """(frames,) owners: phones low..high-1 of `new_ids` spread by their mean lengths (marks
    never said weigh 0); silence when there is nothing to say (a deletion)."""
    weights = [float(mean_frames[new_ids[p]]) for p in range(low, high)]
    if frames == 0 or sum(weights) <= 0:
        return np.full(frames, SILENCE, dtype=np.int64)
    return owners_of_counts(spread_frames(weights, frames), offset=low)


def edit_plans(synth, text: str, language: str, features: torch.Tensor, windows) -> list[torch.Tensor | None]:
    """Each window's frame owners for a T2S or S2A with alignment help, or None (no help: the
    model has none, the edit spans several windows, or the transcript aligns badly)."""
    from .edit import MIN_ALIGNMENT_CONFIDENCE

    none = [None] * len(windows)
    helped = synth.t2s if synth.aligned_phones else synth.s2a_full if synth.s2a_aligned_phones else None
    if helped is None or synth.aligner is None or len(windows) != 1 or windows[0].start != 0:
        return none
    old_ids = synth.phones(text, language, "transcript")
    aligned = synth.aligner.frame_owners(features, old_ids)
    if aligned is None or aligned[1] < MIN_ALIGNMENT_CONFIDENCE:
        return none
    new_ids = synth.phones(windows[0].text, language, "new text")
    owners = window_owners(windows[0], old_ids, new_ids, aligned[0], helped.frame_phones.mean_frames.cpu())
    return [owners.to(synth.device)]
