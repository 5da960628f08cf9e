"""Audio in and out: any format soundfile reads, any rate, any channel count.

Input is downmixed to mono and resampled with soxr (a real band-limited resampler, not
torchaudio). Every problem a user can cause is an `AudioError` with one line naming the
file; nothing is written unless it is written whole (`write_audio` renames a finished
temporary file onto the target).
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError, WriteError
from .fileio import atomic_path

SEMANTIC_RATE = 16000  # w2v-BERT 2.0 input
ACOUSTIC_RATE = 24000  # acoustic codec input and output

SILENCE_PEAK = 1e-4  # below this peak amplitude a recording counts as silent
CLIP_LEVEL = 0.999  # samples at or above this magnitude count as clipped
CLIPPED_FRACTION = 0.01  # more than 1% clipped samples: the recording is clipped


def read_audio(path: str | Path, start: float | None = None, end: float | None = None) -> tuple[np.ndarray, int]:
    """Read a file, or seconds `start`..`end` of it (cut at its end) without reading the rest,
    as float32 (frames, channels) and its sample rate."""
    with _readable(path) as name:
        if start is None and end is None:
            return sf.read(name, dtype="float32", always_2d=True)
        rate = sf.info(name).samplerate
        first, last = round((start or 0.0) * rate), None if end is None else round(end * rate)
        return sf.read(name, start=first, stop=last, dtype="float32", always_2d=True)


def audio_seconds(path: str | Path) -> float:
    """A file's length from its header (no samples are read)."""
    with _readable(path) as name:
        info = sf.info(name)
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path} contains no audio samples")
    return info.frames / info.samplerate


@contextlib.contextmanager
def _readable(path: str | Path) -> Iterator[str]:
    """The path as soundfile takes it; a missing, folder or unreadable file is an AudioError."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file {path} does not exist")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    try:
        yield str(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).split(":")[-1].strip() or "format not recognised"
        raise AudioError(f"{path} is not a readable audio file ({reason})") from None
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from None


def to_mono(data: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,) by averaging the channels."""
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(wav: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return wav.astype(np.float32, copy=False)
    return soxr.resample(wav, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read, check for NaN/Inf and emptiness, downmix and resample: (samples,) float32."""
    return load_audio_rates(path, (sample_rate,))[0]


def load_audio_rates(path: str | Path, sample_rates: tuple[int, ...]) -> list[np.ndarray]:
    """`load_audio` at several rates, the file read and decoded once."""
    data, rate = read_audio(path)
    if data.size == 0:
        raise AudioError(f"{path} contains no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path} contains NaN or infinite samples")
    mono = to_mono(data)
    return [resample(mono, rate, sample_rate) for sample_rate in sample_rates]


def check_audio(
    wav: np.ndarray,
    sample_rate: int,
    name: str,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    reject_clipping: bool = False,
) -> np.ndarray:
    """Raise AudioError if `wav` is empty, not finite, silent, too short or long, or clipped."""
    if wav.size == 0:
        raise AudioError(f"{name} contains no audio samples")
    if not np.isfinite(wav).all():
        raise AudioError(f"{name} contains NaN or infinite samples")
    seconds = wav.size / sample_rate
    if min_seconds is not None and seconds < min_seconds:
        raise AudioError(f"{name} is too short: {seconds:.2f} s, at least {min_seconds:g} s needed")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{name} is too long: {seconds:.1f} s, at most {max_seconds:g} s allowed")
    peak = float(np.abs(wav).max())
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name} is silent (peak amplitude {peak:.1e})")
    swing = float(np.abs(wav - wav.mean(dtype=np.float64)).max())
    if swing < SILENCE_PEAK:  # a constant level (a DC offset) is as silent as zeros
        raise AudioError(f"{name} holds no sound, only a constant level of {float(wav.mean()):.3f}")
    if reject_clipping:
        clipped = float(np.mean(np.abs(wav) >= CLIP_LEVEL))
        if clipped > CLIPPED_FRACTION:
            raise AudioError(f"{name} is clipped ({clipped:.1%} of samples at full scale): use a cleaner recording")
    return wav


def write_audio(path: str | Path, wav: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write float audio, mono (samples,) or (samples, channels), atomically; the format
    follows the extension (.wav, .flac, ...)."""
    path = Path(path)
    wav = np.asarray(wav, dtype=np.float32)
    channels = wav.ndim == 2 and 1 < wav.shape[1] < wav.shape[0]  # not a (1, samples) batch of one
    wav = wav if channels else wav.reshape(-1)
    if not np.isfinite(wav).all():
        raise ValueError("refusing to write NaN or infinite samples")
    extension = path.suffix.lower().lstrip(".")
    if not extension or extension.upper() not in sf.available_formats():
        raise AudioError(f"cannot write {path}: unknown audio format '{path.suffix}' (use .wav or .flac)")
    with atomic_path(path) as tmp:
        try:
            sf.write(str(tmp), np.clip(wav, -1.0, 1.0), sample_rate, subtype=subtype, format=extension.upper())
        except sf.LibsndfileError as err:  # libsndfile's own word for a failed write (a full disk)
            raise WriteError(f"cannot write {path}: {err.error_string}") from None
    return path


def audio_bytes(wav: np.ndarray, sample_rate: int, format: str) -> bytes:
    """Float audio, (samples,) or (samples, channels), as the bytes of a file in memory (what a
    server answers): "wav" or "flac" (16-bit, as `write_audio` writes them), or "pcm", raw signed
    16-bit little-endian interleaved samples without a header (OpenAI's `pcm`). The same samples
    give the same bytes."""
    wav = np.asarray(wav, dtype=np.float32)
    wav = wav if wav.ndim == 2 else wav.reshape(-1)
    if not np.isfinite(wav).all():
        raise ValueError("refusing to encode NaN or infinite samples")
    wav = np.clip(wav, -1.0, 1.0)
    if format not in ("wav", "flac", "pcm"):
        raise ValueError(f"unknown audio format {format!r}")
    buffer = io.BytesIO()
    # libsndfile converts float to 16-bit for all three, so pcm holds exactly the wav's samples.
    raw = format == "pcm"
    sf.write(buffer, wav, sample_rate, subtype="PCM_16", format="RAW" if raw else format.upper(),
             endian="LITTLE" if raw else "FILE")
    return buffer.getvalue()


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    return int(math.floor(seconds * sample_rate + 0.5))
