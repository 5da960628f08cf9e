"""Words of a transcript aligned to the 50 Hz semantic frames by CTC forced alignment.

A small convolutional head over the semantic features (w2v-BERT 2.0 layer 17, or the demo
encoder's layer) gives each frame a distribution over the front-end's phone ids plus a CTC
blank (the padding id). The transcript is read word by word through the text front-end;
its spoken phones (punctuation and word separators are not spoken) are aligned by Viterbi
over the CTC topology, and each word spans the frames of its phones, widened a little into the
blank frames beside them (`EDGE_FRAMES`). Speech editing uses the word spans;
`recipes/aligner` trains the head and measures its word boundaries.

    aligner = Aligner.from_pretrained("maskvox/assets/demo")
    alignment = aligner.align(features, transcript_words("the cat sat", "en"))
    alignment.words[1].start, alignment.words[1].end   # frames of "cat"
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .checkpoint import build_on_meta, load_model_config, load_module, official_file
from .config import AlignerConfig
from .errors import ModelNotAvailableError, NothingToPronounceError, UserError
from .text import TextFrontEnd, check_language
from .text.vocab import PUNCTUATION_PHONES

FRAME_RATE_HZ = 50
# CTC gives a phone a spike of a frame or two inside it, so the frames of a word's phones stop
# short of its edges (by about 35 ms at either end on flite speech, recipes/aligner/evaluate.py):
# a word takes up to this many of the blank frames beside it, at most half of a gap it shares.
EDGE_FRAMES = 2
# Scripts written without spaces: each character is a word of its own.
_UNSPACED = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])")


# -- the transcript, word by word ------------------------------------------------------------------

@dataclass(frozen=True)
class TranscriptWord:
    text: str  # as written, punctuation included
    key: str  # what word diffs compare: lower case, no punctuation
    phones: tuple[int, ...]  # spoken phone ids (no punctuation, no word separator)


def word_key(word: str) -> str:
    return "".join(ch for ch in word.lower() if not unicodedata.category(ch).startswith("P"))


def split_words(text: str) -> list[str]:
    """Whitespace-separated words; characters of unspaced scripts (Chinese, Japanese) each alone."""
    return _UNSPACED.sub(r" \1 ", text).split()


def transcript_words(text: str, language: str, frontend: TextFrontEnd | None = None) -> list[TranscriptWord]:
    """The words of `text` that are spoken (at least one phone), each with its phone ids.
    Each word is read alone, so a word's phones never depend on its neighbours."""
    frontend = frontend or TextFrontEnd()
    check_language(language, frontend.languages)
    words = []
    for word in split_words(text):
        key = word_key(word)
        if not key:
            continue  # punctuation alone
        try:
            read = frontend(word, language)
        except NothingToPronounceError:
            continue  # nothing to pronounce (a symbol alone)
        phones = tuple(i for i, p in zip(read.ids, read.phones) if p not in PUNCTUATION_PHONES)
        if phones:
            words.append(TranscriptWord(word, key, phones))
    return words


# -- the model ---------------------------------------------------------------------------------------

class PhoneCTCHead(nn.Module):
    """Semantic features (B, T, D) -> phone log-probabilities (B, T, V), blank included."""

    def __init__(self, cfg: AlignerConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.feature_dim
        for _ in range(cfg.num_layers):
            layers += [nn.Conv1d(width, cfg.hidden_size, cfg.kernel_size, padding=cfg.kernel_size // 2), nn.GELU()]
            width = cfg.hidden_size
        self.convs = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.1)
        self.to_phones = nn.Linear(width, cfg.phone_vocab_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = self.convs(features.transpose(1, 2)).transpose(1, 2)
        return self.to_phones(self.dropout(hidden)).log_softmax(dim=-1)


# -- Viterbi over the CTC topology -------------------------------------------------------------

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


# -- alignments --------------------------------------------------------------------------------------

@dataclass
class WordSpan:
    word: TranscriptWord
    start: int  # first frame
    end: int  # one past the last frame

    @property
    def seconds(self) -> tuple[float, float]:
        return self.start / FRAME_RATE_HZ, self.end / FRAME_RATE_HZ


@dataclass
class Alignment:
    words: list[WordSpan]
    frames: int
    # exp(-(log-probability of the best free path - that of the forced path) / the transcript's
    # phones): 1 when the transcript explains the audio as well as anything could. Per phone, not
    # per frame: a per-frame mean dilutes a wrong transcript's loss over silence and blanks, and
    # rated short wrong transcripts of long recordings above right ones.
    confidence: float


class Aligner:
    """The CTC head of a model folder, with the front-end that reads transcripts."""

    def __init__(self, head: PhoneCTCHead, frontend: TextFrontEnd | None = None):
        self.head = head.eval()
        self.frontend = frontend or TextFrontEnd()

    @classmethod
    def from_pretrained(cls, location: str | Path, device: str | torch.device = "cpu") -> "Aligner":
        cfg = load_model_config(location).aligner
        if cfg is None:
            raise ModelNotAvailableError(
                f"{location} has no aligner (train one with `python -m recipes.aligner.train`), "
                "or give the edited region by hand with --span START END"
            )
        head = load_module(build_on_meta(lambda: PhoneCTCHead(cfg)), official_file(location, "aligner"))
        return cls(head.to(device))

    @property
    def blank(self) -> int:
        return self.head.cfg.blank_id

    def words(self, text: str, language: str) -> list[TranscriptWord]:
        return transcript_words(text, language, self.frontend)

    @torch.no_grad()
    def log_probs(self, features: torch.Tensor) -> np.ndarray:
        """(T, D) semantic features -> (T, V) phone log-probabilities."""
        device = self.head.to_phones.weight.device
        return self.head(features[None].float().to(device))[0].cpu().numpy().astype(np.float64)

    def align(self, features: torch.Tensor, words: list[TranscriptWord]) -> Alignment:
        """The frames of each word; a UserError when the audio is too short for the words."""
        if not words:
            raise UserError("the transcript has no spoken words to align")
        log_probs = self.log_probs(features)
        tokens = [phone for word in words for phone in word.phones]
        owner = np.repeat(np.arange(len(words)), [len(word.phones) for word in words])
        try:
            token_of_frame, score = forced_align(log_probs, tokens, self.blank)
        except ValueError:
            raise UserError(
                f"the recording ({len(log_probs) / FRAME_RATE_HZ:.2f} s) is too short for its transcript "
                f"({len(tokens)} phones)"
            ) from None
        bounds = []
        for index in range(len(words)):
            frames = np.flatnonzero((token_of_frame >= 0) & (owner[np.maximum(token_of_frame, 0)] == index))
            bounds.append((int(frames[0]), int(frames[-1]) + 1))
        spans = [WordSpan(word, start, end) for word, (start, end) in zip(words, widened(bounds, len(log_probs)))]
        free = float(log_probs.max(axis=1).sum())
        confidence = math.exp((score - free) / len(tokens))
        return Alignment(spans, len(log_probs), confidence)


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
