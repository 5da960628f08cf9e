"""`maskvox eval`: Seed-TTS-eval's normalisation and WER, the named scorers, and the command on
the real LibriVox recordings of Debian's pocketsphinx-testdata."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from maskvox.audio import load_audio
from maskvox.cli import main
from maskvox.evaluation import read_meta_list, read_results
from maskvox.evaluation.asr import ASR_BACKENDS, get_asr_backend
from maskvox.evaluation.cli import ASR_NAMES, SPEAKER_NAMES
from maskvox.evaluation.errors import EvalInputError, ScorerUnavailableError, UnknownScorerError
from maskvox.evaluation.speaker import SPEAKER_BACKENDS, cosine_similarity, get_speaker_backend
from maskvox.evaluation.wer import CorpusWer, WordErrors, normalize_for_wer, word_errors

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CLIP = "sense_and_sensibility_01_austen_64kb-{}"
UTTERANCES = ("0870", "0880", "0890", "0920", "0930")
ESPEAK_TEXT = "He might even have been made amiable himself, unless he was rather cold hearted."


def run_eval(*argv) -> int:
    """`maskvox eval ...` in-process, through the real command line."""
    return main(["eval", *map(str, argv)])


@pytest.fixture(scope="module")
def librivox() -> dict[str, tuple[Path, str]]:
    """utterance -> (recording, transcript)."""
    if not (LIBRIVOX / "transcription").is_file():
        pytest.fail(f"{LIBRIVOX} not found: install Debian's pocketsphinx-testdata (apt-get install pocketsphinx-testdata)")
    transcripts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words = line.split()  # <s> words ... </s> (utterance)
        transcripts[words[-1].strip("()")] = " ".join(words[1:-2])
    return {utt: (LIBRIVOX / f"{CLIP.format(utt)}.wav", transcripts[CLIP.format(utt)]) for utt in UTTERANCES}


@pytest.fixture(scope="module")
def espeak_wav(tmp_path_factory) -> Path:
    """A synthetic voice, nothing like the LibriVox reader."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng not found: install Debian's espeak-ng (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("espeak") / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), ESPEAK_TEXT], check=True, capture_output=True)
    return path


def write_meta_list(path: Path, librivox, ground_truth_field: bool = True) -> Path:
    """Each clip's prompt is another clip of the same reader: 0870 (the longest), or 0890 for 0870."""
    lines = []
    for utt, (wav, text) in librivox.items():
        prompt_wav, prompt_text = librivox["0890" if utt == "0870" else "0870"]
        fields = [CLIP.format(utt), prompt_text, str(prompt_wav), text] + ([str(wav)] if ground_truth_field else [])
        lines.append("|".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


# --- normalisation and WER ----------------------------------------------------------------------

def test_english_normalisation_follows_seed_tts_eval():
    # Punctuation is deleted, not spaced: hyphenated words join; the apostrophe stays.
    assert normalize_for_wer('Unless to be rather cold-hearted, and "rather" selfish... it\'s!', "en") == \
        "unless to be rather coldhearted and rather selfish it's"
    assert normalize_for_wer("And Mr. John  Dashwood", "en") == "and mr john dashwood"
    assert normalize_for_wer("  Hello\u2014world\u2026 ", "en") == "helloworld"
    assert normalize_for_wer("Bonjour, Monsieur !", "fr") == "bonjour monsieur"


def test_chinese_is_scored_by_character():
    assert normalize_for_wer("你好，世界！《书》 AI", "zh") == "你 好 世 界 书 A I"
    assert normalize_for_wer("こんにちは。", "ja") == "こ ん に ち は"


def test_word_errors_and_the_two_corpus_figures():
    deletion = word_errors("the cat sat on the mat", "the cat sat on mat")
    assert deletion == WordErrors(reference_words=6, substitutions=0, deletions=1, insertions=0)
    assert deletion.wer == pytest.approx(1 / 6)
    substitution_insertion = word_errors("a b", "a x y")
    assert (substitution_insertion.substitutions, substitution_insertion.insertions) == (1, 1)
    assert substitution_insertion.wer == 1.0
    corpus = CorpusWer.of([deletion, substitution_insertion])
    assert corpus.mean_per_utterance == pytest.approx((1 / 6 + 1) / 2)  # 58.3%: Seed-TTS-eval's figure
    assert corpus.pooled == pytest.approx(3 / 8)  # 37.5%: 3 errors over 8 reference words
    assert word_errors("你 好 世 界", "你 好 世 间").wer == 0.25
    assert word_errors("a b c", "").deletions == 3
    with pytest.raises(ValueError):
        word_errors("", "a")


# --- the scorer registries ----------------------------------------------------------------------

def test_the_help_text_names_every_scorer():
    assert list(ASR_NAMES) == list(ASR_BACKENDS) and list(SPEAKER_NAMES) == list(SPEAKER_BACKENDS)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownScorerError, match="choose one of resemblyzer, wavlm-ecapa$"):
        get_speaker_backend("x-vector")
    with pytest.raises(UnknownScorerError, match="whisper-base, whisper-tiny.en, pocketsphinx, whisper-large-v3$"):
        get_asr_backend("whisper-tiny")
    with pytest.raises(UnknownScorerError, match="reads only en, not zh"):
        get_asr_backend("whisper-tiny.en").check_languages({"en", "zh"})


def test_wavlm_ecapa_says_what_it_needs(tmp_path):
    with pytest.raises(ScorerUnavailableError, match="--speaker-checkpoint wavlm_large_finetune.pth"):
        get_speaker_backend("wavlm-ecapa").load("cpu", None)
    with pytest.raises(ScorerUnavailableError, match="does not exist"):
        get_speaker_backend("wavlm-ecapa").load("cpu", str(tmp_path / "missing.pth"))


@pytest.mark.slow
def test_whisper_large_v3_offline_without_weights_fails_in_one_line(tmp_path):
    script = ("from maskvox.evaluation.asr import get_asr_backend\n"
              "get_asr_backend('whisper-large-v3').load('cpu')\n")
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("maskvox.evaluation.errors.ScorerUnavailableError: ASR whisper-large-v3 needs")
    assert "hf download Systran/faster-whisper-large-v3" in last_line


@pytest.mark.slow
def test_importing_the_command_is_cheap():
    script = ("import sys, maskvox.evaluation.cli\n"
              "print(sorted({'numpy', 'torch', 'faster_whisper', 'matplotlib', 'jiwer'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_resemblyzer_embeddings_equal_the_package(librivox):
    """Our inference against resemblyzer 0.1.4 itself (with librosa 0.11.0, which maskvox does not install)."""
    encoder = get_speaker_backend("resemblyzer").load("cpu", None)
    embeddings = {utt: encoder.embed(load_audio(librivox[utt][0], 16000)) for utt in ("0870", "0880", "0890", "0930")}
    largest_dims = [21, 89, 58, 225, 162, 2]
    expected = [0.287339, 0.283181, 0.217236, 0.20889, 0.205176, 0.134561]
    np.testing.assert_allclose(embeddings["0880"][largest_dims], expected, atol=2e-6)
    assert cosine_similarity(embeddings["0870"], embeddings["0890"]) == pytest.approx(0.926699, abs=2e-6)
    assert cosine_similarity(embeddings["0880"], embeddings["0930"]) == pytest.approx(0.753328, abs=2e-6)


def test_silence_trimming_keeps_the_length_of_a_piece_shorter_than_its_window():
    """An edit's kept audio can be 60 ms: the voice-activity mask must fit it (it was 7 windows long)."""
    from maskvox.evaluation.speaker import VAD_WINDOW_SAMPLES, trim_long_silences

    rng = np.random.default_rng(0)
    for windows in (1, 2, 5, 40):
        wav = (0.1 * rng.standard_normal(windows * VAD_WINDOW_SAMPLES + 7)).astype(np.float32)
        trimmed = trim_long_silences(wav)
        assert trimmed.size <= windows * VAD_WINDOW_SAMPLES and trimmed.size % VAD_WINDOW_SAMPLES == 0


@pytest.mark.slow
def test_pocketsphinx_transcribes_a_clip(librivox):
    transcriber = get_asr_backend("pocketsphinx").load("cpu")
    text = transcriber.transcribe(load_audio(librivox["0880"][0], 16000), "en")
    assert "young man" in text  # "he was not until this blows young man" here: rough, but English


# --- reading the inputs -------------------------------------------------------------------------

def test_meta_list_items(tmp_path, librivox):
    listing = write_meta_list(tmp_path / "meta.lst", librivox)
    wav_dir = tmp_path / "generated"
    wav_dir.mkdir()
    shutil.copy(librivox["0880"][0], wav_dir / f"{CLIP.format('0880')}.wav")
    items = {item.id[-4:]: item for item in read_meta_list(listing, wav_dir, "en")}
    assert items["0880"].failure is None and items["0880"].target_seconds == pytest.approx(2.99)
    assert items["0870"].failure.startswith("no generated wav")
    truth = read_meta_list(listing, None, "en", ground_truth=True)
    assert [item.wav for item in truth] == [wav for wav, _ in librivox.values()]
    assert all(item.target_seconds is None for item in truth)
    with pytest.raises(EvalInputError, match=r"meta4\.lst:1: --ground-truth needs the target recording"):
        read_meta_list(write_meta_list(tmp_path / "meta4.lst", librivox, ground_truth_field=False), None, "en", True)


def test_results_items(tmp_path, librivox):
    prompt = str(librivox["0870"][0])
    records = [
        {"id": "a", "status": "ok", "wav": "a.wav", "prompt": prompt, "text": "Hello.", "language": "en",
         "target_seconds": 3.0},
        {"id": "b", "status": "failed", "text": "Hi.", "language": "en", "error": "out of memory"},
        {"id": "c", "line": 3, "status": "failed", "wav": None, "error": "not valid JSON"},  # an unreadable item
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(record) + "\n" for record in records))
    shutil.copy(librivox["0880"][0], tmp_path / "a.wav")
    ok, failed, unread = read_results(results)
    assert ok.wav == tmp_path / "a.wav" and ok.target_seconds == 3.0 and ok.failure is None
    assert failed.failure == "generation failed: out of memory"
    assert unread.failure == "generation failed: not valid JSON" and unread.text == ""
    results.write_text(json.dumps(records[0]) + "\n{not json\n")
    with pytest.raises(EvalInputError, match=r"results\.jsonl:2: not valid JSON"):
        read_results(results)


# --- the command --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def librivox_report(tmp_path_factory, librivox):
    """`maskvox eval --ground-truth` on the LibriVox recordings, with whisper-tiny.en and resemblyzer
    (named: the default is whisper-base when installed, which tests/test_whisper_base.py covers)."""
    folder = tmp_path_factory.mktemp("librivox_eval")
    listing = write_meta_list(folder / "meta.lst", librivox)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run_eval("--list", listing, "--ground-truth", "--out", folder / "report", "--device", "cpu",
                          "--asr", "whisper-tiny.en")
    assert status == 0, err.getvalue()
    return folder / "report", out.getvalue()


@pytest.mark.slow
def test_librivox_wer_is_the_asr_floor(librivox_report):
    report, printed = librivox_report
    summary = json.loads((report / "summary.json").read_text())
    assert (summary["scored"], summary["failed"], summary["asr"]) == (5, 0, "whisper-tiny.en")
    # Measured: 12.68% mean per utterance, 11.27% pooled (8 errors / 71 words): "mister" vs "Mr.",
    # "ill disposed" heard as "old-sposed", the hyphens Seed-TTS-eval deletes ("cold-hearted"), and
    # the reference's "a more a amiable".
    assert 0.05 <= summary["wer_mean_per_utterance"] <= 0.15
    assert summary["wer_pooled"] == pytest.approx(8 / 71, abs=0.03)
    assert "| WER, mean per utterance (Seed-TTS-eval) |" in printed and "| WER, pooled" in printed


@pytest.mark.slow
def test_librivox_same_voice_similarity_is_high(librivox_report):
    report, _ = librivox_report
    items = [json.loads(line) for line in (report / "items.jsonl").read_text().splitlines()]
    assert len(items) == 5 and all(item["status"] == "ok" for item in items)
    # Measured: 0.863 to 0.927 (mean 0.898) against another clip of the same reader.
    assert min(item["similarity"] for item in items) > 0.75
    first = next(item for item in items if item["id"].endswith("0870"))
    assert first["hypothesis_normalized"] == \
        "and mr john dashwood had then leisure to consider how much there might be prudently in his power to do for them"
    assert first["wer"] == pytest.approx(1 / 22)


@pytest.mark.slow
def test_the_report_files(librivox_report):
    report, printed = librivox_report
    assert (report / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| items scored" in printed and "| speaker model" in printed and "resemblyzer" in printed


@pytest.mark.slow
def test_results_file_with_another_voice_and_a_failure(tmp_path, librivox, espeak_wav, capsys):
    """A synthetic voice against a LibriVox prompt: low SIM; its length against a target."""
    records = [
        {"id": "espeak", "status": "ok", "wav": str(espeak_wav), "prompt": str(librivox["0870"][0]),
         "prompt_text": librivox["0870"][1], "text": ESPEAK_TEXT,
         "language": "en", "target_seconds": 4.0},
        {"id": "lost", "status": "failed", "text": "Nothing.", "language": "en", "error": "duration too short"},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert run_eval("--results", results, "--out", tmp_path / "report", "--device", "cpu") == 0
    captured = capsys.readouterr()
    assert "maskvox: warning: lost: generation failed: duration too short" in captured.err
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert (summary["scored"], summary["failed"]) == (1, 1)
    # Measured: 0.610 (espeak-ng 1.51, resemblyzer), against 0.863-0.927 for the reader's own clips;
    # its length 4.57 s against the 4 s target: 14.2% duration error.
    assert summary["similarity_mean"] < 0.75
    scored, failed = [json.loads(line) for line in (tmp_path / "report" / "items.jsonl").read_text().splitlines()]
    assert failed["status"] == "failed" and failed["wer"] is None
    assert scored["duration_error"] == pytest.approx(abs(scored["seconds"] - 4.0) / 4.0)
    assert summary["duration_items"] == 1


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("maskvox: error: ")
    return lines[0]


def test_missing_list_file(tmp_path, capsys):
    assert run_eval("--list", tmp_path / "nope.lst", "--ground-truth", "--out", tmp_path / "out") == 2
    assert "nope.lst does not exist" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_malformed_list_line(tmp_path, librivox, capsys):
    listing = write_meta_list(tmp_path / "meta.lst", librivox)
    lines = listing.read_text().splitlines()
    lines[1] = "only|three|fields"
    listing.write_text("\n".join(lines) + "\n")
    assert run_eval("--list", listing, "--ground-truth", "--out", tmp_path / "out") == 2
    assert "meta.lst:2: expected utt|prompt_text|prompt_wav|target_text[|target_wav], got 3" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_bad_out(tmp_path, librivox, capsys):
    listing = write_meta_list(tmp_path / "meta.lst", librivox)
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert run_eval("--list", listing, "--ground-truth", "--out", a_file) == 2
    assert "is a file" in _one_line_error(capsys)
    assert run_eval("--list", listing, "--ground-truth", "--out", a_file / "report") == 2
    assert "cannot create output folder" in _one_line_error(capsys)


def test_bad_names_and_combinations(tmp_path, librivox, capsys):
    listing = write_meta_list(tmp_path / "meta.lst", librivox)
    assert run_eval("--list", listing, "--ground-truth", "--out", tmp_path / "out", "--speaker", "x-vector") == 2
    assert "choose one of resemblyzer, wavlm-ecapa" in _one_line_error(capsys)
    assert run_eval("--list", listing, "--out", tmp_path / "out") == 2
    assert "give --wav-dir DIR (generated speech) or --ground-truth" in _one_line_error(capsys)
    assert run_eval("--list", listing, "--wav-dir", tmp_path / "empty", "--out", tmp_path / "out") == 2
    assert "is not a folder" in _one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert run_eval("--list", listing, "--wav-dir", tmp_path / "empty", "--out", tmp_path / "out") == 2
    assert "none of the 5 generated wavs" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()
