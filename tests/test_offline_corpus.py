"""The offline corpus builder: real synthesis with flite and espeak-ng, deterministic, resumable."""

import re
import shutil
from dataclasses import replace

import pytest

from maskvox.errors import UserError
from recipes.common.manifest import read_manifest
from recipes.offline_corpus import build as corpus
from recipes.offline_corpus.build import (
    HELD_OUT, TEXT_SOURCES, VOICES, Voice, build, fortune_sentences, split_sentences, wav_path,
)


def pick(engine: str, language: str, held_out: bool) -> Voice:
    return next(
        v for v in VOICES if v.engine == engine and v.language == language and (v.speaker in HELD_OUT) == held_out
    )


@pytest.fixture
def voices():
    missing = [tool for tool in ("flite", "espeak-ng") if shutil.which(tool) is None]
    missing += [source.apt_package for source in TEXT_SOURCES.values() if not source.directory.is_dir()]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)}; install.sh does it)")
    # A held-out flite speaker, an English and a German espeak-ng training speaker.
    return [pick("flite", "en", True), pick("espeak-ng", "en", False), pick("espeak-ng", "de", False)]


def wav_stamps(folder):
    return {path.name: path.stat().st_mtime_ns for path in sorted((folder / "wavs").rglob("*.wav"))}


@pytest.mark.slow
def test_build_is_deterministic_resumable_and_holds_voices_out(tmp_path, voices):
    flite, english, german = voices
    first = build(tmp_path / "a", per_voice=4, seed=3, voices=voices, quiet=True, jobs=2)
    assert {u.speaker for u in first["heldout"]} == {flite.speaker}
    assert {english.speaker, german.speaker} <= {u.speaker for u in first["train"]}
    for utterance in first["all"]:
        assert utterance.duration > 0.3 and utterance.text.endswith((".", "?", "!"))
    manifest = read_manifest(tmp_path / "a" / "all.jsonl")
    assert [u.id for u in manifest] == [u.id for u in first["all"]]

    # Each voice reads its own sentences, a short one (2-3 words) among them.
    texts = {v.speaker: [u.text for u in first["all"] if u.speaker == v.speaker] for v in voices}
    assert all(len(t) == 4 and any(len(s.split()) <= 3 for s in t) for t in texts.values())
    assert len({s for t in texts.values() for s in t}) == 12

    # A second run over the same folder synthesizes nothing again; more jobs, same corpus.
    stamps = wav_stamps(tmp_path / "a")
    again = build(tmp_path / "a", per_voice=4, seed=3, voices=voices, quiet=True, jobs=2)
    assert wav_stamps(tmp_path / "a") == stamps
    serial = build(tmp_path / "c", per_voice=4, seed=3, voices=voices, quiet=True, jobs=1)
    assert [(u.id, u.text) for u in again["all"]] == [(u.id, u.text) for u in first["all"]]
    assert [(u.id, u.text) for u in serial["all"]] == [(u.id, u.text) for u in first["all"]]

    # Another seed, other sentences, under other file names.
    other = build(tmp_path / "b", per_voice=4, seed=4, voices=voices, quiet=True)
    assert [u.text for u in other["all"]] != [u.text for u in first["all"]]
    assert not set(wav_stamps(tmp_path / "b")) & set(stamps)


@pytest.mark.slow
def test_a_german_voice_reads_german(tmp_path, voices):
    german = voices[2]
    splits = build(tmp_path, per_voice=3, seed=0, voices=[german], quiet=True)
    assert [u.language for u in splits["all"]] == ["de"] * 3  # no English LibriVox clips either
    known = set(fortune_sentences("de"))
    assert all(u.text in known for u in splits["all"])
    assert any(re.search("[äöüÄÖÜß]", s) for s in known)


def test_the_file_name_hashes_voice_settings_and_text(tmp_path):
    voice = Voice("espeak-ng", "de+m3", "de", rate=150, pitch=40)
    name = wav_path(tmp_path, voice, 7, "Guten Tag.")
    assert re.fullmatch(r"espeakng_de_m3_s150_p40_0007_[0-9a-f]{8}\.wav", name.name)
    assert name.parent == tmp_path / "wavs" / voice.speaker
    assert wav_path(tmp_path, voice, 7, "Guten Tag.") == name
    assert wav_path(tmp_path, voice, 7, "Gute Nacht.") != name
    assert wav_path(tmp_path, replace(voice, rate=151), 7, "Guten Tag.").stem[-8:] != name.stem[-8:]


def test_the_speakers_and_the_held_out_set():
    speakers = [v.speaker for v in VOICES]
    assert len(set(speakers)) == len(speakers) >= 36
    held = [v for v in VOICES if v.speaker in HELD_OUT]
    assert set(HELD_OUT) <= set(speakers) and 6 <= len(held) <= 10
    assert {v.engine for v in held} == {"flite", "espeak-ng"} and {v.language for v in held} == {"en", "de"}
    assert all(v.speaker in HELD_OUT for v in VOICES if v.name == "slt")  # one flite voice at both settings
    for language in ("en", "de"):  # held-out rates lie strictly inside the training range
        espeak = [v for v in VOICES if v.engine == "espeak-ng" and v.language == language]
        train_rates = [v.rate for v in espeak if v.speaker not in HELD_OUT]
        held_rates = [v.rate for v in espeak if v.speaker in HELD_OUT]
        assert held_rates and min(train_rates) < min(held_rates) and max(held_rates) < max(train_rates)


def test_sentences_split_at_ends_not_at_titles_or_initials():
    text = "Dr. No came. So did I. He left! J. R. R. Tolkien wrote."
    assert split_sentences(text) == ["Dr. No came.", "So did I.", "He left!", "J. R. R. Tolkien wrote."]


def test_a_missing_engine_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no flite, no espeak-ng
    with pytest.raises(UserError, match=r"espeak-ng is not installed: `apt-get install espeak-ng`"):
        build(tmp_path, per_voice=1, seed=0, voices=[pick("espeak-ng", "de", False)], quiet=True)


def test_a_missing_database_says_what_to_install(tmp_path, monkeypatch, capsys, voices):
    monkeypatch.setitem(TEXT_SOURCES, "de", replace(TEXT_SOURCES["de"], directory=tmp_path / "missing"))
    with pytest.raises(UserError, match=r"`apt-get install fortunes-de`"):
        fortune_sentences("de")
    assert corpus.main(["--out", str(tmp_path / "out"), "--languages", "de", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "apt-get install fortunes-de" in error
    assert not (tmp_path / "out" / "all.jsonl").exists()
