"""English (espeak en-us): written forms -> the words a US speaker says.

Number words come from num2words without its British "and". That gives exactly the words of the
reference's inflect call (`andword=""`, group commas kept; checked on 0-3000 and on 3000 random
numbers up to 10^12), so where the reference reads a number right we give the same words, and
its own expansion then has nothing left to do (inflect itself takes 3 s to import). The rules
fix what the reference reads wrongly: it reads every 1001-2999 as a year ("1234 people" ->
"twelve thirty-four"), decimals as "three point fourteen", dates such as 03/14/2024 as
fractions and times as two numbers, and it drops € ¥ ₩ and the sign of -5.
"""

from __future__ import annotations

import re

from maskvox.text.normalize import _common as c

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
_MONTH_ABBREVIATIONS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
                        "sept": 9, "oct": 10, "nov": 11, "dec": 12}
MONTH = "(?:" + "|".join(MONTHS) + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?)"

# When is a bare 1001-2999 (no thousands comma) a year? See `is_year`.
YEAR_CUES = {"in", "since", "from", "until", "till", "by", "of", "year", "before", "after", "during", "around",
             "circa", "early", "late", "mid", "spring", "summer", "autumn", "fall", "winter", "between", "ad",
             "ce", "copyright", "born", "died", *(month.lower() for month in MONTHS), *_MONTH_ABBREVIATIONS}
DETERMINERS = {"the", "a", "an", "this", "that", "my", "your", "his", "her", "its", "our", "their"}
YEAR_VERBS = {"was", "is", "will", "has", "had", "saw"}
ERAS = {"BC", "AD", "BCE", "CE"}

INT = r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+"
NUM = rf"(?:{INT})(?:\.[0-9]+)?"
SCALE = r"thousand|million|billion|trillion"
# singular, plural, cent singular, cent plural (None: no sub-unit, decimals are read with "point").
CURRENCIES = {"USD": ("dollar", "dollars", "cent", "cents"), "EUR": ("euro", "euros", "cent", "cents"),
              "GBP": ("pound", "pounds", "penny", "pence"), "JPY": ("yen", "yen", None, None),
              "KRW": ("won", "won", None, None)}


def cardinal(n: int) -> str:
    return re.sub(r" and\b", "", c.num2words(n, "en"))  # "two hundred thirty-four", US style


def ordinal(n: int) -> str:
    return re.sub(r" and\b", "", c.num2words(n, "en", "ordinal"))


def year(n: int) -> str:
    """Years as the reference reads them: 1999 'nineteen ninety-nine', 2005 'two thousand five'."""
    if not 1000 < n < 3000:
        return cardinal(n)
    if n == 2000:
        return "two thousand"
    if 2000 < n < 2010:
        return "two thousand " + cardinal(n % 100)
    if n % 100 == 0:
        return cardinal(n // 100) + " hundred"
    high, low = divmod(n, 100)  # read in pairs: "nineteen oh six", "twenty twenty-four"
    return f"{cardinal(high)} {'oh ' if low < 10 else ''}{cardinal(low)}"


def digits(text: str) -> str:
    return " ".join(cardinal(int(d)) for d in text)


def number(int_text: str, frac: str | None = None) -> str:
    """'1,234' -> cardinal; '007' -> digits; '3' + '14' -> 'three point one four'."""
    words = digits(int_text) if c.spoken_digit_by_digit(int_text) else cardinal(c.plain_int(int_text))
    return f"{words} point {digits(frac)}" if frac else words


def letter(char: str) -> str:
    # espeak reads a lone "A" as the article (ɐ); "eh" gets the letter name /eɪ/.
    return "eh" if char == "A" else char


def month_number(word: str) -> int:
    word = word.rstrip(".").lower()
    names = [month.lower() for month in MONTHS]
    return names.index(word) + 1 if word in names else _MONTH_ABBREVIATIONS[word]


def check_date(month: int, day: int) -> None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError("not a date")  # guard keeps the text as written


def month_day(month: int, day: int, year_text: str | None) -> str:
    check_date(month, day)
    words = f"{MONTHS[month - 1]} {ordinal(day)}"
    return f"{words}, {year(int(year_text))}" if year_text else words


def day_of_month(month: int, day: int, year_text: str | None, after_the: bool) -> str:
    check_date(month, day)
    words = f"{'' if after_the else 'the '}{ordinal(day)} of {MONTHS[month - 1]}"
    return f"{words}, {year(int(year_text))}" if year_text else words


def previous_word(m: re.Match) -> str:
    found = re.search(r"([A-Za-z]+)\.?,?\s+$", m.string[:m.start()])
    return found.group(1).lower() if found else ""


def next_word(m: re.Match) -> str:
    found = re.match(r"\s*([A-Za-z]+)", m.string[m.end():])
    return found.group(1) if found else ""


# --- rules, in order ---------------------------------------------------------------------------

ABBREVIATIONS = (
    (r"vs\.?(?![\w])", "versus", False),
    (r"e\.\s?g\.", "for example", False),
    (r"i\.\s?e\.", "that is", False),
    (r"approx\.", "approximately", False),
    (r"no\.(?=\s?[0-9])", "number", False),
    (r"prof\.", "professor", False),
    (r"sr\.", "senior", True),
    (r"inc\.", "incorporated", True),
    (r"corp\.", "corporation", True),
)


def _iso_date(m):
    return month_day(int(m.group(2)), int(m.group(3)), m.group(1))


def _slash_date(m):
    first, second = int(m.group(1)), int(m.group(2))
    if first > 12 and second <= 12:  # 14/03/2024 can only be day/month
        return day_of_month(second, first, m.group(3), False)
    return month_day(first, second, m.group(3))  # otherwise US order, month first


def _month_first(m):
    return month_day(month_number(m.group(1)), int(m.group(2)), m.group(3))


def _day_first(m):
    return day_of_month(month_number(m.group(2)), int(m.group(1)), m.group(3), previous_word(m) == "the")


def _time(m):
    hour, minute = int(m.group("h")), int(m.group("m") or 0)
    second = m.group("s")
    words = cardinal(hour)
    if minute:
        words += " " + (f"oh {cardinal(minute)}" if minute < 10 else cardinal(minute))
    elif m.group("ap"):
        pass  # "nine a m"
    elif second is None and 0 < hour <= 12:
        words += " o'clock"
    else:
        words += " hundred"  # 14:00 "fourteen hundred"
    if second and int(second):
        words += f" and {cardinal(int(second))} second{'' if int(second) == 1 else 's'}"
    if m.group("ap"):
        words += f" {letter(m.group('ap').upper())} M"
        if m.group(0).endswith(".") and c.ends_sentence(m):
            words += "."
    return words


def _year_range(m):
    return f"{year(int(m.group(1)))} to {year(int(m.group(2)))}"


def _decade(m):
    words = year(int(m.group(1)))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"  # "nineteen nineties"


def money(num: str, key: str, scale: str | None, decimal_sep: str = ".") -> str:
    singular, plural, cent, cents = CURRENCIES[key]
    int_text, _, frac = num.partition(decimal_sep)
    if scale:  # "$1.5 million" -> "one point five million dollars"
        return f"{number(int_text, frac)} {scale} {plural}"
    amount = c.plain_int(int_text)
    unit = singular if amount == 1 else plural
    if frac and len(frac) == 2 and cent:
        sub = int(frac)
        main = f"{cardinal(amount)} {unit}"
        sub_words = f"{cardinal(sub)} {cent if sub == 1 else cents}"
        return main if sub == 0 else sub_words if amount == 0 else f"{main} and {sub_words}"
    if frac:
        return f"{number(int_text, frac)} {plural}"
    return f"{cardinal(amount)} {unit}"


def _money_before(m):
    return money(m.group("num"), c.CURRENCY_KEYS[m.group("cur")], m.group("scale"))


def _money_after(m):
    num = m.group("num")
    # "19,99 €": a comma before exactly two final digits is a European decimal comma.
    sep = "," if re.fullmatch(r"[0-9]+,[0-9]{2}", num) else "."
    return money(num, c.CURRENCY_KEYS[m.group("cur")], m.group("scale"), sep)


def _percent(m):
    return f"{number(m.group('int'), m.group('frac'))} percent"


def _ordinal(m):
    return ordinal(int(m.group(1)))


def is_year(m: re.Match, n: int) -> bool:
    """English writes quantities of 1000+ with a comma, so a bare 1001-2999 is often a year; it is
    read as one after a cue ("in 1999", "May 2024") or before an era (1066 AD), when it is a
    round hundred ("fifteen hundred" fits both), at the end of a clause ("born 1984,"), before
    was/is/..., or between a determiner and a word ("the 2024 election"). Before any other word
    it is a quantity: "1234 oranges"."""
    before, after = previous_word(m), next_word(m)
    if before in YEAR_CUES or after in ERAS or n % 100 == 0:
        return True
    if not 1100 <= n <= 2099:
        return False
    return not after or after.lower() in YEAR_VERBS or before in DETERMINERS


def _fraction(m):
    """3/4 -> three quarters, 1/2 -> one half, 5/16 -> five sixteenths."""
    numerator, denominator = int(m.group(1)), int(m.group(2))
    if denominator < 2:
        return m.group(0)
    plural = numerator != 1
    if denominator == 2:
        unit = "halves" if plural else "half"
    elif denominator == 4:
        unit = "quarters" if plural else "quarter"
    else:
        unit = ordinal(denominator) + ("s" if plural else "")
    return f"{cardinal(numerator)} {unit}"


def _number(m):
    int_text, frac = m.group("int"), m.group("frac")
    if frac or "," in int_text:
        return number(int_text, frac)
    n = int(int_text)
    if 1000 < n < 3000 and not c.spoken_digit_by_digit(int_text) and is_year(m, n):
        return year(n)
    return number(int_text)


NB, NA = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER
MERIDIEM = r"(?:\s?(?P<ap>[AaPp])\.?\s?[Mm]\.?(?![\w]))"
RULES: list[c.Rule] = [
    *c.abbreviation_rules(ABBREVIATIONS),
    (re.compile(r"#(?=[0-9])"), lambda m: "number "),
    (re.compile(r"\s*&\s*"), lambda m: " and "),
    # dates
    (re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9-])"), _iso_date),
    (re.compile(r"(?<![0-9/])([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})(?![0-9/])"), _slash_date),
    (re.compile(rf"(?<![\w])({MONTH})\s+([0-9]{{1,2}})(?:st|nd|rd|th)?(?![\w])(?:,?\s+([0-9]{{4}})(?![0-9]))?"),
     _month_first),
    (re.compile(rf"(?<![0-9.,])([0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH})(?![\w])"
                rf"(?:,?\s+([0-9]{{4}})(?![0-9]))?"), _day_first),
    # times: 14:30, 9:05 am, 7 p.m.
    (re.compile(rf"(?<![0-9:.,])(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"
                rf"{MERIDIEM}?"), _time),
    (re.compile(rf"(?<![0-9:.,])(?P<h>1[0-2]|0?[1-9])(?P<m>)(?P<s>){MERIDIEM}"), _time),
    # years
    (re.compile(r"(?<![0-9.,])(1[0-9]{3}|2[0-9]{3})\s?[-–]\s?(1[0-9]{3}|2[0-9]{3})(?![0-9])"), _year_range),
    (re.compile(r"(?<![0-9.,'])(1[0-9]{2}0|2[0-9]{2}0)'?s(?![\w])"), _decade),
    # money, percent
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL})\s?(?P<num>{NUM}){NA}(?:\s(?P<scale>{SCALE})(?![\w]))?"),
     _money_before),
    (re.compile(rf"{NB}(?P<num>[0-9]+,[0-9]{{2}}|{NUM}){NA}(?:\s(?P<scale>{SCALE}))?{c.OPT_SPACE}"
                rf"(?P<cur>{c.SYMBOL}|{c.CODE})"), _money_after),
    (re.compile(rf"{NB}(?P<int>{INT})(?:\.(?P<frac>[0-9]+))?{NA}\s?%"), _percent),
    # fractions (what is left of a/b once dates are read), ordinals, signs, numbers
    (re.compile(r"(?<![0-9/.,])([0-9]{1,3})/([0-9]{1,3})(?![0-9/])"), _fraction),
    (re.compile(r"(?<![0-9.,])([0-9]+)(?:st|nd|rd|th)(?![\w])", re.IGNORECASE), _ordinal),
    (re.compile(r"(?<![\w.,-])[-−](?=[0-9])"), lambda m: "minus "),
    (re.compile(rf"{NB}(?P<int>{INT})(?:\.(?P<frac>[0-9]+))?{NA}"), _number),
]

acronyms = c.acronym_rule(
    letter,
    keep={"NASA", "NATO", "UNESCO", "UNICEF", "OPEC", "FIFA", "NAFTA", "SIM", "PIN", "RAM", "ROM", "LAN", "WAN"},
    # Common words written in capitals for emphasis, not acronyms.
    stop={"THE", "AND", "BUT", "FOR", "NOT", "YOU", "ARE", "WAS", "ALL", "NOW", "YES", "NO", "OH", "SO", "GO", "DO",
          "TO", "OF", "BE", "MY", "ME", "WE", "HE", "SHE", "HOW", "WHY"},
)


def normalize(text: str) -> str:
    # Acronyms are not spelled here: espeak en-us already spells capitals it cannot say as a
    # word (FBI -> ɛf biː aɪ, as in the official model's training data). `acronyms` serves
    # the languages whose voices read Latin capitals badly.
    return c.apply(text, RULES)
