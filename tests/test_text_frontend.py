"""The text front-end: the reference's phones and ids for all six languages, clear errors,
warnings for phones the vocabulary lacks, inline phones, respellings, the vocabulary, the CLI.

Parity (`reference/g2p_cases.jsonl`) is exact: the phone string and the ids must be equal. Two
kinds of record are errors by design: those where the reference raised, and those where it
returned nothing but punctuation ('' or '!?' in de/fr/ko); maskvox raises a `TextError` there.
"""

import collections
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskvox.cli import main as cli_main
from maskvox.errors import NothingToPronounceError, TextError, UnsupportedLanguageError
from maskvox.text import PAD_ID, SUPPORTED_LANGUAGES, PhoneVocabulary, TextFrontEnd, UnknownPhoneWarning
from maskvox.text.frontend import segment_chinese_english
from maskvox.text.vocab import PUNCTUATION_PHONES

PUNCTUATION_IDS = {PhoneVocabulary.official().ids[p] for p in PUNCTUATION_PHONES}


def _cases(reference_dir):
    return [json.loads(line) for line in (reference_dir / "g2p_cases.jsonl").read_text(encoding="utf-8").splitlines()]


def _expects_error(case) -> bool:
    return "error" in case or not set(case["ids"]) - PUNCTUATION_IDS


@pytest.fixture(scope="module")
def reference_frontend():
    return TextFrontEnd(normalization="reference")


@pytest.fixture(scope="module")
def cases(reference_dir):
    return _cases(reference_dir)


def _compare(frontend, case):
    """None when maskvox gives what the reference gives, else a description of the difference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownPhoneWarning)
        try:
            result = frontend(case["text"], case["lang"])
        except TextError as error:
            return None if _expects_error(case) else f"raised {error}"
    if _expects_error(case):
        return f"expected an error, got {result.phone_string!r}"
    if result.phone_string != case["phones"]:
        return f"phones {result.phone_string!r} != reference {case['phones']!r}"
    if list(result.ids) != case["ids"]:
        return f"ids {list(result.ids)} != reference {case['ids']}"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_reference_cases_match_exactly(lang, cases, reference_frontend, capsys):
    selected = [case for case in cases if case["lang"] == lang]
    assert len(selected) == 40
    failures = {case["text"]: _compare(reference_frontend, case) for case in selected}
    failures = {text: why for text, why in failures.items() if why}
    with capsys.disabled():
        print(f"\n[g2p parity] {lang}: {len(selected) - len(failures)}/{len(selected)} match")
    assert not failures, "\n".join(f"{text!r}: {why}" for text, why in failures.items())


def test_error_records_raise_clear_errors(cases, reference_frontend):
    errors = [case for case in cases if _expects_error(case)]
    assert collections.Counter(case["lang"] for case in errors) == {"en": 3, "zh": 2, "ja": 3, "de": 2, "fr": 2, "ko": 2}
    for case in errors:
        with pytest.raises(TextError) as caught:
            reference_frontend(case["text"], case["lang"])
        assert "\n" not in str(caught.value) and str(caught.value)


def test_segmentation_follows_the_reference():
    assert segment_chinese_english("我用iPhone拍了") == [("我用", "zh"), ("iPhone", "en"), ("拍了", "zh")]
    # Leading 'other' characters join the first typed run; accented Latin is 'other'.
    assert segment_chinese_english("12 café好") == [("12 café", "en"), ("好", "zh")]
    assert segment_chinese_english("123") == [("123", "other")]
    assert segment_chinese_english("") == [("", "")]


# --- errors, warnings, inline phones, respellings ---------------------------------------------

def test_unsupported_language_lists_the_supported_ones(reference_frontend):
    with pytest.raises(UnsupportedLanguageError, match="'es'; supported: en, zh, ja, ko, fr, de"):
        reference_frontend("hola", "es")


@pytest.mark.parametrize("text", ["", "   \n ", "?!", "🥨★"])
@pytest.mark.parametrize("lang", ["en", "fr", "de", "ko"])
def test_nothing_to_pronounce(text, lang):
    with pytest.raises(NothingToPronounceError, match="nothing to pronounce"):
        TextFrontEnd()(text, lang)


def test_unknown_phone_warns_naming_the_word(reference_frontend):
    with pytest.warns(UnknownPhoneWarning) as caught:
        result = reference_frontend("Le vin est bon.", "fr")
    messages = [str(w.message) for w in caught]
    assert any("'ɛ̃'" in m and "'vin'" in m for m in messages), messages
    assert "ɛ̃" in result.phone_string.split("|") and "ɛ̃" not in result.phones


def test_known_phones_give_no_warning(reference_frontend):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownPhoneWarning)
        reference_frontend("The quick brown fox.", "en")


def test_inline_phones_and_respellings():
    frontend = TextFrontEnd(normalization="reference", respellings={"GIF": "jif", "Nguyen": "[[w ɪ n]]"})
    inline = frontend("say [[h ə l oʊ]] now", "en")
    assert inline.phone_string.split("|")[:8] == ["s", "eɪ", "_", "h", "ə", "l", "oʊ", "_"]
    assert frontend("GIF", "en").phone_string == frontend("jif", "en").phone_string
    assert frontend("Mr Nguyen", "en").phones[-3:] == ("w", "ɪ", "n")
    with pytest.raises(TextError, match="inline phone 'qq'"):
        frontend("[[h qq]]", "en")
    # Inline phones alone are enough to pronounce.
    assert frontend("[[a→]]", "zh").ids == (211,)


def test_arbitrary_non_text_input_is_a_clear_error():
    with pytest.raises(TextError, match="must be a string"):
        TextFrontEnd()(b"bytes", "en")
    with pytest.raises(TextError, match="unknown normalization"):
        TextFrontEnd(normalization="none")


# --- the vocabulary and a new language ---------------------------------------------------------

def test_official_vocabulary(reference_dir):
    vocabulary = PhoneVocabulary.official()
    reference = json.loads((reference_dir / "phone_vocab.json").read_text(encoding="utf-8"))["vocab"]
    assert vocabulary.ids == reference and len(vocabulary) == 363
    assert vocabulary.table_size == PAD_ID + 1 == 1024
    assert vocabulary.ids["\u00e7"] == 68 and vocabulary.ids["c\u0327"] == 323  # espeak's and Japanese ç


def test_extended_vocabulary_skips_padding_and_round_trips(tmp_path):
    base = PhoneVocabulary({"a": 0, "b": 1021})
    extended, new_ids = base.extended(["a", "x", "y", "z"])
    assert new_ids == [1022, 1024, 1025] and PAD_ID not in extended.phones
    assert extended.table_size == 1026
    extended.save(tmp_path / "vocab.json")
    assert PhoneVocabulary.load(tmp_path / "vocab.json") == extended
    with pytest.raises(TextError.__mro__[1], match="valid phone"):
        base.extended(["a|b"])


def test_new_language_path(tmp_path):
    """Spanish through espeak: its new phones are collected, appended after the official ids,
    and then read without warnings."""
    from recipes.t2s.extend_vocab import extend_vocabulary

    texts = tmp_path / "es.txt"
    texts.write_text("El perro come carne.\nLa lluvia en Sevilla es una maravilla.\n", encoding="utf-8")
    summary = extend_vocabulary(str(texts), "es", "es", str(tmp_path / "vocab.json"), quiet=True)
    assert "β" in summary["new_phones"] and summary["finetune.new_phone_ids"][0] == 363
    assert summary["model.phone_vocab_size"] == 1024
    frontend = TextFrontEnd(PhoneVocabulary.load(tmp_path / "vocab.json"), extra_espeak_voices={"es": "es"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownPhoneWarning)
        result = frontend("La lluvia.", "es")
    assert max(result.ids) >= 363


# --- robustness: arbitrary Unicode in every language ------------------------------------------

_SCRIPTS = st.sampled_from([
    "abcXYZ é ß ñ", "汉字中文测试", "ひらがなカタカナ漢字", "한국어 텍스트", "12,5 3.000 14:30 €$%",
    ",.?!;:'…。、「」", "🥨😊★", "Ελληνικά Кириллица", "\u0301\u200b\ufeff\x00\x07", "々ゞ〇",
])
_TEXTS = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(alphabet=_SCRIPTS.flatmap(st.sampled_from), min_size=1, max_size=6), max_size=5).map(" ".join),
)


@pytest.mark.slow
@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_arbitrary_unicode_only_raises_documented_errors(lang):
    frontend = TextFrontEnd()

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(text=_TEXTS)
    def read(text):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownPhoneWarning)
            try:
                result = frontend(text, lang)
            except TextError:
                return
        assert result.ids and set(result.ids) - PUNCTUATION_IDS
        assert all(0 <= i < PAD_ID for i in result.ids)

    read()


# --- lazy loading -----------------------------------------------------------------------------

@pytest.mark.slow
def test_importing_maskvox_loads_no_g2p_tool():
    code = (
        "import sys, maskvox, maskvox.cli, maskvox.text\n"
        "from maskvox.text import TextFrontEnd\n"
        "frontend = TextFrontEnd()\n"
        "heavy = ['phonemizer', 'jieba', 'pyopenjtalk', 'onnxruntime', 'cn2an', 'pypinyin', 'inflect', 'num2words']\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "frontend('Guten Tag', 'de')\n"
        "assert 'phonemizer' in sys.modules\n"
        "assert not [m for m in ['jieba', 'pyopenjtalk', 'onnxruntime'] if m in sys.modules]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- command line -----------------------------------------------------------------------------

def test_cli_g2p_prints_phones_and_ids(capsys):
    assert cli_main(["g2p", "--lang", "de", "--normalization", "reference", "Guten Tag"]) == 0
    phones, ids = capsys.readouterr().out.splitlines()
    assert phones == "ɡ|uː|t|ə|n|_|t|ɑː|k" and ids == "32 13 29 57 45 4 29 12 31"
    assert cli_main(["g2p", "--lang", "de", "--json", "Guten Tag"]) == 0
    assert json.loads(capsys.readouterr().out) == {"phones": phones, "ids": [int(i) for i in ids.split()]}


def test_cli_g2p_jsonl_carries_on_after_a_bad_line(tmp_path, capsys):
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"lang": "en", "text": "Hi there"}\n{"text": "?!"}\nnot json\n{"lang": "de", "text": "Ja"}\n')
    out = tmp_path / "out.jsonl"
    assert cli_main(["g2p", "--jsonl", str(lines), "--lang", "en", "--out", str(out), "--quiet"]) == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("lang") for r in records] == ["en", None, None, "de"]
    assert records[1]["line"] == 2 and "nothing to pronounce" in records[1]["error"]
    assert records[2]["line"] == 3 and "not valid JSON" in records[2]["error"]
    assert records[3]["ids"] == [47, 12]
    assert "in.jsonl:3: not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--lang", "xx", "hello"], "unsupported language 'xx'; supported: en, zh, ja, ko, fr, de"),
    (["--lang", "en", "   "], "nothing to pronounce"),
    (["hello"], "--lang is required"),
    (["--lang", "en", "hi", "--respell", "oops"], "--respell wants WORD=SPELLING"),
    (["--lang", "en", "hi", "--out", "phones.wav"], "must end in .txt or .json or .jsonl"),
])
def test_cli_g2p_errors_are_one_line(args, message, capsys):
    assert cli_main(["g2p", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_g2p_output_into_a_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "out.json"
    folder.mkdir()
    assert cli_main(["g2p", "--lang", "en", "hi", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"] and not list(folder.iterdir())


def test_cli_g2p_warning_names_the_word(capsys):
    assert cli_main(["g2p", "--lang", "fr", "Un bon vin."]) == 0
    err = capsys.readouterr().err
    assert "maskvox: warning: phone 'ɛ̃' of 'vin'" in err


# --- token shards carry phone ids -------------------------------------------------------------

def test_token_extraction_writes_phone_ids(tiny_acoustic_model, tmp_path):
    import soundfile

    from recipes.common.manifest import Utterance, write_manifest
    from recipes.common.shards import TokenCorpus
    from recipes.token_shards.extract import extract

    rng = np.random.default_rng(0)
    items = []
    for n, (text, lang) in enumerate([("Guten Tag", "de"), ("?!", "de"), ("Hello there", "en")]):
        soundfile.write(tmp_path / f"{n}.wav", 0.1 * rng.standard_normal(12000), 24000)
        items.append(Utterance(f"u{n}", str(tmp_path / f"{n}.wav"), text, lang, "s"))
    write_manifest(tmp_path / "m.jsonl", items)
    extract(str(tmp_path / "m.jsonl"), str(tiny_acoustic_model), str(tmp_path / "shards"), semantic="no",
            quiet=True, normalization="reference")
    corpus = TokenCorpus(tmp_path / "shards", need=("phones", "acoustic"))
    assert len(corpus) == 2  # the punctuation-only utterance is left out
    assert list(corpus[0].phones) == [32, 13, 29, 57, 45, 4, 29, 12, 31]
