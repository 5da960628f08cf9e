"""English as the reference reads it: abbreviations, numbers (inflect), espeak en-us, merges.

Behaviour copied from the reference (`g2p/english.py`, `reference/G2P_NOTES.md` "English"),
including what looks odd ("6 ft" reads "six fort", 1001-2999 are read as years), because the
official T2S learned from these phones. maskvox's own, fuller normaliser runs before this in
the default mode (`maskvox.text.normalize`).
"""

from __future__ import annotations

import functools
import re

# Whole words, any case, no period needed: the period stays and becomes a `.` token.
_ABBREVIATIONS = {
    "mrs": "misess", "mr": "mister", "dr": "doctor", "st": "saint", "co": "company",
    "jr": "junior", "maj": "major", "gen": "general", "drs": "doctors", "rev": "reverend",
    "lt": "lieutenant", "hon": "honorable", "sgt": "sergeant", "capt": "captain",
    "esq": "esquire", "ltd": "limited", "col": "colonel", "ft": "fort", "etc": "et cetera",
    "btw": "by the way",
}
_ABBREVIATION_PATTERNS = [
    (re.compile(rf"\b{short}\b", re.IGNORECASE), long) for short, long in _ABBREVIATIONS.items()
]

# Phone merges applied to whole `|`/`_`-delimited tokens, in this order, until none matches.
_PHONE_MERGES = [
    (re.compile(r"(^|[_|])" + re.escape(old) + r"([_|]|$)"), new)
    for old, new in [
        ("t|ɹ", "tɹ"), ("d|ɹ", "dɹ"), ("t|s", "ts"), ("d|z", "dz"), ("ɪ|ɹ", "ɪɹ"), ("ɐ", "ɚ"),
        ("ᵻ", "ɪ"), ("əl", "l"), ("x", "k"), ("ɬ", "l"), ("ʔ", "t"), ("n̩", "n"), ("oː|ɹ", "oːɹ"),
    ]
]
# When the phones end in one of these characters, the reference adds a word boundary `_`.
_ENDS_NEEDING_BOUNDARY = "p⁼ʰmftnlkxʃs`ɹaoəɛɪeɑʊŋiuɥwæjː"


@functools.lru_cache(maxsize=1)
def _inflect_engine():
    import inflect

    return inflect.engine()


def _say(number, **options) -> str:
    return _inflect_engine().number_to_words(number, **options)


def _money(match: re.Match) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2:
        return f" {amount} dollars "
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    said = []
    if dollars:
        said.append(f"{dollars} {'dollar' if dollars == 1 else 'dollars'}")
    if cents:
        said.append(f"{cents} {'cent' if cents == 1 else 'cents'}")
    return " " + (", ".join(said) if said else "zero dollars") + " "


def _fraction(match: re.Match) -> str:
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if numerator == 1 and denominator in (2, 4):
        return " one half " if denominator == 2 else " one quarter "
    if denominator == 2:
        return f" {_say(numerator)} halves "
    if denominator == 4:
        return f" {_say(numerator)} quarters "
    return f" {_say(numerator)} {_inflect_engine().ordinal(_say(denominator))} "


def _integer(match: re.Match) -> str:
    number = int(match.group(0))
    if not 1000 < number < 3000:
        return f" {_say(number, andword='')} "
    # Read as a year, as the reference does.
    if number == 2000:
        return " two thousand "
    if 2000 < number < 2010:
        return f" two thousand {_say(number % 100)} "
    if number % 100 == 0:
        return f" {_say(number // 100)} hundred "
    return " " + _say(number, andword="", zero="oh", group=2).replace(", ", " ") + " "


def read_numbers(text: str) -> str:
    """Digits -> words, in the reference's order of rules."""
    text = re.sub(r"([0-9][0-9,]+[0-9])", lambda m: m.group(1).replace(",", ""), text)
    text = re.sub(r"£([0-9,]*[0-9]+)", r"\1 pounds", text)
    text = re.sub(r"\$([0-9.,]*[0-9]+)", _money, text)
    text = re.sub(r"([0-9]+)/([0-9]+)", _fraction, text)
    text = re.sub(r"([0-9]+\.[0-9]+)", lambda m: m.group(1).replace(".", " point "), text)
    text = re.sub(r"([0-9.,]*[0-9]+%)", lambda m: m.group(1).replace("%", " percent "), text)
    text = re.sub(r"[0-9]+(st|nd|rd|th)", lambda m: f" {_say(m.group(0))} ", text)
    return re.sub(r"[0-9]+", _integer, text)


def expand_abbreviations(text: str) -> str:
    for pattern, replacement in _ABBREVIATION_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def merge_phones(phones: str) -> str:
    """The reference's `special_map`: join or rename espeak's phones into vocabulary ones."""
    for pattern, new in _PHONE_MERGES:
        while pattern.search(phones):
            phones = pattern.sub(lambda m, new=new: m.group(1) + new + m.group(2), phones)
    return phones


def english_phones(text: str, espeak) -> str:
    """One English run of text -> the reference's phone string (before any segment joining)."""
    phones = espeak(read_numbers(expand_abbreviations(text)))
    if phones and phones[-1] in _ENDS_NEEDING_BOUNDARY:
        phones += "|_"
    return merge_phones(phones)
