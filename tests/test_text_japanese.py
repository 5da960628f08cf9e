"""Japanese G2P (`maskvox.text.japanese`): the reference's exact phones, its quirks, clear errors.

Needs pyopenjtalk and Debian's `open-jtalk-mecab-naist-jdic`; without them these tests fail and
say what to install (they never skip, and never download a dictionary).

The 40 `ja` records of `reference/g2p_cases.jsonl` must give the same phone string and ids.
One kind of record differs by design: where the reference returns nothing at all (the empty
text), `JapaneseG2P` raises `NothingToPronounceError`, as the other languages' G2Ps do.
"""

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maskvox.text.japanese as japanese
from maskvox.errors import FrontEndUnavailableError, NothingToPronounceError, TextError
from maskvox.text.japanese import JapaneseG2P

DECOMPOSED_C_CEDILLA = "c\u0327"  # Japanese ç, id 323 (espeak's U+00E7 is id 68)


@pytest.fixture(scope="module")
def g2p():
    reader = JapaneseG2P()
    try:
        reader("はい")
    except FrontEndUnavailableError as error:
        pytest.fail(f"the Japanese front-end is not installed: {error}")
    return reader


@pytest.fixture(scope="module")
def vocab(reference_dir):
    return json.loads((reference_dir / "phone_vocab.json").read_text(encoding="utf-8"))["vocab"]


@pytest.fixture(scope="module")
def ja_cases(reference_dir):
    lines = (reference_dir / "g2p_cases.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines]
    return [case for case in cases if case["lang"] == "ja"]


def _difference(g2p, vocab, case):
    """None when we give what the reference gives, else what differs."""
    try:
        phones = g2p(case["text"])
    except NothingToPronounceError as error:
        return None if case.get("phones") == "" else f"raised {error}"
    except TextError as error:
        return None if "error" in case else f"raised {error}"
    if "error" in case or case["phones"] == "":
        return f"expected an error, got {phones!r}"
    if phones != case["phones"]:
        return f"phones {phones!r} != reference {case['phones']!r}"
    ids = [vocab[phone] for phone in phones.split("|") if phone in vocab]
    if ids != case["ids"]:
        return f"ids {ids} != reference {case['ids']}"
    return None


def test_reference_records_match_exactly(g2p, vocab, ja_cases, capsys):
    assert len(ja_cases) == 40
    failures = {case["text"]: _difference(g2p, vocab, case) for case in ja_cases}
    failures = {text: why for text, why in failures.items() if why}
    with capsys.disabled():
        print(f"\n[g2p parity] ja: {len(ja_cases) - len(failures)}/{len(ja_cases)} match")
    assert not failures, "\n".join(f"{text!r}: {why}" for text, why in failures.items())


# --- kana -> phonemes -> IPA ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kana, phonemes, phones",
    [
        ("ツ", ["ts", "u"], "tsɯ|ɯ"),  # the vowel twice, as the reference's table has it
        ("コーヒー", ["k", "o", "o", "h", "i", "i"], f"k|o|o|{DECOMPOSED_C_CEDILLA}|i|i"),
        ("キッテ", ["k", "i", "q", "t", "e"], "k|i|q|t|e"),
        ("キョー", ["ky", "o", "o"], "kj|o|o"),
        ("ヒャク", ["hy", "a", "k", "u"], f"{DECOMPOSED_C_CEDILLA}j|a|k|ɯ"),
        ("デュエット", ["dy", "u", "e", "q", "t", "o"], "dej|ɯ|e|q|t|o"),
        ("ンワ", ["N", "w", "a"], "ɴ|ɰᵝ|a"),
        ("?", ["?"], "?"),
    ],
)
def test_kana_to_phonemes_to_ipa(kana, phonemes, phones):
    assert japanese._kana_to_phonemes(kana, kana) == phonemes
    assert japanese._ipa_phone_string(phonemes) == phones


def test_unknown_kana_leave_an_empty_token_like_the_reference():
    assert japanese._kana_to_phonemes("ヵカ", "ヵカ") == ["ヵ", "k", "a"]
    assert japanese._ipa_phone_string(["ヵ", "k", "a"]) == "|k|a"


def test_a_word_opening_with_a_long_mark_repeats_the_previous_words_last_phoneme():
    words = [["s", "a"], ["ー", "ー", "r", "a"]]
    assert japanese._resolve_leading_long_marks(words) == [["s", "a"], ["a", "a", "r", "a"]]
    # The first word looks at the *last* word (the reference indexes it with -1).
    assert japanese._resolve_leading_long_marks([["ー", "N"], ["n", "e"]])[0] == ["e", "N"]


def test_words_are_joined_without_boundary_tokens(g2p):
    assert g2p("今日はとても良い天気です") == "kj|o|o|ɰᵝ|a|t|o|t|e|m|o|j|o|i|t|e|ɴ|k|i|d|e|s|ɯ"


def test_ha_gives_the_decomposed_c_cedilla(g2p, vocab):
    phones = g2p("はい")
    assert phones == f"{DECOMPOSED_C_CEDILLA}|a|i"
    assert "\u00e7" not in phones
    assert [vocab[phone] for phone in phones.split("|")] == [323, 210, 55]
    assert vocab[f"{DECOMPOSED_C_CEDILLA}j"] == 337


@pytest.mark.parametrize(
    "text, phones",
    [
        ("ツアー", "tsɯ|ɯ|a|a"),
        ("ﾊｰ", f"{DECOMPOSED_C_CEDILLA}|a|a"),  # half-width kana and long mark
        ("人々", f"{DECOMPOSED_C_CEDILLA}|i|t|o|b|i|t|o"),
        ("はい、ーそうです", f"{DECOMPOSED_C_CEDILLA}|a|i|,|,|s|o|o|d|e|s|ɯ"),  # ー after "、" repeats ","
        ("今日はヵ、明日は", "kj|o|o|ɰᵝ|a||,|a|ɕ|i|t|a|ɰᵝ|a"),  # ヵ: no phone, an empty token
        ("？！", "?|!"),
    ],
)
def test_reference_quirks(g2p, text, phones):
    assert g2p(text) == phones


# --- pykakasi fallback ------------------------------------------------------------------------


def test_characters_openjtalk_cannot_read_go_through_pykakasi(g2p, monkeypatch):
    asked = []
    original = JapaneseG2P._kakasi_reading

    def spy(self, word, surface):
        asked.append(word)
        return original(self, word, surface)

    monkeypatch.setattr(JapaneseG2P, "_kakasi_reading", spy)
    assert g2p("㐂") == "k|i"  # a CJK Extension A character naist-jdic lacks
    assert asked == ["㐂"]
    asked.clear()
    g2p("今日は。")  # punctuation is OpenJTalk's `、` reading too, but never pykakasi's
    assert asked == []


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["々", "ゞ"])
def test_an_iteration_mark_with_nothing_to_repeat_is_a_clear_error(g2p, mark):
    with pytest.raises(TextError, match=f"iteration mark '{mark}'"):
        g2p(mark)


@pytest.mark.parametrize("text", ["ーん、そうですね", "ヵです、明日は", "？ゞ"])
def test_text_the_reference_fails_on_is_a_text_error(g2p, text):
    with pytest.raises(TextError, match="cannot read"):
        g2p(text)


@pytest.mark.parametrize("text", ["", "  \n", "😊", "★", "ーー", "\x00"])
def test_nothing_readable(g2p, text):
    with pytest.raises(NothingToPronounceError):
        g2p(text)


@pytest.mark.parametrize("text", ["\ud800", 42, None])
def test_invalid_text_is_a_text_error(g2p, text):
    with pytest.raises(TextError):
        g2p(text)


def test_text_too_long_for_openjtalk_is_read_in_runs_not_a_crash(g2p):
    # OpenJTalk's fixed buffer would overflow (the process dies) on any of these in one go.
    with pytest.raises(NothingToPronounceError):
        g2p("😊" * 2100)
    sentence = "今日はとても良い天気ですね。私は公園に散歩に行きました、そして友達に会いました！"
    text = (sentence * 80)[:3060]
    assert g2p(text).count("|") > g2p(sentence).count("|") * 70  # every sentence read
    assert g2p("あ" * 3000) == "|".join(["a"] * 3000)  # no punctuation: cut between characters


def _pyopenjtalk():
    try:
        import pyopenjtalk
    except ImportError as error:
        pytest.fail(
            f"pyopenjtalk is not installed ({error}): "
            "PIP_CONSTRAINT=<file with 'cmake<4'> pip install pyopenjtalk==0.4.1"
        )
    return pyopenjtalk


def test_missing_dictionary_names_the_debian_package(tmp_path, monkeypatch):
    pyopenjtalk = _pyopenjtalk()

    def no_download():
        raise AssertionError("pyopenjtalk tried to download its dictionary")

    monkeypatch.setattr(pyopenjtalk, "_extract_dic", no_download)
    monkeypatch.setattr(japanese, "DEFAULT_DICTIONARY_DIR", tmp_path / "naist-jdic")
    monkeypatch.delenv("OPEN_JTALK_DICT_DIR", raising=False)
    with pytest.raises(FrontEndUnavailableError) as caught:
        JapaneseG2P()("はい")
    message = str(caught.value)
    assert "apt-get install open-jtalk-mecab-naist-jdic" in message
    assert str(tmp_path / "naist-jdic") in message and "\n" not in message


def test_missing_pyopenjtalk_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyopenjtalk.openjtalk", None)
    with pytest.raises(FrontEndUnavailableError, match="pip install pyopenjtalk"):
        JapaneseG2P()("はい")


@pytest.mark.slow
def test_construction_and_import_are_cheap():
    code = (
        "import sys, maskvox, maskvox.text.japanese as j; j.JapaneseG2P(); "
        "print('pyopenjtalk' in sys.modules, 'pykakasi' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = run.stdout
    assert out.split() == ["False", "False"]


JAPANESE_ISH = st.sampled_from(
    list("あいうかきゃっーゝゞ々ヵヷヸ゠・アイウカキャッーヽヾ日本語今東京人㐂ｱｰﾊﾟ、。！？「」…ー〜ＡＢ１２")
)
ANY_CHARACTER = st.characters(codec="utf-8")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(st.one_of(JAPANESE_ISH, ANY_CHARACTER), max_size=30))
def test_arbitrary_text_gives_phones_or_a_text_error(g2p, text):
    try:
        phones = g2p(text)
    except TextError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(phones, str) and phones and not phones.endswith("|")
