"""Outputs and devices are checked before any work: an output is never an input, never under a file;
an unknown device is named (one line, exit 2,
nothing written, the input unchanged)."""

import shutil

import pytest

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from maskvox.commands import main

PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()


def _one_error_line(capsys) -> str:
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("maskvox: error: ")
    return line


@pytest.mark.parametrize("command", ["clone", "edit"])
def test_out_equal_to_the_input_recording_is_refused_and_the_input_kept(command, tmp_path, capsys):
    recording = tmp_path / "voice.wav"
    shutil.copyfile(EXAMPLE_PROMPT, recording)
    before = recording.read_bytes()
    if command == "clone":
        args = ["clone", "--prompt", str(recording), "--prompt-text", PROMPT_TEXT, "--text", "Hello."]
    else:
        args = ["edit", "--audio", str(recording), "--text", PROMPT_TEXT, "--new-text", PROMPT_TEXT + " Yes."]
    assert main([*args, "--out", str(tmp_path / "." / "voice.wav"), "--quiet"]) == 2
    assert "writing it would destroy the input" in _one_error_line(capsys)
    assert recording.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["voice.wav"]


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "notes").write_text("a file, not a folder")
    out = tmp_path / "notes" / "clone.wav"
    assert main(["clone", "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT, "--text", "Hello.",
                 "--out", str(out), "--quiet"]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "CPU"])
def test_an_unknown_device_is_one_line(device, tmp_path, capsys):
    assert main(["clone", "--device", device, "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT,
                 "--text", "Hello.", "--out", str(tmp_path / "c.wav"), "--quiet"]) == 2
    assert "unknown device" in _one_error_line(capsys)
