"""The demo's waveform route: codec embeddings -> HiFi-GAN's log mel -> pretrained HiFi-GAN.

The official decoder (Vocos: ConvNeXt backbone + ISTFT head) must learn phase, which takes a
GAN and GPU-days. On a CPU budget the demo codec instead predicts the log mel spectrogram
that the pretrained HiFi-GAN universal generator reads (`codecs/hifigan.py`), trained with a
plain regression loss, and leaves the waveform to that generator. `AcousticDecoderConfig
.vocoder = "hifigan"` selects it; the official path is untouched.

Frames: the codec runs at 50 Hz (480 samples at 24 kHz), HiFi-GAN at 22.05 kHz with a hop of
256 (86.1 Hz). A codec frame is 441 samples at 22.05 kHz, so T codec frames become
ceil(T * 441 / 256) mel frames; the backbone's output is interpolated to that rate and refined
there by a few ConvNeXt blocks. The generator's 22.05 kHz output is resampled to 24 kHz.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from maskvox.audio import resample
from maskvox.config import AcousticDecoderConfig

from .hifigan import HifiganGenerator
from .layers import ConvNeXtBlock, VocosBackbone

CODEC_RATE, VOCODER_RATE = 24000, 22050


def vocoder_samples_per_frame(hop_size: int) -> int:
    """A codec frame's samples at 22.05 kHz: 441 for the 480-sample (20 ms) frame."""
    samples = hop_size * VOCODER_RATE / CODEC_RATE
    if samples != int(samples):
        raise ValueError(f"a codec hop of {hop_size} samples is not a whole number of samples at {VOCODER_RATE} Hz")
    return int(samples)


def mel_frames(codec_frames: int, hop_size: int = 480, mel_hop: int = 256) -> int:
    """Mel frames that cover `codec_frames` codec frames: ceil(T * 441 / 256)."""
    return math.ceil(codec_frames * vocoder_samples_per_frame(hop_size) / mel_hop)


class MelDecoder(nn.Module):
    """(B, C, T) codec embeddings -> (B, mel_bins, mel_frames(T)) HiFi-GAN log mel."""

    def __init__(self, cfg: AcousticDecoderConfig, mel_bins: int = 80, mel_hop: int = 256):
        super().__init__()
        self.hop_size, self.mel_hop = cfg.hop_size, mel_hop
        self.backbone = VocosBackbone(cfg.in_channels, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers)
        self.refine = nn.ModuleList(
            ConvNeXtBlock(cfg.vocos_dim, cfg.vocos_intermediate_dim, 1 / max(1, cfg.mel_refine_layers))
            for _ in range(cfg.mel_refine_layers)
        )
        self.norm = nn.LayerNorm(cfg.vocos_dim, eps=1e-6)
        self.head = nn.Linear(cfg.vocos_dim, mel_bins)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(embeddings).transpose(1, 2)  # (B, dim, T)
        frames = mel_frames(hidden.shape[-1], self.hop_size, self.mel_hop)
        hidden = F.interpolate(hidden, size=frames, mode="linear", align_corners=False)
        for block in self.refine:
            hidden = block(hidden)
        return self.head(self.norm(hidden.transpose(1, 2))).transpose(1, 2)


class HifiganVocoder(nn.Module):
    """(B, mel_bins, M) log mel -> (B, N) waveform at 24 kHz, N = codec_frames * hop_size.

    The pretrained generator is loaded on its own (it is not part of the codec's files); its
    22.05 kHz output is resampled to 24 kHz with soxr, one utterance at a time, on the CPU.
    On a CPU with bf16 instructions the generator runs in bf16: half the time of fp32 (0.22
    against 0.5 s per second of audio on one thread) at the same Whisper WER, PESQ and STOI
    on the LibriVox clips (recipes/acoustic_codec/vocoder_bench.py).
    """

    def __init__(self, generator: HifiganGenerator):
        super().__init__()
        self.generator = generator

    @staticmethod
    def uses_bf16(device: torch.device) -> bool:
        return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()

    @torch.no_grad()
    def forward(self, mel: torch.Tensor, samples: int) -> torch.Tensor:
        with torch.autocast(mel.device.type, dtype=torch.bfloat16, enabled=self.uses_bf16(mel.device)):
            wav = self.generator(mel)
        wav = wav[:, 0].float().cpu().numpy()
        out = np.zeros((wav.shape[0], samples), dtype=np.float32)
        for row, item in enumerate(wav):
            resampled = resample(item, VOCODER_RATE, CODEC_RATE)[:samples]
            out[row, : resampled.size] = resampled
        return torch.from_numpy(out).to(mel.device)
