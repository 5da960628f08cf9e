"""A long text is said in pieces (prompt + piece under 30 s each): their lengths in frames,
their seeds, and the crossfaded joins that put their audio back together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .audio import SEMANTIC_RATE
from .duration.control import FRAME_RATE_HZ, resolve_frames
from .request import PreparedRequest
from .text.sentences import chunk_text

if TYPE_CHECKING:
    import torch

    from .duration.predictor import DurationPredictor

CROSSFADE_FRAMES = 2  # 40 ms joins between pieces of a long text
MAX_TOTAL_SECONDS = 30.0  # prompt + one piece of target, as the models were trained


@dataclass
class Piece:
    """One piece of text to generate (`Synthesizer.generate_pieces`); the outputs are filled in."""

    phones: torch.Tensor  # prompt phones + piece phones
    frames: int
    seed: int
    item: int = 0  # which request it belongs to
    semantic: np.ndarray | None = None  # (frames,) the T2S output
    codes: np.ndarray | None = None  # (T', 12) the S2A output
    audio: np.ndarray | None = None


def split_text(text: str, phones: Callable[[str], Sequence[int]], prompt_frames: float,
               prompt_phones: int) -> list[str]:
    """`text` as the pieces said one at a time: each piece's length by the reference's rule
    (the prompt's frames per phone) keeps prompt + piece under MAX_TOTAL_SECONDS where the
    text allows. `phones(piece)`: its phone ids (the front-end's, cached by the caller)."""
    budget = MAX_TOTAL_SECONDS * FRAME_RATE_HZ - prompt_frames
    frames_per_phone = prompt_frames / prompt_phones

    def rule_cost(piece: str) -> float:
        return len(phones(piece)) * frames_per_phone

    if rule_cost(text) <= budget:
        return [text]
    return chunk_text(text, rule_cost, budget)


def natural_lengths(item: PreparedRequest, duration: DurationPredictor) -> None:
    """Frames of each piece from the duration model (or its fallback rule), the user's
    --duration/--speed applied to the whole text."""
    from .duration.predictor import LengthQuery

    request, prompt = item.request, item.prompt
    queries = [LengthQuery(prompt.phones, prompt.audio.wav_16k.size / SEMANTIC_RATE * FRAME_RATE_HZ, phones,
                           request.language) for phones in item.piece_phones]
    natural = duration.natural_frames(queries, seed=item.seed)
    item.natural_frames = sum(natural) - overlap_frames(len(natural))
    all_phones = sum(len(phones) for phones in item.piece_phones)
    total, how = resolve_frames(item.natural_frames, all_phones, request.length_request())  # too short: a clear error
    item.source = "requested" if how == "requested" else duration.source
    item.frames = share(total + overlap_frames(len(natural)), natural)


def reference_lengths(item: PreparedRequest, duration: DurationPredictor | None = None) -> None:
    """The reference's rule, int(16 kHz samples x target phones / prompt phones / 16000 x 50),
    or int(duration x 50); per piece for a long text. (No duration model.)"""
    request, prompt = item.request, item.prompt
    samples = prompt.audio.wav_16k.size
    natural = [int(samples * len(phones) / len(prompt.phones) / SEMANTIC_RATE * FRAME_RATE_HZ)
               for phones in item.piece_phones]
    item.natural_frames = float(sum(natural))
    if request.duration is not None:
        total = request.length_request().requested_frames(item.natural_frames)
        item.frames, item.source = share(int(total), natural), "requested"
    else:
        item.frames = [max(1, round(frames / request.speed)) for frames in natural]
        item.source = "rule"


def overlap_frames(pieces: int) -> int:
    """Frames shared by the crossfaded joins of `pieces` pieces."""
    return CROSSFADE_FRAMES * (pieces - 1)


def share(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split into integers in proportion to `weights` (largest remainders)."""
    exact = np.asarray(weights, dtype=np.float64)
    exact = exact / exact.sum() * total
    shares = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - shares))[: total - shares.sum()]:
        shares[index] += 1
    return shares.tolist()


def piece_seed(seed: int, piece: int) -> int:
    """The first piece uses the request's seed itself; later pieces one derived from it."""
    if piece == 0:
        return seed
    return int(np.random.SeedSequence([seed, piece]).generate_state(1, dtype=np.uint64)[0] >> 1)


def crossfade_join(pieces: list[np.ndarray], overlap: int) -> np.ndarray:
    """Pieces joined end to start, each join a linear crossfade over `overlap` samples."""
    out = pieces[0].astype(np.float32)
    for piece in pieces[1:]:
        n = min(overlap, out.size, piece.size)
        fade = np.linspace(1.0, 0.0, n, dtype=np.float32)
        joint = out[out.size - n :] * fade + piece[:n] * (1 - fade)
        out = np.concatenate([out[: out.size - n], joint, piece[n:]])
    return out
