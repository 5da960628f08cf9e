"""espeak-ng through phonemizer, with the reference's text cleaning and phone separators.

This is the shared last stage of en, fr, de and ko (and of the English runs inside Mandarin
text). The reference (Amphion `g2p/text_tokenizers.py`) configures phonemizer 3.3.0 as below;
its output is what the official T2S was trained on, so every step is kept, quirks included
(see `reference/G2P_NOTES.md`, "Common to all languages").

phonemizer is imported, and espeak loaded, only when a language is first phonemized.
"""

from __future__ import annotations

import re
import threading
import warnings

from maskvox.errors import FrontEndUnavailableError
from maskvox.text.strings import join_punctuation

# The reference's voice for each language code.
ESPEAK_VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de", "ko": "ko"}
# The espeak-ng release the reference's ids were made with; others change some phones.
REFERENCE_ESPEAK_VERSION = (1, 51)

PUNCTUATION = ",.?!;:'…"
_CHINESE_PUNCTUATION = [
    ("，", ","), ("。", "."), ("！", "!"), ("？", "?"), ("；", ";"), ("：", ":"), ("、", ","),
    ("‘", "'"), ("’", "'"), ("⋯", "…"), ("···", "…"), ("・・・", "…"), ("...", "…"),
]
_NOT_SPOKEN = re.compile(r"[^\w\s_,.?!;:'…]")
_SPACE_AROUND_PUNCTUATION = re.compile(r"\s*([,.?!;:'…])\s*")

_lock = threading.Lock()


def clean_line(line: str) -> str:
    """One line of text as the reference hands it to espeak."""
    line = line.strip()
    for chinese, ascii_mark in _CHINESE_PUNCTUATION:
        line = line.replace(chinese, ascii_mark)
    line = _NOT_SPOKEN.sub("", line)
    line = _SPACE_AROUND_PUNCTUATION.sub(r"\1", line)
    return re.sub(r"\s+", " ", line)


class EspeakPhonemizer:
    """text -> `p|h|o|n|e|s|_|w|o|r|d|s` for one espeak voice, created on first use."""

    def __init__(self, voice: str):
        self.voice = voice
        self._backend = None
        self._separator = None

    def __call__(self, text: str) -> str:
        # phonemizer (like the reference) treats each line on its own and joins the
        # results with a newline, which stays inside the phone string.
        return join_punctuation("\n".join(self.lines(text.strip("\n").split("\n"))))

    def lines(self, lines: list[str]) -> list[str]:
        """Each line phonemized on its own (punctuation not yet split off)."""
        backend = self._get_backend()
        cleaned = [clean_line(line) for line in lines]
        with _lock:  # espeak is one library instance per process, not thread-safe
            return backend.phonemize(cleaned, separator=self._separator, strip=True, njobs=1)

    def _get_backend(self):
        if self._backend is None:
            self._backend, self._separator = _make_backend(self.voice)
        return self._backend


def _make_backend(voice: str):
    try:
        from phonemizer.backend import EspeakBackend
        from phonemizer.separator import Separator
    except ImportError as error:
        raise FrontEndUnavailableError(
            f"phonemizer is not installed ({error}); run: pip install phonemizer==3.3.0"
        ) from None
    try:
        backend = EspeakBackend(
            voice,
            punctuation_marks=PUNCTUATION,
            preserve_punctuation=True,
            with_stress=False,
            tie=False,
            language_switch="remove-flags",
            words_mismatch="ignore",
        )
    except RuntimeError as error:
        raise FrontEndUnavailableError(
            f"espeak-ng cannot phonemize with voice {voice!r} ({error}); "
            "install it with: apt-get install espeak-ng"
        ) from None
    _warn_if_not_reference_version(EspeakBackend.version())
    return backend, Separator(phone="|", word="|_|", syllable="-")


def _warn_if_not_reference_version(version) -> None:
    if tuple(version[:2]) != REFERENCE_ESPEAK_VERSION:
        found = ".".join(str(part) for part in version)
        warnings.warn(
            f"espeak-ng {found} is installed; the official checkpoints' phones come from espeak-ng "
            "1.51, and other releases read some words differently",
            stacklevel=3,
        )
