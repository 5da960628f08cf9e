"""French (espeak fr-fr): written forms -> the words a speaker says.

The reference leaves digits to espeak, but phonemizer splits "19,99" at the comma and "1.234"
at the dot, "1 234 567" is read group by group, `%` and `€` are deleted and `$` becomes a
full stop, and "14/03/2024" loses its slashes. So every number we touch is written out in words
(num2words; its hyphens become spaces in the reference's cleaner, which espeak reads well).
M., Mme, Dr., etc. are already expanded by the reference; only missing abbreviations are here.
"""

from __future__ import annotations

import re

from maskvox.text.normalize import _common as c

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
MONTH = "(?:" + "|".join(MONTHS) + ")"
# singular, plural, cent singular, cent plural (None: no sub-unit).
CURRENCIES = {"EUR": ("euro", "euros", "centime", "centimes"), "USD": ("dollar", "dollars", "cent", "cents"),
              "GBP": ("livre", "livres", "penny", "pence"), "JPY": ("yen", "yens", None, None),
              "KRW": ("won", "wons", None, None)}
SCALE = r"millions?|milliards?"


def cardinal(n: int) -> str:
    return c.num2words(n, "fr")


def feminine(words: str) -> str:
    """'un', 'vingt et un' -> 'une', 'vingt et une' (heure, minute are feminine)."""
    return re.sub(r"\bun$", "une", words)


def digits(text: str) -> str:
    return " ".join(cardinal(int(d)) for d in text)


def fraction(frac: str) -> str:
    """'99' -> 'quatre-vingt-dix-neuf', '05' -> 'zéro cinq': leading zeros, then up to 3 digits as a number."""
    rest = frac.lstrip("0")
    zeros = " ".join(["zéro"] * (len(frac) - len(rest)))
    if not rest:
        return zeros
    rest_words = cardinal(int(rest)) if len(rest) <= 3 else digits(rest)
    return f"{zeros} {rest_words}" if zeros else rest_words


def number(num: str) -> str:
    int_text, frac = c.split_eu(num)
    words = digits(int_text) if c.spoken_digit_by_digit(int_text) else cardinal(c.plain_int(int_text))
    return f"{words} virgule {fraction(frac)}" if frac else words


def check_date(month: int, day: int) -> None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError("not a date")


def date(day: int, month: int, year: str) -> str:
    check_date(month, day)
    day_words = "premier" if day == 1 else cardinal(day)
    return f"{day_words} {MONTHS[month - 1]} {cardinal(int(year))}"


# --- rules, in order ---------------------------------------------------------------------------

ABBREVIATIONS = (
    (r"p\.\s?ex\.", "par exemple", False),  # before the reference turns "ex." into "exemple"
    (r"env\.", "environ", False),
    (r"c\.?-?\s?à-?\.?\s?d\.", "c'est-à-dire", False),
    (r"cf\.", "confer", False),
    (r"av\.\s?J\.?-?\s?C\.", "avant Jésus-Christ", True),  # before the reference's "av." = avenue
    (r"apr\.\s?J\.?-?\s?C\.", "après Jésus-Christ", True),
    (r"n[°º]\s?(?=[0-9])", "numéro ", False),
    (r"tél\.", "téléphone", False),
    (r"vs\.?(?![\w])", "contre", False),
    (r"svp(?![\w])", "s'il vous plaît", False),
)
# Case matters for these: "5 mm." is millimetres.
CASED_ABBREVIATIONS = (
    (r"MM\.", "Messieurs", False),
    (r"Mgr(?![\w])", "Monseigneur", False),
)


def _date(m):
    return date(int(m.group(1)), int(m.group(3)), m.group(4))


def _iso_date(m):
    return date(int(m.group(3)), int(m.group(2)), m.group(1))


def _time(m):
    hour, minute, second = int(m.group("h")), int(m.group("m") or 0), m.group("s")
    words = f"{feminine(cardinal(hour))} heure{'s' if hour > 1 else ''}"
    if minute:
        words += " " + feminine(cardinal(minute))
    if second and int(second):
        words += f" et {feminine(cardinal(int(second)))} seconde{'s' if int(second) > 1 else ''}"
    return words


def _of(words: str, plural: str) -> str:
    """'un million' + 'euros' -> 'un million d'euros'."""
    return f"{words} d'{plural}" if plural[0] in "aeiouy" else f"{words} de {plural}"


def money(num: str, key: str, scale: str | None) -> str:
    singular, plural, cent, cents = CURRENCIES[key]
    int_text, frac = c.split_eu(num)
    if scale:  # "1,5 milliard €" -> "un virgule cinq milliard d'euros"
        return _of(f"{number(num)} {scale}", plural)
    amount = c.plain_int(int_text)
    words = cardinal(amount)
    unit = singular if amount < 2 else plural
    main = _of(words, plural) if re.search(r"(million|milliard)s?$", words) else f"{words} {unit}"
    if frac and len(frac) == 2 and cent:  # "19,99 €" -> "dix-neuf euros quatre-vingt-dix-neuf"
        sub = int(frac)
        if amount == 0:
            return f"{cardinal(sub)} {cent if sub < 2 else cents}"
        return main if sub == 0 else f"{main} {cardinal(sub)}"
    if frac:
        return f"{number(num)} {plural}"
    return main


def _money(m):
    return money(m.group("num"), c.CURRENCY_KEYS[m.group("cur")], m.groupdict().get("scale"))


def _percent(m):
    return f"{number(m.group('num'))} pour cent"


def _ordinal(m):
    n, suffix, plural = int(m.group(1)), m.group("suf").lower(), m.group("pl")
    if suffix in ("nd", "nde"):
        words = "second" if suffix == "nd" else "seconde"
    elif n == 1:
        words = "première" if suffix in ("re", "ère") else "premier"
    else:
        words = c.num2words(n, "fr", "ordinal")
    return words + plural


def _number(m):
    return number(m.group(0))


NB, NA, OPT = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER, c.OPT_SPACE
RULES: list[c.Rule] = [
    *c.abbreviation_rules(ABBREVIATIONS),
    *c.abbreviation_rules(CASED_ABBREVIATIONS, flags=0),
    # dates: 14/03/2024, 14.03.2024, 2024-03-14; "1 mars" is "premier mars"
    (re.compile(r"(?<![0-9/.,-])(0?[1-9]|[12][0-9]|3[01])([/.-])(0?[1-9]|1[0-2])\2([0-9]{4})(?![0-9])"), _date),
    (re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9-])"), _iso_date),
    (re.compile(rf"(?<![0-9.,])1(?:er)?(?=\s+{MONTH}(?![\w]))", re.IGNORECASE), lambda m: "premier"),
    # times: 14h30, 14 h, 14:30
    (re.compile(r"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-4])\s?(?:h|H(?=\s?[0-9]))\s?(?P<m>[0-5][0-9])?(?P<s>)(?![\w])"),
     _time),
    (re.compile(r"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-4]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"), _time),
    # money, percent
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL}){OPT}(?P<num>{c.EU_NUM}){NA}"), _money),
    (re.compile(rf"{NB}(?P<num>{c.EU_NUM}){NA}(?:{OPT}(?P<scale>{SCALE}))?{OPT}(?P<cur>{c.SYMBOL}|{c.CODE})"),
     _money),
    (re.compile(rf"{NB}(?P<num>{c.EU_NUM}){NA}{OPT}%"), _percent),
    # ordinals: 1er, 1re, 2e, 2nd, 21e, 3èmes
    (re.compile(r"(?<![\w.,])([0-9]+)(?P<suf>ère|ème|eme|nde|nd|er|re|è|e)(?P<pl>s?)(?![\w])", re.IGNORECASE),
     _ordinal),
    (re.compile(r"(?<![\w.,-])[-−](?=[0-9])"), lambda m: "moins "),
    # "24/7": the reference deletes "/", which would glue the two numbers' words together
    (re.compile(r"(?<=[0-9])/(?=[0-9])"), lambda m: " sur "),
    (re.compile(rf"{NB}{c.EU_NUM}{NA}"), _number),
]

acronyms = c.acronym_rule(
    keep={"ONU", "OTAN", "UNESCO", "NASA", "SIDA", "OPEP", "UNICEF", "INSEE", "ENA", "CAC"},
    stop={"LE", "LA", "LES", "UN", "UNE", "DE", "DU", "DES", "ET", "EST", "NON", "OUI", "IL", "JE", "TU", "OU", "AU",
          "EN", "CE", "QUI", "QUE"},
)


def normalize(text: str) -> str:
    return acronyms(c.apply(text, RULES))
