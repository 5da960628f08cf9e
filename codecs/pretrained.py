"""Building the codecs from a model location (local folder in the official layout, or hub repo)."""

from __future__ import annotations

from pathlib import Path

import torch

from maskvox.checkpoint import build_on_meta, load_model_config, load_module, load_pretrained, official_file, resolve_files
from maskvox.config import ModelConfig, SemanticFeaturesConfig
from maskvox.errors import CheckpointError

from .acoustic import AcousticCodec
from .semantic import STATS_PATH, SemanticCodec, SemanticFeatureExtractor, load_feature_stats


def load_acoustic_codec(location: str | Path, cfg: ModelConfig | None = None, device: str = "cpu") -> AcousticCodec:
    cfg = cfg or load_model_config(location)
    codec = build_on_meta(lambda: AcousticCodec(cfg.acoustic_codec))
    load_module(codec.encoder, official_file(location, "codec_encoder"))
    load_module(codec.decoder, official_file(location, "codec_decoder"))
    return codec.eval().to(device)


def load_semantic_codec(location: str | Path, cfg: ModelConfig | None = None, device: str = "cpu") -> SemanticCodec:
    cfg = cfg or load_model_config(location)
    return load_pretrained(location, "semantic_codec", lambda: SemanticCodec(cfg.semantic_codec)).eval().to(device)


# Files of a transformers Wav2Vec2-BERT checkpoint that the semantic path reads.
W2V_BERT_FILES = ["config.json", "model.safetensors", "preprocessor_config.json"]


def load_semantic_features(
    cfg: SemanticFeaturesConfig, base: str | Path | None = None, device: str = "cpu"
) -> SemanticFeatureExtractor:
    """w2v-BERT 2.0 (or any Wav2Vec2-BERT checkpoint) cut after `cfg.layer` blocks.

    `base` is the model folder whose config named `cfg`: relative paths in `cfg` are
    taken from there. Only the weights of the kept blocks are read from model.safetensors
    (the official file holds 24 blocks; 17 are needed), and they are loaded strictly.
    """
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    files = resolve_files(_relative_to(cfg.model, base), W2V_BERT_FILES)
    full_config = Wav2Vec2BertConfig.from_json_file(str(files["config.json"]))
    try:
        config = SemanticFeatureExtractor.truncated_config(full_config, cfg.layer)
    except ValueError as err:
        raise CheckpointError(f"{cfg.model}: semantic feature {err}") from None
    # Rotary position embeddings keep a computed buffer that is not saved: such a (small)
    # model is built for real; w2v-BERT 2.0 (relative keys) skips its random initialisation.
    rotary = config.position_embeddings_type == "rotary"
    model = Wav2Vec2BertModel(config) if rotary else build_on_meta(lambda: Wav2Vec2BertModel(config))
    load_module(model, files["model.safetensors"], keep_only_expected=True)
    fbank = SeamlessM4TFeatureExtractor.from_json_file(str(files["preprocessor_config.json"]))
    mean, std = load_feature_stats(_relative_to(cfg.stats, base) if cfg.stats else STATS_PATH)
    if mean.numel() != config.hidden_size:
        raise CheckpointError(
            f"feature statistics have {mean.numel()} dimensions, the semantic model {config.hidden_size}"
        )
    return SemanticFeatureExtractor(model.eval(), fbank, mean, std, cfg, full_config.num_hidden_layers).to(device)


def _relative_to(path: str, base: str | Path | None) -> str:
    """`path` under the local folder `base` if it exists there, else `path` as given."""
    if base is not None and not Path(path).is_absolute():
        candidate = Path(str(base)).expanduser() / path
        if candidate.exists():
            return str(candidate)
    return path
