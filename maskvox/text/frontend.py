"""Text -> phone ids: the six languages of the official MaskGCT front-end.

`TextFrontEnd(text, lang)` returns the reference's phone string and ids
(`reference/G2P_NOTES.md`): with `normalization="reference"` they are the reference's exactly;
the default `"full"` first reads numbers, money, dates, times, abbreviations and acronyms with
maskvox's normaliser (`maskvox.text.normalize`) and joins lines. Either way a phone the
vocabulary lacks is dropped, as the reference does, but with an `UnknownPhoneWarning` naming
the word. Inline phones `[[h ə l oʊ]]` bypass everything for a span; `respellings` replace
whole words before anything else.

Each language's tools (phonemizer/espeak, jieba + ONNX, OpenJTalk) load on its first use.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

from maskvox.errors import NothingToPronounceError, TextError, UnsupportedLanguageError
from maskvox.limits import check_text_length
from maskvox.text.english import english_phones
from maskvox.text.strings import shorten
from maskvox.text.vocab import PUNCTUATION_PHONES, PhoneVocabulary

SUPPORTED_LANGUAGES = ("en", "zh", "ja", "ko", "fr", "de")
NORMALIZATIONS = ("full", "reference")
_INLINE_PHONES = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
# Characters no G2P can use and some cannot even pass to their C libraries: controls (but
# line breaks and tabs), lone surrogates, private-use and unassigned code points.
_UNUSABLE_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}


class UnknownPhoneWarning(UserWarning):
    """A G2P produced a phone the vocabulary lacks; it was left out of the ids."""

    def __init__(self, message: str, phone: str = ""):
        super().__init__(message)
        self.phone = phone  # for batch jobs that count them


@dataclass(frozen=True)
class Phonemes:
    """The front-end's answer for one text.

    `phone_string` is the reference's `|`-separated string (unknown phones included);
    `phones[i]` is the symbol of `ids[i]`.
    """

    text: str
    lang: str
    phone_string: str
    phones: tuple[str, ...]
    ids: tuple[int, ...]

    def as_dict(self) -> dict:
        return {"lang": self.lang, "text": self.text, "phones": self.phone_string, "ids": list(self.ids)}


def check_language(lang: str, supported: tuple[str, ...] = SUPPORTED_LANGUAGES) -> str:
    if lang not in supported:
        raise UnsupportedLanguageError(f"unsupported language {lang!r}; supported: {', '.join(supported)}")
    return lang


def remove_unusable_characters(text: str) -> str:
    return "".join(
        char for char in text
        if char in "\n\t" or unicodedata.category(char) not in _UNUSABLE_CATEGORIES
    )


# --- the reference's Mandarin/English segmentation ---------------------------------------

def _char_kind(char: str) -> str:
    if "\u4e00" <= char <= "\u9fa5":
        return "zh"
    if "A" <= char <= "Z" or "a" <= char <= "z":
        return "en"
    return "other"


def segment_chinese_english(text: str) -> list[tuple[str, str]]:
    """[(run, 'zh'|'en'|'other')]: other characters join the run they follow (or the first
    run, when they lead); the kind is 'other' only when the text has no zh/en character."""
    segments: list[tuple[str, str]] = []
    run, kind = "", ""
    for char in text:
        char_kind = _char_kind(char)
        if not run or kind == "other":
            run, kind = run + char, char_kind
        elif char_kind in (kind, "other"):
            run += char
        else:
            segments.append((run, kind))
            run, kind = char, char_kind
    segments.append((run, kind))
    return segments


# --- the front-end ------------------------------------------------------------------------

class TextFrontEnd:
    """Text in one of the six languages -> `Phonemes`. Thread-safe; tools load lazily."""

    def __init__(
        self,
        vocabulary: PhoneVocabulary | None = None,
        normalization: str = "full",
        respellings: Mapping[str, str] | None = None,
        extra_espeak_voices: Mapping[str, str] | None = None,
    ):
        """`extra_espeak_voices` adds languages read by an espeak-ng voice with the common
        cleaning only (e.g. {"es": "es"}): the way to a new language, whose new phones you
        add with `PhoneVocabulary.extended` (see `recipes/t2s/extend_vocab.py`)."""
        if normalization not in NORMALIZATIONS:
            raise TextError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
        self.vocabulary = vocabulary or PhoneVocabulary.official()
        self.normalization = normalization
        self.respellings = dict(respellings or {})
        self._respelling_pattern = _respelling_pattern(self.respellings)
        self.extra_espeak_voices = dict(extra_espeak_voices or {})
        self.languages = SUPPORTED_LANGUAGES + tuple(
            lang for lang in self.extra_espeak_voices if lang not in SUPPORTED_LANGUAGES
        )
        self._tools: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str, lang: str) -> Phonemes:
        check_language(lang, self.languages)
        if not isinstance(text, str):
            raise TextError(f"text must be a string, not {type(text).__name__}")
        check_text_length(text)  # before any tool reads it
        source = text
        text = remove_unusable_characters(self._respell(text))
        parts = _INLINE_PHONES.split(text)
        pieces = []
        for index, piece in enumerate(parts):
            if index % 2:
                pieces.append(self._inline_phones(piece))
            elif piece.strip():
                try:
                    pieces.append(self._read(piece, lang))
                except NothingToPronounceError:
                    if len(parts) == 1:  # beside inline phones, an unreadable bit is just skipped
                        raise
        phone_string = _join_pieces([piece for piece in pieces if piece], lang)
        phones, ids = self._to_ids(phone_string)
        if not any(phone not in PUNCTUATION_PHONES for phone in phones):
            raise NothingToPronounceError(f"nothing to pronounce in {shorten(source)!r} ({lang})")
        return Phonemes(source, lang, phone_string, phones, ids)

    # -- stages --

    def _respell(self, text: str) -> str:
        if not self._respelling_pattern:
            return text
        return self._respelling_pattern.sub(lambda m: self.respellings[m.group(0)], text)

    def _inline_phones(self, span: str) -> str:
        phones = [phone for phone in re.split(r"[\s|]+", span) if phone]
        unknown = [phone for phone in phones if phone not in self.vocabulary]
        if unknown:
            raise TextError(f"inline phone {unknown[0]!r} in [[{shorten(span)}]] is not in the phone vocabulary")
        return "|".join(phones)

    def _read(self, text: str, lang: str) -> str:
        if self.normalization == "full" and lang in SUPPORTED_LANGUAGES:
            from maskvox.text.normalize import normalize_text

            # Lines are one text here; phonemizer would glue a line's first phone to a newline.
            text = " ".join(normalize_text(text, lang).split("\n"))
        phone_string = self._g2p(lang)(text)
        self._warn_unknown(phone_string, text, lang)
        return phone_string

    def _to_ids(self, phone_string: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        phones = tuple(phone for phone in phone_string.split("|") if phone in self.vocabulary)
        return phones, tuple(self.vocabulary.ids[phone] for phone in phones)

    # -- unknown phones --

    def _warn_unknown(self, phone_string: str, text: str, lang: str) -> None:
        unknown = {phone for phone in phone_string.split("|") if phone and phone not in self.vocabulary}
        if not unknown:
            return
        words = _candidate_words(text, lang) if any("\n" not in phone for phone in unknown) else []
        word_phones = self._phones_of_words(words, lang)
        for phone in sorted(unknown):
            if "\n" in phone:
                # phonemizer reads lines apart and glues the next line's first phone to "\n".
                message = (f"phone {phone.strip()!r} after a line break ({lang}) is left out of the ids, "
                           "as in the reference; join the lines (normalization='full' does) to keep it")
            else:
                culprits = [word for word, phones in zip(words, word_phones) if phone in phones.split("|")]
                where = ", ".join(repr(shorten(word, 24)) for word in dict.fromkeys(culprits)) or repr(shorten(text))
                message = f"phone {phone!r} of {where} ({lang}) is not in the phone vocabulary; left out of the ids"
            warnings.warn(UnknownPhoneWarning(message, phone), stacklevel=4)

    def _phones_of_words(self, words: list[str], lang: str) -> list[str]:
        read = self._g2p(lang)
        result = []
        for word in words:
            try:
                result.append(read(word))
            except TextError:
                result.append("")
        return result

    # -- the per-language readers, made on first use --

    def _g2p(self, lang: str) -> Callable[[str], str]:
        with self._lock:
            if lang not in self._tools:
                voice = self.extra_espeak_voices.get(lang)
                self._tools[lang] = _make_reader(lang) if voice is None else _espeak_reader(voice)
            return self._tools[lang]


def _respelling_pattern(respellings: Mapping[str, str]):
    if not respellings:
        return None
    words = sorted(respellings, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(word) for word in words) + r")(?!\w)")


def _candidate_words(text: str, lang: str) -> list[str]:
    """Units to re-read one by one to find the word behind an unknown phone."""
    separators = r"[\s,.?!;:'…，。！？；：、\"“”«»()]+" if lang in ("zh", "ja") else r"\s+"
    words = (word.strip(",.?!;:'…\"“”«»()") for word in re.split(separators, text))
    return [word for word in words if word]


def _join_pieces(pieces: list[str], lang: str) -> str:
    """Inline phone spans and read text, separated by word boundaries (none in Japanese)."""
    if lang == "ja":
        return "|".join(piece.strip("|") for piece in pieces)
    joined = ""
    for piece in pieces:
        piece = piece.strip("|")
        if joined and joined[-1] not in PUNCTUATION_PHONES and piece and piece[0] not in PUNCTUATION_PHONES:
            joined += "|_"
        joined += ("|" if joined else "") + piece
    return joined if len(pieces) > 1 else pieces[0] if pieces else ""


def _espeak_reader(voice: str) -> Callable[[str], str]:
    from maskvox.text.espeak import EspeakPhonemizer

    return EspeakPhonemizer(voice)


def _make_reader(lang: str) -> Callable[[str], str]:
    from maskvox.text import espeak

    if lang in ("en", "zh"):
        return ChineseEnglishReader(espeak.EspeakPhonemizer(espeak.ESPEAK_VOICES["en"]))
    if lang == "ja":
        from maskvox.text.japanese import JapaneseG2P

        return JapaneseG2P()
    if lang == "ko":
        from maskvox.text.korean import korean_text

        voice = espeak.EspeakPhonemizer(espeak.ESPEAK_VOICES["ko"])
        return lambda text: voice(korean_text(text))
    from maskvox.text.french_german import french_text, german_text

    clean = french_text if lang == "fr" else german_text
    voice = espeak.EspeakPhonemizer(espeak.ESPEAK_VOICES[lang])
    return lambda text: voice(clean(text))


class ChineseEnglishReader:
    """The reference's `chn_eng_g2p`: Mandarin and English runs each read by their own G2P.

    English text goes this way too, so Chinese characters inside it are read as Mandarin.
    """

    def __init__(self, english_voice):
        self.english_voice = english_voice
        self._mandarin = None

    def __call__(self, text: str) -> str:
        segments = segment_chinese_english(text)
        if segments[-1][1] not in ("zh", "en"):
            raise NothingToPronounceError(
                f"nothing to pronounce in {shorten(text)!r}: zh/en text needs Chinese characters or Latin letters"
            )
        phones = ""
        for index, (run, kind) in enumerate(segments):
            phones += (english_phones(run, self.english_voice) if kind == "en" else self.mandarin(run)) + "|"
            # A trailing word boundary is dropped only after the text's last English run.
            if kind == "en" and index == len(segments) - 1 and phones[-2] == "_":
                phones = phones[:-2]
        return phones

    def mandarin(self, run: str) -> str:
        if self._mandarin is None:
            from maskvox.text.mandarin import MandarinG2P

            self._mandarin = MandarinG2P()
        return self._mandarin(run)
