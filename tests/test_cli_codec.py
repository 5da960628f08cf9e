"""`maskvox codec encode | decode | roundtrip`, and what bad input does to them."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file, save_file

from factories import EXAMPLE_PROMPT, speechlike, write_wav
from maskvox.checkpoint import OFFICIAL_FILES
from maskvox.cli import main


def run_cli(*args):
    """The installed console script, as a user runs it."""
    script = shutil.which("maskvox", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "the maskvox console script is not installed in this environment (pip install -e .)"
    return subprocess.run([script, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_encode_decode_round_trip(tiny_model, tmp_path, capsys):
    codes, out = tmp_path / "prompt.npz", tmp_path / "prompt.wav"
    assert main(["codec", "encode", str(EXAMPLE_PROMPT), str(codes), "--model", str(tiny_model), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "315 frames (6.30 s), 12 acoustic layers, with semantic ids" in printed
    with np.load(codes) as data:
        assert data["acoustic_codes"].shape == (315, 12) and data["semantic_codes"].ndim == 1
        num_samples = int(data["num_samples"])
    assert main(["codec", "decode", str(codes), str(out), "--model", str(tiny_model), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    wav, rate = sf.read(str(out))
    assert rate == 24000 and wav.size == num_samples


def test_roundtrip_command(tiny_acoustic_model, tmp_path, capsys):
    source = write_wav(tmp_path / "in.flac", np.stack([speechlike(1.2, 22050)] * 2, axis=1), 22050)
    out = tmp_path / "out.flac"
    assert main(["codec", "roundtrip", str(source), str(out), "--model", str(tiny_acoustic_model)]) == 0
    assert "1.20 s of audio through 12 x 60 codes" in capsys.readouterr().out
    assert sf.info(str(out)).samplerate == 24000


def _broken_folder(tiny_acoustic_model, tmp_path, how):
    folder = tmp_path / "model"
    shutil.copytree(tiny_acoustic_model, folder)
    decoder = folder / OFFICIAL_FILES["codec_decoder"]
    if how == "missing":
        decoder.unlink()
    else:
        tensors = load_file(str(decoder))
        tensors["model.head.outt.weight"] = tensors.pop("model.head.out.weight")
        save_file(tensors, str(decoder))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_file", "is missing acoustic_codec/model_1.safetensors"),
        ("renamed_key", "model_1.safetensors: missing key 'model.head.out.weight'"),
        ("unreadable_audio", "is not a readable audio file"),
        ("silent_audio", "is silent"),
        ("nan_audio", "contains NaN or infinite samples"),
        ("missing_audio", "does not exist"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(case, message, tiny_acoustic_model, tmp_path):
    model, audio = tiny_acoustic_model, tmp_path / "in.wav"
    write_wav(audio, speechlike(1.0, 16000), 16000)
    if case in ("missing_file", "renamed_key"):
        model = _broken_folder(tiny_acoustic_model, tmp_path, "missing" if case == "missing_file" else "renamed")
    elif case == "unreadable_audio":
        audio.write_bytes(b"\x00\x01 definitely not audio" * 50)
    elif case == "silent_audio":
        write_wav(audio, np.zeros(16000, np.float32), 16000)
    elif case == "nan_audio":
        sf.write(str(audio), np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    elif case == "missing_audio":
        audio.unlink()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("codec", "encode", audio, out_dir / "codes.npz", "--model", model)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maskvox: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []


def test_bad_code_files_and_outputs(tiny_acoustic_model, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    assert main(["codec", "decode", str(bad), str(tmp_path / "o.wav"), "--model", str(tiny_acoustic_model)]) == 2
    assert "is not a readable maskvox code file" in capsys.readouterr().err
    np.savez(tmp_path / "range.npz", acoustic_codes=np.full((5, 12), 5000), num_samples=np.int64(2400))
    assert main(["codec", "decode", str(tmp_path / "range.npz"), str(tmp_path / "o.wav"), "--model", str(tiny_acoustic_model)]) == 2
    assert "code ids must lie in 0..1023" in capsys.readouterr().err
    assert main(["codec", "encode", str(EXAMPLE_PROMPT), str(tmp_path / "codes.txt"), "--model", str(tiny_acoustic_model)]) == 2
    assert "must end in .npz" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
