"""Named speaker encoders for the similarity to the prompt: the cosine of two embeddings.

- `resemblyzer` (default, offline): the GE2E LSTM speaker encoder whose weights the
  `resemblyzer` package ships (`resemblyzer/pretrained.pt`).
- `wavlm-ecapa`: Seed-TTS-eval's scorer, WavLM-large features into an ECAPA-TDNN
  (UniSpeech's speaker-verification checkpoint `wavlm_large_finetune.pth`). Not runnable here
  (see `docs/evaluation.md`); named so that asking for it says what it needs.

Resemblyzer: its package imports librosa at import time (numba, llvmlite, scikit-learn, ...)
for three things: reading files, resampling and the mel spectrogram. We do not import the
package; `ResemblyzerEncoder` loads the shipped weights and reproduces its inference
(`preprocess_wav` + `VoiceEncoder.embed_utterance`) with soxr, numpy and webrtcvad. The test
suite holds embeddings computed by the real package (with librosa 0.11) to keep the two equal.
"""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..errors import CheckpointError
from ..mel import slaney_mel_filterbank
from .errors import ScorerUnavailableError, UnknownScorerError

SPEAKER_SAMPLE_RATE = 16000


class SpeakerEncoder(Protocol):
    def embed(self, wav_16k: np.ndarray) -> np.ndarray:
        """(samples,) float32 at 16 kHz -> (D,) unit-norm embedding."""


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@dataclass(frozen=True)
class SpeakerBackend:
    name: str
    description: str
    load: Callable[[str, "str | None"], SpeakerEncoder]  # (device, checkpoint path) -> encoder


# --- resemblyzer ------------------------------------------------------------------------------

# Resemblyzer's hyperparameters (resemblyzer/hparams.py).
MEL_WINDOW_SAMPLES = 400  # 25 ms
MEL_HOP_SAMPLES = 160  # 10 ms
MEL_CHANNELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIALS_PER_SECOND = 1.3
MIN_LAST_PARTIAL_COVERAGE = 0.75
VAD_WINDOW_SAMPLES = 480  # 30 ms
VAD_MOVING_AVERAGE_WIDTH = 8
VAD_MAX_SILENCE_WINDOWS = 6
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1


def power_mel_spectrogram(wav_16k: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(samples,) -> (frames, MEL_CHANNELS) power mel spectrogram (not log), frames centred
    on multiples of the hop with zero padding (librosa.feature.melspectrogram)."""
    half = MEL_WINDOW_SAMPLES // 2
    padded = np.pad(wav_16k.astype(np.float32), (half, half))
    num_frames = 1 + (padded.size - MEL_WINDOW_SAMPLES) // MEL_HOP_SAMPLES
    starts = np.arange(num_frames) * MEL_HOP_SAMPLES
    frames = padded[starts[:, None] + np.arange(MEL_WINDOW_SAMPLES)[None, :]]
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(MEL_WINDOW_SAMPLES) / MEL_WINDOW_SAMPLES)
    power = np.abs(np.fft.rfft(frames * periodic_hann.astype(np.float32), axis=1)) ** 2
    return (power.astype(np.float32) @ filters.T).astype(np.float32)


def raise_to_target_level(wav: np.ndarray) -> np.ndarray:
    """Make quiet audio -30 dBFS RMS; louder audio stays as it is."""
    rms = np.sqrt(np.mean((wav * INT16_MAX) ** 2))
    if rms == 0:
        return wav
    change_db = TARGET_DBFS - 20 * np.log10(rms / INT16_MAX)
    return wav if change_db < 0 else wav * (10 ** (change_db / 20))


def trim_long_silences(wav_16k: np.ndarray) -> np.ndarray:
    """Drop the stretches webrtcvad (mode 3) hears as non-speech, keeping up to 6 windows
    (180 ms) of silence around speech."""
    import webrtcvad

    wav_16k = wav_16k[: wav_16k.size - wav_16k.size % VAD_WINDOW_SAMPLES]
    # Resemblyzer's conversion, wrap-around of over-range samples included, for equal results.
    pcm_int16 = np.round(wav_16k * INT16_MAX).astype(np.int16)
    vad = webrtcvad.Vad(3)
    voiced = np.array([
        vad.is_speech(pcm_int16[start:start + VAD_WINDOW_SAMPLES].tobytes(), SPEAKER_SAMPLE_RATE)
        for start in range(0, wav_16k.size, VAD_WINDOW_SAMPLES)
    ], dtype=float)
    width = VAD_MOVING_AVERAGE_WIDTH
    padded = np.concatenate((np.zeros((width - 1) // 2), voiced, np.zeros(width // 2)))
    sums = np.cumsum(padded)
    sums[width:] = sums[width:] - sums[:-width]
    smoothed = np.round(sums[width - 1:] / width).astype(bool)
    # numpy's "same" convolution, cut to the input's length also when the input is shorter than
    # the kernel (scipy's binary_dilation, which resemblyzer uses, keeps the input's length).
    kernel = VAD_MAX_SILENCE_WINDOWS + 1
    dilated = np.convolve(smoothed, np.ones(kernel), mode="full")[(kernel - 1) // 2:][:smoothed.size] > 0
    return wav_16k[np.repeat(dilated, VAD_WINDOW_SAMPLES)]


def partial_frame_starts(num_samples: int) -> list[int]:
    """First mel frame of each 1.6 s partial utterance (1.3 per second, the last one kept if
    at least 75% of it is audio)."""
    num_frames = int(np.ceil((num_samples + 1) / MEL_HOP_SAMPLES))
    step_frames = int(np.round(SPEAKER_SAMPLE_RATE / PARTIALS_PER_SECOND / MEL_HOP_SAMPLES))
    starts = list(range(0, max(1, num_frames - PARTIAL_FRAMES + step_frames + 1), step_frames))
    last_start_sample = starts[-1] * MEL_HOP_SAMPLES
    coverage = (num_samples - last_start_sample) / (PARTIAL_FRAMES * MEL_HOP_SAMPLES)
    if coverage < MIN_LAST_PARTIAL_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


class ResemblyzerEncoder:
    """Resemblyzer's VoiceEncoder (3-layer LSTM, 256-d), with the weights the package ships."""

    def __init__(self, weights_path: Path, device: str):
        import torch

        self.device = device
        self.lstm = torch.nn.LSTM(MEL_CHANNELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        try:  # weights_only: a pickle of anything but tensors is refused, never run
            state = torch.load(weights_path, map_location="cpu", weights_only=True)["model_state"]
            self.lstm.load_state_dict({k[len("lstm."):]: v for k, v in state.items() if k.startswith("lstm.")})
            self.linear.load_state_dict({k[len("linear."):]: v for k, v in state.items() if k.startswith("linear.")})
        except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, AttributeError, ValueError, EOFError,
                OSError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
            raise CheckpointError(f"speaker checkpoint {weights_path} is not Resemblyzer's weights file "
                                  f"(a torch file with 'model_state'): {reason}") from None
        self.lstm.to(device).eval()
        self.linear.to(device).eval()
        self.mel_filters = slaney_mel_filterbank(SPEAKER_SAMPLE_RATE, MEL_WINDOW_SAMPLES, MEL_CHANNELS)

    def embed(self, wav_16k: np.ndarray) -> np.ndarray:
        import torch

        wav = trim_long_silences(raise_to_target_level(wav_16k))
        starts = partial_frame_starts(wav.size)
        needed_samples = (starts[-1] + PARTIAL_FRAMES) * MEL_HOP_SAMPLES
        wav = np.pad(wav, (0, max(0, needed_samples - wav.size)))
        mel = power_mel_spectrogram(wav, self.mel_filters)
        partials = np.stack([mel[start:start + PARTIAL_FRAMES] for start in starts])  # (P, 160, 40)
        with torch.no_grad():
            _, (hidden, _) = self.lstm(torch.from_numpy(partials).to(self.device))
            partial_embeddings = torch.relu(self.linear(hidden[-1]))
            partial_embeddings = partial_embeddings / partial_embeddings.norm(dim=1, keepdim=True)
        mean = partial_embeddings.mean(dim=0).cpu().numpy()
        return mean / np.linalg.norm(mean)


def _load_resemblyzer(device: str, checkpoint: str | None) -> SpeakerEncoder:
    if checkpoint:
        weights = Path(checkpoint)
        if not weights.is_file():
            raise ScorerUnavailableError(f"speaker checkpoint {checkpoint} does not exist")
    else:  # the package's weights file, found without importing the package (it imports librosa)
        spec = importlib.util.find_spec("resemblyzer")
        weights = Path(spec.submodule_search_locations[0]) / "pretrained.pt" if spec else None
        if weights is None or not weights.is_file():
            raise ScorerUnavailableError(
                "speaker model resemblyzer needs its weights: pip install --no-deps resemblyzer==0.1.4"
            )
    if importlib.util.find_spec("webrtcvad") is None:
        raise ScorerUnavailableError("speaker model resemblyzer needs webrtcvad: pip install webrtcvad-wheels")
    return ResemblyzerEncoder(weights, device)


# --- wavlm-ecapa ------------------------------------------------------------------------------

WAVLM_ECAPA_CHECKPOINT = "wavlm_large_finetune.pth"


def _load_wavlm_ecapa(device: str, checkpoint: str | None) -> SpeakerEncoder:
    if not checkpoint:
        raise ScorerUnavailableError(
            f"speaker model wavlm-ecapa needs --speaker-checkpoint {WAVLM_ECAPA_CHECKPOINT} (UniSpeech's WavLM-large "
            "+ ECAPA-TDNN speaker verification model, linked from Seed-TTS-eval's README); "
            "the offline scorer is --speaker resemblyzer"
        )
    if not Path(checkpoint).is_file():
        raise ScorerUnavailableError(f"speaker checkpoint {checkpoint} does not exist")
    raise ScorerUnavailableError(
        "speaker model wavlm-ecapa is not implemented in maskvox yet: score the items with Seed-TTS-eval's "
        "cal_sim.sh (docs/evaluation.md), or use --speaker resemblyzer"
    )


SPEAKER_BACKENDS: dict[str, SpeakerBackend] = {
    backend.name: backend
    for backend in (
        SpeakerBackend("resemblyzer", "Resemblyzer GE2E LSTM (weights shipped by the resemblyzer package), offline",
                       _load_resemblyzer),
        SpeakerBackend("wavlm-ecapa", f"Seed-TTS-eval's WavLM-large + ECAPA-TDNN ({WAVLM_ECAPA_CHECKPOINT})",
                       _load_wavlm_ecapa),
    )
}


def get_speaker_backend(name: str) -> SpeakerBackend:
    if name not in SPEAKER_BACKENDS:
        raise UnknownScorerError(f"unknown speaker model {name!r}: choose one of {', '.join(SPEAKER_BACKENDS)}")
    return SPEAKER_BACKENDS[name]
