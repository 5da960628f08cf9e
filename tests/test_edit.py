"""Speech editing (issue 8) on CPU with tiny random models and a random aligner:
the word diff and its frame plan, exact samples outside the edits, the command line, the
RealEdit batch form and bad input. The shipped demo aligner's accuracy is tested in
test_aligner.py; the demo's edits are measured by recipes/edit/evaluate.py."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, TINY_SSL_HIDDEN
from maskvox.aligner import Alignment, WordSpan, transcript_words
from maskvox.checkpoint import write_model_folder
from maskvox.cli import main
from maskvox.config import AlignerConfig
from maskvox.edit import (
    CROSSFADE_SECONDS, MAX_WINDOW_FRAMES, Region, diff_words, plan_regions, plan_windows,
)
from maskvox.edit_batch import read_edit_tsv, run_edit_batch
from maskvox.errors import UserError
from maskvox.pipeline import Synthesizer

TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()  # "We do not break. We never give in. We never back down."


@pytest.fixture(scope="module")
def editing_model(tiny_full_model, tmp_path_factory):
    """The tiny full model plus a random aligner head (its alignments are arbitrary but valid)."""
    from maskvox.aligner import PhoneCTCHead

    folder = tmp_path_factory.mktemp("editing") / "model"
    shutil.copytree(tiny_full_model, folder)
    torch.manual_seed(0)
    cfg = AlignerConfig(feature_dim=TINY_SSL_HIDDEN, hidden_size=16, num_layers=1)

    def update(model_cfg):
        model_cfg.aligner = cfg

    write_model_folder(folder, {"aligner": PhoneCTCHead(cfg)}, update)
    return folder


@pytest.fixture(scope="module")
def synthesizer(editing_model):
    return Synthesizer.from_pretrained(editing_model, preset="fast", device="cpu")


def words(text):
    return transcript_words(text, "en")


def kept_pieces_match(original: np.ndarray, edited: np.ndarray, spans, rate: int) -> None:
    """Every stretch of the input outside the spans and their crossfades is in the output,
    sample for sample, where the spans' output times put it."""
    fade = round(CROSSFADE_SECONDS * rate)
    cursor_in, cursor_out = 0, 0  # the first kept sample after the previous span's crossfade
    for span in spans:
        a, b = round(span.input[0] * rate), round(span.input[1] * rate)
        oa, ob = round(span.output[0] * rate), round(span.output[1] * rate)
        assert oa - cursor_out == a - cursor_in  # the kept stretch keeps its length
        length = max(0, a - fade - cursor_in)
        assert np.array_equal(edited[cursor_out : cursor_out + length], original[cursor_in : cursor_in + length])
        cursor_in, cursor_out = b + fade, ob + fade
    assert edited.shape[0] - cursor_out == original.shape[0] - cursor_in
    assert np.array_equal(edited[cursor_out:], original[cursor_in:])


# -- the word diff and the plan -------------------------------------------------------------------

def test_diff_finds_each_kind_of_edit_and_ignores_case_and_punctuation():
    old = words("We do not break. We never give in.")
    edits = diff_words(old, words("we do NOT bend, we never ever give in"))
    assert [(e.type, e.old, e.new) for e in edits] == [("substitution", (3, 4), (3, 4)), ("insertion", (6, 6), (6, 7))]
    deletion = diff_words(old, words("We do break. We never give in."))
    assert [(e.type, e.old, e.new) for e in deletion] == [("deletion", (2, 3), (2, 2))]
    assert diff_words(old, words("we do not break we never give in")) == []


def synthetic_alignment(spans, frames):
    ws = words(" ".join(f"w{i}" for i in range(len(spans))))
    return Alignment([WordSpan(w, a, b) for w, (a, b) in zip(ws, spans)], frames, 0.9)


def test_regions_widen_to_word_boundaries_and_resize_by_the_phone_rate():
    old = words("one two three four five")
    alignment = Alignment([WordSpan(w, a, b) for w, (a, b) in
                           zip(old, [(5, 20), (22, 40), (50, 70), (70, 90), (95, 110)])], 120, 0.9)
    rate = sum(b - a for a, b in [(5, 20), (22, 40), (50, 70), (70, 90), (95, 110)]) / sum(len(w.phones) for w in old)
    new = words("one two seven four five")
    [region] = plan_regions(alignment, new, diff_words(old, new))
    assert (region.start, region.end, region.type) == (40, 70, "substitution")  # from the end of "two" to "four"
    assert region.frames == 10 + round(len(new[2].phones) * rate)  # the gap kept, "seven" at the rate
    deleted = words("one two four five")
    [region] = plan_regions(alignment, deleted, diff_words(old, deleted))
    assert (region.start, region.end, region.frames, region.type) == (40, 70, 10, "deletion")  # the longer gap stays
    inserted = words("one two three four very five")
    [region] = plan_regions(alignment, inserted, diff_words(old, inserted))
    assert (region.start, region.end, region.type) == (90, 95, "insertion")
    assert region.frames == 5 + round(len(inserted[4].phones) * rate)
    both = words("one six three four seven")  # two edits in one call, far enough apart to stay two
    regions = plan_regions(alignment, both, diff_words(old, both))
    assert [(r.start, r.end, r.type) for r in regions] == [(20, 50, "substitution"), (90, 120, "substitution")]


def test_long_recordings_are_edited_through_windows_of_words():
    # 100 words of 20 frames with 5-frame gaps: 2500 frames (50 s), edits at words 10 and 90.
    spans = [(5 + 25 * i, 25 + 25 * i) for i in range(100)]
    alignment = synthetic_alignment(spans, 2510)
    old = [s.word for s in alignment.words]
    new = old[:10] + words("changed") + old[11:90] + words("again") + old[91:]
    regions = plan_regions(alignment, new, diff_words(old, new))
    windows = plan_windows(regions, alignment, new, "")
    assert len(windows) == 2
    for window, region in zip(windows, regions):
        assert window.new_frames <= MAX_WINDOW_FRAMES
        assert window.start <= region.start and region.end <= window.end
        stretch = window.text.split()
        assert len(stretch) >= 2 and ("changed" in stretch or "again" in stretch)
    assert windows[0].end <= windows[1].start  # far apart: separate stretches of the recording


# -- Must show 1: exact samples outside the edits -----------------------------------------------------

@pytest.mark.slow
def test_edit_keeps_every_sample_outside_the_spans_and_their_crossfades(synthesizer):
    new_text = "We do not bend. We never ever give in. We back down."
    result = synthesizer.edit(EXAMPLE_PROMPT, TEXT, new_text, seed=3)
    original, rate = sf.read(EXAMPLE_PROMPT, dtype="float32")
    assert result.sample_rate == rate == 44100 and result.audio.shape[1] == original.shape[1] == 2
    assert [span.type for span in result.spans] == ["substitution", "insertion", "deletion"]
    assert [span.new_words for span in result.spans] == ["bend.", "ever", ""]
    kept_pieces_match(original, result.audio, result.spans, rate)
    again = synthesizer.edit(EXAMPLE_PROMPT, TEXT, new_text, seed=3)
    assert np.array_equal(result.audio, again.audio)


@pytest.mark.slow
def test_a_span_given_by_hand_needs_no_aligner(tiny_full_model, tmp_path):
    out = tmp_path / "out.wav"
    assert main(["edit", "--model", str(tiny_full_model), "--audio", str(EXAMPLE_PROMPT), "--text", TEXT,
                 "--new-text", TEXT.replace("break", "bend"), "--span", "1.0", "1.6", "--out", str(out),
                 "--seed", "1", "--preset", "fast", "--quiet"]) == 0
    edited, rate = sf.read(out, dtype="float32")
    original, _ = sf.read(EXAMPLE_PROMPT, dtype="float32")
    assert sf.info(out).subtype == "PCM_16"  # the input's format, so kept samples are exact
    fade = round(CROSSFADE_SECONDS * rate)
    assert np.array_equal(edited[: round(1.0 * rate) - fade], original[: round(1.0 * rate) - fade])
    tail = original.shape[0] - round(1.6 * rate) - fade
    assert np.array_equal(edited[-tail:], original[-tail:])


@pytest.mark.slow
def test_json_prints_the_spans_in_seconds(editing_model, tmp_path, capsys):
    out = tmp_path / "out.flac"
    assert main(["edit", "--model", str(editing_model), "--audio", str(EXAMPLE_PROMPT), "--text", TEXT,
                 "--new-text", TEXT.replace("give in", "give up"), "--out", str(out), "--seed", "2",
                 "--preset", "fast", "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    [span] = printed["spans"]
    assert span["type"] == "substitution" and span["new_words"] == "up."
    assert 0 < span["input"][0] < span["input"][1] <= 6.3 and span["output"][0] == span["input"][0]
    assert sf.info(out).samplerate == 44100


# -- the RealEdit batch form --------------------------------------------------------------------------------

@pytest.mark.slow
def test_tsv_batch_edits_each_row_fails_bad_rows_alone_and_resumes(editing_model, tmp_path):
    shutil.copy(EXAMPLE_PROMPT, tmp_path / "a.wav")
    shutil.copy(EXAMPLE_PROMPT, tmp_path / "b.wav")
    header = "wav\torig_transcript\tnew_transcript\torig_masked_span\tnew_masked_span\ttype"
    rows = [f"a.wav\t{TEXT}\t{TEXT.replace('break', 'bend')}\t3\t3\tsubstitution",
            f"b.wav\t{TEXT}|x\t{TEXT.replace('never back', 'never ever back')}\t9,10\t9,11\tinsertion",
            f"missing.wav\t{TEXT}\tsomething else\t1\t1\tsubstitution",
            "too\tfew"]
    tsv = tmp_path / "edits.tsv"
    tsv.write_text("\n".join([header] + rows) + "\n")
    items = read_edit_tsv(tsv, seed=0)
    assert [item.error is None for item in items] == [True, True, True, False]
    load = lambda: Synthesizer.from_pretrained(editing_model, preset="fast", device="cpu")  # noqa: E731
    out_dir = tmp_path / "out"
    records = run_edit_batch(items, out_dir, load, progress=False, report=lambda message: None)
    assert [records[i.id]["status"] for i in items] == ["ok", "ok", "failed", "failed"]
    assert "does not exist" in records["missing"]["error"]
    assert records["b"]["spans"][0]["type"] == "insertion" and records["b"]["type"] == "insertion"
    lines = (out_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    stamp = (out_dir / "a.wav").stat().st_mtime_ns
    again = run_edit_batch(items, out_dir, load, progress=False, report=lambda message: None)  # retries failures only
    assert (out_dir / "a.wav").stat().st_mtime_ns == stamp and again["missing"]["status"] == "failed"


# -- Must show 4: bad input, nothing written ---------------------------------------------------------------

@pytest.mark.parametrize("new_text, message", [
    ("  ", "new text (--new-text) is empty"),
    ("Nothing at all is the same as before.", "the edit spans the whole recording"),
    (TEXT.upper(), "says the same words"),
])
def test_bad_edits_fail_with_one_line_and_write_nothing(editing_model, tmp_path, capsys, new_text, message):
    out = tmp_path / "out.wav"
    code = main(["edit", "--model", str(editing_model), "--audio", str(EXAMPLE_PROMPT), "--text", TEXT,
                 "--new-text", new_text, "--out", str(out), "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_transcript_the_aligner_cannot_fit_is_refused(synthesizer, monkeypatch):
    import maskvox.edit as edit

    monkeypatch.setattr(edit, "MIN_ALIGNMENT_CONFIDENCE", 1.01)  # the random aligner fits anything
    with pytest.raises(UserError, match="does not match the recording"):
        synthesizer.edit(EXAMPLE_PROMPT, TEXT, TEXT.replace("break", "bend"), seed=0)


def test_bad_spans_and_missing_aligner_are_clear_errors(tiny_full_model, synthesizer, tmp_path, capsys):
    out = tmp_path / "out.wav"
    base = ["edit", "--model", str(tiny_full_model), "--audio", str(EXAMPLE_PROMPT), "--text", TEXT,
            "--new-text", TEXT.replace("break", "bend"), "--out", str(out), "--quiet"]
    assert main(base) == 2
    assert "has no aligner" in capsys.readouterr().err
    assert main(base + ["--span", "2", "1"]) == 2
    assert "before the end" in capsys.readouterr().err
    with pytest.raises(UserError, match="after the end of the recording"):
        synthesizer.edit(EXAMPLE_PROMPT, TEXT, TEXT.replace("break", "bend"), span=(1.0, 9.0))
    assert not out.exists()


@pytest.mark.slow
def test_a_span_may_end_at_the_end_of_the_recording(synthesizer):
    original, rate = sf.read(EXAMPLE_PROMPT, dtype="float32")
    end = original.shape[0] / rate  # 6.3 s: past the last whole 20 ms frame of the features
    result = synthesizer.edit(EXAMPLE_PROMPT, TEXT, TEXT.replace("back down", "give up"), span=(5.5, end), seed=0)
    [span] = result.spans
    assert span.input[1] == pytest.approx(end) and span.output[1] == pytest.approx(result.seconds)
    fade = round(CROSSFADE_SECONDS * rate)
    assert np.array_equal(result.audio[: round(5.5 * rate) - fade], original[: round(5.5 * rate) - fade])


def test_known_frames_keep_their_acoustic_codes_in_every_layer(synthesizer):
    s2a = synthesizer.s2a_full
    torch.manual_seed(0)
    frames = 30
    semantic = torch.randint(0, s2a.cfg.cond_codebook_size, (frames,))
    codes = torch.randint(0, s2a.cfg.codebook_size, (1, frames, s2a.num_quantizer))
    known = torch.ones(1, frames, dtype=torch.bool)
    known[0, 10:18] = False
    from maskvox.sampling import SamplerSettings, make_generators

    out = s2a.generate([semantic], [torch.zeros(0, s2a.num_quantizer, dtype=torch.long)], [2] * s2a.num_quantizer,
                       SamplerSettings(temperature=1.5), generators=make_generators([0], 1, "cpu"), known=known,
                       known_codes=codes)[0]
    assert torch.equal(out[known[0]], codes[0][known[0]])
    upper = s2a.upper_layers_input(known, codes, 0)
    assert not torch.allclose(upper[0, 0], upper[0, 12])  # a known frame carries its own upper layers


def test_regions_merge_when_too_close_for_two_crossfades():
    from maskvox.edit import _merge_close

    merged = _merge_close([Region(10, 20, 8, "substitution"), Region(23, 30, 5, "deletion"), Region(60, 70, 9, "insertion")])
    assert [(r.start, r.end, r.frames) for r in merged] == [(10, 30, 16), (60, 70, 9)]
