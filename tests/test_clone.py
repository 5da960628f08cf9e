"""The clone pipeline end to end on CPU with tiny random models: lengths, seeds, batching,
long text, prompt handling, the batch job, and every bad input a clone must refuse."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, speechlike, write_wav
from maskvox import pieces as pieces_module
from maskvox import pipeline as pipeline_module
from maskvox.audio import ACOUSTIC_RATE, SEMANTIC_RATE
from maskvox.batch import read_items, run_clone_batch
from maskvox.cli import main
from maskvox.errors import AudioError, UserError
from maskvox.pieces import crossfade_join
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.request import prompt_key
from maskvox.prompt import PromptAudio, cut_at_pause, frame_levels_db, normalize_loudness, speech_frames
from maskvox.text.sentences import chunk_text, split_sentences

PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()


@pytest.fixture(scope="module")
def synthesizer(tiny_full_model):
    return Synthesizer.from_pretrained(tiny_full_model, device="cpu")


def clone_args(model, out, *extra, text="Hello there, how are you?"):
    return ["clone", "--model", str(model), "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT,
            "--text", text, "--out", str(out), "--quiet", *extra]


# -- Must show 1: length, seed, batch -------------------------------------------------------------

@pytest.mark.slow
def test_clone_writes_24khz_audio_of_the_requested_length_and_repeats_with_its_seed(tiny_full_model, tmp_path):
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    assert main(clone_args(tiny_full_model, first, "--duration", "1.5", "--seed", "7")) == 0
    assert main(clone_args(tiny_full_model, second, "--duration", "1.5", "--seed", "7")) == 0
    a, rate = sf.read(first, dtype="float32")
    b, _ = sf.read(second, dtype="float32")
    assert rate == ACOUSTIC_RATE
    assert a.size == int(1.5 * ACOUSTIC_RATE)
    assert np.array_equal(a, b)
    third = tmp_path / "c.wav"
    assert main(clone_args(tiny_full_model, third, "--duration", "1.5", "--seed", "8")) == 0
    assert not np.array_equal(a, sf.read(third, dtype="float32")[0])


@pytest.mark.slow
def test_batch_output_equals_one_by_one_output(synthesizer):
    requests = [
        CloneRequest(EXAMPLE_PROMPT, PROMPT_TEXT, "Hello there.", seed=1),
        CloneRequest(EXAMPLE_PROMPT, PROMPT_TEXT, "A somewhat longer sentence than the first one.", seed=2, speed=1.3),
        CloneRequest(EXAMPLE_PROMPT, PROMPT_TEXT, "Exactly one second.", duration=1.0, seed=3),
    ]
    batched = synthesizer.clone_batch(requests, batch_size=3)
    for request, result in zip(requests, batched):
        alone = synthesizer.clone_batch([request])[0]
        assert np.array_equal(result.audio, alone.audio)
        assert result.seed == request.seed
    assert batched[2].seconds == pytest.approx(1.0)
    assert batched[2].duration_source == "requested" and batched[0].duration_source == "model"


@pytest.mark.slow
def test_speed_shortens_and_timings_cover_every_stage(synthesizer):
    normal = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "Let us go to the market today.", seed=4)
    fast = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "Let us go to the market today.", seed=4, speed=2.0)
    assert fast.seconds == pytest.approx(normal.natural_seconds / 2, abs=0.021)
    assert {"prompt", "features", "duration", "t2s", "s2a_layer1", "s2a_rest", "decode", "total"} <= set(normal.timings)
    assert normal.timings["t2s"] > 0


@pytest.mark.slow
def test_no_seed_draws_one_and_reports_it(synthesizer):
    result = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "Hello.")
    again = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "Hello.", seed=result.seed)
    assert np.array_equal(result.audio, again.audio)


# -- long text and prompts -----------------------------------------------------------------------

@pytest.mark.slow
def test_long_text_is_split_into_pieces_and_joined_to_the_requested_length(synthesizer, monkeypatch):
    monkeypatch.setattr(pieces_module, "MAX_TOTAL_SECONDS", 9.0)  # 6.3 s prompt: pieces under 2.7 s
    text = "The first sentence is here. The second one follows it. And a third one ends the text."
    result = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, text, duration=4.0, seed=5)
    assert len(result.pieces) >= 2
    assert " ".join(result.pieces) == text
    assert result.audio.size == 4 * ACOUSTIC_RATE


def test_sentence_splitting():
    assert split_sentences("Mr. Smith went home. He slept! Did he? Yes.") == [
        "Mr. Smith went home.", "He slept!", "Did he?", "Yes."]
    assert split_sentences("你好。今天天气很好！我们走吧") == ["你好。", "今天天气很好！", "我们走吧"]
    assert split_sentences("  ") == []


def test_chunks_stay_under_budget():
    text = "One two three four. Five six, seven eight nine ten eleven twelve. Thirteen."
    chunks = chunk_text(text, cost=lambda piece: len(piece.split()), budget=4)
    assert " ".join(chunks).split() == text.split()
    assert all(len(chunk.split()) <= 4 for chunk in chunks)
    assert chunk_text("很长的一句话没有标点符号", cost=len, budget=5) == ["很长的一", "句话没有", "标点符号"]


def test_crossfade_join_length_and_ends():
    a, b = np.ones(100, np.float32), np.full(50, -1.0, np.float32)
    joined = crossfade_join([a, b], overlap=10)
    assert joined.size == 140
    assert joined[0] == 1 and joined[-1] == -1 and np.all(np.diff(joined[89:101]) <= 0)


def test_prompt_loudness_is_normalised_and_the_peak_limited():
    quiet = speechlike(2.0, ACOUSTIC_RATE) * 0.05
    prompt = normalize_loudness(PromptAudio(quiet[::3].copy(), quiet, "text"))
    levels = frame_levels_db(prompt.wav_24k, ACOUSTIC_RATE)
    speech_db = 10 * np.log10(np.mean(10 ** (levels[speech_frames(levels)] / 10)))
    assert speech_db == pytest.approx(-23.0, abs=0.1)
    loud = normalize_loudness(PromptAudio(quiet[::3] * 18, quiet * 18, "text"))
    assert np.abs(loud.wav_24k).max() <= 0.95 + 1e-6


def espeak(text: str, path) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed: apt-get install espeak-ng")
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(path), text], check=True)
    from maskvox.audio import load_audio

    return load_audio(path, SEMANTIC_RATE)


def test_a_long_prompt_is_cut_at_a_pause_that_ends_a_sentence(tmp_path):
    sentences = [
        "The quick brown fox jumps over the lazy dog near the quiet river bank.",
        "A journey of a thousand miles begins with a single small step forward.",
        "She sells sea shells by the sea shore every single summer morning.",
        "Peter Piper picked a peck of pickled peppers from the garden.",
    ]
    gap = np.zeros(int(0.5 * SEMANTIC_RATE), np.float32)
    pieces = [espeak(sentence, tmp_path / f"s{i}.wav") for i, sentence in enumerate(sentences)]
    wav_16k = np.concatenate([np.concatenate([piece, gap]) for piece in pieces])
    ends = np.cumsum([(piece.size + gap.size) / SEMANTIC_RATE for piece in pieces])
    wav_24k = np.repeat(wav_16k, 3)[::2]  # 16 -> 24 kHz, good enough for energies
    prompt = PromptAudio(wav_16k, wav_24k, " ".join(sentences))
    assert prompt.seconds > 15
    cut = cut_at_pause(prompt, lambda text: len(text.replace(" ", "")), "prompt")
    kept = cut.text.count(".")
    assert kept == int(np.searchsorted(ends, 15.0))  # every sentence that fits in 15 s, and no more
    assert ends[kept - 1] - 0.5 <= cut.cut_at_seconds <= ends[kept - 1]  # in the pause after it
    assert cut.text == " ".join(sentences[:kept])


def test_a_long_prompt_without_a_matching_pause_is_refused():
    wav = speechlike(20.0, SEMANTIC_RATE)
    with pytest.raises(AudioError, match="no pause before 15 s ends a sentence"):
        cut_at_pause(PromptAudio(wav, wav, "One. Two."), len, "prompt")


@pytest.mark.slow
def test_prompt_at_any_rate_and_channel_count(synthesizer, tmp_path):
    stereo = np.stack([speechlike(2.0, 8000), speechlike(2.0, 8000, seed=1)], axis=1)
    path = tmp_path / "stereo8k.wav"
    sf.write(str(path), stereo, 8000, subtype="FLOAT")
    result = synthesizer.clone(path, "Hello there my friend.", "Good morning.", seed=0)
    assert result.sample_rate == ACOUSTIC_RATE and result.seconds > 0
    from_array = synthesizer.clone((stereo, 8000), "Hello there my friend.", "Good morning.", seed=0)
    assert np.array_equal(from_array.audio, result.audio)


# -- the batch job -----------------------------------------------------------------------------

def write_items(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def item(item_id, text, **extra):
    return {"id": item_id, "prompt": str(EXAMPLE_PROMPT), "prompt_text": PROMPT_TEXT, "text": text, **extra}


@pytest.mark.slow
def test_batch_job_writes_each_item_reports_bad_lines_and_resumes(tiny_full_model, tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", [
        item("one", "Hello there.", seed=1),
        "{not json",
        item("two", "A second sentence.", seed=2, duration=1.2),
        item("three", "!!! ???", seed=3),
        item("four", "Bonjour.", language="fr", seed=4),
    ])
    out_dir = tmp_path / "out"
    args = ["clone", "--batch", str(items), "--out-dir", str(out_dir), "--model", str(tiny_full_model), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "items.jsonl: line 2: not valid JSON" in err and "line 4 (three): nothing to pronounce" in err
    records = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["one", "line/2", "two", "three", "four"]
    assert [r["status"] for r in records] == ["ok", "failed", "ok", "failed", "ok"]
    assert sorted(p.name for p in out_dir.glob("*.wav")) == ["four.wav", "one.wav", "two.wav"]
    assert sf.info(out_dir / "two.wav").frames == int(1.2 * ACOUSTIC_RATE)
    assert records[2]["target_seconds"] == pytest.approx(1.2) and records[0]["seed"] == 1

    # The same items one by one give the same audio (the batch did not change them).
    single = tmp_path / "single.wav"
    assert main(clone_args(tiny_full_model, single, "--seed", "1", text="Hello there.")) == 0
    assert np.array_equal(sf.read(single)[0], sf.read(out_dir / "one.wav")[0])

    # Resuming: finished items are not redone, failed ones are tried again.
    before = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.wav")}
    tried = []

    def load():
        synthesizer = Synthesizer.from_pretrained(tiny_full_model, device="cpu")
        synthesizer.prepare = lambda request: tried.append(request.text) or Synthesizer.prepare(synthesizer, request)
        return synthesizer

    records = run_clone_batch(read_items(items), out_dir, load, progress=False, report=lambda message: None)
    assert tried == ["!!! ???"] and records["three"]["status"] == "failed"
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.wav")} == before

    # With only finished items left, no model is even loaded.
    write_items(items, [item("one", "Hello there.", seed=1), item("four", "Bonjour.", language="fr", seed=4)])
    run_clone_batch(read_items(items), out_dir, lambda: pytest.fail("nothing to do, nothing to load"),
                    progress=False, report=lambda message: None)


@pytest.mark.slow
def test_batch_job_redoes_an_item_whose_wav_is_gone(tiny_full_model, tmp_path):
    items = write_items(tmp_path / "items.jsonl", [item("a", "Hello.", seed=1), item("b", "World.", seed=2)])
    out_dir = tmp_path / "out"
    args = ["clone", "--batch", str(items), "--out-dir", str(out_dir), "--model", str(tiny_full_model), "--quiet"]
    assert main(args) == 0
    first = sf.read(out_dir / "a.wav")[0]
    (out_dir / "a.wav").unlink()
    assert main(args) == 0
    assert np.array_equal(sf.read(out_dir / "a.wav")[0], first)


# -- Must show 3: every bad input a clone must refuse ------------------------------------------------------

def bad_wavs(tmp_path):
    rate = 16000
    return {
        "missing": (tmp_path / "nope.wav", "does not exist"),
        "not audio": (_text_file(tmp_path / "text.wav"), "not a readable audio file"),
        "empty": (write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), rate), "no audio samples"),
        "silent": (write_wav(tmp_path / "silent.wav", np.zeros(2 * rate, np.float32), rate), "is silent"),
        "clipped": (write_wav(tmp_path / "clipped.wav", np.clip(speechlike(2.0, rate) * 20, -1, 1), rate), "is clipped"),
        "too short": (write_wav(tmp_path / "short.wav", speechlike(0.5, rate), rate), "too short"),
        "too long": (write_wav(tmp_path / "long.wav", speechlike(61.0, 8000), 8000), "too long"),
        "nan": (_nan_wav(tmp_path / "nan.wav"), "NaN or infinite"),
    }


def _text_file(path):
    path.write_text("this is not audio\n")
    return path


def _nan_wav(path):
    wav = speechlike(2.0, 16000)
    wav[100] = np.nan
    sf.write(str(path), wav, 16000, subtype="FLOAT")
    return path


def run_bad(args, capsys, out):
    status = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status != 0
    assert len(lines) == 1 and lines[0].startswith("maskvox: error: "), err
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "not audio", "empty", "silent", "clipped", "too short", "too long", "nan"])
def test_bad_prompt_audio(case, tiny_full_model, tmp_path, capsys):
    path, message = bad_wavs(tmp_path)[case]
    out = tmp_path / "out.wav"
    args = ["clone", "--model", str(tiny_full_model), "--prompt", str(path), "--prompt-text", "Hello there.",
            "--text", "Hi.", "--out", str(out)]
    assert message in run_bad(args, capsys, out)


@pytest.mark.slow
@pytest.mark.parametrize("extra, message", [
    (["--text", ""], "the text is empty"),
    (["--text", "   \n "], "the text is empty"),
    (["--text", "!!! ... ???"], "nothing to pronounce"),
    (["--text", "Hello.", "--lang", "xx"], "unsupported language 'xx'"),
    (["--text", "A long sentence with many words in it.", "--duration", "0.05"], "too short for"),
    (["--text", "Hello.", "--speed", "5"], "--speed must be between"),
    (["--text", "Hello.", "--seed", "-1"], "seed must be a non-negative integer"),
    (["--text", "Hello.", "--preset", "turbo"], "unknown preset 'turbo'"),
    (["--text", "Hello.", "--precision", "bf16"], "needs a CUDA device"),
])
def test_bad_text_and_controls(extra, message, tiny_full_model, tmp_path, capsys):
    out = tmp_path / "out.wav"
    args = ["clone", "--model", str(tiny_full_model), "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT,
            "--out", str(out), "--device", "cpu", *extra]
    assert message in run_bad(args, capsys, out)


def test_empty_prompt_transcript_and_bad_output(tiny_full_model, tmp_path, capsys):
    out = tmp_path / "out.wav"
    base = ["clone", "--model", str(tiny_full_model), "--prompt", str(EXAMPLE_PROMPT), "--text", "Hello."]
    assert "prompt's transcript is empty" in run_bad(base + ["--prompt-text", " ", "--out", str(out)], capsys, out)
    assert "must end in .wav or .flac" in run_bad(base + ["--prompt-text", PROMPT_TEXT, "--out", str(tmp_path / "o.mp3")],
                                                   capsys, tmp_path / "o.mp3")


@pytest.mark.parametrize("damage, message", [
    ("missing", "is missing t2s_model/model.safetensors"),
    ("shape", "key 'phone_emb.weight' has shape"),
])
def test_broken_checkpoint_folder_names_the_file_and_key(damage, message, tiny_full_model, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(tiny_full_model, folder)
    weights = folder / "t2s_model" / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    else:
        state = load_file(weights)
        state["phone_emb.weight"] = torch.zeros(10, state["phone_emb.weight"].shape[1])
        save_file(state, weights)
    out = tmp_path / "out.wav"
    assert message in run_bad(clone_args(folder, out)[:-1], capsys, out)


def test_out_of_memory_says_what_to_lower(tiny_full_model, tmp_path, capsys, monkeypatch):
    import torch

    def exhausted(self, requests, batch_size=8):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Synthesizer, "clone_batch", exhausted)
    out = tmp_path / "out.wav"
    assert "lower --batch-size" in run_bad(clone_args(tiny_full_model, out), capsys, out)


def test_api_errors_are_user_errors(synthesizer):
    with pytest.raises(UserError, match="the text is empty"):
        synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "")
    with pytest.raises(UserError, match="batch size"):
        synthesizer.clone_batch([], batch_size=0)


@pytest.mark.slow
def test_batch_results_feed_the_evaluator(tiny_full_model, tmp_path):
    items = write_items(tmp_path / "items.jsonl", [item("a", "Hello there.", seed=1), item("b", "Good night.", seed=2,
                                                                                               duration=1.0)])
    out_dir, report = tmp_path / "out", tmp_path / "report"
    assert main(["clone", "--batch", str(items), "--out-dir", str(out_dir), "--model", str(tiny_full_model), "--quiet"]) == 0
    assert main(["eval", "--results", str(out_dir / "results.jsonl"), "--out", str(report), "--quiet"]) == 0
    scored = [json.loads(line) for line in (report / "items.jsonl").read_text().splitlines()]
    assert [record["id"] for record in scored] == ["a", "b"]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["scored"] == 2 and summary["failed"] == 0
    # Tiny random models make noise: the ASR hears none of the text; the lengths are as aimed.
    assert summary["wer_mean_per_utterance"] == 1.0 and summary["duration_error_mean"] == pytest.approx(0.0, abs=1e-6)
    assert scored[1]["seconds"] == pytest.approx(1.0)


def test_return_errors_keeps_a_bad_request_in_its_place_and_clamps_a_requested_length(synthesizer):
    prompt = (speechlike(2.0, 16000, seed=4), 16000)
    good = CloneRequest(prompt, "hello there", "good morning", duration=30.0, duration_clamp=(0.8, 1.25), seed=1)
    bad = CloneRequest(prompt, "hello there", "...", seed=2)
    with pytest.raises(UserError):
        synthesizer.clone_batch([good, bad])
    results = synthesizer.clone_batch([bad, good], return_errors=True)
    assert isinstance(results[0], UserError) and not isinstance(results[1], UserError)
    # 30 s asked, clamped to 1.25x the natural length (to the 20 ms frame).
    assert results[1].target_seconds == pytest.approx(1.25 * results[1].natural_seconds, abs=0.011)


def test_a_bad_length_clamp_is_refused_with_the_other_controls_before_any_model():
    request = CloneRequest(EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT.read_text().strip(), "good morning", duration=2.0,
                           duration_clamp=(1.2, 2.0))
    with pytest.raises(UserError, match="a length clamp must satisfy 0 < low <= 1 <= high"):
        pipeline_module.check_request(request)


def test_prompts_given_as_samples_are_cached_by_their_content():
    samples = speechlike(1.5, 16000, seed=5)
    key = prompt_key((samples, 16000), "text", "en")
    assert key == prompt_key((samples.copy(), 16000), "text", "en")
    changed = samples.copy()
    changed[100] += 0.01
    assert key != prompt_key((changed, 16000), "text", "en")
    assert key != prompt_key((samples, 24000), "text", "en")
