"""Japanese (OpenJTalk): rewrite only what OpenJTalk reads badly.

OpenJTalk reads digits, "1,234,567", "3.14", "50%", "2024年3月14日", "500円" and Latin letter
names (BBC -> ビービーシー) itself. It reads "14:30" as ジューヨン：サンジュー, "2024-03-14" digit by
digit, "$5" as ＄ゴ, "€5" as €ゴ and "25℃" as ニジューゴドシー; those become 14時30分,
2024年3月14日, 5ドル, 5ユーロ and 25度, with the digits left for OpenJTalk.
"""

from __future__ import annotations

import re

from maskvox.text.normalize import _common as c

CURRENCIES = {"USD": "ドル", "EUR": "ユーロ", "GBP": "ポンド", "JPY": "円", "KRW": "ウォン"}
NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"


def _date(m):
    year, month, day = m.group(1), int(m.group(3)), int(m.group(4))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError("not a date")
    return f"{year}年{month}月{day}日"


def _time(m):
    hour, minute, second = int(m.group("h")), int(m.group("m")), int(m.group("s") or 0)
    words = f"{hour}時"
    if minute or second:
        words += f"{minute}分"
    if second:
        words += f"{second}秒"
    return words


def _money(m):
    return m.group("num") + CURRENCIES[c.CURRENCY_KEYS[m.group("cur")]]


NB, NA, OPT = c.NOT_BEFORE_NUMBER, c.NOT_AFTER_NUMBER, c.OPT_SPACE
RULES: list[c.Rule] = [
    (c.CJK_DATE, _date),
    (c.CJK_TIME, _time),
    # money: $5, ＄5, €5, ¥500, 5€, 5 USD
    (re.compile(rf"{c.MONEY_START}(?P<cur>{c.SYMBOL}|＄){OPT}(?P<num>{NUM}){NA}"), _money),
    (re.compile(rf"{NB}(?P<num>{NUM}){NA}{OPT}(?P<cur>{c.SYMBOL}|＄|{c.CODE})"), _money),
    # temperatures: 25℃, 25°C
    (re.compile(r"(?<=[0-9])\s?(?:℃|°C)"), lambda m: "度"),
]


def normalize(text: str) -> str:
    return c.apply(text, RULES)
