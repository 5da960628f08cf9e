import numpy as np
import pytest
import soundfile as sf

from factories import speechlike, write_wav
from maskvox.audio import check_audio, load_audio, write_audio
from maskvox.errors import AudioError


def test_any_rate_and_channels_are_resampled_and_downmixed(tmp_path):
    tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32) * 0.5
    stereo = np.stack([tone, tone], axis=1)
    path = write_wav(tmp_path / "stereo44k.wav", stereo, 44100)
    wav = load_audio(path, 16000)
    assert wav.dtype == np.float32 and wav.ndim == 1 and abs(wav.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(wav))
    assert abs(np.argmax(spectrum) * 16000 / wav.size - 440) < 2  # still a 440 Hz tone
    assert abs(np.abs(wav).max() - 0.5) < 0.02


def test_write_is_atomic_and_round_trips(tmp_path):
    wav = speechlike(0.5, 24000)
    path = write_audio(tmp_path / "out.wav", wav, 24000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    back, rate = sf.read(str(path), dtype="float32")
    assert rate == 24000 and np.abs(back - wav).max() < 1e-4


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_bytes(b"RIFF....not audio at all"), p)[1], "is not a readable audio file"),
        (lambda p: write_wav(p, np.zeros((0, 1), np.float32), 16000), "contains no audio samples"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, make, message):
    path = make(tmp_path / "input.wav")
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path, 24000)
    assert "\n" not in str(caught.value)


def test_float_wav_with_nan_is_rejected(tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(str(path), np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path, 24000)


def test_prompt_checks():
    rate = 16000
    with pytest.raises(AudioError, match="is silent"):
        check_audio(np.zeros(rate * 2, np.float32), rate, "p.wav")
    with pytest.raises(AudioError, match="too short: 0.50 s"):
        check_audio(speechlike(0.5, rate), rate, "p.wav", min_seconds=1.0)
    with pytest.raises(AudioError, match="too long"):
        check_audio(speechlike(3, rate), rate, "p.wav", max_seconds=2)
    clipped = np.clip(speechlike(2, rate) * 20, -1, 1)
    with pytest.raises(AudioError, match="is clipped"):
        check_audio(clipped, rate, "p.wav", reject_clipping=True)
    assert check_audio(speechlike(2, rate), rate, "p.wav", min_seconds=1.0, reject_clipping=True).size == 2 * rate


def test_unknown_output_format(tmp_path):
    with pytest.raises(AudioError, match="unknown audio format"):
        write_audio(tmp_path / "out.xyz", speechlike(0.1, 16000), 16000)
    assert list(tmp_path.iterdir()) == []


def test_writing_onto_a_folder_is_a_one_line_error(tmp_path):
    from maskvox.errors import UserError
    from maskvox.fileio import write_text

    (tmp_path / "taken.wav").mkdir()
    with pytest.raises(UserError, match="taken.wav is a folder"):
        write_audio(tmp_path / "taken.wav", speechlike(0.1, 24000), 24000)
    with pytest.raises(UserError, match="report.json is a folder"):
        (tmp_path / "report.json").mkdir()
        write_text(tmp_path / "report.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "taken.wav"]  # no temporary left
