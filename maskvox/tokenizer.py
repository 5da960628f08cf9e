"""Speech <-> tokens: the acoustic codec, plus the semantic path when it is available.

`SpeechTokenizer.from_pretrained(location)` loads the acoustic codec of a model folder
(or hub repo) and, if that location also has a semantic codec and the SSL model it needs
can be found, the semantic path too. Tokens are saved in `.npz` code files:

    acoustic_codes  (T, 12) int16
    semantic_codes  (T',) int16, optional; T' can differ from T by a frame (the fbank
                    front-end and the codec frame the signal differently), as in the reference
    num_samples     original length at 24 kHz (the codec pads to whole frames)
    sample_rate, frame_rate_hz, format_version
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import ACOUSTIC_RATE, SEMANTIC_RATE, audio_seconds, check_audio, load_audio, resample
from .checkpoint import has_module, load_model_config, read_npz
from .errors import ModelNotAvailableError, UserError
from .fileio import atomic_path
from .limits import (FRAME_RATE_HZ, MAX_CODE_FRAMES, MAX_QUANTIZERS, MAX_RECORDING_SECONDS, MAX_SAMPLE_RATE,
                     MIN_CODEC_SECONDS, check_recording_seconds)

CODE_FILE_VERSION = 1


@dataclass
class SpeechTokens:
    acoustic_codes: np.ndarray  # (T, n_quantizers) int
    num_samples: int  # at 24 kHz, before padding to whole frames
    semantic_codes: np.ndarray | None = None  # (T',) int
    sample_rate: int = ACOUSTIC_RATE
    frame_rate_hz: int = 50

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sample_rate

    def save(self, path: str | Path) -> None:
        arrays = {
            "acoustic_codes": self.acoustic_codes.astype(np.int16),
            "num_samples": np.int64(self.num_samples),
            "sample_rate": np.int64(self.sample_rate),
            "frame_rate_hz": np.int64(self.frame_rate_hz),
            "format_version": np.int64(CODE_FILE_VERSION),
        }
        if self.semantic_codes is not None:
            arrays["semantic_codes"] = self.semantic_codes.astype(np.int16)
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.savez(out, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "SpeechTokens":
        """A code file, its sizes checked (maskvox.limits) before its arrays are read."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"code file {path} does not exist")
        arrays = read_npz(path, "maskvox code file", MAX_CODE_FRAMES * MAX_QUANTIZERS)
        for key in ("acoustic_codes", "num_samples"):
            if key not in arrays:
                raise UserError(f"{path} is not a maskvox code file: no '{key}' array")
        codes = arrays["acoustic_codes"]
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise UserError(f"{path}: acoustic_codes must be a (frames, quantizers) integer array, got {codes.dtype}{list(codes.shape)}")
        if not 1 <= codes.shape[0] <= MAX_CODE_FRAMES or not 1 <= codes.shape[1] <= MAX_QUANTIZERS:
            raise UserError(f"{path}: {codes.shape[0]} frames of {codes.shape[1]} quantizers; a code file holds 1 to "
                            f"{MAX_CODE_FRAMES:,} frames ({MAX_RECORDING_SECONDS:g} s) of 1 to {MAX_QUANTIZERS}")
        scalars = {name: _scalar(arrays, name, default, path) for name, default in
                   (("num_samples", None), ("sample_rate", ACOUSTIC_RATE), ("frame_rate_hz", FRAME_RATE_HZ))}
        rate, frame_rate = scalars["sample_rate"], scalars["frame_rate_hz"]
        if not 1 <= rate <= MAX_SAMPLE_RATE or not 1 <= frame_rate <= rate:
            raise UserError(f"{path}: sample rate {rate} Hz and frame rate {frame_rate} Hz are not a code file's "
                            f"(1 to {MAX_SAMPLE_RATE:,} Hz, frames no faster than samples)")
        if not 1 <= scalars["num_samples"] <= (codes.shape[0] + 1) * rate // frame_rate:
            raise UserError(f"{path}: num_samples {scalars['num_samples']} does not fit {codes.shape[0]} frames")
        semantic = arrays.get("semantic_codes")
        if semantic is not None and (semantic.ndim != 1 or not np.issubdtype(semantic.dtype, np.integer)):
            raise UserError(f"{path}: semantic_codes must be a (frames,) integer array")
        return cls(
            acoustic_codes=codes.astype(np.int64),
            num_samples=scalars["num_samples"],
            semantic_codes=semantic.astype(np.int64) if semantic is not None else None,
            sample_rate=rate,
            frame_rate_hz=frame_rate,
        )


def _scalar(arrays: dict[str, np.ndarray], name: str, default: int | None, path: Path) -> int:
    """One whole number of a code file."""
    value = arrays.get(name)
    if value is None:
        return default
    if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
        raise UserError(f"{path}: '{name}' must be one whole number")
    return int(value.reshape(-1)[0])


def read_codec_input(path: str | Path) -> np.ndarray:
    """A recording for the codecs, (samples,) at 24 kHz: its length checked from its header
    before it is read, then its samples (maskvox.limits)."""
    check_recording_seconds(audio_seconds(path), str(path))
    return check_audio(load_audio(path, ACOUSTIC_RATE), ACOUSTIC_RATE, str(path), min_seconds=MIN_CODEC_SECONDS)


DEVICE_FORM = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def pick_device(device: str) -> str:
    """`auto` (the GPU if torch sees one), `cpu`, `cuda` or `cuda:N`, checked (UserError)."""
    if not isinstance(device, str) or not DEVICE_FORM.match(device):
        raise UserError(f"unknown device {device!r} (use cpu, cuda, cuda:N or auto)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device} asked for, but torch sees no CUDA GPU (use --device cpu)")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise UserError(f"device {device} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return device


class SpeechTokenizer:
    def __init__(self, acoustic_codec, semantic_codec=None, semantic_features=None, semantic_note: str = ""):
        self.acoustic_codec = acoustic_codec
        self.semantic_codec = semantic_codec
        self.semantic_features = semantic_features
        # Why the semantic path is absent, for the user (empty when it is present).
        self.semantic_note = semantic_note

    @property
    def has_semantic(self) -> bool:
        return self.semantic_codec is not None

    @classmethod
    def from_pretrained(cls, location: str | Path, device: str = "cpu", semantic: str = "auto",
                        cfg=None) -> "SpeechTokenizer":
        """semantic: "auto" (load it if available), "yes" (required), "no". `cfg`: the
        location's ModelConfig when the caller has read it already."""
        from maskvox.codecs.pretrained import load_acoustic_codec, load_semantic_codec, load_semantic_features

        cfg = cfg or load_model_config(location)
        acoustic = load_acoustic_codec(location, cfg, device)
        if semantic == "no":
            return cls(acoustic, semantic_note="semantic ids not asked for")
        if not has_module(location, "semantic_codec"):
            if semantic == "yes":
                raise ModelNotAvailableError(f"{location} has no semantic codec (semantic_codec/model.safetensors)")
            return cls(acoustic, semantic_note=f"no semantic codec in {location}")
        try:
            features = load_semantic_features(cfg.semantic_features, location, device)
        except ModelNotAvailableError as err:
            if semantic == "yes":
                raise
            return cls(acoustic, semantic_note=f"semantic model unavailable: {err}")
        return cls(acoustic, load_semantic_codec(location, cfg, device), features)

    def encode_file(self, path: str | Path) -> SpeechTokens:
        return self.encode(read_codec_input(path))

    @torch.no_grad()
    def encode(self, wav_24k: np.ndarray) -> SpeechTokens:
        """Mono float waveform at 24 kHz -> tokens."""
        device = next(self.acoustic_codec.parameters()).device
        codes = self.acoustic_codec.encode(torch.from_numpy(wav_24k)[None].to(device))[0]
        semantic = None
        if self.has_semantic:
            wav_16k = resample(wav_24k, ACOUSTIC_RATE, SEMANTIC_RATE)
            features, _ = self.semantic_features([wav_16k])
            semantic = self.semantic_codec.quantize(features)[0][0].cpu().numpy()
        return SpeechTokens(codes.cpu().numpy(), int(wav_24k.size), semantic)

    @torch.no_grad()
    def decode(self, tokens: SpeechTokens) -> np.ndarray:
        """Tokens -> mono float waveform at 24 kHz, trimmed to the encoded length."""
        codec = self.acoustic_codec
        codes = tokens.acoustic_codes
        layers, size = codec.cfg.decoder.num_quantizers, codec.cfg.decoder.codebook_size
        if codes.shape[1] > layers:
            raise UserError(f"the codes have {codes.shape[1]} quantizer layers, this codec has {layers}")
        if codes.size and (codes.min() < 0 or codes.max() >= size):
            raise UserError(f"code ids must lie in 0..{size - 1}, found {codes.min()}..{codes.max()}")
        if codes.shape[0] == 0:
            raise UserError("the code file holds no frames")
        device = next(codec.parameters()).device
        wav = codec.decode(torch.from_numpy(codes)[None].to(device))[0].cpu().numpy()
        return wav[: tokens.num_samples]
