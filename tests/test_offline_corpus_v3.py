"""Corpus v3: the real-speech parsers on small fake packages, the plan, the split, augmentation,
resumability, and the transcript check with a fake recogniser. Real synthesis: flite and sox
(install.sh's apt packages) and one SVOX Pico utterance (py-nanotts, install.sh's pip list)."""

import gzip
import json
import math
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from maskvox.errors import UserError

from recipes.common.manifest import read_manifest
from recipes.offline_corpus import asr_check, build_v3, plan
from recipes.offline_corpus.augment import Variant, apply_sox, draw_variants, parse_tag
from recipes.offline_corpus.plan import RealRoots, synth_jobs
from recipes.offline_corpus.sources_real import (
    asterisk_clips, clean_prompt, fillets_clips, fillets_speaker, read_clip, write_clip,
)
from recipes.offline_corpus.split import HELD_OUT_REAL, HELD_OUT_VOICES, split_by_speaker
from recipes.offline_corpus.text import TextSource, deal_texts, fortune_files
from recipes.offline_corpus.voices import VOICES, EngineVoice, speak


# --- fake packages ------------------------------------------------------------------------


def write_g722(path: Path, seconds: float, freq: float = 220.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    pcm = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    with av.open(str(path), "w", format="g722") as container:
        stream = container.add_stream("g722", rate=16000, layout="mono")
        for start in range(0, len(pcm), 1600):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1600], format="s16", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_ogg(path: Path, seconds: float, rate: int = 22050, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t)
    sf.write(str(path), np.stack([tone] * channels, axis=1), rate, format="OGG", subtype="VORBIS")


ASTERISK_LIST = """; Core Asterisk Sounds in English

hello: Hello there.
beep: [this is a simple beep tone]
silence/1: (1 second of silence)
vm-intro: Please leave your message after the tone. (simple tone sound plays)
star: Press * to continue.
digits/1F: one
no-audio: There is no recording of this.
"""
ASTERISK_LIST_ES = "hola: Hola, buenos dias.\n"


def fake_asterisk(root: Path) -> RealRoots:
    docs, sounds = root / "doc", root / "sounds"
    for language, text in (("en", ASTERISK_LIST), ("es", ASTERISK_LIST_ES)):
        folder = docs / f"asterisk-core-sounds-{language}"
        folder.mkdir(parents=True)
        with gzip.open(folder / f"core-sounds-{language}.txt.gz", "wt", encoding="utf-8") as handle:
            handle.write(text)
    for name, seconds in (("hello", 0.5), ("beep", 0.3), ("silence/1", 0.3), ("vm-intro", 0.7), ("star", 0.4),
                          ("digits/1f", 0.6)):
        write_g722(sounds / "en_US_f_Allison" / f"{name}.g722", seconds)
    write_g722(sounds / "es_MX_f_Allison" / "hola.g722", 0.8)
    (sounds / "en").symlink_to(sounds / "en_US_f_Allison")  # Debian's alternatives link: skipped
    return RealRoots(asterisk_sounds=sounds, asterisk_docs=docs, fillets=root / "fillets", librivox=root / "none")


FILLETS_LUA = r'''
dialogLoad("script/"..codename.."/")

dialogId("lvl-m-hello", "font_small", "Hello.")
dialogStr("Ahoj, jak se máš?")


dialogId("lvl-v-quote", "font_big", "He said \"no\".")
dialogStr("Řekl \"ne\" a odešel.")


dialogId("lvl-x-white", "font_white", "Who is there?")
dialogStr("Kdo je tam?")


dialogId("lvl-l-one", "font_linuxer1", "Linux!")
dialogStr("To je Linux.")


dialogId("lvl-both", "font_both", "Together!")
dialogStr("Spolu!")


dialogId("lvl-fx", "", "")
dialogStr("")


dialogId("lvl-m-score", "font_small", "Score %1.")
dialogStr("Skóre %1.")


dialogId("lvl-m-noclip", "font_small", "Nothing.")
dialogStr("Tady nic není.")
'''


def fake_fillets(root: Path) -> Path:
    fillets = root / "fillets"
    (fillets / "script" / "lvl").mkdir(parents=True)
    (fillets / "script" / "lvl" / "dialogs_cs.lua").write_text(FILLETS_LUA, encoding="utf-8")
    for name, seconds, rate, channels in (("lvl-m-hello", 0.9, 22050, 2), ("lvl-v-quote", 1.1, 44100, 1),
                                          ("lvl-x-white", 0.5, 22050, 1), ("lvl-l-one", 0.6, 22050, 1),
                                          ("lvl-both", 0.4, 22050, 1), ("lvl-fx", 0.3, 22050, 1),
                                          ("lvl-m-score", 0.3, 22050, 1)):
        write_ogg(fillets / "sound" / "lvl" / "cs" / f"{name}.ogg", seconds, rate, channels)
    write_ogg(fillets / "sound" / "share" / "cs" / "lvl-m-hello.ogg", 0.3)  # effects: never read
    return fillets


# --- parsers ------------------------------------------------------------------------------


def test_the_asterisk_parser_keeps_speech_and_names_one_speaker_across_languages(tmp_path):
    roots = fake_asterisk(tmp_path)
    clips = {c.id: c for c in asterisk_clips(roots.asterisk_sounds, roots.asterisk_docs, ("en", "es", "fr"))}
    # Tones, silences and a prompt whose "*" is read out as a word are dropped; a stage note is
    # cut from speech; a name differing in case only (digits/1F, digits/1f.g722) still pairs.
    assert set(clips) == {"asterisk_en_hello", "asterisk_en_vm-intro", "asterisk_en_digits_1F", "asterisk_es_hola"}
    assert clips["asterisk_en_vm-intro"].text == "Please leave your message after the tone."
    assert clips["asterisk_en_digits_1F"].text == "one"
    assert {c.speaker for c in clips.values()} == {"asterisk_allison"}  # en_US_f_Allison = es_MX_f_Allison
    assert clips["asterisk_es_hola"].language == "es"
    samples, rate = read_clip(clips["asterisk_en_hello"])
    assert rate == 16000 and abs(len(samples) - 8000) < 400 and 0.2 < np.abs(samples).max() < 0.4


def test_stage_notes_and_unspoken_symbols():
    assert clean_prompt("IAX (note: does not say \"2\")") == "IAX"
    assert clean_prompt("at [@]") == "at"
    assert clean_prompt("[ascending tones]") == ""
    assert clean_prompt("(10 seconds of silence)") == ""
    assert clean_prompt("press # to enter") == ""


def test_the_fillets_parser_pairs_clips_with_lines_and_names_actors(tmp_path):
    fillets = fake_fillets(tmp_path)
    clips = {c.id.removeprefix("fillets_cs_lvl_"): c for c in fillets_clips(fillets, ("cs", "nl"))}
    # No font (an effect), both fish at once, a placeholder (%1) and a line with no clip are out.
    assert set(clips) == {"lvl-m-hello", "lvl-v-quote", "lvl-x-white", "lvl-l-one"}
    assert clips["lvl-v-quote"].text == 'Řekl "ne" a odešel.'
    assert clips["lvl-m-hello"].speaker == "fillets_cs_small"
    assert clips["lvl-v-quote"].speaker == "fillets_cs_big"
    assert clips["lvl-x-white"].speaker == "fillets_cs_white_lvl"  # a colour font: per level
    assert clips["lvl-l-one"].speaker == "fillets_cs_linuxer1"
    assert fillets_speaker("nl", "other", "font_small") == "fillets_nl_small"  # one actor through the game
    assert fillets_speaker("cs", "lvl", "font_both") is None
    # Written mono at the recording's own rate (a stereo 22.05 kHz and a mono 44.1 kHz clip).
    for name, rate in (("lvl-m-hello", 22050), ("lvl-v-quote", 44100)):
        target = tmp_path / "out" / f"{name}.wav"
        write_clip(clips[name], target)
        info = sf.info(str(target))
        assert (info.channels, info.samplerate, info.subtype) == (1, rate, "PCM_16")


def test_fortune_files_skip_links_into_other_folders(tmp_path):
    (tmp_path / "it").mkdir()
    for name in ("fortunes", "fortunes.dat", "fortunes.u8", "it/adams"):
        (tmp_path / name).write_text("Hello there.\n%\n")
    (tmp_path / "adams").symlink_to(tmp_path / "it" / "adams")  # fortunes-it does this
    assert [p.name for p in fortune_files(TextSource(tmp_path, "x", "A-Za-z", "English"))] == ["fortunes"]
    (tmp_path / "es").mkdir()
    for name in ("amor.fortunes", "amor.fortunes.dat", "amor.fortunes.u8"):
        (tmp_path / "es" / name).write_text("Hola.\n")
    assert [p.name for p in fortune_files(TextSource(tmp_path / "es", "x", "a-z", "Spanish", ".fortunes"))] == [
        "amor.fortunes"]


# --- plan, split, augmentation -------------------------------------------------------------


def test_the_plan_is_deterministic_from_the_seed(tmp_path):
    pools = {lang: [f"{lang} sentence number {k} here." for k in range(3000)] + [f"Short {k}." for k in range(400)]
             for lang in ("en", "de", "es", "fr", "it", "cs", "nl")}
    jobs_for = lambda seed: [(j.speaker, j.text, j.wav.name) for j in synth_jobs(tmp_path, VOICES, 10, seed, pools)]
    first = jobs_for(1)
    assert jobs_for(1) == first
    assert jobs_for(2) != first and {s for s, _, _ in jobs_for(2)} != {s for s, _, _ in first}  # other variants too
    speakers = {s for s, _, _ in first}
    assert len(speakers) == sum(v.variants for v in VOICES) >= 80
    per_speaker = {s: sum(1 for x, _, _ in first if x == s) for s in speakers}
    for voice in VOICES:  # weighted by intelligibility
        assert per_speaker[voice.id] == max(1, round(10 * voice.weight))
    assert per_speaker["pico_en_US"] > per_speaker["espeakng_nl_m1_s150_p40"]
    # Within a language, no two speakers read the same sentence while the pool lasts.
    english = [t for s, t, _ in first if s.startswith(("pico_en", "flite", "festival_k", "festival_slt", "piper"))]
    assert len(english) == len(set(english))
    assert len({name for _, _, name in first}) == len(first)


def test_deal_texts_mixes_short_sentences_and_wraps_around():
    pool = [f"Sentence {k} is long enough." for k in range(6)] + ["Go home.", "Stop it."]
    texts = deal_texts(pool, [("a", 4), ("b", 4), ("c", 4)], seed=0, key="en", short_share=0.25)
    assert all(len(t) == 4 and sum(len(s.split()) <= 3 for s in t) == 1 for t in texts.values())
    assert deal_texts(pool, [("a", 4), ("b", 4), ("c", 4)], seed=0, key="en", short_share=0.25) == texts
    with pytest.raises(ValueError):
        deal_texts([], [("a", 1)], seed=0, key="en", short_share=0.1)


class Item:
    def __init__(self, speaker):
        self.speaker = speaker


def test_the_split_holds_whole_speakers_out():
    speakers = ["pico_en_US", "pico_en_US+fo108_t094", "pico_en_GB", "pico_en_GB+fo089", "flite_slt+fo104",
                "flite_awb", "fillets_nl_small", "fillets_nl_big", "asterisk_allison", "asterisk_june",
                "librivox_austen", "fillets_cs_linuxer2", "fillets_cs_small"]
    train, heldout = split_by_speaker([Item(s) for s in speakers for _ in range(3)])
    train_speakers, held_speakers = {i.speaker for i in train}, {i.speaker for i in heldout}
    assert not train_speakers & held_speakers
    assert held_speakers == {"pico_en_GB", "pico_en_GB+fo089", "flite_slt+fo104", "fillets_nl_small",
                             "librivox_austen", "fillets_cs_linuxer2"}
    assert {"asterisk_allison", "asterisk_june", "fillets_nl_big", "pico_en_US+fo108_t094"} <= train_speakers
    # Every named held-out voice exists, and real and synthetic held-out speakers are both there.
    ids = {v.id for v in VOICES}
    assert HELD_OUT_VOICES <= ids and {"librivox_austen", "fillets_nl_small"} <= HELD_OUT_REAL


def test_augmentation_settings_name_the_speaker():
    variant = Variant(formant=1.08, f0=0.9, tempo=1.1)
    assert variant.speaker("pico_en_US") == "pico_en_US+fo108_f090_t110"
    assert Variant().speaker("flite_rms") == "flite_rms"
    assert Variant(formant=0.93).tag == "+fo093" and Variant(tempo=0.88).tag == "+t088"
    assert parse_tag(variant.tag) == variant and parse_tag("") == Variant()
    with pytest.raises(ValueError):
        parse_tag("+x12")
    assert variant.sox_effects() == ["pitch", f"{1200 * math.log2(1.08):.1f}", "tempo", "-s", "1.1"]
    assert variant.engine_f0(has_f0_knob=True) == pytest.approx(0.9 / 1.08)  # formants move alone
    assert variant.engine_f0(has_f0_knob=False) == 1.0

    pico = draw_variants("pico_en_US", 6, has_f0_knob=True, seed=0)
    assert pico == draw_variants("pico_en_US", 6, has_f0_knob=True, seed=0)
    assert pico[0] == Variant() and len(set(pico)) == 6
    assert all(v.formant != 1.0 or v.f0 != 1.0 for v in pico[1:])  # never tempo alone
    assert len({v.formant for v in pico[1:]}) == 5  # spread over the formant grid
    flite = draw_variants("flite_awb", 3, has_f0_knob=False, seed=0)
    assert all(v.f0 == 1.0 and v.formant != 1.0 for v in flite[1:])
    assert draw_variants("flite_awb", 3, has_f0_knob=False, seed=1) != flite


def test_sox_moves_pitch_and_formants_with_the_ratio_and_keeps_the_length(tmp_path):
    if shutil.which("sox") is None:
        pytest.fail("sox is not installed: apt-get install sox (install.sh does it)")
    rate = 16000
    t = np.arange(rate) / rate
    sf.write(str(tmp_path / "tone.wav"), 0.3 * np.sin(2 * np.pi * 400 * t), rate, subtype="PCM_16")
    apply_sox(Variant(formant=1.12), tmp_path / "tone.wav", tmp_path / "up.wav")
    apply_sox(Variant(tempo=1.25), tmp_path / "tone.wav", tmp_path / "fast.wav")
    up, up_rate = sf.read(str(tmp_path / "up.wav"))
    spectrum = np.abs(np.fft.rfft(up * np.hanning(len(up))))
    peak_hz = np.argmax(spectrum) * up_rate / len(up)
    assert up_rate == rate and abs(len(up) - rate) < 0.02 * rate
    assert peak_hz == pytest.approx(448, rel=0.02)
    fast = sf.read(str(tmp_path / "fast.wav"))[0]
    assert len(fast) == pytest.approx(rate / 1.25, rel=0.03)


# --- synthesis, resumability, the transcript check ----------------------------------------


def test_pico_speaks_with_its_pitch_knob(tmp_path):
    import importlib.util

    if importlib.util.find_spec("py_nanotts") is None:
        pytest.fail("py-nanotts is not installed: pip install py-nanotts==0.1.1 (install.sh does it)")
    voice = EngineVoice("pico", "de-DE", "de")
    speak(voice, "Guten Morgen, wie geht es dir?", tmp_path / "plain.wav")
    speak(voice, "Guten Morgen, wie geht es dir?", tmp_path / "high.wav", f0=1.5)
    speak(voice, "Guten Morgen, wie geht es dir?", tmp_path / "again.wav")
    plain, rate = sf.read(str(tmp_path / "plain.wav"))
    high = sf.read(str(tmp_path / "high.wav"))[0]
    assert rate == 16000 and 1.0 < len(plain) / rate < 4.0
    assert f0_hz(high) == pytest.approx(1.5 * f0_hz(plain), rel=0.1)  # the pitch alone moves
    assert len(high) == pytest.approx(len(plain), rel=0.15)
    # The same text comes out the same after other calls (py-nanotts reuses freed memory).
    assert (tmp_path / "again.wav").read_bytes() == (tmp_path / "plain.wav").read_bytes()


def f0_hz(samples, rate=16000):
    """The median pitch of the loud 40 ms frames, by autocorrelation (70-400 Hz)."""
    size, found = int(0.04 * rate), []
    for start in range(0, len(samples) - size, size // 2):
        frame = samples[start:start + size] - samples[start:start + size].mean()
        if np.sqrt((frame ** 2).mean()) < 0.03:
            continue
        corr = np.correlate(frame, frame, "full")[size - 1:]
        low, high = int(rate / 400), int(rate / 70)
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.3 * corr[0]:
            found.append(rate / lag)
    return float(np.median(found))


@pytest.fixture
def roots(tmp_path):
    missing = [tool for tool in ("flite", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)}; install.sh does it)")
    fake_fillets(tmp_path)
    return fake_asterisk(tmp_path)


def small_build(out, roots, **kwargs):
    voices = [EngineVoice("flite", "kal16", "en", 1.0, 2), EngineVoice("flite", "slt", "en", 1.0, 1)]
    options = dict(seed=3, per_voice=2, languages=("en", "cs"), sources=("asterisk", "fillets", "flite"),
                   jobs=2, quiet=True, roots=roots, voices=voices)
    options.update(kwargs)
    return build_v3.build(out, **options)


def stamps(folder):
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in sorted((folder / "wavs").rglob("*.wav"))}


@pytest.mark.slow
def test_a_build_is_resumable_and_writes_the_manifests(tmp_path, roots):
    out = tmp_path / "corpus"
    first = small_build(out, roots)
    assert first["made"] == {"real": 7, "synthetic": 6, "left_out": 0}  # 3 en + 4 cs clips; kal16 x2 speakers + slt, 2 each
    before = stamps(out)
    again = small_build(out, roots)
    assert again["made"] == {"real": 0, "synthetic": 0, "left_out": 0} and stamps(out) == before
    manifest = read_manifest(out / "all.jsonl")
    assert len(manifest) == 13 and all(Path(u.audio).is_file() for u in manifest)
    records = [json.loads(line) for line in (out / "all.jsonl").read_text().splitlines()]
    assert {r["source"] for r in records} == {"asterisk", "fillets", "flite"}
    assert {r["kind"] for r in records} == {"real", "synthetic"}
    assert {r["sample_rate"] for r in records if r["source"] == "fillets"} == {22050, 44100}
    heldout = {u.speaker for u in read_manifest(out / "heldout.jsonl")}
    train = {u.speaker for u in read_manifest(out / "train.jsonl")}
    assert heldout == {"flite_slt", "fillets_cs_linuxer1"} and not heldout & train
    assert first["heldout_speakers"] == sorted(heldout)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["hours_by_language"]) == {"en", "cs"}
    assert set(summary["hours_by_source"]) == {"asterisk", "fillets", "flite"}
    # Another seed: other sentences and variants under other names; the real clips are shared.
    other = small_build(out, roots, seed=4)
    assert other["made"] == {"real": 0, "synthetic": 6, "left_out": 0}


def test_work_that_gives_no_audio_is_left_out_and_a_voice_that_gives_none_is_an_error(tmp_path, roots, monkeypatch):
    # An empty packaged clip (two Dutch Fish Fillets clips are) for the line "Tady nic není."
    write_ogg(tmp_path / "fillets" / "sound" / "lvl" / "cs" / "lvl-m-noclip.ogg", 0.0)
    summary = small_build(tmp_path / "corpus", roots, sources=("fillets",), languages=("cs",))
    assert summary["made"] == {"real": 4, "synthetic": 0, "left_out": 1}
    assert "fillets_cs_lvl_lvl-m-noclip" not in {u.id for u in read_manifest(tmp_path / "corpus" / "all.jsonl")}
    # An engine that exits happily with an empty file (festival does, on Italian "ping-pong"):
    # the text is left out; a voice none of whose texts comes out is an error naming it.
    monkeypatch.setattr(plan, "speak", lambda voice, text, wav, **kwargs: wav.write_bytes(b""))
    voice = EngineVoice("flite", "kal16", "en", 1.0, 1)
    with pytest.raises(UserError, match="no wav of flite_kal16 could be made: flite_kal16 on .*no readable audio"):
        small_build(tmp_path / "corpus", roots, sources=("flite",), languages=("en",), voices=[voice])
    assert not list((tmp_path / "corpus" / "wavs").glob("flite_kal16/*"))  # nothing half-made is left


def test_a_silent_clip_counts_as_no_audio(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "silent.wav", np.zeros(1984, np.float32), 16000)  # Pico on French "Eh !"
    with pytest.raises(plan.NoAudio, match="silent"):
        plan._check_audio(tmp_path / "silent.wav", "pico_fr_FR on 'Eh !'")
    soundfile.write(tmp_path / "voiced.wav", 0.1 * np.sin(np.arange(1984, dtype=np.float32) / 5), 16000)
    plan._check_audio(tmp_path / "voiced.wav", "a voice")


class FakeTranscriber:
    """Hears the fake clips by their length in tenths of a second (and language, where two
    clips are as long)."""

    def __init__(self, texts_by_tenths, texts_by_language_and_tenths=None):
        self.texts, self.special, self.calls = texts_by_tenths, texts_by_language_and_tenths or {}, 0

    def transcribe(self, wav_16k, language):
        self.calls += 1
        assert wav_16k.dtype == np.float32 and language in ("en", "es", "cs")
        tenths = round(len(wav_16k) / 1600)
        return self.special.get((language, tenths), self.texts.get(tenths, ""))


@pytest.mark.slow
def test_the_transcript_check_drops_disagreeing_pairs_and_resumes(tmp_path, roots):
    out = tmp_path / "corpus"
    heard = {5: "Hello there!", 7: "Please leave your message after the tone.", 6: "one",
             9: "Ahoj, jak se máš?", 11: "Řekl ne a odešel.", 8: "Hola, buenos días."}
    heard_cs_white = "Úplně jiná věta o rybách"  # the 0.5 s Czech clip: not its line ("Kdo je tam?")
    transcriber = FakeTranscriber(heard, {("cs", 5): heard_cs_white})
    summary = small_build(out, roots, languages=("en", "es", "cs"), check_asr="fake",
                          load_transcriber=lambda: transcriber)
    assert transcriber.calls == 8  # 4 Asterisk prompts, 4 Czech lines
    everything = {u.id for u in read_manifest(out / "all.jsonl")}
    assert "fillets_cs_lvl_lvl-x-white" not in everything  # dropped from every manifest
    assert "fillets_cs_lvl_lvl-l-one" not in everything  # 0.6 s: heard as "one", not "To je Linux."
    assert {"asterisk_en_hello", "asterisk_es_hola", "fillets_cs_lvl_lvl-v-quote"} <= everything
    rejected = {json.loads(line)["id"] for line in (out / "asr_rejected.jsonl").read_text().splitlines()}
    assert rejected == {"fillets_cs_lvl_lvl-x-white", "fillets_cs_lvl_lvl-l-one"}
    stats = summary["asr_check"]["by_source"]
    assert stats["asterisk"] == {"utterances": 4, "checked": 4, "dropped": 0, "drop_rate": 0.0,
                                 "unchecked_left_out_of_train": 0}
    assert stats["fillets"]["dropped"] == 2 and stats["fillets"]["drop_rate"] == 0.5

    # Resumed: nothing is heard again, and the recogniser is not even loaded.
    def refuse():
        raise AssertionError("loaded again")
    again = small_build(out, roots, languages=("en", "es", "cs"), check_asr="fake", load_transcriber=refuse)
    assert again["asr_check"] == summary["asr_check"]


@pytest.mark.slow
def test_unchecked_real_speech_stays_out_of_train_until_heard(tmp_path, roots):
    out = tmp_path / "corpus"
    hearing = FakeTranscriber({5: "Hello there.", 7: "Please leave your message after the tone.", 6: "one"})
    summary = small_build(out, roots, languages=("en",), sources=("asterisk", "flite"), check_asr="fake",
                          check_limit=1, load_transcriber=lambda: hearing)
    stats = summary["asr_check"]["by_source"]["asterisk"]
    assert (stats["checked"], stats["unchecked_left_out_of_train"]) == (1, 2)
    train_real = [u for u in read_manifest(out / "train.jsonl") if u.speaker == "asterisk_allison"]
    assert len(train_real) == 1
    assert sum(u.speaker == "asterisk_allison" for u in read_manifest(out / "all.jsonl")) == 3
    without = small_build(out, roots, languages=("en",), sources=("asterisk", "flite"), check_asr="none")
    assert sum(u.speaker == "asterisk_allison" for u in read_manifest(out / "train.jsonl")) == 3
    assert without["asr_check"]["by_source"] == {}
    # The cache holds the one result; a later checking run resumes from it.
    cached = asr_check.read_cache(out)
    assert len(cached) == 1


def test_agreement_folds_numerals_accents_and_case():
    assert asr_check.agreement("Por favor ingrese su numero.", "por favor, ingrese su número", "es") == (0.0, 0.0)
    assert asr_check.agreement("Please press 1 now.", "Please press one now", "en") == (0.0, 0.0)
    wer, cer = asr_check.agreement("nineteen", "19", "en")
    assert (wer, cer) == (0.0, 0.0)
    wer, cer = asr_check.agreement("Agent login.", "Agent log in.", "en")
    assert wer == 1.0 and cer < 0.15 and asr_check.BOUNDS["asterisk"].keeps(wer, cer, words=2)
    asterisk = asr_check.BOUNDS["asterisk"]
    assert asterisk.keeps(wer=1.0, cer=0.5, words=1) and not asterisk.keeps(wer=1.0, cer=0.5, words=6)
    assert not asterisk.keeps(wer=2.0, cer=1.67, words=1) and asterisk.keeps(wer=0.3, cer=0.4, words=6)
    wer, cer = asr_check.agreement("Kdo je tam?", "Úplně jiná věta o rybách", "cs")
    assert not asr_check.BOUNDS["fillets"].keeps(wer, cer)


def test_a_missing_package_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    empty = RealRoots(tmp_path / "a", tmp_path / "b", tmp_path / "c", tmp_path / "d")
    monkeypatch.setattr(build_v3, "RealRoots", lambda: empty)
    code = build_v3.main(["--out", str(tmp_path / "out"), "--sources", "fillets", "--languages", "nl,cs",
                          "--check-asr", "none", "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert "apt-get install fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl" in error
    assert not (tmp_path / "out" / "all.jsonl").exists()
    # LibriVox is English only: asking for it in Czech alone is nothing to do, not an error.
    assert build_v3.main(["--out", str(tmp_path / "out2"), "--sources", "librivox", "--languages", "cs",
                          "--check-asr", "none", "--quiet"]) == 0
