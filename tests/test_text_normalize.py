"""maskvox.text.normalize: written forms -> the words a speaker says, per language.

Each case is (category, written text, exact expected output). The expectations are what a
speaker says, written so that the reference G2P after the normaliser reads it well (see the
module docstrings for why each language rewrites what it does).
"""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskvox.errors import UnsupportedLanguageError
from maskvox.text.normalize import SUPPORTED_LANGUAGES, normalize_text

CASES = {
    "en": [
        ("numbers", "The population grew to 1,234,567 people.",
         "The population grew to one million, two hundred thirty-four thousand, five hundred sixty-seven people."),
        ("numbers", "I have 3 apples and 1234 oranges.",
         "I have three apples and one thousand, two hundred thirty-four oranges."),
        ("numbers", "Call 007 or 12345678901.",
         "Call zero zero seven or one two three four five six seven eight nine zero one."),
        ("numbers", "It was -5 degrees.",
         "It was minus five degrees."),
        ("years", "In 1999 and since 2005, in 1906.",
         "In nineteen ninety-nine and since two thousand five, in nineteen oh six."),
        ("years", "The 1990s, from 1990-1995, 1066 AD.",
         "The nineteen nineties, from nineteen ninety to nineteen ninety-five, ten sixty-six AD."),
        ("years", "The 2024 election. 2024 was great, and 1500 people came.",
         "The twenty twenty-four election. twenty twenty-four was great, and fifteen hundred people came."),
        ("fractions", "Add 1/2 cup, 3/4 of it, then 5/16 on 3/14.",
         "Add one half cup, three quarters of it, then five sixteenths on three fourteenths."),
        ("ordinals", "The 21st century, the 2nd and the 103rd.",
         "The twenty-first century, the second and the one hundred third."),
        ("decimals", "Pi is 3.14, not 0.05 or 1,234.56.",
         "Pi is three point one four, not zero point zero five or one thousand, two hundred thirty-four point five six."),
        ("currency", "It costs $4.99, but I only have $3.",
         "It costs four dollars and ninety-nine cents, but I only have three dollars."),
        ("currency", "$1, $0.99, $1.5 million, £2.50, ¥500, ₩1,000.",
         "one dollar, ninety-nine cents, one point five million dollars, two pounds and fifty pence, five hundred yen, one thousand won."),
        ("currency", "19,99 €, €5, 5 € and 10 EUR.",
         "nineteen euros and ninety-nine cents, five euros, five euros and ten euros."),
        ("percent", "Growth was 50% and 2.5 %.",
         "Growth was fifty percent and two point five percent."),
        ("dates", "On 2024-03-14 and 03/14/2024.",
         "On March fourteenth, twenty twenty-four and March fourteenth, twenty twenty-four."),
        ("dates", "On March 14, 2024, on 14/03/2024, on 14 March 2024 and on the 4th of July.",
         "On March fourteenth, twenty twenty-four, on the fourteenth of March, twenty twenty-four, on the fourteenth of March, twenty twenty-four and on the fourth of July."),
        ("times", "At 14:30, 9:05 am or 7 p.m. Then 12:00, 14:00 and 10:15:30.",
         "At fourteen thirty, nine oh five eh M or seven P M. Then twelve o'clock, fourteen hundred and ten fifteen and thirty seconds."),
        ("abbreviations", "Apples vs. oranges, e.g. pears, i.e. fruit.",
         "Apples versus oranges, for example pears, that is fruit."),
        ("abbreviations", "Approx. 5 of them at No. 5 and #7 with Prof. Smith of Apple Inc. The end.",
         "Approximately five of them at Number five and number seven with Professor Smith of Apple Incorporated. The end."),
        ("abbreviations", "Tom & Jerry",
         "Tom and Jerry"),
        # espeak en-us spells acronyms itself (BBC -> biːbiːsiː), so English leaves them alone.
        ("acronyms", "The BBC and the NHS use HTML, like NASA and UNESCO.",
         "The BBC and the NHS use HTML, like NASA and UNESCO."),
        ("letters glued to numbers", "Gate B12, flight UA857.",
         "Gate B twelve, flight UA eight hundred fifty-seven."),
    ],
    "fr": [
        ("numbers", "La ville compte 1 234 567 habitants, ou 1.234.567, et 42 chats.",
         "La ville compte un million deux cent trente-quatre mille cinq cent soixante-sept habitants, ou un million deux cent trente-quatre mille cinq cent soixante-sept, et quarante-deux chats."),
        ("numbers", "Il fait -5 degrés, 24/7.",
         "Il fait moins cinq degrés, vingt-quatre sur sept."),
        ("ordinals", "Le 1er mai, la 1re fois, le 2e étage, le 21e siècle, la 2nde guerre, les 3èmes.",
         "Le premier mai, la première fois, le deuxième étage, le vingt et unième siècle, la seconde guerre, les troisièmes."),
        ("decimals", "Pi vaut 3,14 et non 0,05.",
         "Pi vaut trois virgule quatorze et non zéro virgule zéro cinq."),
        ("currency", "Ça coûte 19,99 €, 5 €, €5 ou $4.99.",
         "Ça coûte dix-neuf euros quatre-vingt-dix-neuf, cinq euros, cinq euros ou quatre dollars quatre-vingt-dix-neuf."),
        ("currency", "Ça coûte 1,50 €, 0,50 €, 1 000 000 € ou 2 millions €.",
         "Ça coûte un euro cinquante, cinquante centimes, un million d'euros ou deux millions d'euros."),
        ("percent", "Une hausse de 50 % et de 2,5 %.",
         "Une hausse de cinquante pour cent et de deux virgule cinq pour cent."),
        ("dates", "Le 14/03/2024, le 2024-03-14 et le 1 mars.",
         "Le quatorze mars deux mille vingt-quatre, le quatorze mars deux mille vingt-quatre et le premier mars."),
        ("times", "Rendez-vous à 14h30, à 14 h, à 1h05 ou à 21:01.",
         "Rendez-vous à quatorze heures trente, à quatorze heures, à une heure cinq ou à vingt et une heures une."),
        ("abbreviations", "Des fruits, p. ex. des pommes, env. 5 kg, c.-à-d. beaucoup, cf. page 3.",
         "Des fruits, par exemple des pommes, environ cinq kg, c'est-à-dire beaucoup, confer page trois."),
        ("abbreviations", "Le n° 5, en 52 av. J.-C. MM. Dupont et Mgr Martin, svp.",
         "Le numéro cinq, en cinquante-deux avant Jésus-Christ. Messieurs Dupont et Monseigneur Martin, s'il vous plaît."),
        ("acronyms", "La SNCF, la BBC et le HTML, mais l'ONU, l'OTAN et la NASA.",
         "La S N C F, la B B C et le H T M L, mais l'ONU, l'OTAN et la NASA."),
    ],
    "de": [
        ("numbers", "Die Stadt hat 1.234.567 Einwohner, oder 1 234 567, und 42 Katzen.",
         "Die Stadt hat eine Million zweihundertvierunddreißigtausendfünfhundertsiebenundsechzig Einwohner, oder eine Million zweihundertvierunddreißigtausendfünfhundertsiebenundsechzig, und zweiundvierzig Katzen."),
        ("numbers", "Es ist -5 Grad. 1999 war gut, 1999 Menschen, 3/4.",
         "Es ist minus fünf Grad. neunzehnhundertneunundneunzig war gut, eintausendneunhundertneunundneunzig Menschen, drei durch vier."),
        ("ordinals", "Am 3. März und der 3. März. Im 19. Jahrhundert, zum 2. Mal, der 1. Platz.",
         "Am dritten März und der dritte März. Im neunzehnten Jahrhundert, zum zweiten Mal, der erste Platz."),
        ("ordinals", "Er wurde Platz 3. Danach ging er.",
         "Er wurde Platz drei. Danach ging er."),
        ("decimals", "Pi ist 3,14 und nicht 0,05.",
         "Pi ist drei Komma eins vier und nicht null Komma null fünf."),
        ("currency", "Das kostet 19,99 €, 5 €, €5 oder $4.99.",
         "Das kostet neunzehn Euro neunundneunzig, fünf Euro, fünf Euro oder vier Dollar neunundneunzig."),
        ("currency", "Das kostet 1 €, 0,50 €, 1 Mio. € oder 2,5 Mrd. €.",
         "Das kostet ein Euro, fünfzig Cent, eine Million Euro oder zwei Komma fünf Milliarden Euro."),
        ("percent", "Ein Anstieg um 50 % und 2,5 %.",
         "Ein Anstieg um fünfzig Prozent und zwei Komma fünf Prozent."),
        ("dates", "Am 14.03.2024, der 2024-03-14, Berlin, 3. März 2024.",
         "Am vierzehnten März zweitausendvierundzwanzig, der vierzehnte März zweitausendvierundzwanzig, Berlin, dritter März zweitausendvierundzwanzig."),
        ("dates", "Bis zum 1.5. Dann am 14.03.",
         "Bis zum ersten Mai. Dann am vierzehnten März."),
        ("times", "Um 14:30 Uhr, um 14.30 Uhr, um 14 Uhr, um 1 Uhr oder um 9:05.",
         "Um vierzehn Uhr dreißig, um vierzehn Uhr dreißig, um vierzehn Uhr, um ein Uhr oder um neun Uhr fünf."),
        ("abbreviations", "Obst, z. B. Äpfel, Birnen usw. Dann bzw. Nr. 5, Dr. Müller, ca. 5 kg.",
         "Obst, zum Beispiel Äpfel, Birnen und so weiter. Dann beziehungsweise Nummer fünf, Doktor Müller, zirka fünf kg."),
        ("abbreviations", "D. h. viel, u. a. Birnen, Tom & Jerry.",
         "Das heißt viel, unter anderem Birnen, Tom und Jerry."),
        ("acronyms", "Die BBC, der ADAC, die EU und HTML, aber die NATO und der TÜV.",
         "Die B B C, der A D A C, die E U und H T M L, aber die NATO und der TÜV."),
    ],
    "ko": [
        ("numbers", "인구는 9,500,000명이고 고양이는 42마리입니다.",
         "인구는 구백오십만명이고 고양이는 마흔두 마리입니다."),
        ("counters", "사과 3개, 학생 20명, 21살, 1번째, 2번째, 3개월, 100개.",
         "사과 세 개, 학생 스무 명, 스물한 살, 첫 번째, 두 번째, 3개월, 100개."),
        ("decimals", "원주율은 3.14입니다.",
         "원주율은 삼 점 일사입니다."),
        ("currency", "가격은 $4.99, ₩10,000, 10,000원, €5, 19,99 €입니다.",
         "가격은 사 달러 구십구 센트, 만 원, 만원, 오 유로, 십구 유로 구십구 센트입니다."),
        ("percent", "50% 증가, 2.5%.",
         "오십 퍼센트 증가, 이 점 오 퍼센트."),
        ("dates", "2024년 3월 14일, 2024년 6월, 10월 9일.",
         "이천이십사년 삼월 십사일, 이천이십사년 유월, 시월 구일."),
        ("dates", "2024-03-14, 2024. 3. 14.",
         "이천이십사년 삼월 십사일, 이천이십사년 삼월 십사일."),
        ("times", "오후 2시에 만나요. 14:30에 출발, 3시 30분, 2시간, 9:05.",
         "오후 두 시에 만나요. 열네 시 삼십 분에 출발, 세 시 삼십 분, 두 시간, 아홉 시 오 분."),
        ("acronyms", "BBC 뉴스와 NASA, IT 회사, HTML.",
         "B B C 뉴스와 NASA, IT 회사, H T M L."),
    ],
    "zh": [
        ("numbers", "人口是1,234,567人，有3-5个苹果。",
         "人口是一百二十三万四千五百六十七人，有三到五个苹果。"),
        ("currency", "价格是¥100，$4.99，€5，£20，₩5000。",
         "价格是一百元，四点九九美元，五欧元，二十英镑，五千韩元。"),
        ("dates", "日期是2024-03-14，或者2024/3/14，或2024.03.14。",
         "日期是二零二四年三月十四日，或者二零二四年三月十四日，或二零二四年三月十四日。"),
        ("times", "时间是14:30，还有2:05和9:00:15。",
         "时间是十四点三十分，还有两点零五分和九点零分十五秒。"),
        # left to espeak en-us, which spells them
        ("acronyms", "我在BBC工作，用HTML和NASA。",
         "我在BBC工作，用HTML和NASA。"),
        ("left to cn2an", "增长了50%，第3名，3.14，19.99元，2024年3月14日。",
         "增长了50%，第3名，3.14，19.99元，2024年3月14日。"),
    ],
    "ja": [
        ("currency", "$5と€5と£20と¥500と￥1,000と₩5000と5€と$4.99。",
         "5ドルと5ユーロと20ポンドと500円と1,000円と5000ウォンと5ユーロと4.99ドル。"),
        ("dates", "2024-03-14と2024/3/14。",
         "2024年3月14日と2024年3月14日。"),
        ("times", "14:30に会いましょう。9:05と10:00:30。",
         "14時30分に会いましょう。9時5分と10時0分30秒。"),
        ("temperature", "気温は25℃です。",
         "気温は25度です。"),
        ("left to OpenJTalk", "BBCとNASA、50%、1,234,567人、3.14、2024年3月14日。",
         "BBCとNASA、50%、1,234,567人、3.14、2024年3月14日。"),
    ],
}

# Sentences with nothing to rewrite: they must come back byte for byte.
UNCHANGED = {
    "en": ["Hello, world! How are you today?", "It's a nice day.\nSee you  soon…", ""],
    "fr": ["Bonjour, le monde ! Ça va ?", "M. Dupont habite av. Foch, l’été."],
    "de": ["Hallo Welt! Wie geht's?", "Straße, Größe, Übermut."],
    "ko": ["안녕하세요. 반갑습니다!", "나는 2024년에 3일 동안 서울에 있었다."],
    "zh": ["你好，世界！", "我有3个苹果，增长了50%。"],
    "ja": ["こんにちは、世界。", "りんごが3個あります。"],
}


def _flatten(cases):
    return [pytest.param(lang, text, expected, id=f"{lang}-{category}-{index}")
            for lang, items in cases.items() for index, (category, text, expected) in enumerate(items)]


@pytest.mark.parametrize("lang, text, expected", _flatten(CASES))
def test_reading(lang, text, expected):
    assert normalize_text(text, lang) == expected


def test_the_cases_cover_every_category():
    required = {"numbers", "ordinals", "decimals", "currency", "percent", "dates", "times", "abbreviations",
                "acronyms"}
    for lang in ("en", "fr", "de"):
        assert required <= {category for category, _, _ in CASES[lang]}, lang
    # ko/zh/ja: what the reference reads badly there (the rest is left to espeak, cn2an, OpenJTalk).
    assert {"numbers", "decimals", "currency", "percent", "dates", "times", "acronyms"} <= {
        category for category, _, _ in CASES["ko"]}
    assert {"numbers", "currency", "dates", "times", "acronyms"} <= {category for category, _, _ in CASES["zh"]}
    assert {"currency", "dates", "times"} <= {category for category, _, _ in CASES["ja"]}


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_text_with_nothing_to_normalise_is_unchanged(lang):
    for text in UNCHANGED[lang]:
        assert normalize_text(text, lang) == text


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_shouted_text_keeps_its_capitals(lang):
    # Every letter a capital: these are words, not acronyms.
    assert normalize_text("STOP THE BUS NOW", lang) == "STOP THE BUS NOW"


# Letters that trigger no rule in any language (no digits, capitals, symbols or abbreviations).
_PLAIN = st.text(alphabet=st.sampled_from(list("bdfgklmnoqrtuwxyz ,!?'") + list("한국어中文かな")), max_size=40)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@settings(max_examples=50, deadline=None)
@given(text=_PLAIN)
def test_plain_text_is_unchanged(lang, text):
    assert normalize_text(text, lang) == text


# Arbitrary Unicode mixed with the pieces the rules look for, so that rules fire on odd input.
_PIECES = list("0123456789 ,.:/-%$€£¥₩￥＄&#°hH年月日시분개원：\u00a0\u202f") + [
    "BBC", "NASA", "March", "mars", "März", "Uhr", "1er", "2nd", "e.g.", "z. B.", "p. ex.", "Mio.", "2024-03-14"]
_TRICKY = st.lists(st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(_PIECES)),
                   max_size=30).map("".join)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@settings(max_examples=200, deadline=None)
@given(text=_TRICKY)
def test_any_text_gives_a_string(lang, text):
    assert isinstance(normalize_text(text, lang), str)


def test_a_number_too_large_to_read_is_left_as_written():
    huge = ",".join(["1"] + ["000"] * 110)  # 10**330: beyond num2words (it stops at centillions)
    assert normalize_text(f"{huge} stars", "en") == f"{huge} stars"
    assert normalize_text("$" + huge, "en") == "$" + huge


def test_unknown_language_lists_the_supported_ones():
    with pytest.raises(UnsupportedLanguageError) as error:
        normalize_text("hello", "es")
    for code in SUPPORTED_LANGUAGES:
        assert code in str(error.value)


@pytest.mark.slow
def test_import_is_cheap():
    # The normaliser's own dependencies load on first use; the G2P tools and torch never.
    heavy = ("phonemizer", "torch", "num2words", "inflect", "cn2an", "pyopenjtalk", "jieba")
    code = f"import sys, maskvox.text.normalize; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_german_durations_are_not_clock_times():
    assert normalize_text("Der Lauf dauerte 1:45 Stunden.", "de") == "Der Lauf dauerte eins fünfundvierzig Stunden."
    assert normalize_text("Um 14:30 Uhr.", "de") == "Um vierzehn Uhr dreißig."
