"""An uploaded recording (a prompt, a recording to edit or convert) as samples: bounded in bytes
and in seconds (from its header, before its samples are decoded), never written to disk, never
taken as a path."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from ..errors import AudioError
from ..limits import MAX_PROMPT_SECONDS, MAX_RECORDING_SECONDS, check_recording_seconds
from .errors import ApiError


def read_upload(data: bytes, max_bytes: int, name: str = "the prompt upload",
                max_seconds: float = MAX_PROMPT_SECONDS, lift: str = "give a clip of 3-15 s") -> tuple[np.ndarray, int]:
    """(samples (frames, channels) float32, sample rate) of an uploaded file in any format
    soundfile reads; AudioError (400) for one it cannot or one over `max_seconds`, ApiError 413
    for one over `max_bytes`."""
    if len(data) > max_bytes:
        raise ApiError(413, f"{name} is {len(data):,} bytes, over the limit of {max_bytes:,}")
    if not data:
        raise AudioError(f"{name} is empty")
    try:
        info = sf.info(io.BytesIO(data))
        if info.frames <= 0 or info.samplerate <= 0:
            raise AudioError(f"{name} contains no audio samples")
        check_recording_seconds(info.frames / info.samplerate, name, max_seconds, lift)
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).split(":")[-1].strip() or "format not recognised"
        raise AudioError(f"{name} is not a readable audio file ({reason})") from None
    return samples, int(rate)


def read_recording_upload(data: bytes, max_bytes: int, name: str) -> tuple[np.ndarray, int]:
    """A recording to edit or convert: up to MAX_RECORDING_SECONDS, its channels kept (an edit
    answers with them)."""
    return read_upload(data, max_bytes, name, MAX_RECORDING_SECONDS, "cut it into shorter files")
