"""Training objective of the acoustic codec: discriminators and losses (DAC / HiFi-GAN style).

- `MultiPeriodDiscriminator`: the waveform folded by periods 2, 3, 5, 7, 11 (time domain).
- `MultiResolutionDiscriminator`: log-magnitude spectrograms at several STFT sizes.
- `MultiScaleMelLoss`: L1 between log-mel spectrograms at window sizes 32..2048.
- least-squares adversarial losses and feature matching.
Mel filterbanks come from `transformers.audio_utils` (no torchaudio).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from maskvox.mel import slaney_mel_filterbank

FeatureMaps = list[torch.Tensor]


@dataclass
class DiscriminatorConfig:
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    # (n_fft, hop, win) per resolution
    resolutions: tuple[tuple[int, int, int], ...] = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512))
    period_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    resolution_channels: int = 32


@dataclass
class MelLossConfig:
    window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)
    clamp_eps: float = 1e-5


@dataclass
class GanLossConfig:
    mel: MelLossConfig = field(default_factory=MelLossConfig)
    mel_weight: float = 15.0
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 2.0
    # The codebook and commitment weights live in the quantizer config (as in the reference).
    vq_weight: float = 1.0


def _conv_stack(x: torch.Tensor, convs: nn.ModuleList, conv_post: nn.Module) -> tuple[torch.Tensor, FeatureMaps]:
    """2-D convolutions with leaky ReLUs, then the output conv: logits and every feature map."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.1)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    """2-D convolutions over the waveform folded into rows of `period` samples."""

    def __init__(self, period: int, channels: tuple[int, ...]):
        super().__init__()
        self.period = period
        layers, previous = [], 1
        for index, width in enumerate(channels):
            stride = (3, 1) if index < len(channels) - 1 else (1, 1)
            layers.append(weight_norm(nn.Conv2d(previous, width, (5, 1), stride, padding=(2, 0))))
            previous = width
        self.convs = nn.ModuleList(layers)
        self.conv_post = weight_norm(nn.Conv2d(previous, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, FeatureMaps]:
        """(B, 1, N) -> logits and the feature maps of every layer."""
        batch, channels, length = wav.shape
        if length % self.period:
            wav = F.pad(wav, (0, self.period - length % self.period), mode="reflect")
        return _conv_stack(wav.view(batch, channels, -1, self.period), self.convs, self.conv_post)


class ResolutionDiscriminator(nn.Module):
    """2-D convolutions over a log-magnitude spectrogram (UnivNet / Vocos)."""

    def __init__(self, n_fft: int, hop: int, win: int, channels: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (7, 5), (2, 2), padding=(3, 2))),
                weight_norm(nn.Conv2d(channels, channels, (5, 3), (2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(channels, channels, (5, 3), (2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(channels, channels, 3, (2, 1), padding=1)),
                weight_norm(nn.Conv2d(channels, channels, 3, (2, 2), padding=1)),
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, FeatureMaps]:
        spec = torch.stft(
            wav[:, 0], self.n_fft, self.hop, window=self.window, center=True, return_complex=True
        ).abs()
        return _conv_stack(torch.log(spec.clamp(min=1e-5))[:, None], self.convs, self.conv_post)  # (B, 1, F, T)


class MelDiscriminator(nn.Module):
    """2-D convolutions over a log mel spectrogram: the adversary of the "hifigan" route's
    decoder, which writes a mel and never a waveform in training. Regressed by L1 alone, the
    decoder writes each bin's conditional median, smoother than speech; this judges the mel
    itself, so the decoder can be pushed toward mels that look recorded at a mel's cost."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (5, 5), (2, 1), padding=(2, 2))),
                weight_norm(nn.Conv2d(channels, channels, (5, 5), (2, 2), padding=(2, 2))),
                weight_norm(nn.Conv2d(channels, channels, (5, 5), (2, 1), padding=(2, 2))),
                weight_norm(nn.Conv2d(channels, channels, 3, (2, 2), padding=1)),
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, 3, padding=1))

    def forward(self, mel: torch.Tensor) -> list[tuple[torch.Tensor, FeatureMaps]]:
        """(B, bins, frames) log mel -> one (logits, feature maps), in the list the losses take."""
        return [_conv_stack(mel[:, None], self.convs, self.conv_post)]


class CodecDiscriminator(nn.Module):
    """All time-domain and spectral discriminators of the codec GAN."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(p, cfg.period_channels) for p in cfg.periods]
            + [ResolutionDiscriminator(*r, channels=cfg.resolution_channels) for r in cfg.resolutions]
        )

    def forward(self, wav: torch.Tensor) -> list[tuple[torch.Tensor, FeatureMaps]]:
        return [d(wav) for d in self.discriminators]


def discriminator_loss(real: list, fake: list) -> torch.Tensor:
    """Least-squares GAN: real logits towards 1, generated towards 0."""
    loss = 0.0
    for (real_logits, _), (fake_logits, _) in zip(real, fake):
        loss = loss + torch.mean((1 - real_logits) ** 2) + torch.mean(fake_logits**2)
    return loss


def generator_adversarial_loss(fake: list) -> torch.Tensor:
    return sum(torch.mean((1 - logits) ** 2) for logits, _ in fake)


def feature_matching_loss(real: list, fake: list) -> torch.Tensor:
    """L1 between the discriminators' feature maps for real and generated audio."""
    loss = 0.0
    for (_, real_maps), (_, fake_maps) in zip(real, fake):
        for r, f in zip(real_maps, fake_maps):
            loss = loss + F.l1_loss(f, r.detach())
    return loss


class MelSpectrogram(nn.Module):
    """Magnitude STFT -> mel filterbank (slaney), no log."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        filters = slaney_mel_filterbank(sample_rate, n_fft, n_mels)
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, n_mels, frames)"""
        spec = torch.stft(wav, self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True)
        return self.filters @ spec.abs()


class MultiScaleMelLoss(nn.Module):
    """Sum over scales of L1(log10 mel(generated), log10 mel(real)), as in DAC."""

    def __init__(self, sample_rate: int, cfg: MelLossConfig):
        super().__init__()
        self.clamp_eps = cfg.clamp_eps
        self.mels = nn.ModuleList(
            [MelSpectrogram(sample_rate, w, w // 4, m) for w, m in zip(cfg.window_lengths, cfg.n_mels)]
        )

    def forward(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """(B, N) waveforms"""
        loss = 0.0
        for mel in self.mels:
            g = torch.log10(mel(generated).clamp(min=self.clamp_eps))
            r = torch.log10(mel(real).clamp(min=self.clamp_eps))
            loss = loss + F.l1_loss(g, r)
        return loss
