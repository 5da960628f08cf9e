"""Hostile and careless input, family by family (issue 25): every size bounded, every write
failure reported, batch records that cannot collide, JSON lines read as written, dub slots,
and the smaller cases. Each command case asserts the command line's promise: a non-zero exit
(or the documented success), exactly one `maskvox: error:` line and no traceback, no output or
temporary file left, the inputs unchanged; the cases that could allocate run in a child
process under an address-space limit (`bounded`)."""

from __future__ import annotations

import errno
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file, save_file

import maskvox.limits as limits_module
from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, REPO_ROOT, speechlike, write_wav
from maskvox.batch import read_items, run_clone_batch
from maskvox.checkpoint import OFFICIAL_FILES
from maskvox.commands import main
from maskvox.dub.cues import read_manifest
from maskvox.edit_batch import read_edit_tsv
from maskvox.errors import UserError
from maskvox.evaluation import read_results
from maskvox.jobs import RESULTS_FILE, JobRecords, line_id, read_records

PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()
MEMORY_LIMIT_BYTES = 3 * 2**30  # the address space a bounded child may take (torch + the demo model fit)


# --- the promise, checked ------------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    err: str
    out: str = ""


def in_process(argv: list[str], capsys) -> Outcome:
    capsys.readouterr()
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit:  # argparse
        code = exit.code
    return Outcome(code, capsys.readouterr().err)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def bounded(argv: list[str], **env: str) -> Outcome:
    """The command in a child process that may not map more than MEMORY_LIMIT_BYTES."""
    result = subprocess.run([sys.executable, "-m", "maskvox.cli", *map(str, argv)], capture_output=True, text=True,
                            preexec_fn=_limit_memory, timeout=300, cwd=REPO_ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    return Outcome(result.returncode, result.stderr, result.stdout)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def refused(outcome: Outcome, message: str, code: int = 2) -> str:
    """Exit `code`, exactly one `maskvox: error:` line holding `message`, no traceback."""
    errors = [line for line in outcome.err.splitlines() if line.startswith("maskvox: error: ")]
    assert outcome.code == code, outcome.err[-2000:]
    assert len(errors) == 1 and message in errors[0], outcome.err[-2000:]
    assert "Traceback" not in outcome.err
    return errors[0]


@pytest.fixture
def scene(tmp_path):
    """A folder with the inputs (a prompt, its transcript); `scene.unchanged()` says nothing was
    added (no output, no temporary) and nothing changed."""

    class Scene:
        folder = tmp_path / "scene"
        prompt = folder / "prompt.wav"
        out = folder / "out.wav"

        def __init__(self):
            self.folder.mkdir()
            shutil.copyfile(EXAMPLE_PROMPT, self.prompt)
            self.before = snapshot(self.folder)

        def clone(self, *extra, text="Hello there.", model=None):
            args = ["clone", "--prompt", self.prompt, "--prompt-text", PROMPT_TEXT, "--text", text,
                    "--out", self.out, "--quiet", "--preset", "fast", "--seed", "1", *extra]
            return args + (["--model", model] if model else [])

        def unchanged(self) -> bool:
            return snapshot(self.folder) == self.before

    return Scene()


def model_copy(source: Path, folder: Path, edit=None) -> Path:
    """A copy of a model folder, its config.json passed through `edit(config)` when given."""
    shutil.copytree(source, folder)
    if edit is not None:
        config = json.loads((folder / "config.json").read_text())
        edit(config)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


# --- 1. sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("duration", ["1e308", "100000", "3500", "inf"])
def test_an_absurd_duration_is_refused_at_once(scene, duration, capsys):
    for argv in (scene.clone("--duration", duration),
                 ["duration", "--prompt", scene.prompt, "--prompt-text", PROMPT_TEXT, "--text", "Hi.",
                  "--duration", duration]):
        refused(in_process(argv, capsys), "--duration")
    assert scene.unchanged()


@pytest.mark.slow
def test_sizes_are_refused_before_memory_is_taken(scene, tmp_path, tiny_full_model):
    """In a child under a 3 GB address-space limit: each refusal comes before any allocation."""
    refused(bounded(scene.clone("--duration", "3500")), "over the limit of 600 s")
    refused(bounded(scene.clone("--duration", "200")), "over the limit of 90 s per piece")  # after the load
    refused(bounded(scene.clone(text="word " * 12_000)), "over the limit of 50,000")
    codes = tmp_path / "huge.npz"  # 470 KB on disk, 20 GB once decoded
    np.savez_compressed(codes, acoustic_codes=np.zeros((10_000_000, 12), np.int16), num_samples=np.int64(1))
    refused(bounded(["codec", "decode", codes, tmp_path / "o.wav"]), "over the limit")
    wide = model_copy(tiny_full_model, tmp_path / "wide")
    ssl = json.loads((wide / "semantic_features" / "config.json").read_text())
    (wide / "semantic_features" / "config.json").write_text(json.dumps({**ssl, "hidden_size": 30_000}))
    refused(bounded(scene.clone(model=wide)), "the model expects [30000")
    assert not (tmp_path / "o.wav").exists() and not scene.out.exists()


@pytest.mark.slow
def test_a_long_text_is_measured_in_pieces_in_bounded_memory(scene):
    text = " ".join(["The quick brown fox jumps over the lazy dog, and then it runs away."] * 300)[:20_000]
    outcome = bounded(["duration", "--prompt", scene.prompt, "--prompt-text", PROMPT_TEXT, "--text", text, "--json"])
    assert outcome.code == 0 and "Traceback" not in outcome.err, outcome.err[-2000:]
    assert json.loads(outcome.out)["seconds"] > 600  # 20,000 characters: far more than one piece


def test_text_over_the_limit_and_long_japanese(tmp_path, capsys):
    refused(in_process(["g2p", "--lang", "en", "a " * 30_000], capsys), "characters, over the limit of 50,000")
    sentence = "今日はとても良い天気ですね。私は公園に散歩に行きました、そして友達に会いました！"
    out = tmp_path / "ja.json"
    outcome = in_process(["g2p", "--lang", "ja", "--json", "--out", out, (sentence * 80)[:3060]], capsys)
    assert outcome.code == 0 and "Traceback" not in outcome.err
    assert len(json.loads(out.read_text())["ids"]) > 3000


@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", -1, "model.t2s_model.hidden_size' must be a whole number from 1"),
    ("hidden_size", 0, "model.t2s_model.hidden_size' must be a whole number from 1"),
    ("hidden_size", 2**70, "model.t2s_model.hidden_size' must be a whole number from 1"),
    ("num_heads", 3, "must be a multiple of num_heads"),
    ("cfg_scale", float("nan"), "model.t2s_model.cfg_scale' must be a finite number"),
])
def test_model_config_sizes_are_bounded(scene, tiny_full_model, tmp_path, key, value, message, capsys):
    folder = model_copy(tiny_full_model, tmp_path / "model",
                        lambda config: config["model"]["t2s_model"].update({key: value}))
    refused(in_process(scene.clone(model=folder), capsys), message)
    assert scene.unchanged()


def _break_semantic_config(folder: Path) -> None:
    (folder / "semantic_features" / "config.json").write_text('{"hidden_size": 32,')


def _object_stats(folder: Path) -> None:
    np.savez(folder / "semantic_features" / "stats.npz", mean=np.array([{"a": 1}], dtype=object),
             var=np.ones(32, np.float32))


def _weights(name: str, change):
    def edit(folder: Path) -> None:
        path = folder / OFFICIAL_FILES[name]
        tensors = load_file(str(path))
        key = sorted(key for key, value in tensors.items() if value.is_floating_point())[0]
        tensors[key] = change(tensors[key])
        save_file(tensors, str(path))
    return edit


@pytest.mark.parametrize("damage, message", [
    (_break_semantic_config, "is not a readable JSON config"),
    (_object_stats, "holds object values, not numbers"),
    (_weights("t2s", lambda tensor: torch.full_like(tensor, float("nan"))), "holds NaN or infinite values"),
    (_weights("s2a_full", lambda tensor: tensor.to(torch.int64)), "holds torch.int64 values"),
], ids=["semantic config not JSON", "object stats", "NaN weights", "integer weights"])
def test_checkpoints_are_checked_before_use(scene, tiny_full_model, tmp_path, damage, message, capsys):
    folder = model_copy(tiny_full_model, tmp_path / "model")
    damage(folder)
    refused(in_process(scene.clone(model=folder), capsys), message)
    assert scene.unchanged()


@pytest.mark.parametrize("arrays, message", [
    (dict(acoustic_codes=np.zeros((5, 12), np.int16), num_samples=np.int64(2400), sample_rate=np.int64(0)),
     "sample rate 0 Hz"),
    (dict(acoustic_codes=np.zeros((5, 12), np.int16), num_samples=np.int64(-3)), "num_samples -3"),
    (dict(acoustic_codes=np.zeros((40_000, 12), np.int16), num_samples=np.int64(1)), "a code file holds 1 to"),
    (dict(acoustic_codes=np.array([[object()]]), num_samples=np.int64(1)), "holds object values"),
])
def test_a_code_file_is_bounded_before_it_is_read(tmp_path, arrays, message, capsys):
    codes = tmp_path / "codes.npz"
    np.savez(codes, **arrays)
    before = snapshot(tmp_path)
    refused(in_process(["codec", "decode", codes, tmp_path / "o.wav"], capsys), message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("preset, message", [
    ({"t2s_steps": 100_000}, "every step count must be a whole number from 1 to 500"),
    ({"s2a_steps": [0] * 12}, "every step count"),
    ({"t2s_temperature": float("nan")}, "t2s_temperature must be a finite number"),
    ({"top_k_ratio": 2.0}, "top_k_ratio must be between 0 and 1"),
    ({"t2s_candidates": 64}, "t2s_candidates must be a whole number from 1 to 8"),
    ({"t2s_candidate_judge": "whisper"}, "t2s_candidate_judge must be one of ids, audio"),
])
def test_preset_values_are_range_checked(scene, preset, message, capsys):
    path = scene.folder / "preset.json"
    path.write_text(json.dumps(preset))
    scene.before = snapshot(scene.folder)
    refused(in_process(scene.clone("--preset", path), capsys), message)
    assert scene.unchanged()


def test_a_real_out_of_memory_error_is_one_line(scene, monkeypatch, capsys):
    def load_too_much(*_, **__):
        torch.empty(2**46, dtype=torch.uint8)  # 64 TiB: the CPU allocator's own RuntimeError

    monkeypatch.setattr("maskvox.commands.clone.load_synthesizer", load_too_much)
    refused(in_process(scene.clone(), capsys), "out of memory", code=3)
    assert scene.unchanged()


def test_a_prompt_over_the_limit_is_refused_from_its_header(scene, capsys):
    long_prompt = scene.folder / "long.wav"
    write_wav(long_prompt, speechlike(61.0, 16000), 16000)
    scene.before = snapshot(scene.folder)
    refused(in_process(["clone", "--prompt", long_prompt, "--prompt-text", "Hi.", "--text", "Hello.",
                        "--out", scene.out], capsys), "over the limit of 60 s")
    assert scene.unchanged()


def test_a_list_file_over_the_limit_is_refused(scene, monkeypatch, capsys):
    items = scene.folder / "items.jsonl"
    items.write_text("{}\n" * 100)
    scene.before = snapshot(scene.folder)
    monkeypatch.setattr(limits_module, "MAX_LIST_BYTES", 100)
    refused(in_process(["clone", "--batch", items, "--out-dir", scene.folder / "out"], capsys), "over the limit")
    assert scene.unchanged()


# --- 2. writes -----------------------------------------------------------------------------------

def _full_disk(*_, **__):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.slow
def test_a_clone_that_cannot_be_written_fails_in_one_line(scene, tiny_full_model, monkeypatch, capsys):
    monkeypatch.setattr(soundfile, "write", _full_disk)
    refused(in_process(scene.clone(model=tiny_full_model), capsys), "No space left on device")
    assert scene.unchanged()


@pytest.mark.slow
def test_a_batch_whose_output_cannot_be_written_fails_and_its_item_is_not_done(scene, tiny_full_model, monkeypatch,
                                                                               capsys):
    items = scene.folder / "items.jsonl"
    items.write_text(json.dumps({"id": "u1", "prompt": str(scene.prompt), "prompt_text": PROMPT_TEXT,
                                 "text": "Hello."}) + "\n")
    out_dir = scene.folder / "out"
    monkeypatch.setattr(soundfile, "write", _full_disk)
    refused(in_process(["clone", "--batch", items, "--out-dir", out_dir, "--model", tiny_full_model, "--quiet",
                        "--preset", "fast"], capsys), "No space left on device")
    assert sorted(path.name for path in out_dir.iterdir()) == [".maskvox-job.lock"]  # no wav, no temporary
    assert read_records(out_dir / RESULTS_FILE) == {}


def test_g2p_out_that_cannot_be_written_fails_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Path, "write_text", _full_disk)
    refused(in_process(["g2p", "--lang", "en", "Hello.", "--out", tmp_path / "phones.txt"], capsys),
            "cannot write")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_refuses_writes_fails_in_one_line(tmp_path, monkeypatch, capsys):
    import tempfile

    def refuse(*_, **__):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only mount: as root, chmod would not stop a write
    refused(in_process(["g2p", "--lang", "en", "Hello.", "--out", tmp_path / "phones.txt"], capsys),
            "Permission denied")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["clone", "edit", "dub"])
def test_an_out_dir_under_a_file_is_refused_before_any_work(scene, command, capsys):
    blocker = scene.folder / "blocker"
    blocker.write_text("a file")
    scene.before = snapshot(scene.folder)
    lists = {"clone": "--batch", "edit": "--tsv", "dub": "--manifest"}
    refused(in_process([command, lists[command], scene.folder / "list", "--out-dir", blocker / "out"], capsys),
            "is a file, not a folder")
    assert scene.unchanged()


@pytest.mark.slow
def test_the_page_reports_a_failed_save_in_one_line(monkeypatch):
    import gradio

    from maskvox.gui import _clone_function

    class Result:
        audio, sample_rate, seconds, duration_source, seed, timings = np.zeros(2400, np.float32), 24000, 0.1, "rule", \
            1, {}

    class Synthesizer:
        def clone(self, *_, **__):
            return Result()

    monkeypatch.setattr(soundfile, "write", _full_disk)
    with pytest.raises(gradio.Error) as caught:
        _clone_function(Synthesizer())(str(EXAMPLE_PROMPT), PROMPT_TEXT, "Hi.", "en", "same", 1.0, "", "")
    assert "No space left on device" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_the_page_refuses_an_absurd_duration(tiny_full_model):
    import gradio

    from maskvox.gui import _clone_function
    from maskvox.pipeline import Synthesizer

    clone = _clone_function(Synthesizer.from_pretrained(tiny_full_model, device="cpu"))
    with pytest.raises(gradio.Error, match="over the limit of 600 s"):
        clone(str(EXAMPLE_PROMPT), PROMPT_TEXT, "Hi.", "en", "same", 1.0, "1e308", "")


# --- 3. batch records ----------------------------------------------------------------------------

class StubSynthesizer:
    """clone_batch's interface with a short tone for each request (no model)."""

    def __init__(self):
        self.generated = []

    def clone_batch(self, requests, batch_size=8, return_errors=False):
        from maskvox.request import CloneResult

        self.generated += [request.text for request in requests]
        return [CloneResult(np.full(2400, 0.1, np.float32), 24000, 1, 0.1, 0.1, "rule", [request.text], "", 1.0)
                for request in requests]


def _item(item_id, text="Hello.") -> str:
    return json.dumps({"id": item_id, "prompt": str(EXAMPLE_PROMPT), "prompt_text": PROMPT_TEXT, "text": text})


def test_a_fallback_id_never_collides_with_a_user_id(tmp_path):
    """The shipped dub manifest names its cues line1..line3: a malformed line 1 must not take a real id."""
    items = tmp_path / "items.jsonl"
    items.write_text("{broken\n" + _item("line1") + "\n" + _item("line1", "Again.") + "\n")
    batch = read_items(items)
    assert [(item.id, item.error is None) for item in batch] == [(line_id(1), False), ("line1", True),
                                                                   (line_id(3), False)]
    assert "id 'line1' is already used on line 2" in batch[2].error
    synthesizer = StubSynthesizer()
    for _ in range(2):  # a resume regenerates nothing that is done
        records = run_clone_batch(batch, tmp_path / "out", lambda: synthesizer, progress=False, report=lambda _: None)
    assert synthesizer.generated == ["Hello."]
    assert {key: record["status"] for key, record in records.items()} == {
        line_id(1): "failed", "line1": "ok", line_id(3): "failed"}
    assert [item.id for item in read_results(tmp_path / "out" / RESULTS_FILE)] == [line_id(1), "line1", line_id(3)]


def test_one_absurd_item_does_not_stop_a_clone_batch(tmp_path):
    items = tmp_path / "items.jsonl"
    absurd = json.dumps({**json.loads(_item("long")), "duration": 1e308})
    items.write_text(absurd + "\n" + _item("fine") + "\n")
    batch = read_items(items)  # the bad length is found before any model loads
    assert "over the limit of 600 s" in batch[0].error and batch[1].error is None
    records = run_clone_batch(batch, tmp_path / "out", StubSynthesizer, progress=False, report=lambda _: None)
    assert {key: record["status"] for key, record in records.items()} == {"long": "failed", "fine": "ok"}
    assert (tmp_path / "out" / "fine.wav").is_file() and not (tmp_path / "out" / "long.wav").exists()


def test_duplicate_names_in_an_edit_list_keep_their_own_records(tmp_path):
    tsv = tmp_path / "edits.tsv"
    tsv.write_text("wav\torig_transcript\tnew_transcript\n"
                   "a.wav\tHello.\tHello there.\n"
                   "sub/a.wav\tHi.\tHi there.\n"
                   "b\x1b.wav\tHi.\tHi there.\n")
    rows = read_edit_tsv(tsv)
    assert [row.id for row in rows] == ["a", line_id(3), line_id(4)]
    assert "is already used on line 2" in rows[1].error and "control characters" in rows[2].error


def test_eval_reads_every_results_file_maskvox_writes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(EXAMPLE_PROMPT, out / "u1.wav")
    clone_record = {"id": "u1", "status": "ok", "wav": "u1.wav", "prompt": str(EXAMPLE_PROMPT), "text": "Hello.",
                    "language": "en"}
    edit_record = {"id": "e1", "line": 2, "status": "ok", "out": "u1.wav", "wav": str(EXAMPLE_PROMPT),
                   "text": "We do not break.", "new_text": "We never break.", "language": "en"}
    with JobRecords(out / RESULTS_FILE, "wav") as records:  # a job stopped before it compacted its file
        records["u1"] = {"id": "u1", "status": "failed", "error": "first try"}
        records["u1"] = clone_record
        records["e1"] = edit_record
    with open(out / RESULTS_FILE, "a") as cut:
        cut.write('{"id": "u2", "sta')  # killed mid-append
    items = {item.id: item for item in read_results(out / RESULTS_FILE)}
    assert set(items) == {"u1", "e1"} and items["u1"].failure is None
    assert items["e1"].text == "We never break." and items["e1"].prompt == EXAMPLE_PROMPT


# --- 4. JSON lines -------------------------------------------------------------------------------

def test_a_lone_surrogate_fails_its_line_alone(tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text(_item("a", "\udcff") + "\n" + _item("b") + "\n")  # json.dumps escapes it: "\\udcff"
    batch = read_items(items)  # the line cannot be read, so it has no id of its own
    assert [item.id for item in batch] == [line_id(1), "b"] and "lone surrogate" in batch[0].error
    assert batch[1].error is None
    lines = tmp_path / "g2p.jsonl"
    lines.write_text('{"text": "\\udcff"}\n{"text": "Hello."}\n')
    out = tmp_path / "phones.jsonl"
    refused(in_process(["g2p", "--jsonl", lines, "--lang", "en", "--out", out, "--quiet"], capsys),
            "1 line(s) of")
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert "lone surrogate" in first["error"] and second["ids"]


def test_json_nested_thousands_deep_fails_its_line_alone(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("[" * 100_000 + "\n" + _item("b") + "\n")
    batch = read_items(items)
    assert [item.id for item in batch] == [line_id(1), "b"] and "nested too deeply" in batch[0].error


def test_unicode_line_separators_inside_strings_do_not_split_lines(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(json.loads(_item("a", "Hello\u2028there\u0085now\u2029.")), ensure_ascii=False)
                     + "\n" + _item("b") + "\n", encoding="utf-8")
    batch = read_items(items)
    assert [(item.line, item.id, item.error) for item in batch] == [(1, "a", None), (2, "b", None)]
    assert batch[0].request.text == "Hello\u2028there\u0085now\u2029."


@pytest.mark.parametrize("item_id", ["a\n", "a\tb", "\x1b[31m", "../x", ""])
def test_an_id_with_a_newline_or_control_characters_is_refused(tmp_path, item_id):
    items = tmp_path / "items.jsonl"
    items.write_text(_item(item_id) + "\n")
    [item] = read_items(items)
    assert item.id == line_id(1) and ("'id'" in item.error or "must be letters" in item.error)


# --- 5. dub slots --------------------------------------------------------------------------------

def test_a_cue_shorter_than_a_frame_is_refused_by_the_manifest_check(tmp_path):
    manifest = tmp_path / "cues.jsonl"
    cue = {"id": "c1", "audio": str(EXAMPLE_PROMPT), "start": 1.0, "end": 1.00001, "source_text": "Hi.",
           "target_text": "Hallo.", "speaker": "narrator", "source_language": "en", "target_language": "de"}
    manifest.write_text(json.dumps(cue) + "\n" + json.dumps({**cue, "id": "c2", "end": 2.0}) + "\n")
    cues, errors = read_manifest(manifest)
    assert [cue.id for cue in cues] == ["c2"]
    assert [(error.line, error.id) for error in errors] == [(1, "c1")] and "shorter than the 20 ms" in errors[0].message


def test_the_shipped_cue_ids_cannot_meet_a_fallback_id(tmp_path):
    shipped = (REPO_ROOT / "egs" / "dub" / "cues.jsonl").read_text().splitlines()
    manifest = tmp_path / "cues.jsonl"
    manifest.write_text("\n".join(["{broken", *[line.replace("../clone/", str(EXAMPLE_PROMPT.parent) + "/")
                                                for line in shipped]]) + "\n")
    cues, errors = read_manifest(manifest, "en", "de")
    assert [cue.id for cue in cues] == ["line1", "line2", "line3"]
    assert [(error.line, error.id) for error in errors] == [(1, None)]


def test_a_second_dub_job_on_a_busy_folder_is_refused_and_the_first_unharmed(tmp_path, capsys):
    manifest = tmp_path / "cues.jsonl"
    shipped = (REPO_ROOT / "egs" / "dub" / "cues.jsonl").read_text()
    manifest.write_text(shipped.replace("../clone/", str(EXAMPLE_PROMPT.parent) + "/"))
    out_dir = tmp_path / "job"
    with JobRecords(out_dir / "report.jsonl", "wav") as first:
        first["line1"] = {"id": "line1", "status": "ok"}
        refused(in_process(["dub", "--manifest", manifest, "--out-dir", out_dir, "--target-lang", "de",
                            "--source-lang", "en", "--quiet"], capsys), "is in use by another maskvox job")
        first["line2"] = {"id": "line2", "status": "ok"}
    assert list(read_records(out_dir / "report.jsonl")) == ["line1", "line2"]
    assert sorted(path.name for path in out_dir.iterdir()) == [".maskvox-job.lock", "report.jsonl"]


# --- 6. the smaller cases ------------------------------------------------------------------------

def test_a_one_sample_file_is_refused_by_codec_encode(tmp_path, capsys):
    tiny = write_wav(tmp_path / "one.wav", np.array([0.5], np.float32), 24000)
    before = snapshot(tmp_path)
    refused(in_process(["codec", "encode", tiny, tmp_path / "codes.npz"], capsys), "too short")
    assert snapshot(tmp_path) == before


def test_a_constant_signal_is_refused_as_a_prompt(scene, capsys):
    write_wav(scene.prompt, np.full(48000, 0.3, np.float32), 24000)
    scene.before = snapshot(scene.folder)
    refused(in_process(scene.clone(), capsys), "holds no sound, only a constant level")
    assert scene.unchanged()


class _Planted:
    def __reduce__(self):
        return (os.system, ("touch planted",))


def test_a_pickle_for_the_speaker_model_is_one_line_and_never_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    checkpoint = tmp_path / "speaker.pt"
    checkpoint.write_bytes(pickle.dumps(_Planted(), protocol=2))
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(EXAMPLE_PROMPT, out / "u1.wav")
    (out / RESULTS_FILE).write_text(json.dumps({"id": "u1", "status": "ok", "wav": "u1.wav", "language": "en",
                                                "prompt": str(EXAMPLE_PROMPT), "text": "Hello."}) + "\n")
    refused(in_process(["eval", "--results", out / RESULTS_FILE, "--out", tmp_path / "report", "--device", "cpu",
                        "--speaker-checkpoint", checkpoint, "--quiet"], capsys), "is not Resemblyzer's weights file")
    assert not (tmp_path / "planted").exists() and not (tmp_path / "report").exists()


@pytest.mark.parametrize("argv", [["clone", "--speed", "fast"], ["clone", "--bogus"], ["nonsense"], []])
def test_an_argument_error_is_one_short_line(argv, capsys):
    outcome = in_process(argv, capsys)
    assert outcome.err.count("\n") == 1 and "--help" in refused(outcome, "")


def test_a_hub_id_fails_at_once_offline_or_unreachable(tmp_path, monkeypatch, capsys):
    from maskvox import checkpoint

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    refused(in_process(["codec", "encode", EXAMPLE_PROMPT, tmp_path / "c.npz", "--model", "someone/absent"], capsys),
            "HF_HUB_OFFLINE is set")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    checkpoint._connects.cache_clear()
    started = time.monotonic()
    refused(in_process(["codec", "encode", EXAMPLE_PROMPT, tmp_path / "c.npz", "--model", "someone/absent"], capsys),
            "the hub could not be reached")
    assert time.monotonic() - started < 20  # no half minute of retries
    assert not (tmp_path / "c.npz").exists()


def test_a_bad_request_in_the_api_is_a_user_error():
    """The same bounds hold for Python callers: CloneRequest's length controls."""
    from maskvox.request import CloneRequest

    with pytest.raises(UserError, match="over the limit of 600 s"):
        CloneRequest(EXAMPLE_PROMPT, PROMPT_TEXT, "Hi.", duration=3500).length_request()
