"""Text normalisation and word error rate, the way Seed-TTS-eval's `run_wer.py` does them.

Seed-TTS-eval (BytedanceSpeech/seed-tts-eval) normalises reference and hypothesis alike:
every ASCII and Chinese punctuation mark is deleted (not replaced by a space, so
"cold-hearted" becomes "coldhearted"), except the apostrophe; then English is lowercased
and Chinese is split into single characters. The corpus WER is the mean of the
per-utterance WERs; the pooled WER (all errors over all reference words) is reported beside it.

Languages Seed-TTS-eval does not score: Japanese is split into characters like Chinese;
every other language is treated like English (word level, lowercased with Unicode's rules, so
"ÄPFEL" matches "äpfel"), with one fix that matters there and not in Seed-TTS-eval's en/zh:
a typographic apostrophe before a letter (French "l’homme", Italian "dell’anno", Dutch "’s")
becomes the ASCII one, which is kept, so it matches Whisper's "l'homme"; elsewhere ’ is a
closing quote and is deleted. For every language the text is first put in Unicode NFC (a
reference saved decomposed, "e" + U+0301, then matches Whisper's "é"), and the marks that
neither string.punctuation nor zhon lists are deleted too: Spanish ¿ ¡, guillemets « » ‹ ›,
the German low quote ‚ (its „ and “ are in zhon's set), the Unicode hyphens and Japanese ・.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

# zhon.hanzi.punctuation (zhon 2.x), which Seed-TTS-eval adds to string.punctuation.
_CHINESE_PUNCTUATION = (
    "\uff02\uff03\uff04\uff05\uff06\uff07\uff08\uff09\uff0a\uff0b\uff0c\uff0d"  # fullwidth ASCII variants
    "\uff0f\uff1a\uff1b\uff1c\uff1d\uff1e\uff20\uff3b\uff3c\uff3d\uff3e\uff3f"
    "\uff40\uff5b\uff5c\uff5d\uff5e\uff5f\uff60"
    "\uff62\uff63\uff64"  # halfwidth CJK punctuation
    "\u3000\u3001\u3003"  # ideographic space, comma, ditto mark
    "\u3008\u3009\u300a\u300b\u300c\u300d\u300e\u300f\u3010\u3011"  # angle and corner brackets
    "\u3014\u3015\u3016\u3017\u3018\u3019\u301a\u301b\u301c\u301d\u301e\u301f"
    "\u3030\u303e\u303f"
    "\u2013\u2014"  # en and em dash
    "\u2018\u2019\u201b\u201c\u201d\u201e\u201f"  # curly quotes
    "\u2026\u2027"  # ellipsis, hyphenation point
    "\ufe4f\ufe51\ufe54\u00b7"
    "\uff01\uff1f\uff61\u3002"  # stops
)
# Marks of the other languages that neither list holds (Seed-TTS-eval would keep them inside words;
# they do not occur in its en/zh sets, so deleting them everywhere changes none of its figures).
_OTHER_PUNCTUATION = (
    "\u00bf\u00a1"  # Spanish inverted question and exclamation marks
    "\u00ab\u00bb\u2039\u203a"  # guillemets, double and single
    "\u201a"  # German single low quote
    "\u2010\u2011"  # hyphen, non-breaking hyphen (deleted like "-")
    "\u30fb"  # katakana middle dot
)
_KEPT = "'"
_DELETED_PUNCTUATION = "".join(sorted(set(string.punctuation + _CHINESE_PUNCTUATION + _OTHER_PUNCTUATION)
                                      - set(_KEPT)))
_DELETE_PUNCTUATION = str.maketrans("", "", _DELETED_PUNCTUATION)

# Scored one character per token (no spaces between words in these scripts).
CHARACTER_LEVEL_LANGUAGES = ("zh", "ja")
# The languages Seed-TTS-eval scores, normalised exactly as it does (its figures stay comparable).
SEED_TTS_LANGUAGES = ("en", "zh")
# ’ (right single quotation mark) or ʼ (modifier letter apostrophe) before a letter is an apostrophe.
_TYPOGRAPHIC_APOSTROPHE = re.compile(r"[\u2019\u02bc](?=[^\W\d_])")


def normalize_for_wer(text: str, language: str) -> str:
    """The text as Seed-TTS-eval compares it: tokens joined by single spaces.

    Seed-TTS-eval collapses runs of spaces once and leaves the rest to jiwer, which splits on
    spaces after collapsing them; splitting on any whitespace (Python's, which includes the
    no-break spaces of French typography) gives the same tokens.
    """
    text = unicodedata.normalize("NFC", text)
    if language not in SEED_TTS_LANGUAGES:
        text = _TYPOGRAPHIC_APOSTROPHE.sub(_KEPT, text)
    text = text.translate(_DELETE_PUNCTUATION)
    if language in CHARACTER_LEVEL_LANGUAGES:
        return " ".join(char for char in text if not char.isspace())
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class WordErrors:
    """The edit-distance alignment counts of one hypothesis against its reference."""

    reference_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Count the errors of normalised `hypothesis` against normalised `reference` (jiwer).

    The reference must hold at least one word; an empty hypothesis is all deletions.
    """
    import jiwer

    if not reference.split():
        raise ValueError("the reference is empty after normalisation")
    result = jiwer.process_words(reference, hypothesis)
    return WordErrors(
        reference_words=result.hits + result.substitutions + result.deletions,
        substitutions=result.substitutions,
        deletions=result.deletions,
        insertions=result.insertions,
    )


@dataclass(frozen=True)
class CorpusWer:
    mean_per_utterance: float  # Seed-TTS-eval's figure: the mean of the utterances' WERs
    pooled: float  # all errors over all reference words

    @classmethod
    def of(cls, utterances: list[WordErrors]) -> "CorpusWer | None":
        if not utterances:
            return None
        mean = sum(u.wer for u in utterances) / len(utterances)
        pooled = sum(u.errors for u in utterances) / sum(u.reference_words for u in utterances)
        return cls(mean_per_utterance=mean, pooled=pooled)
