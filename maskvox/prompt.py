"""The prompt recording: loaded at both model rates, checked, cut to 15 s, loudness-normalised.

The prompt is read straight from its file at 16 kHz (semantic path) and at 24 kHz
(acoustic codec), as the reference does. A prompt over 15 s is cut at a pause that ends a
sentence of its transcript: the models were trained on short prompts, and the transcript
must still say what the kept audio says. Pauses are found from the energy envelope and
matched to sentence ends by the share of the speaking time they leave before them
against the share of the transcript's phones before the sentence end (no aligner needed).
Loudness is normalised on the speech frames, since the clone copies the prompt's level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import ACOUSTIC_RATE, SEMANTIC_RATE, audio_seconds, check_audio, load_audio_rates, resample
from .errors import AudioError
from .limits import MAX_PROMPT_SECONDS, MIN_PROMPT_SECONDS, check_recording_seconds
from .text.sentences import split_sentences

CUT_PROMPT_SECONDS = 15.0  # longer prompts are cut at a pause (up to MAX_PROMPT_SECONDS: maskvox.limits)
KEEP_AT_LEAST_SECONDS = 3.0  # a cut never leaves less than this

TARGET_SPEECH_DBFS = -23.0  # RMS level of the speech frames after normalisation
PEAK_LIMIT = 0.95
FRAME_SECONDS = 0.02
SPEECH_RANGE_DB = 30.0  # frames within this of the loudest frame's level are speech, the rest pauses
MIN_PAUSE_SECONDS = 0.15
MATCH_TOLERANCE = 0.1  # |speech-time share - phone share| allowed for a pause to end a sentence


@dataclass
class PromptAudio:
    wav_16k: np.ndarray  # (samples,) float32
    wav_24k: np.ndarray
    text: str  # the transcript of what was kept
    gain_db: float = 0.0  # loudness normalisation applied
    cut_at_seconds: float | None = None  # where a long prompt was cut, if it was

    @property
    def seconds(self) -> float:
        return self.wav_24k.size / ACOUSTIC_RATE


def load_prompt(
    source: str | Path | tuple[np.ndarray, int],
    text: str,
    phone_count: Callable[[str], int],
    normalize: bool = True,
    cut: bool = True,
    name: str | None = None,
) -> PromptAudio:
    """The prompt from a file (any format, rate, channels) or an (array, sample_rate) pair.

    `phone_count(text)` counts the phones of a piece of transcript (to find where a long
    prompt's sentences end). normalize/cut False keep the recording as it is (the reference).
    """
    name = name or (f"prompt {source}" if isinstance(source, (str, Path)) else "prompt")
    wav_16k, wav_24k = _read_both_rates(source, name)
    check_audio(wav_24k, ACOUSTIC_RATE, name, min_seconds=MIN_PROMPT_SECONDS, max_seconds=MAX_PROMPT_SECONDS,
                reject_clipping=True)
    prompt = PromptAudio(wav_16k, wav_24k, text)
    if cut and prompt.seconds > CUT_PROMPT_SECONDS:
        prompt = cut_at_pause(prompt, phone_count, name)
    if normalize:
        prompt = normalize_loudness(prompt)
    return prompt


def _read_both_rates(source, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(source, (str, Path)):
        # The length from the header first: an hour-long file is refused before it is read.
        check_recording_seconds(audio_seconds(source), name, MAX_PROMPT_SECONDS,
                                f"give a clip of 3-{CUT_PROMPT_SECONDS:g} s")
        wav_16k, wav_24k = load_audio_rates(source, (SEMANTIC_RATE, ACOUSTIC_RATE))
        return wav_16k, wav_24k
    wav, rate = source
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:  # (samples, channels)
        wav = wav.mean(axis=1)
    if wav.ndim != 1 or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise AudioError(f"{name}: expected a (samples,) or (samples, channels) array and a positive sample rate")
    # NaN and Inf survive resampling; load_prompt's check_audio reports them.
    return resample(wav, int(rate), SEMANTIC_RATE), resample(wav, int(rate), ACOUSTIC_RATE)


# -- loudness ---------------------------------------------------------------------------------

def frame_levels_db(wav: np.ndarray, rate: int) -> np.ndarray:
    """RMS level of each 20 ms frame, in dB full scale."""
    size = int(rate * FRAME_SECONDS)
    frames = wav[: wav.size // size * size].reshape(-1, size)
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def speech_frames(levels_db: np.ndarray) -> np.ndarray:
    return levels_db > levels_db.max() - SPEECH_RANGE_DB


def normalize_loudness(prompt: PromptAudio) -> PromptAudio:
    """Scale both rates alike so the speech frames sit at TARGET_SPEECH_DBFS, peak <= PEAK_LIMIT."""
    levels = frame_levels_db(prompt.wav_24k, ACOUSTIC_RATE)
    speech_power = np.mean(10 ** (levels[speech_frames(levels)] / 10))
    gain_db = TARGET_SPEECH_DBFS - 10 * np.log10(speech_power)
    peak = float(np.abs(prompt.wav_24k).max())
    gain_db = min(gain_db, 20 * np.log10(PEAK_LIMIT / peak))
    gain = np.float32(10 ** (gain_db / 20))
    return PromptAudio(prompt.wav_16k * gain, prompt.wav_24k * gain, prompt.text, float(gain_db), prompt.cut_at_seconds)


# -- cutting a long prompt ----------------------------------------------------------------------

def pauses(levels_db: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) frame ranges of the silent runs of at least MIN_PAUSE_SECONDS."""
    silent = ~speech_frames(levels_db)
    runs, start = [], None
    for index, quiet in enumerate(np.append(silent, False)):
        if quiet and start is None:
            start = index
        elif not quiet and start is not None:
            if (index - start) * FRAME_SECONDS >= MIN_PAUSE_SECONDS:
                runs.append((start, index))
            start = None
    return runs


def cut_at_pause(prompt: PromptAudio, phone_count: Callable[[str], int], name: str) -> PromptAudio:
    """The longest prefix of at most CUT_PROMPT_SECONDS that ends at a pause matching a
    sentence end of the transcript; with no transcript (voice conversion needs none), at the
    latest pause."""
    if not prompt.text.strip():
        return _cut_at_latest_pause(prompt, name)
    sentences = split_sentences(prompt.text)
    counts = np.cumsum([phone_count(sentence) for sentence in sentences])
    phone_share = counts / counts[-1]
    levels = frame_levels_db(prompt.wav_16k, SEMANTIC_RATE)
    spoken = np.cumsum(speech_frames(levels))
    best = None
    for first, end in pauses(levels):
        middle = (first + end) // 2
        seconds = middle * FRAME_SECONDS
        if not KEEP_AT_LEAST_SECONDS <= seconds <= CUT_PROMPT_SECONDS:
            continue
        share = spoken[first] / spoken[-1]
        errors = np.abs(phone_share[:-1] - share)
        if errors.size and errors.min() <= MATCH_TOLERANCE:
            best = (seconds, int(errors.argmin()))  # pauses come in time order: keep the latest
    if best is None:
        raise AudioError(
            f"{name} is {prompt.seconds:.1f} s long and no pause before {CUT_PROMPT_SECONDS:g} s ends a sentence "
            f"of its transcript: give a clip of 3-{CUT_PROMPT_SECONDS:g} s with its own transcript"
        )
    seconds, sentence = best
    return _prefix(prompt, seconds, " ".join(sentences[: sentence + 1]))


def _prefix(prompt: PromptAudio, seconds: float, text: str) -> PromptAudio:
    """The first `seconds` of the prompt, which say `text`."""
    return PromptAudio(prompt.wav_16k[: int(seconds * SEMANTIC_RATE)], prompt.wav_24k[: int(seconds * ACOUSTIC_RATE)],
                       text, prompt.gain_db, seconds)


def _cut_at_latest_pause(prompt: PromptAudio, name: str) -> PromptAudio:
    levels = frame_levels_db(prompt.wav_16k, SEMANTIC_RATE)
    middles = [(first + end) // 2 * FRAME_SECONDS for first, end in pauses(levels)]
    kept = [seconds for seconds in middles if KEEP_AT_LEAST_SECONDS <= seconds <= CUT_PROMPT_SECONDS]
    if not kept:
        raise AudioError(f"{name} is {prompt.seconds:.1f} s long with no pause between {KEEP_AT_LEAST_SECONDS:g} and "
                         f"{CUT_PROMPT_SECONDS:g} s to cut it at: give a clip of 3-{CUT_PROMPT_SECONDS:g} s")
    return _prefix(prompt, kept[-1], "")
