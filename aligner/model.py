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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maskvox.checkpoint import build_on_meta, load_model_config, load_module, official_file
from maskvox.config import AlignerConfig
from maskvox.errors import ModelNotAvailableError, UserError
from maskvox.text import TextFrontEnd

from .ctc import forced_align, widened
from .frames import frame_owners, phone_roles
from .words import TranscriptWord, transcript_words

FRAME_RATE_HZ = 50


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
    def from_pretrained(cls, location: str | Path, device: str | torch.device = "cpu", model_cfg=None) -> "Aligner":
        """The aligner of a model folder or hub repo (`model_cfg`: its ModelConfig, if read already)."""
        cfg = (model_cfg or load_model_config(location)).aligner
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

    def frame_owners(self, features: torch.Tensor, phone_ids) -> tuple[np.ndarray, float] | None:
        """Each frame's position in `phone_ids` (T2S's phone ids of the transcript, punctuation
        and word separators included; -1 for silence, `aligner.frames.frame_owners`) and the
        alignment's confidence (as `align` gives it); None when the frames cannot hold the phones."""
        silent, pauses = phone_roles()
        spoken = [position for position, phone in enumerate(phone_ids) if int(phone) not in silent]
        if not spoken:
            return None
        log_probs = self.log_probs(features)
        try:
            token_of_frame, score = forced_align(log_probs, [int(phone_ids[p]) for p in spoken], self.blank)
        except ValueError:
            return None
        confidence = path_confidence(log_probs, score, len(spoken))
        marks = [position for position, phone in enumerate(phone_ids) if int(phone) in pauses]
        return frame_owners(token_of_frame, spoken, marks), confidence

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
        return Alignment(spans, len(log_probs), path_confidence(log_probs, score, len(tokens)))


def path_confidence(log_probs: np.ndarray, score: float, tokens: int) -> float:
    """`Alignment.confidence` of a forced path scoring `score` over (T, V) `log_probs`."""
    free = float(log_probs.max(axis=1).sum())
    return math.exp((score - free) / tokens)
