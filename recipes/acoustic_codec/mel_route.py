"""Training data and loss of the "hifigan" decoder route (codecs/mel_decoder.py).

The codec's decoder learns HiFi-GAN's log mel of the very audio it encoded, by regression:
no discriminator and no waveform during training, which is what makes the route cheap on
a CPU. Each item is a 24 kHz segment that starts on a codec frame and the same stretch at
22.05 kHz (a codec frame is 20 ms at both rates: 480 and 441 samples), resampled with a
margin on both sides so the cut has no edge effects, and long enough for every mel frame
the decoder predicts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from maskvox.audio import resample
from maskvox.codecs.hifigan import HifiganConfig, HifiganMel
from maskvox.codecs.mel_decoder import CODEC_RATE, VOCODER_RATE, mel_frames, vocoder_samples_per_frame

from ..common.data import AudioSegments

MARGIN_FRAMES = 10  # 200 ms of context resampled on each side of a segment


class PairedSegments(AudioSegments):
    """Items: (segment (N,) at 24 kHz, the same stretch (M * 256,) at 22.05 kHz), N = T * hop."""

    def __init__(self, *args, hop_size: int = 480, mel_hop: int = 256, **kwargs):
        super().__init__(*args, **kwargs)
        self.hop_size, self.mel_hop = hop_size, mel_hop

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        wav, hop = self.waves[index], self.hop_size
        frames = self.segment_samples // hop
        usable_frames = max(0, (wav.numel() - self.segment_samples) // hop)
        start = int(torch.randint(0, usable_frames + 1, ()).item())
        gain = self.cfg.min_peak + (self.cfg.max_peak - self.cfg.min_peak) * torch.rand(())
        segment, target = frames_at_both_rates(wav, start, frames, hop, self.mel_hop)
        return segment * gain, target * gain


def frames_at_both_rates(wav: torch.Tensor, first_frame: int, frames: int, hop: int = 480,
                         mel_hop: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Codec frames [first_frame, first_frame + frames) of a 24 kHz waveform (N,), zero past its
    ends: (frames * hop,) at 24 kHz and the same stretch (mel_frames(frames) * mel_hop,) at
    22.05 kHz, resampled with MARGIN_FRAMES of context on both sides."""
    margin = MARGIN_FRAMES * hop
    start = first_frame * hop
    samples = frames * hop
    padded = F.pad(wav, (margin, margin + max(0, start + samples - wav.numel())))
    stretch = padded[start: start + samples + 2 * margin]
    resampled = resample(stretch.numpy(), CODEC_RATE, VOCODER_RATE)
    first = MARGIN_FRAMES * vocoder_samples_per_frame(hop)
    length = mel_frames(frames, hop, mel_hop) * mel_hop
    target = torch.from_numpy(np.ascontiguousarray(resampled[first: first + length], dtype=np.float32))
    return stretch[margin: margin + samples], target


class MelRegressionLoss(torch.nn.Module):
    """L1 between predicted and true HiFi-GAN log mel: (B, 80, M) and (B, M * 256) -> scalar."""

    def __init__(self, cfg: HifiganConfig | None = None):
        super().__init__()
        self.mel = HifiganMel(cfg or HifiganConfig())

    @torch.no_grad()
    def target(self, wav_22k: torch.Tensor) -> torch.Tensor:
        """(B, M * 256) -> the true log mel (B, 80, M)."""
        return self.mel(wav_22k)

    def forward(self, predicted: torch.Tensor, wav_22k: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(predicted.float(), self.target(wav_22k))
