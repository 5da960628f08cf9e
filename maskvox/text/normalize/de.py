"""German (espeak de): written forms -> the words a speaker says.

The reference leaves digits to espeak, but phonemizer splits "19,99" at the comma and
"1.500.000" at the dots, `%` and `€` are deleted, and "14.03.2024" or "14:30" become separate
numbers. So every number we touch is written out in words (num2words).
Ordinals ("3.") are only read where the context is clear (a month name or a noun such as
"Jahrhundert" follows); a number before a full stop is usually just the end of a sentence.
"""

from __future__ import annotations

import re

from maskvox.text.normalize import _common as c

MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember")
MONTH = "(?:" + "|".join(MONTHS) + "|Jänner)"
# Nouns after which "3." is clearly an ordinal ("im 19. Jahrhundert", "zum 2. Mal").
ORDINAL_NOUNS = ("Jahrhundert", "Jahrhunderts", "Jahrtausend", "Mal", "Platz", "Stock", "Stockwerk", "Etage",
                 "Klasse", "Liga", "Runde", "Auflage", "Geburtstag", "Jahrestag", "Kapitel", "Spieltag", "Woche",
                 "Tag", "Monat", "Jahr", "Quartal", "Halbjahr", "Semester", "Welle", "Stufe", "Bundesliga")
# The ordinal's ending follows the word before it: "am dritten", "der dritte", else "dritter"
# ("Berlin, 3. März").
WEAK_DATIVE = {"am", "im", "vom", "zum", "zur", "beim", "dem", "den", "des", "ab", "seit", "bis", "einem", "einen"}
WEAK_NOMINATIVE = {"der", "die", "das"}
# A bare 1100-1999 is a year ("neunzehnhundert...") unless a capitalised word (a noun) follows.
CURRENCIES = {"EUR": ("Euro", "Cent"), "USD": ("Dollar", "Cent"), "GBP": ("Pfund", "Pence"), "JPY": ("Yen", None),
              "KRW": ("Won", None)}
SCALE = r"Millionen|Million|Milliarden|Milliarde"


def cardinal(n: int) -> str:
    return c.num2words(n, "de")


def attributive(n: int) -> str:
    """'ein Euro', 'ein Uhr': 1 before a noun is 'ein', not 'eins'."""
    return "ein" if n == 1 else cardinal(n)


def digits(text: str) -> str:
    return " ".join(cardinal(int(d)) for d in text)


def number(num: str) -> str:
    """German reads decimals digit by digit: '3,14' -> 'drei Komma eins vier'."""
    int_text, frac = c.split_eu(num)
    words = digits(int_text) if c.spoken_digit_by_digit(int_text) else cardinal(c.plain_int(int_text))
    return f"{words} Komma {digits(frac)}" if frac else words


def previous_word(m: re.Match) -> str:
    found = re.search(r"(\w+)\s+$", m.string[:m.start()])
    return found.group(1).lower() if found else ""


def ordinal(n: int, before: str) -> str:
    words = c.num2words(n, "de", "ordinal")  # "dritte"
    if before in WEAK_DATIVE:
        return words + "n"
    return words if before in WEAK_NOMINATIVE else words + "r"


def date(m: re.Match, day: int, month: int, year: str | None) -> str:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError("not a date")
    words = f"{ordinal(day, previous_word(m))} {MONTHS[month - 1]}"
    return f"{words} {year_words(int(year))}" if year else words


def year_words(n: int) -> str:
    return c.num2words(n, "de", "year") if 1100 <= n <= 1999 else cardinal(n)


# --- rules, in order ---------------------------------------------------------------------------

ABBREVIATIONS = (
    (r"z\.\s?B\.", "zum Beispiel", False),
    (r"d\.\s?h\.", "das heißt", False),
    (r"u\.\s?a\.", "unter anderem", False),  # nouns follow it, capitalised
    (r"u\.\s?s\.\s?w\.", "und so weiter", True),
    (r"usw\.", "und so weiter", True),
    (r"bzw\.", "beziehungsweise", False),
    (r"etc\.", "et cetera", True),
    (r"Nr\.", "Nummer", False),
    (r"Dr\.", "Doktor", False),
    (r"Prof\.", "Professor", False),
    (r"ca\.", "zirka", False),
    (r"evtl\.", "eventuell", False),
    (r"ggf\.", "gegebenenfalls", False),
    (r"inkl\.", "inklusive", False),
    (r"vgl\.", "vergleiche", False),
    (r"Str\.", "Straße", True),
    (r"Tel\.", "Telefon", False),
    (r"(?<=1 )Mio\.", "Million", False),
    (r"(?<=1 )Mrd\.", "Milliarde", False),
    (r"Mio\.", "Millionen", False),
    (r"Mrd\.", "Milliarden", False),
)


def _numeric_date(m):
    return date(m, int(m.group("d")), int(m.group("mo")), m.group("y"))


def _short_date(m):
    """'am 14.03.' (no year): only after a preposition, where it cannot be a decimal."""
    day, month, pre = int(m.group("d")), int(m.group("mo")), m.group("pre")
    if not 1 <= month <= 12:
        raise ValueError("not a date")
    words = f"{pre} {ordinal(day, pre.lower())} {MONTHS[month - 1]}"
    return words + "." if c.ends_sentence(m) else words  # the date's dot may also end the sentence


def _iso_date(m):
    return date(m, int(m.group(3)), int(m.group(2)), m.group(1))


def _month_date(m):
    return date(m, int(m.group(1)), MONTHS.index(m.group(2).replace("Jänner", "Januar")) + 1, m.group(3))


def _ordinal_noun(m):
    before = previous_word(m)
    if before not in WEAK_DATIVE | WEAK_NOMINATIVE:
        return m.group(0)  # no article: "Platz 3." stays as written
    return ordinal(int(m.group(1)), before)


DURATION_UNITS = {"Stunde", "Stunden", "Std", "h", "Minute", "Minuten", "Min"}


def _time(m):
    hour, minute, second = int(m.group("h")), int(m.group("m") or 0), m.group("s")
    following = re.match(r"\s*(\w+)", m.string[m.end():])
    if following and following.group(1) in DURATION_UNITS and not second:
        return f"{cardinal(hour)} {cardinal(minute)}"  # "1:45 Stunden": a duration, not a clock time
    words = f"{attributive(hour)} Uhr"
    if minute:
        words += " " + cardinal(minute)
    if second and int(second):
        words += f" und {cardinal(int(second))} Sekunde{'' if int(second) == 1 else 'n'}"
    return words


def money(num: str, key: str, scale: str | None) -> str:
    unit, cent = CURRENCIES[key]
    int_text, frac = c.split_eu(num)
    if scale:
        return f"{before_scale(num)} {scale} {unit}"
    amount = c.plain_int(int_text)
    if frac and len(frac) == 2 and cent:  # "19,99 €" -> "neunzehn Euro neunundneunzig"
        sub = int(frac)
        if amount == 0:
            return f"{attributive(sub)} {cent}"
        main = f"{attributive(amount)} {unit}"
        return main if sub == 0 else f"{main} {cardinal(sub)}"
    if frac:
        return f"{number(num)} {unit}"
    return f"{attributive(amount)} {unit}"


def _money(m):
    return money(m.group("num"), c.CURRENCY_KEYS[m.group("cur")], m.groupdict().get("scale"))


def _percent(m):
    return f"{number(m.group('num'))} Prozent"


def before_scale(num: str) -> str:
    return "eine" if num == "1" else number(num)  # "eine Million", not "eins Million"


def _number(m):
    num = m.group(0)
    if re.match(rf"\s+(?:{SCALE})(?![\w])", m.string[m.end():]):
        return before_scale(num)
    if num.isdigit() and 1100 <= int(num) <= 1999 and not re.match(r"\s+[A-ZÄÖÜ]", m.string[m.end():]):
        return year_words(int(num))
    return number(num)


NB, NA, OPT = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER, c.OPT_SPACE
DAY, MON = r"(?P<d>0?[1-9]|[12][0-9]|3[01])", r"(?P<mo>0?[1-9]|1[0-2])"
RULES: list[c.Rule] = [
    *c.abbreviation_rules(ABBREVIATIONS),
    (re.compile(r"\s*&\s*"), lambda m: " und "),
    # dates: 14.03.2024, "am 14.03.", 2024-03-14, "3. März 2024"
    (re.compile(rf"(?<![0-9.,/]){DAY}(?P<sep>[./])\s?{MON}(?P=sep)\s?(?P<y>[0-9]{{4}})(?![0-9])"), _numeric_date),
    (re.compile(rf"(?<![\w])(?P<pre>am|vom|zum|bis|ab|seit)\s+{DAY}\.\s?{MON}\.(?![0-9])", re.IGNORECASE),
     _short_date),
    (re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9-])"), _iso_date),
    (re.compile(rf"(?<![0-9.,])([0-9]{{1,2}})\.\s?({MONTH})(?![\w])(?:\s+([0-9]{{4}})(?![0-9]))?"), _month_date),
    (re.compile(rf"(?<![0-9.,])([0-9]{{1,3}})\.(?=\s(?:{'|'.join(ORDINAL_NOUNS)})(?![\w]))"), _ordinal_noun),
    # times: 14:30, 14:30 Uhr, 14.30 Uhr, 14 Uhr
    (re.compile(r"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-4]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"
                r"(?:\s?Uhr(?![\w]))?"), _time),
    (re.compile(r"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-4])(?:\.(?P<m>[0-5][0-9]))?(?P<s>)\s?Uhr(?![\w])"), _time),
    # money, percent
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL}){OPT}(?P<num>{c.EU_NUM}){NA}"), _money),
    (re.compile(rf"{NB}(?P<num>{c.EU_NUM}){NA}(?:{OPT}(?P<scale>{SCALE}))?{OPT}(?P<cur>{c.SYMBOL}|{c.CODE})"),
     _money),
    (re.compile(rf"{NB}(?P<num>{c.EU_NUM}){NA}{OPT}%"), _percent),
    # signs, "3/4" (the reference deletes "/", which would glue the two numbers' words), numbers
    (re.compile(r"(?<![\w.,-])[-−](?=[0-9])"), lambda m: "minus "),
    (re.compile(r"(?<=[0-9])/(?=[0-9])"), lambda m: " durch "),
    (re.compile(rf"{NB}{c.EU_NUM}{NA}"), _number),
]

acronyms = c.acronym_rule(
    keep={"NATO", "UNESCO", "NASA", "UNO", "DAX", "TÜV", "UEFA", "FIFA", "GEMA"},
    spell={"ADAC"},
    stop={"DER", "DIE", "DAS", "UND", "IST", "NICHT", "EIN", "JA", "NEIN", "ICH", "DU", "ER", "SIE", "ES", "WIR"},
    upper="A-ZÄÖÜ",
)


def normalize(text: str) -> str:
    return acronyms(c.apply(text, RULES))
