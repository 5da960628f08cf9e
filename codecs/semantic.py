"""The semantic path: w2v-BERT 2.0 features and the semantic codec (a VQ-VAE over them).

waveform (16 kHz) -> SeamlessM4T fbank features -> w2v-BERT 2.0, first `layer` blocks only
-> z-normalised with the shipped statistics -> `SemanticCodec.quantize` -> ids (50 Hz, 8192).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from torch import nn

from maskvox.checkpoint import read_npz
from maskvox.config import SemanticCodecConfig, SemanticFeaturesConfig
from maskvox.errors import CheckpointError
from maskvox.limits import MAX_WIDTH

from .kmeans import KMeansCodec
from .layers import VocosBackbone, init_codec_weights
from .quantize import QuantizerOutput, ResidualVQ

# mean and var of w2v-BERT 2.0 layer-17 features, shipped with the package
STATS_PATH = resources.files("maskvox") / "data" / "wav2vec2bert_stats.npz"


class SemanticCodec(nn.Module):
    """VQ-VAE over normalised SSL features (RepCodec in the reference).

    encoder: Vocos backbone + linear to the feature size; one factorized quantizer
    (8192 codes of dimension 8, cosine lookup); decoder: the same shape as the encoder.
    """

    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = nn.Sequential(
            VocosBackbone(cfg.hidden_size, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers),
            nn.Linear(cfg.vocos_dim, cfg.hidden_size),
        )
        self.decoder = nn.Sequential(
            VocosBackbone(cfg.hidden_size, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers),
            nn.Linear(cfg.vocos_dim, cfg.hidden_size),
        )
        self.quantizer = ResidualVQ(
            input_dim=cfg.hidden_size,
            num_quantizers=cfg.num_quantizers,
            codebook_size=cfg.codebook_size,
            codebook_dim=cfg.codebook_dim,
            quantizer_dropout=0.0,
            commitment=cfg.commitment,
            codebook_loss_weight=cfg.codebook_loss_weight,
            use_l2_normalize=True,
            dead_code_threshold=cfg.dead_code_threshold,
        )
        self.apply(init_codec_weights)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, hidden) features -> (B, hidden, T) quantizer input."""
        return self.encoder(features.transpose(1, 2)).transpose(1, 2)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass: (B, T, hidden) -> reconstruction (B, T, hidden) and the VQ output."""
        vq = self.quantizer(self.encode(features))
        return self.decoder(vq.quantized), vq

    @torch.no_grad()
    def quantize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, hidden) -> ids (B, T) and quantized features (B, T, hidden)."""
        vq = self.quantizer(self.encode(features))
        return vq.codes[0], vq.quantized.transpose(1, 2)

    @torch.no_grad()
    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, hidden) reconstructed features."""
        return self.decoder(self.quantizer.vq2emb(ids[None]))


def make_semantic_codec(cfg: SemanticCodecConfig) -> SemanticCodec | KMeansCodec:
    """The semantic codec `cfg.kind` names: the official VQ-VAE or the demo's k-means."""
    if cfg.kind == "vq":
        return SemanticCodec(cfg)
    if cfg.kind == "kmeans":
        return KMeansCodec(cfg)
    raise CheckpointError(f"semantic_codec.kind must be vq or kmeans, not {cfg.kind!r}")


def load_feature_stats(path=STATS_PATH) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the SSL layer's features, for z-normalisation."""
    stats = read_npz(path, "feature statistics file", MAX_WIDTH, CheckpointError)
    if "mean" not in stats or "var" not in stats:
        raise CheckpointError(f"feature statistics {path} need 'mean' and 'var' arrays")
    mean, var = stats["mean"].astype(np.float32), stats["var"].astype(np.float32)
    if mean.ndim != 1 or mean.shape != var.shape:
        raise CheckpointError(f"feature statistics {path}: 'mean' and 'var' must be vectors of one length, got "
                              f"{list(mean.shape)} and {list(var.shape)}")
    if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
        raise CheckpointError(f"feature statistics {path} hold NaN, infinite or negative variance values")
    return torch.from_numpy(mean), torch.from_numpy(np.sqrt(var))


class SemanticFeatureExtractor(nn.Module):
    """w2v-BERT 2.0 (transformers) cut after `layer` blocks, with fbank front-end and stats.

    Only the blocks up to `layer` are built and loaded: hidden_states[layer] of the full
    model is the last hidden state of the truncated one (the encoder has no final norm),
    which saves the time and memory of the remaining blocks.
    """

    def __init__(self, model, fbank, mean: torch.Tensor, std: torch.Tensor, cfg: SemanticFeaturesConfig,
                 source_layers: int | None = None):
        super().__init__()
        self.model = model
        self.fbank = fbank
        self.cfg = cfg
        # Blocks of the checkpoint before truncation (24 for w2v-BERT 2.0): the reference
        # pipeline's random draws depend on it (`Synthesizer._skip_reference_draws`).
        self.source_layers = source_layers or model.config.num_hidden_layers
        self.default_attention = model.config._attn_implementation  # sdpa where transformers has it
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    @staticmethod
    def truncated_config(config, layer: int):
        """A copy of a Wav2Vec2BertConfig keeping the first `layer` blocks and nothing after."""
        config = type(config).from_dict(config.to_dict())
        if not 1 <= layer <= config.num_hidden_layers:
            raise ValueError(f"layer {layer} is outside 1..{config.num_hidden_layers}")
        config.num_hidden_layers = layer
        config.add_adapter = False
        config.use_intermediate_ffn_before_adapter = False
        return config

    def use_reference_attention(self, on: bool) -> None:
        """Eager attention (the reference's exact sums: SDPA differs by ~1e-6), or back to the default."""
        self.model.set_attn_implementation("eager" if on else self.default_attention)

    def fbank_features(self, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz waveforms -> padded fbank input (B, T', 160) and attention mask (B, T')."""
        inputs = self.fbank(waveforms, sampling_rate=self.cfg.sample_rate, return_tensors="pt", padding=True)
        return inputs["input_features"], inputs["attention_mask"]

    @torch.no_grad()
    def forward(self, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """16 kHz float waveforms -> normalised features (B, T, 1024) and frame mask (B, T)."""
        device = self.mean.device
        input_features, attention_mask = self.fbank_features(waveforms)
        input_features = input_features.to(device=device, dtype=next(self.model.parameters()).dtype)
        attention_mask = attention_mask.to(device)
        hidden = self.model(input_features=input_features, attention_mask=attention_mask).last_hidden_state
        return (hidden - self.mean.to(hidden)) / self.std.to(hidden), attention_mask.bool()
