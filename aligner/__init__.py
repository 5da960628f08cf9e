"""The aligner: a CTC phone head over the semantic features that puts a transcript's words on
the 50 Hz frames (speech editing finds the changed words with it)."""

from .ctc import EDGE_FRAMES, forced_align, widened
from .model import FRAME_RATE_HZ, Aligner, Alignment, PhoneCTCHead, WordSpan
from .words import TranscriptWord, split_words, transcript_words, word_key

__all__ = ["EDGE_FRAMES", "FRAME_RATE_HZ", "Aligner", "Alignment", "PhoneCTCHead", "TranscriptWord", "WordSpan",
           "forced_align", "split_words", "transcript_words", "widened", "word_key"]
