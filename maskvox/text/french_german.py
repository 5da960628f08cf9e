"""French and German cleaning before espeak (fr-fr, de), as the reference does it.

Digits are left to espeak, `$` becomes a full stop and `%`/`€` are dropped later by the espeak
stage: that is the reference's behaviour (`reference/G2P_NOTES.md`, "French / German"), kept
for the `reference` mode. maskvox's normaliser reads numbers, money and dates first in the
default mode.
"""

from __future__ import annotations

import re

_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",",
    "...": ".", "…": ".", "$": ".",
    "“": "", "”": "", "‘": "", "’": "", "（": "", "）": "", "(": "", ")": "", "《": "", "》": "",
    "【": "", "】": "", "[": "", "]": "", "—": "", "～": "-", "~": "-", "「": "", "」": "",
    "¿": "", "¡": "",
}
_PUNCTUATION_PATTERN = re.compile("|".join(re.escape(mark) for mark in _PUNCTUATION_MAP))

# French abbreviations with their period: `\b<abbr>\.`, any case. Unescaped dots inside a
# pattern match any character, as in the reference.
_FRENCH_WITH_PERIOD = [
    ("M", "monsieur"), ("Mlle", "mademoiselle"), ("Mlles", "mesdemoiselles"), ("Mme", "Madame"),
    ("Mmes", "Mesdames"), ("N.B", "nota bene"), ("p.c.q", "parce que"), ("Pr", "professeur"),
    ("qqch", "quelque chose"), ("rdv", "rendez-vous"), ("max", "maximum"), ("min", "minimum"),
    ("no", "numéro"), ("adr", "adresse"), ("dr", "docteur"), ("st", "saint"), ("co", "companie"),
    ("jr", "junior"), ("sgt", "sergent"), ("capt", "capitain"), ("col", "colonel"),
    ("av", "avenue"), ("av. J.-C", "avant Jésus-Christ"), ("apr. J.-C", "après Jésus-Christ"),
    ("art", "article"), ("boul", "boulevard"), ("c.-à-d", "c’est-à-dire"), ("etc", "et cetera"),
    ("ex", "exemple"), ("excl", "exclusivement"),
]
# Titles without a period: case-sensitive, and with no closing word boundary.
_FRENCH_TITLES = [
    ("Mlle", "mademoiselle"), ("Mlles", "mesdemoiselles"), ("Mme", "Madame"), ("Mmes", "Mesdames"),
]
_FRENCH_ABBREVIATIONS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long) for short, long in _FRENCH_WITH_PERIOD
] + [(re.compile(rf"\b{short}"), long) for short, long in _FRENCH_TITLES]


def _expand_french_abbreviations(text: str) -> str:
    for pattern, replacement in _FRENCH_ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def _clean(text: str, french: bool) -> str:
    text = _PUNCTUATION_PATTERN.sub(lambda m: _PUNCTUATION_MAP[m.group()], text)
    text = text.replace(";", ",").replace("-", " ").replace(":", ",")
    if french:
        text = text.replace("&", " et ")
    text = re.sub(r"[<>()\[\]\"«»]+", "", text)
    text = re.sub(r"^[,.!?]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def french_text(text: str) -> str:
    return _clean(_expand_french_abbreviations(text), french=True)


def german_text(text: str) -> str:
    return _clean(text, french=False)
