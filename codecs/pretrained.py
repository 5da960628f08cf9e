"""Building the codecs from a model location (local folder in the official layout, or hub repo)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from maskvox.checkpoint import (build_on_meta, check_state_dict, load_model_config, load_module, load_pretrained,
                                official_file, read_shapes, resolve_files)
from maskvox.config import ModelConfig, SemanticFeaturesConfig
from maskvox.errors import CheckpointError, ConfigError
from maskvox.limits import SSL_SIZE_KINDS, check_sizes

from .acoustic import AcousticCodec
from .mel_decoder import HifiganVocoder
from .kmeans import KMeansCodec
from .semantic import STATS_PATH, SemanticCodec, SemanticFeatureExtractor, load_feature_stats, make_semantic_codec
from .whisper_features import WhisperFeatureExtractor, load_whisper_encoder

WHISPER_BASE = "whisper-base"  # semantic_features.model naming the installed Whisper base


def load_acoustic_codec(location: str | Path, cfg: ModelConfig | None = None, device: str = "cpu") -> AcousticCodec:
    cfg = cfg or load_model_config(location)
    codec = build_on_meta(lambda: AcousticCodec(cfg.acoustic_codec))
    load_module(codec.encoder, official_file(location, "codec_encoder"))
    load_module(codec.decoder, official_file(location, "codec_decoder"))
    if cfg.acoustic_codec.decoder.vocoder == "hifigan":
        codec.vocoder = HifiganVocoder(load_vocoder(location, cfg.acoustic_codec.decoder.vocoder_folder))
    return codec.eval().to(device)


def load_vocoder(location: str | Path, folder: str = ""):
    """The HiFi-GAN generator of the "hifigan" route: `folder` of the model at `location`
    (a generator shipped with the model), or the installed universal V1 when `folder` is empty."""
    from .hifigan_data import CONFIG_NAME, WEIGHTS_NAME, load_hifigan

    if not folder:
        return load_hifigan()
    if Path(folder).is_absolute() or ".." in Path(folder).parts:
        raise ConfigError(f"acoustic_codec.decoder.vocoder_folder must be a folder inside the model folder, not {folder!r}")
    files = resolve_files(location, [f"{folder}/{CONFIG_NAME}", f"{folder}/{WEIGHTS_NAME}"])
    return load_hifigan(files[f"{folder}/{WEIGHTS_NAME}"].parent)


def load_semantic_codec(
    location: str | Path, cfg: ModelConfig | None = None, device: str = "cpu"
) -> SemanticCodec | KMeansCodec:
    cfg = cfg or load_model_config(location)
    return load_pretrained(location, "semantic_codec", lambda: make_semantic_codec(cfg.semantic_codec)).eval().to(device)


# Files of a transformers Wav2Vec2-BERT checkpoint that the semantic path reads.
W2V_BERT_FILES = ["config.json", "model.safetensors", "preprocessor_config.json"]


def load_semantic_features(
    cfg: SemanticFeaturesConfig, base: str | Path | None = None, device: str = "cpu", normalize: bool = True
) -> SemanticFeatureExtractor | WhisperFeatureExtractor:
    """The semantic feature extractor `cfg.kind` names: w2v-BERT (the official path) or Whisper.

    `normalize=False` leaves the features as the encoder gives them (for computing the
    statistics of a new encoder layer).
    """
    if cfg.kind == "whisper":
        return _load_whisper_features(cfg, base, normalize).to(device)
    if cfg.kind != "w2v-bert":
        raise CheckpointError(f"semantic_features.kind must be w2v-bert or whisper, not {cfg.kind!r}")
    return _load_w2v_bert_features(cfg, base, normalize).to(device)


def _load_whisper_features(cfg: SemanticFeaturesConfig, base: str | Path | None, normalize: bool):
    if cfg.model == WHISPER_BASE:
        from maskvox.whisper_base import ensure_model

        folder = ensure_model()
    else:
        folder = Path(_relative_to(cfg.model, base)).expanduser()
    if not (folder / "model.bin").is_file():
        raise CheckpointError(f"Whisper folder {folder} has no model.bin (CTranslate2 format)")
    encoder = load_whisper_encoder(folder / "model.bin", cfg.layer)
    width = encoder.shape.width
    if normalize and cfg.stats:
        mean, std = load_feature_stats(_relative_to(cfg.stats, base))
    elif normalize:
        raise CheckpointError("semantic_features.stats must name the statistics of the Whisper layer's features")
    else:
        mean, std = torch.zeros(width), torch.ones(width)
    if mean.numel() != width:
        raise CheckpointError(f"feature statistics have {mean.numel()} dimensions, the Whisper encoder {width}")
    return WhisperFeatureExtractor(encoder, mean, std, cfg)


def _load_w2v_bert_features(cfg: SemanticFeaturesConfig, base: str | Path | None, normalize: bool):
    """w2v-BERT 2.0 (or any Wav2Vec2-BERT checkpoint) cut after `cfg.layer` blocks.

    `base` is the model folder whose config named `cfg`: relative paths in `cfg` are
    taken from there. Only the weights of the kept blocks are read from model.safetensors
    (the official file holds 24 blocks; 17 are needed), and they are loaded strictly.
    """
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertModel

    files = resolve_files(_relative_to(cfg.model, base), W2V_BERT_FILES)
    full_config = _read_ssl_config(files["config.json"])
    try:
        config = SemanticFeatureExtractor.truncated_config(full_config, cfg.layer)
    except ValueError as err:
        raise CheckpointError(f"{cfg.model}: semantic feature {err}") from None
    # Built on the meta device (nothing allocated) and its shapes checked against the weights
    # file's header: the config's sizes cannot allocate more than the file holds.
    on_meta = build_on_meta(lambda: Wav2Vec2BertModel(config))
    check_state_dict(on_meta.state_dict(), read_shapes(files["model.safetensors"], set(on_meta.state_dict())),
                     str(files["model.safetensors"]))
    # Rotary position embeddings keep a computed buffer that is not saved: such a (small)
    # model is built for real; w2v-BERT 2.0 (relative keys) skips its random initialisation.
    model = Wav2Vec2BertModel(config) if config.position_embeddings_type == "rotary" else on_meta
    load_module(model, files["model.safetensors"], keep_only_expected=True)
    try:
        fbank = SeamlessM4TFeatureExtractor.from_json_file(str(files["preprocessor_config.json"]))
    except (OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"{files['preprocessor_config.json']} is not a readable feature extractor config: "
                              f"{err}") from None
    mean, std = load_feature_stats(_relative_to(cfg.stats, base) if cfg.stats else STATS_PATH)
    if not normalize:
        mean, std = torch.zeros_like(mean), torch.ones_like(std)
    if mean.numel() != config.hidden_size:
        raise CheckpointError(
            f"feature statistics have {mean.numel()} dimensions, the semantic model {config.hidden_size}"
        )
    return SemanticFeatureExtractor(model.eval(), fbank, mean, std, cfg, full_config.num_hidden_layers)


def _read_ssl_config(path: Path):
    """A transformers Wav2Vec2-BERT config.json, valid JSON and its sizes bounded (maskvox.limits)."""
    from transformers import Wav2Vec2BertConfig

    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not a readable JSON config: {err}") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    try:
        check_sizes(values, SSL_SIZE_KINDS, f"{path}: ")
    except ConfigError as err:
        raise CheckpointError(str(err)) from None
    try:
        return Wav2Vec2BertConfig.from_dict(values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} is not a Wav2Vec2-BERT config: {err}") from None


def _relative_to(path: str, base: str | Path | None) -> str:
    """`path` under the local folder `base` if it exists there, else `path` as given."""
    if base is not None and not Path(path).is_absolute():
        candidate = Path(str(base)).expanduser() / path
        if candidate.exists():
            return str(candidate)
    return path
