"""Korean (espeak ko): written forms -> the words a speaker says.

espeak ko reads plain digits as Sino-Korean numbers, which is right for years, days, money and
minutes, so plain cardinals are left alone. We rewrite what it reads wrongly or what the
reference deletes: hours and counted things take native numbers (3시 -> 세 시, 3개 -> 세 개),
6월/10월 are 유월/시월, "14:30" and "3.14" are split at the punctuation by phonemizer, "9,500,000"
at its commas, `%`, `$`, `€` are deleted.
"""

from __future__ import annotations

import re

from maskvox.text.normalize import _common as c

# unit, sub-unit (None: decimals are read with 점).
CURRENCIES = {"USD": ("달러", "센트"), "EUR": ("유로", "센트"), "GBP": ("파운드", "펜스"), "JPY": ("엔", None),
              "KRW": ("원", None)}
# Counters that take native numbers (1-99); 개월, 병원 etc. are other words.
NATIVE_COUNTERS = r"개(?!월)|명|살|시간|마리|권|잔|병(?![원동])|가지|번째"
INT = r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+"
NUM = rf"(?:{INT})(?:\.[0-9]+)?"


def sino(n: int) -> str:
    return c.num2words(n, "ko")


def native(n: int) -> str:
    """Native attributive numbers, 1-99: 한, 두, 세, 스무, 스물한 ... (Sino-Korean from 100)."""
    if not 1 <= n <= 99:
        return sino(n)
    # num2words' Korean ordinal is the native form + "번째", except 1 (첫) and 20 (스물).
    words = c.num2words(n, "ko", "ordinal").removesuffix(" 번째")
    return {"첫": "한", "스물": "스무"}.get(words, words)


def month(n: int) -> str:
    if not 1 <= n <= 12:
        raise ValueError("not a month")
    return {6: "유", 10: "시"}.get(n, sino(n)) + "월"


def number(int_text: str, frac: str | None = None) -> str:
    words = sino(c.plain_int(int_text))
    return f"{words} 점 {''.join(sino(int(d)) for d in frac)}" if frac else words


def date(year: str | None, month_text: str, day: str | None) -> str:
    words = month(int(month_text))
    if day:
        if not 1 <= int(day) <= 31:
            raise ValueError("not a day")
        words += f" {sino(int(day))}일"
    return f"{sino(int(year))}년 {words}" if year else words


def _numeric_date(m):
    return date(m.group(1), m.group(3), m.group(4))


def _written_date(m):
    return date(m.group(1), m.group(2), m.group(3))


def _time(m):
    hour, minute, second = int(m.group("h")), int(m.group("m") or 0), m.group("s")
    words = f"{native(hour) if hour else '영'} 시"
    if minute:
        words += f" {sino(minute)} 분"
    if second and int(second):
        words += f" {sino(int(second))} 초"
    return words


def _counter(m):
    n, counter = int(m.group(1)), m.group(2)
    if counter == "번째" and n == 1:
        return "첫 번째"
    return f"{native(n)} {counter}"


def money(num: str, key: str, decimal_sep: str = ".") -> str:
    unit, cent = CURRENCIES[key]
    int_text, _, frac = num.partition(decimal_sep)
    amount = c.plain_int(int_text)
    if frac and len(frac) == 2 and cent:
        sub = int(frac)
        if amount == 0:
            return f"{sino(sub)} {cent}"
        return f"{sino(amount)} {unit}" + (f" {sino(sub)} {cent}" if sub else "")
    return f"{number(int_text, frac or None)} {unit}"


def _money_before(m):
    return money(m.group("num"), c.CURRENCY_KEYS[m.group("cur")])


def _money_after(m):
    num = m.group("num")
    sep = "," if re.fullmatch(r"[0-9]+,[0-9]{2}", num) else "."  # "19,99 €"
    return money(num, c.CURRENCY_KEYS[m.group("cur")], sep)


def _percent(m):
    return f"{number(m.group('int'), m.group('frac'))} 퍼센트"


def _number(m):
    int_text, frac = m.group("int"), m.group("frac")
    if not frac and "," not in int_text:
        return m.group(0)  # espeak reads plain digits as Sino-Korean already
    return number(int_text, frac)


NB, NA, OPT = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER, c.OPT_SPACE
HOUR = r"(?P<h>[01]?[0-9]|2[0-4])"
RULES: list[c.Rule] = [
    # dates: 2024-03-14, 2024.03.14, 2024. 3. 14, 2024년 3월 14일, 6월
    (re.compile(r"(?<![0-9.,])([0-9]{4})\s?([-./])\s?([0-9]{1,2})\s?\2\s?([0-9]{1,2})(?![0-9])"), _numeric_date),
    (re.compile(r"(?<![0-9.,])(?:([0-9]{1,4})\s?년\s?)?([0-9]{1,2})\s?월(?:\s?([0-9]{1,2})\s?일)?"), _written_date),
    # times: 14:30, 3시, 3시 30분
    (re.compile(rf"(?<![0-9:.,]){HOUR}:(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"), _time),
    (re.compile(rf"(?<![0-9.,]){HOUR}\s?시(?!간|즌|리)(?:\s?(?P<m>[0-5]?[0-9])\s?분)?(?P<s>)"), _time),
    # native counters: 3개, 20살, 1번째
    (re.compile(rf"(?<![0-9.,])([0-9]{{1,2}})\s?({NATIVE_COUNTERS})"), _counter),
    # money, percent, decimals, separated thousands
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL})\s?(?P<num>{NUM}){NA}"), _money_before),
    (re.compile(rf"{NB}(?P<num>[0-9]+,[0-9]{{2}}|{NUM}){NA}{OPT}(?P<cur>{c.SYMBOL}|{c.CODE})"), _money_after),
    (re.compile(rf"{NB}(?P<int>{INT})(?:\.(?P<frac>[0-9]+))?{NA}\s?%"), _percent),
    (re.compile(rf"{NB}(?P<int>{INT})(?:\.(?P<frac>[0-9]+))?{NA}"), _number),
]

# Spelled capitals are turned into Hangul letter names by the reference (B -> 비); the words it
# already reads as wholes (IT, PC, CCTV, ...) are kept for it.
acronyms = c.acronym_rule(keep={"KOREA", "IDOL", "IT", "IQ", "UP", "DOWN", "PC", "CCTV", "SNS", "AI", "CEO",
                                "NASA", "NATO", "UNESCO"})


def normalize(text: str) -> str:
    return acronyms(c.apply(text, RULES))
