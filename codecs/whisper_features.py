"""Semantic features from Whisper's encoder: the demo's pretrained speech encoder.

Whisper base is the only pretrained speech encoder that installs offline (two PyPI packages
in CTranslate2's format, joined by `maskvox.whisper_base`). Its encoder runs at
50 frames per second, the rate of the semantic tokens, so a hidden layer of it takes the
place of w2v-BERT 2.0 layer 17:

    waveform (16 kHz) -> Whisper log-mel (80 bands, 100 Hz) -> 2 convolutions (stride 2)
    -> first `layer` transformer blocks -> z-normalised with the model's statistics

The weights are read straight from the CTranslate2 `model.bin` (only the encoder's blocks up
to `layer`), into a small PyTorch encoder of our own; nothing is converted on disk.

Whisper was trained on 30-second windows. `SemanticFeaturesConfig.whisper_window` says how a
shorter input is fed: `"exact"` runs the encoder on the input's own frames (positions 0..T-1,
no padding), `"pad30"` pads the audio with silence to 30 s as Whisper itself does and keeps
the input's frames. Inputs longer than 30 s are encoded in 30-second pieces.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from maskvox.config import SemanticFeaturesConfig
from maskvox.errors import CheckpointError

from .hifigan import slaney_mel_filterbank

SAMPLE_RATE = 16000
MEL_HOP = 160  # 100 mel frames per second; the second convolution halves it to 50
WINDOWS = ("exact", "pad30")

_BLOCK = re.compile(r"^encoder/layer_(\d+)/")
# CTranslate2's DataType enum (include/ctranslate2/types.h), in order.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


# --- reading CTranslate2's model.bin ------------------------------------------------------


def read_ctranslate2(path: str | Path, keep=lambda name: True) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model file whose name `keep` accepts, as arrays.

    Layout (binary version 6): version, spec name, revision, variable count, then per
    variable its name, rank, dims, dtype id, byte count and bytes; then the aliases. The
    variables not kept are skipped with a seek, so reading an encoder costs its own bytes.
    """
    variables: dict[str, np.ndarray] = {}
    with open(path, "rb") as file:
        def number(fmt: str) -> int:
            return struct.unpack(fmt, file.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return file.read(number("H"))[:-1].decode("utf-8")  # stored with its NUL

        version = number("I")
        if version != 6:
            raise CheckpointError(f"{path}: CTranslate2 binary version {version}, maskvox reads version 6")
        string(), number("I")  # spec name, revision
        for _ in range(number("I")):
            name = string()
            dims = [number("I") for _ in range(number("B"))]
            dtype, size = number("B"), number("I")
            if not keep(name):
                file.seek(size, 1)
                continue
            if dtype not in _CT2_DTYPES:
                raise CheckpointError(f"{path}: variable {name} has a data type maskvox cannot read ({dtype})")
            data = file.read(size)
            variables[name] = np.frombuffer(data, dtype=_CT2_DTYPES[dtype]).reshape(dims)
    return variables


# --- the encoder --------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperEncoderShape:
    mel_bands: int = 80
    width: int = 512
    heads: int = 8
    layers: int = 6  # blocks built: those up to the chosen layer
    positions: int = 1500


class WhisperBlock(nn.Module):
    """Pre-norm self-attention and GELU MLP; the key projection has no bias, as in Whisper."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, width), key_mask (B, T) True where a frame is real -> (B, T, width)."""
        batch, frames, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, frames, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, frames, width))
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))


class WhisperEncoder(nn.Module):
    """(B, 80, M) Whisper log-mel -> (B, ceil(M / 2), width) output of the last built block."""

    def __init__(self, shape: WhisperEncoderShape):
        super().__init__()
        self.shape = shape
        self.conv1 = nn.Conv1d(shape.mel_bands, shape.width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(shape.width, shape.width, kernel_size=3, stride=2, padding=1)
        self.positions = nn.Parameter(torch.zeros(shape.positions, shape.width), requires_grad=False)
        self.blocks = nn.ModuleList(WhisperBlock(shape.width, shape.heads) for _ in range(shape.layers))

    def hidden_states(self, mel: torch.Tensor, key_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The output of every built block, first to last: `layers` x (B, ceil(M / 2), width)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positions[: x.shape[1]]
        states = []
        for block in self.blocks:
            x = block(x, key_mask)
            states.append(x)
        return states

    def forward(self, mel: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.hidden_states(mel, key_mask)[-1]


def encoder_state_from_ctranslate2(variables: dict[str, np.ndarray], layers: int) -> dict[str, torch.Tensor]:
    """Map CTranslate2's encoder variables (first `layers` blocks) to `WhisperEncoder`'s names."""
    def tensor(name: str) -> torch.Tensor:
        if f"encoder/{name}" not in variables:
            raise CheckpointError(f"the Whisper model has no variable encoder/{name}")
        return torch.from_numpy(variables[f"encoder/{name}"].astype(np.float32))

    state = {
        "conv1.weight": tensor("conv1/weight"), "conv1.bias": tensor("conv1/bias"),
        "conv2.weight": tensor("conv2/weight"), "conv2.bias": tensor("conv2/bias"),
        "positions": tensor("position_encodings/encodings"),
    }
    for index in range(layers):
        ct2, ours = f"layer_{index}", f"blocks.{index}"
        pairs = {
            "attention_norm.weight": "self_attention/layer_norm/gamma", "attention_norm.bias": "self_attention/layer_norm/beta",
            "qkv.weight": "self_attention/linear_0/weight", "qkv.bias": "self_attention/linear_0/bias",
            "out.weight": "self_attention/linear_1/weight", "out.bias": "self_attention/linear_1/bias",
            "mlp_norm.weight": "ffn/layer_norm/gamma", "mlp_norm.bias": "ffn/layer_norm/beta",
            "fc1.weight": "ffn/linear_0/weight", "fc1.bias": "ffn/linear_0/bias",
            "fc2.weight": "ffn/linear_1/weight", "fc2.bias": "ffn/linear_1/bias",
        }
        state.update({f"{ours}.{mine}": tensor(f"{ct2}/{theirs}") for mine, theirs in pairs.items()})
    return state


def load_whisper_encoder(model_bin: str | Path, layer: int) -> WhisperEncoder:
    """Whisper's encoder cut after block `layer` (1-based), from a CTranslate2 model.bin."""
    def block(name: str) -> int | None:
        match = _BLOCK.match(name)
        return int(match.group(1)) if match else None

    blocks_seen: set[int] = set()

    def wanted(name: str) -> bool:
        index = block(name)
        if index is not None:
            blocks_seen.add(index)
        return name.startswith("encoder/") and (index is None or index < layer)

    variables = read_ctranslate2(model_bin, keep=wanted)
    if not 1 <= layer <= len(blocks_seen):
        raise CheckpointError(f"{model_bin}: Whisper layer {layer} is outside 1..{len(blocks_seen)}")
    conv1 = variables.get("encoder/conv1/weight")
    heads = variables.get("encoder/num_heads")
    if conv1 is None or heads is None:
        raise CheckpointError(f"{model_bin} holds no Whisper encoder")
    positions = variables["encoder/position_encodings/encodings"].shape[0]
    shape = WhisperEncoderShape(conv1.shape[1], conv1.shape[0], int(heads), layer, positions)
    encoder = WhisperEncoder(shape)
    encoder.load_state_dict(encoder_state_from_ctranslate2(variables, layer), strict=True)
    return encoder.eval()


# --- log-mel ------------------------------------------------------------------------------


class WhisperLogMel(nn.Module):
    """(N,) waveform at 16 kHz -> (80, N // 160) log-mel, scaled as Whisper scales it.

    |STFT|² (400-point Hann window, hop 160, centred), slaney mel filters, log10 clamped at
    1e-10, floored at 8 below the utterance's maximum, then (x + 4) / 4.
    """

    def __init__(self, mel_bands: int = 80):
        super().__init__()
        filters = slaney_mel_filterbank(SAMPLE_RATE, 400, mel_bands, 0.0, 8000.0)
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)
        self.register_buffer("window", torch.hann_window(400), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(wav, 400, MEL_HOP, window=self.window, return_complex=True)[..., :-1].abs() ** 2
        log_mel = torch.clamp(self.filters @ spectrum, min=1e-10).log10()
        log_mel = torch.maximum(log_mel, log_mel.max() - 8.0)
        return (log_mel + 4.0) / 4.0


# --- the feature extractor ----------------------------------------------------------------


def semantic_frames(samples: int) -> int:
    """Semantic frames of `samples` at 16 kHz: mel frames N // 160, halved rounding up."""
    return (samples // MEL_HOP + 1) // 2


class WhisperFeatureExtractor(nn.Module):
    """16 kHz waveforms -> normalised Whisper features (B, T, width) and frame mask (B, T).

    The same interface as `SemanticFeatureExtractor` (the w2v-BERT path), so the tokenizer,
    the pipeline and the recipes take either. Each waveform is encoded alone, so its
    features do not depend on what else is in the batch.
    """

    def __init__(self, encoder: WhisperEncoder, mean: torch.Tensor, std: torch.Tensor, cfg: SemanticFeaturesConfig):
        super().__init__()
        if cfg.whisper_window not in WINDOWS:
            raise CheckpointError(f"semantic_features.whisper_window must be one of {', '.join(WINDOWS)}, "
                                  f"not {cfg.whisper_window!r}")
        self.encoder = encoder
        self.log_mel = WhisperLogMel(encoder.shape.mel_bands)
        self.cfg = cfg
        self.source_layers = encoder.shape.layers  # no reference pipeline draws depend on it
        # The samples the positions cover: 30 s for Whisper (1500 positions at 50 Hz).
        self.window_samples = encoder.shape.positions * 2 * MEL_HOP
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def use_reference_attention(self, on: bool) -> None:
        """The w2v-BERT path switches attention kernels for the reference pipeline; nothing to do here."""

    def encode_one(self, wav: torch.Tensor, all_layers: bool = False) -> list[torch.Tensor]:
        """(N,) -> [the last block's output (semantic_frames(N), width)], a window (30 s) at a
        time; `all_layers`: every block's output, first to last."""
        frames = semantic_frames(wav.numel())
        pieces = []
        window = self.window_samples
        for start in range(0, max(wav.numel(), 1), window):
            piece = wav[start: start + window]
            kept = semantic_frames(piece.numel())
            if self.cfg.whisper_window == "pad30":
                piece = F.pad(piece, (0, window - piece.numel()))
            states = self.encoder.hidden_states(self.log_mel(piece)[None])
            pieces.append([state[0, :kept] for state in (states if all_layers else states[-1:])])
        return [torch.cat(layer)[:frames] for layer in zip(*pieces)]

    @torch.no_grad()
    def forward(self, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz float waveforms -> features (B, T, width) and frame mask (B, T)."""
        device = self.mean.device
        features = [self.encode_one(torch.as_tensor(np.asarray(w, dtype=np.float32), device=device))[0]
                    for w in waveforms]
        lengths = torch.tensor([f.shape[0] for f in features], device=device)
        padded = nn.utils.rnn.pad_sequence(features, batch_first=True)
        mask = torch.arange(padded.shape[1], device=device)[None] < lengths[:, None]
        return (padded - self.mean) / self.std * mask[..., None], mask
