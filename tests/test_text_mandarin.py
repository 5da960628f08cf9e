"""Mandarin G2P (maskvox.text.mandarin) against the reference's golden phones, and its data install.

Tests marked "real data" need the Mandarin data installed (`python -m maskvox.text.mandarin_data`);
without it they fail, saying so. The rest build what they need.
"""

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile

import pytest

import factories
from maskvox.errors import FrontEndUnavailableError
from maskvox.text import mandarin_data
from maskvox.text.mandarin import (
    MandarinG2P,
    bopomofo_to_phones,
    bu_sandhi,
    merge_bu,
    merge_yi,
    third_tone_sandhi,
    yi_sandhi,
)

CASES = factories.REFERENCE_DIR / "g2p_cases.jsonl"


def zh_cases() -> list[dict]:
    records = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if r["lang"] == "zh" and "error" not in r]


def reference_segments(text: str) -> list[tuple[str, str]]:
    """`get_segment` of the reference: zh (U+4E00-U+9FA5) / en (ASCII letters); others attach."""
    segments, current, lang = [], "", None
    for char in text:
        kind = "zh" if "\u4e00" <= char <= "\u9fa5" else "en" if char.isascii() and char.isalpha() else "other"
        if lang is None or lang == "other" or kind in (lang, "other"):
            current += char
            lang = kind if lang in (None, "other") else lang
        else:
            segments.append((current, lang))
            current, lang = char, kind
    segments.append((current, lang))
    return segments


@pytest.fixture(scope="module")
def g2p() -> MandarinG2P:
    """The front-end on the installed data (real data), loaded once for the module."""
    try:
        mandarin_data.require_files()
    except FrontEndUnavailableError as err:
        pytest.fail(f"{err} -- the Mandarin tests need it: run `python -m maskvox.text.mandarin_data`")
    front_end = MandarinG2P()
    front_end.load()
    return front_end


# ---------------------------------------------------------------------------------------------
# Golden data (real data)

@pytest.mark.slow
def test_every_pure_chinese_case_matches_the_reference(g2p):
    cases = [r for r in zh_cases() if not re.search("[A-Za-z]", r["text"])]
    assert len(cases) >= 30
    mismatches = []
    for record in cases:
        phones = g2p(record["text"]) + "|"  # one zh segment; chn_eng_g2p appends the "|"
        if phones != record["phones"]:
            mismatches.append(f"{record['text']!r}: got {phones!r}, expected {record['phones']!r}")
    print(f"Mandarin pure-zh cases: {len(cases) - len(mismatches)}/{len(cases)} match")
    assert not mismatches, f"{len(mismatches)}/{len(cases)} differ:\n" + "\n".join(mismatches)


def test_chinese_segments_of_mixed_cases_appear_in_order(g2p):
    cases = [r for r in zh_cases() if re.search("[A-Za-z]", r["text"])]
    assert cases
    for record in cases:
        position = 0
        for segment, lang in reference_segments(record["text"]):
            if lang != "zh":
                continue
            phones = g2p(segment) + "|"
            found = record["phones"].find(phones, position)
            assert found >= 0, f"{segment!r} of {record['text']!r} -> {phones!r} not in {record['phones']!r}"
            position = found + len(phones)


# ---------------------------------------------------------------------------------------------
# Tone sandhi and the copied quirks

@pytest.mark.parametrize("text, phones", [
    ("你好", "n|i↑|x|ɑʊ↓↑"),                          # 3+3 -> 2+3
    ("展览馆", "ts`⁼|an↓↑|↑|l|an↓↑|↑|k⁼|uan↓↑"),     # 3+3+3 quirk: ˊ appended, stray ↑
    ("不是", "p⁼|u↑|s`ɹ↓"),                           # 不 before a 4th tone -> 2nd
    ("好不好", "x|ɑʊ↓↑|p⁼|u|x|ɑʊ↓↑"),                 # A不A -> neutral 不
    ("一个", "i↑|k⁼|ə↓"),                             # 一 before a 4th tone -> 2nd
    ("一天", "i↓|tʰ|jɛn→"),                           # 一 before another tone -> 4th
    ("想一想", "ʃ|iɑŋ↓↑|i|ʃ|iɑŋ↓↑"),                  # A一A -> neutral 一
    ("第一", "t⁼|i↓|i→"),                             # ordinal -> 1st
    ("十一", "s`ɹ↑|i→"),                              # inside a number -> 1st
    ("花儿", "x|ua→|əɹ"),                             # er sandhi: neutral 儿
    ("女儿", "n|ɥ↓↑|əɹ↑"),                            # ... but not in 女儿
    ("橘子", "tʃ⁼|ɥ↑|ts⁼"),                           # neutral 子 keeps the bare initial
    ("公司", "k⁼|ʊŋ→|sɹ→"),                           # apical ɹ after s
])
def test_sandhi_and_apical_vowels(g2p, text, phones):
    assert g2p(text) == phones


def test_text_final_bu_is_dropped(g2p):
    # G2P_NOTES Mandarin step 3: merge_bu glues 不 onto the next word; at the end there is none.
    assert g2p("你到底去不") == g2p("你到底去") == "n|i↓↑|t⁼|ɑʊ↓|t⁼|i↓↑|tʃʰ|ɥ↓"


def test_a_polyphone_is_read_by_the_model_from_its_context(g2p):
    # 长 is one of the 159 polyphonic chars: never taken from the lexicon when alone.
    assert g2p("长") == "ts`ʰ|ɑŋ↑"  # cháng
    assert g2p("他长得很高") == "tʰ|a→|ts`⁼|ɑŋ↓↑|t⁼|ə|x|ən↓↑|k⁼|ɑʊ→"  # zhǎng
    model = g2p._loaded().polyphone_model
    assert model.predict("他长得很高")[1] == "zhang3"
    assert model.predict("他还没来")[1] == "hai2"


def test_numbers_are_read_as_cn2an_0_5_22_does(g2p):
    # 0.5.22 keeps 零 after 万 (0.5.24 drops it).
    assert g2p("3503000") == g2p("三百五十万零三千")
    assert "l|iŋ↑" in g2p("3503000")


def test_punctuation_and_other_characters(g2p):
    assert g2p("你好！") == "n|i↑|x|ɑʊ↓↑|!"
    assert g2p("★特价商品★") == "tʰ|ə↓|tʃ⁼|ia↓|s`|ɑŋ→|pʰ|in↓↑"
    assert g2p("，你好") == "|,|n|i↑|x|ɑʊ↓↑"  # quirk: a leading punctuation keeps a leading "|"


# ---------------------------------------------------------------------------------------------
# Pure functions (no data)

@pytest.mark.parametrize("bopomofo, phones", [
    ("ㄅㄛˊ", "p⁼wo↑"), ("ㄆㄛˋ", "pʰwo↓"), ("ㄇㄛ˙", "mwo"), ("ㄈㄛˊ", "fwo↑"),
    ("ㄦˊ", "əɹ↑"), ("ㄏㄨㄚˉ|ㄦ˙", "x|ua→|əɹ"),
    ("ㄓˋ", "ts`⁼ɹ↓"), ("ㄔˉ", "ts`ʰɹ→"), ("ㄕˇ", "s`ɹ↓↑"), ("ㄖˋ", "ɹ`ɹ↓"),
    ("ㄗˋ", "ts⁼ɹ↓"), ("ㄘˊ", "tsʰɹ↑"), ("ㄙˉ", "sɹ→"), ("ㄗ˙", "ts⁼"),
    ("ㄕㄢˉ", "s`|an→"), ("ㄒㄩㄢˊ", "ʃ|ɥæn↑"), ("ㄐㄧㄡˇ", "tʃ⁼|ioʊ↓↑"),
    ("ㄓㄢˇˊ", "ts`⁼|an↓↑|↑"),
    ("ㄋㄧˇ|ㄏㄠˇ|!|…|…", "n|i↓↑|x|ɑʊ↓↑|!|…|…"),
])
def test_bopomofo_to_ipa(bopomofo, phones):
    assert bopomofo_to_phones(bopomofo) == phones


def test_third_tone_sandhi_rules():
    two = ["ㄋㄧˇ", "ㄏㄠˇ"]
    third_tone_sandhi("你好", two)
    assert two == ["ㄋㄧˊ", "ㄏㄠˇ"]
    three = ["ㄓㄢˇ", "ㄌㄢˇ", "ㄍㄨㄢˇ"]
    third_tone_sandhi("展览馆", three)
    assert three == ["ㄓㄢˇˊ", "ㄌㄢˇˊ", "ㄍㄨㄢˇ"]  # quirk: appended, not substituted


def test_bu_and_yi_sandhi_rules():
    syllables = ["ㄅㄨˋ", "ㄕˋ"]
    bu_sandhi("不是", syllables)
    assert syllables == ["ㄅㄨˊ", "ㄕˋ"]
    syllables = ["ㄏㄠˇ", "ㄅㄨˋ", "ㄏㄠˇ"]
    bu_sandhi("好不好", syllables)
    assert syllables[1] == "ㄅㄨ˙"
    syllables = ["ㄧ", "ㄍㄜˋ"]
    yi_sandhi("一个", syllables)
    assert syllables == ["ㄧˊ", "ㄍㄜˋ"]
    syllables = ["ㄧ", "ㄊㄧㄢ"]
    yi_sandhi("一天", syllables)
    assert syllables == ["ㄧˋ", "ㄊㄧㄢ"]
    syllables = ["ㄉㄧˋ", "ㄧ"]
    yi_sandhi("第一", syllables)
    assert syllables == ["ㄉㄧˋ", "ㄧ"]


def test_word_regrouping_quirks():
    assert merge_bu(["你", "去", "不"]) == ["你", "去"]          # text-final 不 dropped
    assert merge_bu(["不", "不", "好"]) == ["不好"]              # one 不 of a run survives
    assert merge_bu(["去", "不", "。"]) == ["去", "不。"]        # glued onto punctuation
    assert merge_yi(["看", "一", "看"]) == ["看一看"]
    # Only the first A一A is merged (the reference indexes its output by input position).
    assert merge_yi(["看", "一", "看", "想", "一", "想"]) == ["看一看", "想", "一想"]


# ---------------------------------------------------------------------------------------------
# Missing data, cheap construction, lazy imports

def test_missing_data_names_the_files_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVOX_MANDARIN_DATA", str(tmp_path))
    front_end = MandarinG2P()  # cheap: nothing is checked or loaded yet
    with pytest.raises(FrontEndUnavailableError) as caught:
        front_end("你好")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "poly_bert_model.onnx" not in message  # all files missing
    assert "none of its data files is there" in message
    assert "`python -m maskvox.text.mandarin_data`" in message
    (tmp_path / "polychar.txt").write_bytes(b"x" * 636)  # present, right size
    (tmp_path / "vocab.txt").write_text("[PAD]\n")  # truncated
    with pytest.raises(FrontEndUnavailableError) as caught:
        mandarin_data.require_files()
    assert "missing or incomplete: chinese_lexicon.txt, pinyin_2_bpmf.txt, poly_bert_model.onnx, " \
        "polydict.json, vocab.txt)" in str(caught.value)
    with pytest.raises(FrontEndUnavailableError, match=re.escape(f"--dest {tmp_path / 'x'}")):
        MandarinG2P(tmp_path / "x")("你好")


@pytest.mark.slow
def test_import_loads_no_heavy_library():
    code = ("import sys, maskvox.text.mandarin as m; m.MandarinG2P(); "
            "print([x for x in ('jieba', 'cn2an', 'onnxruntime', 'pypinyin', 'numpy') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_data_dir_follows_env_and_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("MASKVOX_MANDARIN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mandarin_data.data_dir() == tmp_path / "cache" / "maskvox" / "g2p" / "mandarin"
    monkeypatch.setenv("MASKVOX_MANDARIN_DATA", str(tmp_path / "zh"))
    assert mandarin_data.data_dir() == tmp_path / "zh"


# ---------------------------------------------------------------------------------------------
# fetch() from a small fake sdist

@pytest.fixture
def fake_sdist(tmp_path, monkeypatch):
    """A tarball in the sdist layout with small fake files whose hashes replace the real ones."""
    contents = {f.name: f"fake {f.name}\n".encode() for f in mandarin_data.FILES}
    fake_files = tuple(
        mandarin_data.DataFile(f.name, f.member, hashlib.sha256(contents[f.name]).hexdigest(), len(contents[f.name]))
        for f in mandarin_data.FILES
    )
    monkeypatch.setattr(mandarin_data, "FILES", fake_files)
    sdist = tmp_path / "maskgct-0.0.19.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for f in fake_files:
            data = contents[f.name]
            info = tarfile.TarInfo(f"maskgct-0.0.19/{mandarin_data.SDIST_SOURCES}{f.member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist, contents


def test_fetch_installs_verified_files_and_is_idempotent(fake_sdist, tmp_path, monkeypatch):
    sdist, contents = fake_sdist
    dest = tmp_path / "data" / "mandarin"
    assert mandarin_data.fetch(dest, quiet=True, sdist=sdist) == dest
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == contents
    assert mandarin_data.require_files(dest) == dest
    assert [p.name for p in dest.parent.iterdir()] == ["mandarin"]  # no staging folder left

    def must_not_extract(*args):
        raise AssertionError("fetch re-extracted files that were already installed")

    monkeypatch.setattr(mandarin_data, "_extract_checked", must_not_extract)
    mandarin_data.fetch(dest, quiet=True, sdist=sdist)


def test_fetch_repairs_a_damaged_install_in_place(fake_sdist, tmp_path):
    sdist, contents = fake_sdist
    dest = tmp_path / "mandarin"
    dest.mkdir()
    (dest / "keep.me").write_text("not ours")
    (dest / "vocab.txt").write_text("wrong")
    mandarin_data.fetch(dest, quiet=True, sdist=sdist)
    assert (dest / "vocab.txt").read_bytes() == contents["vocab.txt"]
    assert (dest / "keep.me").read_text() == "not ours"


def test_fetch_rejects_a_wrong_hash_and_installs_nothing(fake_sdist, tmp_path, monkeypatch):
    sdist, _ = fake_sdist
    first, *rest = mandarin_data.FILES
    monkeypatch.setattr(mandarin_data, "FILES", (mandarin_data.DataFile(first.name, first.member, "0" * 64, first.size), *rest))
    dest = tmp_path / "mandarin"
    with pytest.raises(FrontEndUnavailableError, match="sha256"):
        mandarin_data.fetch(dest, quiet=True, sdist=sdist)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == [sdist.name]


@pytest.mark.slow
def test_command_line_reports_errors_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "maskvox.text.mandarin_data", "--dest", str(tmp_path / "d"),
         "--sdist", str(tmp_path / "missing.tar.gz")],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "missing.tar.gz" in result.stderr
