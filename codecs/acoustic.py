"""The acoustic codec: 24 kHz waveform <-> 12 layers of 1024 codes at 50 Hz.

`AcousticEncoder` is DAC's encoder (Snake activations, weight-normed convolutions,
strides 3/4/5/8 = 480 samples per frame). `AcousticDecoder` holds the residual factorized
VQ and a Vocos decoder (ConvNeXt backbone + ISTFT head). The split and the parameter
names are those of the official checkpoints: `acoustic_codec/model.safetensors` is the
encoder, `acoustic_codec/model_1.safetensors` the decoder.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from maskvox.config import AcousticCodecConfig, AcousticDecoderConfig, AcousticEncoderConfig
from maskvox.errors import CheckpointError, ConfigError

from .layers import ISTFTHead, Snake1d, VocosBackbone, WNConv1d, init_codec_weights
from .mel_decoder import HifiganVocoder, MelDecoder
from .quantize import QuantizerOutput, ResidualVQ


VOCODERS = ("vocos", "hifigan")
ENCODERS = ("dac", "mel")


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Three dilated residual units at dim/2 channels, then a strided conv to dim channels."""

    def __init__(self, dim: int, stride: int):
        super().__init__()
        self.block = nn.Sequential(
            ResidualUnit(dim // 2, dilation=1),
            ResidualUnit(dim // 2, dilation=3),
            ResidualUnit(dim // 2, dilation=9),
            Snake1d(dim // 2),
            WNConv1d(dim // 2, dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class AcousticEncoder(nn.Module):
    """(B, 1, N) waveform at 24 kHz -> (B, out_channels, N / 480) latents."""

    def __init__(self, cfg: AcousticEncoderConfig):
        super().__init__()
        channels = cfg.d_model
        layers: list[nn.Module] = [WNConv1d(1, channels, kernel_size=7, padding=3)]
        for stride in cfg.up_ratios:
            channels *= 2
            layers.append(EncoderBlock(channels, stride=stride))
        layers += [Snake1d(channels), WNConv1d(channels, cfg.out_channels, kernel_size=3, padding=1)]
        if cfg.use_tanh:
            layers.append(nn.Tanh())
        self.block = nn.Sequential(*layers)
        self.hop_length = math.prod(cfg.up_ratios)
        self.apply(init_codec_weights)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.block(wav)


class MelEncoder(nn.Module):
    """(B, 1, N) waveform at 24 kHz -> (B, out_channels, N / 480) latents, from a log mel.

    For the "hifigan" decoder route, which predicts a mel spectrogram and leaves the phase to
    HiFi-GAN: the encoder then needs the spectrum only, and reading a 100 Hz log mel (1024-point
    STFT, hop 240, Slaney bands up to 12 kHz) costs a fraction of the DAC encoder's full-rate
    convolutions. A stride-2 convolution brings it to the codec's 50 Hz: N / 240 + 1 mel frames
    give ceil(N / 480) latent frames.
    """

    def __init__(self, cfg: AcousticEncoderConfig):
        super().__init__()
        self.mel_bins = cfg.mel_bins
        self.down = nn.Conv1d(cfg.mel_bins, cfg.mel_dim, kernel_size=4, stride=2, padding=1)
        self.backbone = VocosBackbone(cfg.mel_dim, cfg.mel_dim, 3 * cfg.mel_dim, cfg.mel_layers)
        self.out = nn.Linear(cfg.mel_dim, cfg.out_channels)
        self.hop_length = math.prod(cfg.up_ratios)
        # Made on first use: not in the files, and a module built on the meta device loads.
        self._filters: torch.Tensor | None = None

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, mel_bins, N // 240 + 1)."""
        if self._filters is None or self._filters.device != wav.device:
            from .hifigan import slaney_mel_filterbank

            filters = slaney_mel_filterbank(24000, 1024, self.mel_bins, 0.0, 12000.0)
            self._filters = torch.from_numpy(filters).to(wav.device)
        window = torch.hann_window(1024, device=wav.device)
        spectrum = torch.stft(wav.float(), 1024, self.hop_length // 2, window=window, return_complex=True).abs()
        return torch.log(torch.clamp(self._filters @ spectrum, min=1e-5))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(self.down(self.log_mel(wav[:, 0])))  # (B, T, mel_dim)
        return self.out(hidden).transpose(1, 2)


class VocosDecoder(nn.Module):
    """(B, C, T) embeddings -> (B, 1, T * hop) waveform."""

    def __init__(self, cfg: AcousticDecoderConfig):
        super().__init__()
        self.backbone = VocosBackbone(cfg.in_channels, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers)
        self.head = ISTFTHead(cfg.vocos_dim, cfg.n_fft, cfg.hop_size, cfg.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))[:, None, :]


class AcousticDecoder(nn.Module):
    """Residual VQ (`quantizer.*`) and the Vocos decoder (`model.*`)."""

    def __init__(self, cfg: AcousticDecoderConfig):
        super().__init__()
        self.quantizer = ResidualVQ(
            input_dim=cfg.in_channels,
            num_quantizers=cfg.num_quantizers,
            codebook_size=cfg.codebook_size,
            codebook_dim=cfg.codebook_dim,
            quantizer_dropout=cfg.quantizer_dropout,
            commitment=cfg.commitment,
            codebook_loss_weight=cfg.codebook_loss_weight,
            use_l2_normalize=cfg.use_l2_normalize,
            dead_code_threshold=cfg.dead_code_threshold,
        )
        if cfg.vocoder not in VOCODERS:
            raise ConfigError(f"acoustic_codec.decoder.vocoder must be one of {', '.join(VOCODERS)}, not {cfg.vocoder!r}")
        self.model = MelDecoder(cfg) if cfg.vocoder == "hifigan" else VocosDecoder(cfg)
        self.apply(init_codec_weights)

    def quantize(self, latents: torch.Tensor, n_quantizers: int | None = None) -> QuantizerOutput:
        """(B, C, T) encoder latents -> quantized (B, C, T), codes (N, B, T)."""
        return self.quantizer(latents, n_quantizers=n_quantizers)

    def vq2emb(self, codes: torch.Tensor, n_quantizers: int | None = None) -> torch.Tensor:
        """(N, B, T) codes -> (B, C, T) summed quantizer embeddings."""
        return self.quantizer.vq2emb(codes, n_quantizers=n_quantizers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, 1, T * hop) waveform; with the "hifigan" route, (B, 80, M) log mel."""
        return self.model(embeddings)


class AcousticCodec(nn.Module):
    """Encoder and decoder together, with the id-level API the pipeline uses."""

    def __init__(self, cfg: AcousticCodecConfig):
        super().__init__()
        if math.prod(cfg.encoder.up_ratios) != cfg.decoder.hop_size:
            raise ConfigError(
                f"acoustic codec: the encoder's strides {list(cfg.encoder.up_ratios)} give "
                f"{math.prod(cfg.encoder.up_ratios)} samples per frame, the decoder's hop_size is {cfg.decoder.hop_size}"
            )
        self.cfg = cfg
        if cfg.encoder.kind not in ENCODERS:
            raise ConfigError(f"acoustic_codec.encoder.kind must be one of {', '.join(ENCODERS)}, not {cfg.encoder.kind!r}")
        self.encoder = MelEncoder(cfg.encoder) if cfg.encoder.kind == "mel" else AcousticEncoder(cfg.encoder)
        self.decoder = AcousticDecoder(cfg.decoder)
        # The "hifigan" route's pretrained generator: not in the codec's files, attached by
        # maskvox.codecs.pretrained.load_acoustic_codec.
        self.vocoder: HifiganVocoder | None = None

    @property
    def hop_length(self) -> int:
        return self.encoder.hop_length

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    def pad_to_frames(self, wav: torch.Tensor) -> torch.Tensor:
        """Zero-pad (..., N) on the right to a whole number of frames."""
        remainder = wav.shape[-1] % self.hop_length
        if remainder == 0:
            return wav
        return torch.nn.functional.pad(wav, (0, self.hop_length - remainder))

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_quantizers: int | None = None, pad: bool = True) -> torch.Tensor:
        """(B, N) waveform at 24 kHz -> (B, T, n_quantizers) codes, T = ceil(N / 480).

        `pad=False` encodes the samples as they are, as the reference pipeline does with its
        prompt: T is then about N / 480, rounded by the strided convolutions.
        """
        latents = self.encoder((self.pad_to_frames(wav) if pad else wav)[:, None, :])
        codes = self.decoder.quantize(latents, n_quantizers=n_quantizers).codes
        return codes.permute(1, 2, 0)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T, n) codes -> (B, T * 480) waveform at 24 kHz."""
        return self.decode_latents(self.decoder.vq2emb(codes.permute(2, 0, 1)).transpose(1, 2))

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, T, D) quantizer outputs (summed over layers), or a latent S2A's prediction of
        them (s2a/latent.py) -> (B, T * 480) waveform at 24 kHz."""
        decoded = self.decoder(latents.transpose(1, 2))  # the decoder reads (B, D, T)
        if self.cfg.decoder.vocoder != "hifigan":
            return decoded[:, 0, :]
        if self.vocoder is None:
            raise CheckpointError("this acoustic codec decodes through HiFi-GAN, which is not loaded: "
                                  "load the codec with maskvox.codecs.pretrained.load_acoustic_codec")
        return self.vocoder(decoded, latents.shape[1] * self.hop_length)
