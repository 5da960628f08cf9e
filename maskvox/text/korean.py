"""Korean cleaning before espeak `ko`, as the reference does it (`reference/G2P_NOTES.md`).

Hanja are deleted, a few exact Latin words and single capitals become Hangul, then the text is
lowercased; other Latin words reach espeak, which reads them with its English rules.
"""

from __future__ import annotations

import re

_LATIN_AS_HANGUL = {
    "KOREA": "코리아", "IDOL": "아이돌", "IT": "아이티", "IQ": "아이큐", "UP": "업", "DOWN": "다운",
    "PC": "피씨", "CCTV": "씨씨티비", "SNS": "에스엔에스", "AI": "에이아이", "CEO": "씨이오",
    "A": "에이", "B": "비", "C": "씨", "D": "디", "E": "이", "F": "에프", "G": "지", "H": "에이치",
    "I": "아이", "J": "제이", "K": "케이", "L": "엘", "M": "엠", "N": "엔", "O": "오", "P": "피",
    "Q": "큐", "R": "알", "S": "에스", "T": "티", "U": "유", "V": "브이", "W": "더블유", "X": "엑스",
    "Y": "와이", "Z": "제트",
}
# CJK radicals, ideographs and compatibility ideographs: the reference's character class.
_HANJA = re.compile("[⺀-⺙⺛-⻳⼀-⿕々〇〡-〩〸-〺〻㐀-䶵一-鿃豈-鶴侮-頻並-龎]")


def korean_text(text: str) -> str:
    text = _HANJA.sub("", text.strip())
    text = re.sub(r"[A-Za-z]+", lambda m: _LATIN_AS_HANGUL.get(m.group(), m.group()), text)
    return text.lower()
