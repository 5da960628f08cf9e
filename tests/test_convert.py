"""Zero-shot voice conversion (issue 26): the output exactly as long as the source, seeds, windows
and their joins for a long source, the pitch-shift lever, the command line and its resumable
batch form, bad input, and the evaluation recipe end to end. Tiny random models on CPU; the
shipped demo where real speech matters."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

import maskvox.convert as convert
from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, speechlike, write_wav
from maskvox.cli import main
from maskvox.convert import plan_windows, shift_pitch
from maskvox.errors import UserError
from maskvox.jobs import RESULTS_FILE, read_records
from maskvox.pieces import CROSSFADE_FRAMES
from maskvox.pipeline import Synthesizer
from maskvox.prompt import load_prompt

PROMPT = str(EXAMPLE_PROMPT)  # 6.3 s: 315 frames


@pytest.fixture(scope="module")
def synth(tiny_full_model):
    return Synthesizer.from_pretrained(tiny_full_model, preset="fast", device="cpu")


@pytest.fixture
def source(tmp_path):
    return write_wav(tmp_path / "source.wav", speechlike(2.37, 22050, seed=3), 22050)


def expected_samples(path) -> int:
    info = sf.info(str(path))
    return round(info.frames * 24000 / info.samplerate)


def run_cli(argv, capsys):
    capsys.readouterr()
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit:  # argparse
        code = exit.code
    return code, capsys.readouterr()


# -- the API ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, rate, channels", [(2.37, 22050, 1), (1.013, 44100, 2), (0.5, 16000, 1)])
def test_the_output_is_exactly_as_long_as_the_source(synth, tmp_path, seconds, rate, channels):
    wav = speechlike(seconds, rate, seed=1)
    path = write_wav(tmp_path / "s.wav", np.stack([wav] * channels, axis=1) if channels > 1 else wav, rate)
    result = synth.convert(path, PROMPT, seed=0)
    assert result.sample_rate == 24000 and result.audio.dtype == np.float32
    assert result.audio.size == expected_samples(path) == round(wav.size * 24000 / rate)
    assert result.as_dict()["samples"] == result.audio.size and len(result.windows) == 1


def test_a_seed_repeats_the_conversion_and_another_seed_changes_it(synth, source):
    first = synth.convert(source, PROMPT, seed=5)
    assert np.array_equal(first.audio, synth.convert(source, PROMPT, seed=5).audio)
    assert not np.array_equal(first.audio, synth.convert(source, PROMPT, seed=6).audio)
    assert synth.convert(source, PROMPT).seed != synth.convert(source, PROMPT).seed  # a random one, reported


def test_a_long_source_goes_in_crossfaded_windows_of_exact_total_length(synth, tmp_path, monkeypatch):
    # The models' 30 s made small: prompt (315 frames) + 80 frames a window; features read in chunks too.
    monkeypatch.setattr(convert, "MAX_TOTAL_FRAMES", 315 + 80)
    monkeypatch.setattr(convert, "FEATURE_CHUNK_FRAMES", 90)
    path = write_wav(tmp_path / "long.wav", speechlike(5.0, 16000, seed=2), 16000)
    result = synth.convert(path, PROMPT, seed=1, batch_size=2)
    frames = 250
    assert result.audio.size == expected_samples(path) == frames * 480
    windows = result.windows
    assert len(windows) >= 3 and windows[0][0] == 0 and windows[-1][1] == frames
    assert all(end - start <= 80 for start, end in windows)
    assert all(nxt[0] == end - CROSSFADE_FRAMES for (_, end), nxt in zip(windows, windows[1:]))
    # Away from the joins, each window's own decode is in the output, sample for sample.
    for (start, end), codes in zip(windows, result.acoustic_ids):
        assert codes.shape == (end - start, 12)
        own = synth.decode(torch.from_numpy(codes))
        inner = slice(CROSSFADE_FRAMES * 480, (end - start - CROSSFADE_FRAMES) * 480)
        assert np.array_equal(result.audio[start * 480 :][inner], own[inner])
    # A window's draws do not depend on which windows are generated with it.
    assert np.array_equal(result.audio, synth.convert(path, PROMPT, seed=1, batch_size=1).audio)


def test_windows_are_cut_at_quiet_frames_within_the_budget():
    levels = np.zeros(1000)
    assert plan_windows(700, 700, levels) == [(0, 700)]
    levels[::7] = -60.0  # quiet frames every 7
    windows = plan_windows(1000, 400, levels)
    assert len(windows) == 3 and windows[-1][1] == 1000
    for (start, end), nxt in zip(windows, windows[1:]):
        assert end - start <= 400 and levels[end] == -60.0 and nxt[0] == end - CROSSFADE_FRAMES
    with pytest.raises(UserError, match="shorter prompt"):
        plan_windows(1000, 2 * CROSSFADE_FRAMES, levels)


def test_the_pitch_shift_changes_the_tokens_but_not_the_length(synth, source):
    plain = synth.convert(source, PROMPT, seed=2)
    shifted = synth.convert(source, PROMPT, seed=2, source_pitch_shift=4.0)
    assert shifted.audio.size == plain.audio.size == expected_samples(source)
    assert shifted.semantic_ids.shape == plain.semantic_ids.shape
    assert not np.array_equal(shifted.semantic_ids, plain.semantic_ids)
    assert shifted.as_dict()["source_pitch_shift"] == 4.0


def test_shift_pitch_moves_the_pitch_and_keeps_every_sample():
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)).astype(np.float32)
    up = shift_pitch(tone, rate, 12.0)
    assert up.size == tone.size and up.dtype == np.float32
    peak_hz = np.argmax(np.abs(np.fft.rfft(up[2000:-2000]))) * rate / (tone.size - 4000)
    assert abs(peak_hz - 400) < 10
    assert shift_pitch(tone, rate, 0.0) is tone  # off: the samples as they are


def test_a_long_prompt_without_transcript_is_cut_at_its_latest_pause():
    rate = 16000
    gap = np.zeros(int(0.4 * rate), np.float32)
    wav = np.concatenate([speechlike(5.0, rate), gap, speechlike(6.0, rate, seed=1), gap, speechlike(8.0, rate, 2)])
    prompt = load_prompt((wav, rate), "", lambda text: 1)
    assert prompt.text == "" and 11.0 < prompt.cut_at_seconds < 11.8 and prompt.seconds == pytest.approx(
        prompt.cut_at_seconds, abs=1e-3)


# -- the command line -------------------------------------------------------------------------------

def test_convert_writes_the_source_length_and_reports_it(tiny_full_model, source, tmp_path, capsys):
    out = tmp_path / "converted.wav"
    code, printed = run_cli(["convert", "--source", source, "--prompt", PROMPT, "--prompt-text",
                             EXAMPLE_PROMPT_TEXT.read_text().strip(), "--out", out, "--seed", "3", "--json",
                             "--quiet", "--preset", "fast", "--model", tiny_full_model], capsys)
    assert code == 0, printed.err
    report = json.loads(printed.out)
    assert report["samples"] == sf.info(str(out)).frames == expected_samples(source)
    assert sf.info(str(out)).samplerate == 24000 and report["seed"] == 3 and report["windows"] == 1


def test_the_batch_form_resumes_and_a_bad_item_fails_alone(tiny_full_model, source, tmp_path, capsys,
                                                          monkeypatch):
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join([
        json.dumps({"id": "a", "source": source.name, "prompt": PROMPT, "seed": 1}),
        json.dumps({"id": "b", "source": source.name, "prompt": PROMPT, "source_pitch_shift": 2}),
        json.dumps({"id": "c", "source": "missing.wav", "prompt": PROMPT}),
        json.dumps({"id": "d", "source": source.name, "prompt": PROMPT, "source_pitch_shift": 99}),
    ]) + "\n")
    out_dir = tmp_path / "out"
    argv = ["convert", "--batch", items, "--out-dir", out_dir, "--quiet", "--preset", "fast", "--model",
            tiny_full_model]
    code, printed = run_cli(argv, capsys)
    assert code == 2 and "2 of 4 items failed" in printed.err
    records = read_records(out_dir / RESULTS_FILE)
    assert [records[i]["status"] for i in "abcd"] == ["ok", "ok", "failed", "failed"]
    assert "does not exist" in records["c"]["error"] and "between -12 and 12" in records["d"]["error"]
    assert records["b"]["source_pitch_shift"] == 2 and records["a"]["seed"] == 1
    for name in "ab":
        assert sf.info(str(out_dir / f"{name}.wav")).frames == expected_samples(source)
    written = {name: (out_dir / f"{name}.wav").stat().st_mtime_ns for name in "ab"}

    def no_models(*_, **__):
        raise AssertionError("a finished item was converted again")

    monkeypatch.setattr(Synthesizer, "from_pretrained", no_models)
    items.write_text("\n".join(items.read_text().splitlines()[:2]) + "\n")  # (a failed item would be tried again)
    code, printed = run_cli(argv, capsys)  # the items done are kept: no model loads, nothing is written
    assert code == 0, printed.err
    assert {name: (out_dir / f"{name}.wav").stat().st_mtime_ns for name in "ab"} == written
    assert read_records(out_dir / RESULTS_FILE)["a"] == records["a"]


def _bad_inputs(folder):
    long = write_wav(folder / "long.wav", np.full(601 * 1000, 0.1, np.float32), 1000)  # over 600 s, in its header
    short = write_wav(folder / "short.wav", speechlike(0.3, 16000), 16000)
    silent = write_wav(folder / "silent.wav", np.zeros(32000, np.float32), 16000)
    (folder / "blocker").write_text("a file")
    source, out = folder / "source.wav", folder / "out.wav"
    return {
        "missing source": (["--source", folder / "missing.wav", "--prompt", PROMPT, "--out", out], "does not exist"),
        "silent source": (["--source", silent, "--prompt", PROMPT, "--out", out], "is silent"),
        "short source": (["--source", short, "--prompt", PROMPT, "--out", out], "too short"),
        "long source": (["--source", long, "--prompt", PROMPT, "--out", out], "over the limit of 600 s"),
        "silent prompt": (["--source", source, "--prompt", silent, "--out", out], "is silent"),
        "out is the source": (["--source", source, "--prompt", PROMPT, "--out", source], "is the source"),
        "out is the prompt": (["--source", source, "--prompt", EXAMPLE_PROMPT, "--out", EXAMPLE_PROMPT],
                              "is the prompt"),
        "unwritable out": (["--source", source, "--prompt", PROMPT, "--out", folder / "blocker" / "o.wav"],
                           "is a file, not a folder"),
        "out format": (["--source", source, "--prompt", PROMPT, "--out", folder / "out.mp3"], "must end in"),
        "pitch shift": (["--source", source, "--prompt", PROMPT, "--out", out, "--source-pitch-shift", "nan"],
                        "must be a finite number"),
        "no source": (["--prompt", PROMPT, "--out", out], "--source is required"),
        "batch without out dir": (["--batch", folder / "items.jsonl"], "--batch needs --out-dir"),
        "batch with out": (["--batch", folder / "items.jsonl", "--out-dir", folder / "o", "--out", out],
                           "--out does not go with --batch"),
    }


BAD_INPUTS = ["missing source", "silent source", "short source", "long source", "silent prompt", "out is the source",
              "out is the prompt", "unwritable out", "out format", "pitch shift", "no source", "batch without out dir",
              "batch with out"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_no_output(case, tiny_full_model, tmp_path, capsys):
    folder = tmp_path / "scene"
    folder.mkdir()
    write_wav(folder / "source.wav", speechlike(2.0, 16000), 16000)
    argv, message = _bad_inputs(folder)[case]
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    prompt_before = EXAMPLE_PROMPT.read_bytes()
    code, printed = run_cli(["convert", *argv, "--model", tiny_full_model, "--quiet"], capsys)
    errors = [line for line in printed.err.splitlines() if line.startswith("maskvox: error: ")]
    assert code == 2 and len(errors) == 1 and message in errors[0], printed.err
    assert "Traceback" not in printed.err and printed.out == ""
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before  # nothing written
    assert EXAMPLE_PROMPT.read_bytes() == prompt_before


# -- real speech and the evaluation ------------------------------------------------------------------

def test_the_demo_converts_real_speech_to_the_exact_length(tmp_path):
    """The shipped demo model: a real recording through the real semantic path and codec."""
    source = tmp_path / "source.wav"
    shutil.copyfile(EXAMPLE_PROMPT, source)
    voice = write_wav(tmp_path / "voice.wav", speechlike(4.0, 24000, seed=9), 24000)
    synth = Synthesizer.from_pretrained(None, preset="fast", device="cpu")
    result = synth.convert(source, voice, seed=0)
    assert result.audio.size == expected_samples(source) and np.isfinite(result.audio).all()
    assert np.abs(result.audio).max() > 1e-3  # it speaks


def _corpus(folder):
    lines = []
    for speaker in ("a", "b"):
        for n in range(2):
            wav = write_wav(folder / f"{speaker}{n}.wav", speechlike(3.5, 16000, seed=n + 7 * (speaker == "b")), 16000)
            lines.append(json.dumps({"id": f"{speaker}{n}", "audio": wav.name, "text": "We do not break.",
                                     "language": "en", "speaker": speaker}))
    (folder / "heldout.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "heldout.jsonl"


@pytest.mark.slow
def test_the_evaluation_runs_end_to_end_on_two_pairs_and_resumes(tiny_full_model, tmp_path, capsys):
    from recipes.convert.evaluate import main as evaluate

    manifest, out = _corpus(tmp_path), tmp_path / "eval"
    argv = ["--manifest", str(manifest), "--model", str(tiny_full_model), "--pairs", "2", "--preset", "fast",
            "--out", str(out), "--quiet", "--pitch-shifts", "0", "3"]
    assert evaluate(argv) == 0
    results = json.loads((out / "results.json").read_text())
    for shift in ("0", "3"):
        summary = results["summary"][shift]
        assert summary["n"] == 2 and summary["failed"] == 0 and summary["length_exact"] == 1.0
        assert summary["wer_source_mean"] is not None and summary["similarity_prompt_mean"] is not None
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert all(pair["source_speaker"] != pair["prompt_speaker"] for pair in pairs)
    assert "| pitch shift |" in capsys.readouterr().out
    written = (out / "shift_0" / f"{pairs[0]['id']}.wav").stat().st_mtime_ns
    assert evaluate(argv) == 0  # resumed: nothing converted again
    assert (out / "shift_0" / f"{pairs[0]['id']}.wav").stat().st_mtime_ns == written
