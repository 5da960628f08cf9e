"""Small helpers shared by the per-language normalisers.

Every rule is a regex whose replacement callback is wrapped by `guard`: a span we cannot read
(a number too large for num2words, an impossible date) is left exactly as written, so the
normaliser never raises and never half-rewrites a span.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Iterable

Rule = tuple["re.Pattern[str]", Callable[["re.Match[str]"], str]]

# ASCII digits only: other scripts' digits (Arabic-Indic, full-width) are left to the G2P.
# Thousands groups: "1,234,567" (en, ko, zh) or "1 234 567" / "1.234.567" (fr, de; the space may be
# a no-break or narrow no-break space, as French typography asks).
GROUP_SPACES = "[ \u00a0\u202f]"
NOT_BEFORE_NUMBER = r"(?<![0-9.,])"
NOT_AFTER_NUMBER = r"(?![0-9]|[.,][0-9])"
OPT_SPACE = "[ \u00a0\u202f]?"

# Currency symbols and ISO codes, mapped to one key per currency.
CURRENCY_KEYS = {
    "$": "USD", "US$": "USD", "USD": "USD", "€": "EUR", "EUR": "EUR", "£": "GBP", "GBP": "GBP",
    "¥": "JPY", "￥": "JPY", "JPY": "JPY", "₩": "KRW", "KRW": "KRW", "＄": "USD",
}
SYMBOL = r"US\$|[$€£¥￥₩]"
# "Not inside a Latin word": Han, kana and Hangul count as \w too, but "价格是¥100" or "BBC뉴스"
# must still match, so these look-arounds name the Latin letters and digits instead of \w.
NOT_AFTER_LATIN = r"(?<![0-9A-Za-zÀ-ɏ])"
NOT_BEFORE_LATIN = r"(?![0-9A-Za-zÀ-ɏ])"
MONEY_START = r"(?<![0-9A-Za-zÀ-ɏ$])"
# Chinese and Japanese share these: dates 2024-03-14 / 2024/03/14 / 2024.03.14, and times
# 14:30, 14:30:15 (also with a full-width colon).
CJK_DATE = re.compile(r"(?<![0-9.,])([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})(?![0-9])")
CJK_TIME = re.compile(
    r"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-4])[:：](?P<m>[0-5][0-9])(?:[:：](?P<s>[0-5][0-9]))?(?![0-9])"
)
CODE = r"(?:USD|EUR|GBP|JPY|KRW)(?![\w])"


def guard(callback: Callable[[re.Match], str]) -> Callable[[re.Match], str]:
    """A replacement that fails (num2words overflow, bad date...) keeps the text as written."""

    @functools.wraps(callback)
    def safe(match: re.Match) -> str:
        try:
            return _spaced_from_latin(match, callback(match))
        except Exception:  # noqa: BLE001 - any failure means "leave this span alone"
            return match.group(0)

    return safe


_LATIN_LETTER = re.compile(r"[A-Za-zÀ-ɏ]")


def _spaced_from_latin(match: re.Match, words: str) -> str:
    """'B12' -> 'B twelve', not 'Btwelve': words never fuse with a Latin letter beside them."""
    if not words or words == match.group(0):
        return words
    before = match.string[match.start() - 1 : match.start()]
    after = match.string[match.end() : match.end() + 1]
    if _LATIN_LETTER.match(before) and _LATIN_LETTER.match(words[0]):
        words = " " + words
    if _LATIN_LETTER.match(after) and _LATIN_LETTER.match(words[-1]):
        words += " "
    return words


def apply(text: str, rules: Iterable[Rule]) -> str:
    for pattern, callback in rules:
        text = pattern.sub(guard(callback), text)
    return text


@functools.lru_cache(maxsize=4096)
def num2words(number, lang: str, to: str = "cardinal") -> str:
    from num2words import num2words as convert  # imported on first use: keeps imports cheap

    return convert(number, lang=lang, to=to)


def plain_int(digits: str) -> int:
    """'1 234 567', '1.234.567', '1,234,567' → 1234567 (separators are never decimal here)."""
    return int(re.sub(r"[^0-9]", "", digits))


def spoken_digit_by_digit(digits: str) -> bool:
    """Leading zeros ("007") and long unseparated runs (ids, phone numbers) are read digit by digit.
    `digits` is the number as written: "1,234,567,890" has separators, so it is a cardinal."""
    return digits.isdigit() and len(digits) > 1 and (digits[0] == "0" or len(digits) > 9)


def like_case(expansion: str, written: str) -> str:
    """'E.g.' at a sentence start gives 'For example'."""
    if written[:1].isupper() and expansion[:1].islower():
        return expansion[0].upper() + expansion[1:]
    return expansion


def ends_sentence(match: re.Match) -> bool:
    """Does a final '.' in the match also end the sentence (end of text, or a capital follows)?"""
    rest = match.string[match.end():]
    if not rest.strip():
        return True
    following = re.match(r"\s+(\w)", rest)
    return following is not None and following.group(1).isupper()


def abbreviation_rules(table: Iterable[tuple[str, str, bool]], flags: int = re.IGNORECASE) -> list[Rule]:
    """(regex, expansion, can_end_sentence) → rules. The abbreviation's own period is consumed;
    it is written back when the abbreviation also ends the sentence ('... und so weiter. Dann')."""
    rules = []
    for regex, expansion, can_end in table:
        def expand(m: re.Match, expansion=expansion, can_end=can_end) -> str:
            words = like_case(expansion, m.group(0))
            return words + "." if can_end and m.group(0).endswith(".") and ends_sentence(m) else words

        rules.append((re.compile(rf"(?<![\w.]){regex}", flags), expand))
    return rules


# --- acronyms --------------------------------------------------------------------------------
# Rule: an all-capital token of 2-6 letters is spelled letter by letter ("BBC" -> "B B C") unless
#   * every letter of the text is a capital (shouted text: its words are words; Hangul, kana
#     and Han are uncased, so "BBC 뉴스" is not shouted), or
#   * it is a Roman numeral made of I, V, X (Louis XIV, World War II), or
#   * it is in the language's `keep` list (said as a word, e.g. NASA) or `stop` list (common
#     words in capitals for emphasis, e.g. THE), or
#   * it has 4+ letters and looks pronounceable: it has a vowel, no run of 3 vowels, no inner run
#     of 3 consonants, and a 2-consonant start/end only if English-like (ST-, -ND), e.g. NATO,
#     UNESCO, OPEC, but not HTML, OECD, JPEG. The language's `spell` list overrides this.
VOWELS = "AEIOUYÄÖÜÉ"
ONSETS = {"BL", "BR", "CH", "CL", "CR", "DR", "FL", "FR", "GL", "GR", "KL", "KR", "PH", "PL", "PR", "SC", "SK",
          "SL", "SM", "SN", "SP", "ST", "SW", "TH", "TR", "TW", "WH"}
CODAS = {"CK", "CT", "DS", "FT", "GS", "KS", "LD", "LF", "LK", "LM", "LP", "LS", "LT", "MP", "MS", "ND", "NG", "NK",
         "NS", "NT", "PS", "PT", "RB", "RC", "RD", "RG", "RK", "RL", "RM", "RN", "RP", "RS", "RT", "SH", "SK", "SP",
         "ST", "TS"}
ROMAN = re.compile(r"[IVX]+")


def pronounceable(token: str) -> bool:
    if len(token) < 4:
        return False
    runs = re.findall(f"[{VOWELS}]+|[^{VOWELS}]+", token)
    vowel_runs = [run for run in runs if run[0] in VOWELS]
    consonant_runs = [run for run in runs if run[0] not in VOWELS]
    if not vowel_runs or any(len(run) > 2 for run in vowel_runs):
        return False
    if any(len(run) > 2 for run in consonant_runs):
        return False
    first, last = runs[0], runs[-1]
    if first[0] not in VOWELS and len(first) == 2 and first not in ONSETS:
        return False
    if last[0] not in VOWELS and len(last) == 2 and last not in CODAS:
        return False
    return True


def acronym_rule(letter: Callable[[str], str] = str, keep: Iterable[str] = (), stop: Iterable[str] = (),
                 spell: Iterable[str] = (), upper: str = "A-Z") -> Callable[[str], str]:
    keep, stop, spell = frozenset(keep), frozenset(stop), frozenset(spell)
    pattern = re.compile(rf"{NOT_AFTER_LATIN}[{upper}]{{2,6}}{NOT_BEFORE_LATIN}")

    def spelled(m: re.Match) -> str:
        token = m.group(0)
        if token in keep or token in stop or ROMAN.fullmatch(token):
            return token
        if token not in spell and pronounceable(token):
            return token
        return " ".join(letter(char) for char in token)

    def normalize(text: str) -> str:
        if all(char.isupper() for char in text if char.isalpha()):
            return text
        return pattern.sub(guard(spelled), text)

    return normalize


# --- numbers written the French/German way ---------------------------------------------------
# Integer part: "1 234 567", "1.234.567" or plain digits; decimal part: ",99", or a "." followed by
# anything but exactly three digits ("2.5" is a decimal, "2.500" is two thousand five hundred).
EU_INT = rf"[0-9]{{1,3}}(?:(?:{GROUP_SPACES}[0-9]{{3}})+|(?:\.[0-9]{{3}})+)|[0-9]+"
EU_NUM = rf"(?:{EU_INT})(?:,[0-9]+|\.(?:[0-9]{{1,2}}|[0-9]{{4,}})(?![0-9]))?"


def split_eu(num: str) -> tuple[str, str | None]:
    """'1 234,56' -> ('1 234', '56'); '2.5' -> ('2', '5'); '1.500' -> ('1.500', None)."""
    if "," in num:
        int_text, frac = num.rsplit(",", 1)
        return int_text, frac
    point = re.fullmatch(r"([0-9]+)\.([0-9]{1,2}|[0-9]{4,})", num)
    return (point.group(1), point.group(2)) if point else (num, None)
