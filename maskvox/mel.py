"""Slaney mel filters (librosa.filters.mel's defaults), in numpy: the HiFi-GAN and Whisper
front ends, the codec's log-mel encoder and losses, and the resemblyzer scorer all use them.
Written out rather than imported: transformers' mel_filter_bank gives the same to 1e-9
(tests/test_hifigan.py) but importing it added 0.8 s to every model load, and librosa is not
a dependency."""

from __future__ import annotations

import numpy as np

LOG_STEP = np.log(6.4) / 27.0  # above 1 kHz: 27 mels per factor 6.4


def hz_to_mel(hz) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / LOG_STEP)


def mel_to_hz(mel) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(LOG_STEP * (mel - 15.0)))


def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                          fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangles, evenly spaced in mel from `fmin` to `fmax`
    (default Nyquist), each scaled to unit area (2 / its width in Hz)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    rising = (bins[None, :] - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / widths[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)
