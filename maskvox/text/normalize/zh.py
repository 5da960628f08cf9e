"""Mandarin: rewrite only what the reference's own cn2an pass reads wrongly.

The reference runs `cn2an.transform(text, "an2cn")` itself, which reads digits, "2024年3月14日",
"50%", "3.14" and "第3" well. It reads "14:30" as 十四:三十, "2024-03-14" as 二千零二十四负三负十四,
"1,234" as 一,二百三十四 and "3-5个" as 三负五个, and the cleaner after it deletes ¥ $ € £ ₩.
We write those in Chinese numerals (cn2an.an2cn) so the reference has nothing left to do.
Latin acronyms go through the English G2P inside zh text, so they are spelled the English way.
"""

from __future__ import annotations

import functools
import re

from maskvox.text.normalize import _common as c
from maskvox.text.normalize import en

CURRENCIES = {"USD": "美元", "EUR": "欧元", "GBP": "英镑", "JPY": "日元", "KRW": "韩元"}
# In Chinese text ¥/￥ is the yuan (it is also the yen's sign; 日元 needs "JPY" or 円).
YUAN_SIGNS = {"¥", "￥"}
INT = r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+"
NUM = rf"(?:{INT})(?:\.[0-9]+)?"


@functools.lru_cache(maxsize=4096)
def chinese(number: str) -> str:
    """'1,234.5' -> 一千二百三十四点五 (cn2an, the reference's own reader)."""
    import cn2an  # imported on first use

    return cn2an.an2cn(number.replace(",", ""))


def digits(number: str) -> str:
    """Years are read digit by digit: 2024 -> 二零二四."""
    return "".join("零一二三四五六七八九"[int(d)] for d in number)


def date(year: str, month: str, day: str) -> str:
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        raise ValueError("not a date")
    return f"{digits(year)}年{chinese(str(int(month)))}月{chinese(str(int(day)))}日"


def _date(m):
    return date(m.group(1), m.group(3), m.group(4))


def _time(m):
    hour, minute, second = int(m.group("h")), int(m.group("m")), m.group("s")
    words = "两点" if hour == 2 else f"{chinese(str(hour))}点"
    second = int(second or 0)
    if minute or second:
        words += f"{'零' if 0 < minute < 10 else ''}{chinese(str(minute))}分"
    if second:
        words += f"{'零' if second < 10 else ''}{chinese(str(second))}秒"
    return words


def _money(m):
    sign = m.group("cur")
    unit = "元" if sign in YUAN_SIGNS else CURRENCIES[c.CURRENCY_KEYS[sign]]
    return chinese(m.group("num")) + unit


def _range(m):
    return f"{chinese(m.group(1))}到{chinese(m.group(2))}"


def _grouped(m):
    return chinese(m.group(0))


NB, NA, OPT = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER, c.OPT_SPACE
RULES: list[c.Rule] = [
    (c.CJK_DATE, _date),
    (c.CJK_TIME, _time),
    # money: ¥100, $4.99, €5, 5€
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL}){OPT}(?P<num>{NUM}){NA}"), _money),
    (re.compile(rf"{NB}(?P<num>{NUM}){NA}{OPT}(?P<cur>{c.SYMBOL}|{c.CODE})"), _money),
    # ranges 3-5 (not phone numbers: short, no leading zero), then 1,234,567
    (re.compile(r"(?<![0-9.,-])([1-9][0-9]{0,3})[-~～–]([1-9][0-9]{0,3})(?![0-9.,-])"), _range),
    (re.compile(rf"{NB}[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?{NA}"), _grouped),
]


def normalize(text: str) -> str:
    return c.apply(text, RULES)  # English runs are read by espeak en-us, which spells acronyms
