"""A transcript word by word: what each word is for a word diff, and the phones it is spoken with."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from maskvox.errors import NothingToPronounceError
from maskvox.text import TextFrontEnd, check_language
from maskvox.text.vocab import PUNCTUATION_PHONES

# Scripts written without spaces: each character is a word of its own.
_UNSPACED = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])")


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
