"""Building blocks shared by the semantic and acoustic codecs.

Parameter names follow the official checkpoints (`weight_g`/`weight_v` for weight-normed
convolutions, Vocos' `embed`/`convnext`/`final_layer_norm`, the ISTFT head's `out` and
`istft.window`), so those checkpoints load strictly. The `vocos` package has the same
backbone and head, but it imports torchaudio at import time, which has no build for
current torch; these modules keep the core path free of it (tests compare the two).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WNConv1d(nn.Conv1d):
    """Conv1d with weight normalisation, stored as `weight_g` (norm) and `weight_v` (direction).

    This is the parametrisation of the old `torch.nn.utils.weight_norm` (dim 0), whose key
    names the official checkpoints use: weight = g * v / ||v||, the norm taken over every
    dimension but the output channels.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weight = self.weight.detach()
        del self.weight
        # On the meta device (weights loaded next) the norm has no value to compute, and asking
        # for it there imports torch's reference decompositions and dynamo: 1.5 s of loading.
        norm = weight.new_empty(weight.shape[0], 1, 1) if weight.is_meta else weight.norm(dim=(1, 2), keepdim=True)
        self.weight_g = nn.Parameter(norm)
        self.weight_v = nn.Parameter(weight)

    def normalized_weight(self) -> torch.Tensor:
        return self.weight_v * (self.weight_g / self.weight_v.norm(dim=(1, 2), keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class Snake1d(nn.Module):
    """Snake activation x + sin^2(alpha x) / alpha, one alpha per channel (DAC)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, T); the small constant keeps alpha -> 0 finite, as in the reference.
        scale = (self.alpha + 1e-9).reciprocal()
        if torch.is_grad_enabled() and (x.requires_grad or self.alpha.requires_grad):
            return x + scale * torch.sin(self.alpha * x).pow(2)
        # Without autograd, one buffer updated in place: the same values (the same operations
        # in the same order) with a third of the memory traffic; Snake was a quarter of the
        # acoustic encoder's time.
        y = torch.mul(self.alpha, x)
        y.sin_().square_().mul_(scale)
        return y.add_(x)


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block: depthwise conv, LayerNorm, GELU MLP, layer scale, residual."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale_init_value: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)"""
        residual = x
        x = self.dwconv(x).transpose(1, 2)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        return residual + (self.gamma * x).transpose(1, 2)


class VocosBackbone(nn.Module):
    """Vocos backbone: conv embedding, LayerNorm, ConvNeXt blocks, final LayerNorm.

    Input (B, input_channels, T); output (B, T, dim): time-major, ready for a linear head.
    """

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            [ConvNeXtBlock(dim, intermediate_dim, layer_scale_init_value=1 / num_layers) for _ in range(num_layers)]
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding: T frames -> T * hop_length samples.

    torch.istft only offers centre padding; trimming (win - hop) / 2 samples at each end
    of the overlap-add instead keeps the output aligned with the frames, like a conv.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, padding: str = "same"):
        super().__init__()
        if padding not in ("same", "center"):
            raise ValueError(f"ISTFT padding must be 'same' or 'center', not {padding!r}")
        self.padding = padding
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        # clone(): hann_window returns a view into a longer storage, which safetensors refuses to save.
        # On the CPU even when the module is built on the meta device: the window is loaded
        # next, and a meta window would go through torch's decompositions (and import dynamo).
        self.register_buffer("window", torch.hann_window(win_length, device="cpu").clone())

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, n_fft // 2 + 1, T) complex -> (B, T * hop_length)"""
        if self.padding == "center":
            return torch.istft(spec, self.n_fft, self.hop_length, self.win_length, self.window, center=True)
        frames = spec.shape[-1]
        pad = (self.win_length - self.hop_length) // 2
        frames_time = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        length = (frames - 1) * self.hop_length + self.win_length
        signal = _overlap_add(frames_time, length, self.win_length, self.hop_length)[:, pad:-pad]
        envelope = _overlap_add(
            self.window.square()[None, :, None].expand(1, -1, frames), length, self.win_length, self.hop_length
        )[0, pad:-pad]
        return signal / envelope


def _overlap_add(frames: torch.Tensor, length: int, win_length: int, hop_length: int) -> torch.Tensor:
    """(B, win_length, T) windowed frames -> (B, length) summed at hop_length strides."""
    folded = F.fold(frames, output_size=(1, length), kernel_size=(1, win_length), stride=(1, hop_length))
    return folded[:, 0, 0, :]


class ISTFTHead(nn.Module):
    """Linear layer to log-magnitude and phase per frame, then ISTFT to a waveform."""

    def __init__(self, dim: int, n_fft: int, hop_length: int, padding: str = "same"):
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft=n_fft, hop_length=hop_length, win_length=n_fft, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, T * hop_length)"""
        # fp32 from here on: FFTs have no bf16 kernels, and phases need the precision.
        log_magnitude, phase = self.out(x).float().transpose(1, 2).chunk(2, dim=1)
        # The clip keeps a badly trained model from producing huge magnitudes.
        magnitude = torch.exp(log_magnitude).clip(max=1e2)
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return self.istft(spec)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv1d, nn.Linear)) and not isinstance(module, WNConv1d) and not module.weight.is_meta:
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


def init_codec_weights(module: nn.Module) -> None:
    """The reference's initialisation: truncated normal (std 0.02) weights, zero biases.

    Weight-normed convolutions keep torch's default initialisation of their direction and
    only get zero biases: the reference's initialiser writes to the derived `weight`
    tensor, which weight normalisation recomputes from `weight_g`/`weight_v` anyway.
    """
    if isinstance(module, WNConv1d):
        nn.init.zeros_(module.bias)
    else:
        _init_weights(module)
