"""maskvox dub's fit to the slot: exact length, pitch kept, repeatable, a clear error without Rubber Band."""

import numpy as np
import pytest

from maskvox.dub import stretch
from maskvox.dub.stretch import exact_length, fit_to_length
from maskvox.errors import UserError

RATE = 24000


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(wav: np.ndarray) -> float:
    middle = wav[RATE // 5 : -RATE // 5]  # away from the edges
    return float(np.argmax(np.abs(np.fft.rfft(middle)))) * RATE / middle.size


@pytest.mark.parametrize("factor", [0.8, 0.93, 1.1, 1.25])
def test_a_line_is_stretched_to_exactly_its_slot_with_its_pitch_kept(factor):
    wav = tone(2.0)
    samples = int(wav.size * factor)
    out = fit_to_length(wav, RATE, samples)
    assert out.size == samples and out.dtype == np.float32
    assert dominant_hz(out) == pytest.approx(220.0, rel=0.01)  # a resampler would give 220 / factor
    assert np.array_equal(out, fit_to_length(wav, RATE, samples))  # the same input gives the same samples


def test_a_line_already_the_right_length_is_untouched():
    wav = tone(1.0)
    assert np.array_equal(fit_to_length(wav, RATE, wav.size), wav)
    assert exact_length(wav, 10).size == 10 and exact_length(wav[:5], 10)[5:].tolist() == [0.0] * 5


def test_without_rubber_band_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(stretch.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install rubberband-cli"):
        fit_to_length(tone(1.0), RATE, RATE // 2)
