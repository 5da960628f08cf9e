"""Typed configurations: dataclasses loaded from YAML, JSON or the official `maskgct.json`.

Three ways in:
- `load_config(path, cls)`: a YAML or JSON file whose keys mirror the dataclass fields;
- `ModelConfig.from_official(dict)`: the official MaskGCT config format
  (`{"model": {"semantic_codec": ..., "acoustic_codec": {"encoder": .., "decoder": ..}, ...}}`);
- `preset(name)`: named sizes (`official`, `tiny`).
`apply_overrides(cfg, ["a.b=1"])` lets command-line flags win over any of them.
Unknown keys and wrongly typed values are `ConfigError`s naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .fileio import write_text

# ---------------------------------------------------------------------------------------
# Model configs. Field names follow the official config where it has one.


@dataclass
class SemanticFeaturesConfig:
    """The self-supervised speech model whose hidden layer the semantic codec quantizes."""

    # Hub repo id, or a folder in transformers' layout; a relative path is taken relative
    # to the model folder whose config.json names it (so a model folder can carry its own).
    model: str = "facebook/w2v-bert-2.0"
    layer: int = 17  # hidden_states[layer]: the output of the layer-th encoder block
    # .npz with `mean` and `var` of that layer's features; empty: the statistics of
    # w2v-BERT 2.0 layer 17 shipped with maskvox. Relative paths as for `model`.
    stats: str = ""
    sample_rate: int = 16000
    frame_rate_hz: int = 50
    # "w2v-bert": a transformers Wav2Vec2-BERT checkpoint (the official path). "whisper":
    # Whisper's encoder from a CTranslate2 folder (model.bin); `model` "whisper-base" names
    # the copy that maskvox's install joins from its pinned packages (the demo's encoder).
    kind: str = "w2v-bert"
    # Whisper only: "exact" encodes an input's own frames, "pad30" pads it with silence to
    # Whisper's 30-second window first (codecs/whisper_features.py).
    whisper_window: str = "exact"


@dataclass
class SemanticCodecConfig:
    codebook_size: int = 8192
    hidden_size: int = 1024
    codebook_dim: int = 8
    vocos_dim: int = 384
    vocos_intermediate_dim: int = 2048
    vocos_num_layers: int = 12
    num_quantizers: int = 1
    commitment: float = 0.15
    codebook_loss_weight: float = 1.0
    dead_code_threshold: float = 0.0  # training only, as AcousticDecoderConfig's
    # "vq": the official VQ-VAE (codecs/semantic.py). "kmeans": centroids of the normalised
    # features, codebook_size x hidden_size, no encoder or decoder (codecs/kmeans.py).
    kind: str = "vq"


@dataclass
class AcousticEncoderConfig:
    d_model: int = 96
    up_ratios: tuple[int, ...] = (3, 4, 5, 8)
    out_channels: int = 256
    use_tanh: bool = False
    # "dac": the official convolutional encoder over the waveform. "mel": a log mel (100 Hz,
    # mel_bins bands) -> stride-2 convolution -> ConvNeXt blocks (mel_dim wide), for the
    # "hifigan" decoder route, which only needs the spectrum back (codecs/acoustic.py).
    kind: str = "dac"
    mel_bins: int = 100
    mel_dim: int = 256
    mel_layers: int = 4


@dataclass
class AcousticDecoderConfig:
    in_channels: int = 256
    num_quantizers: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    commitment: float = 0.25
    codebook_loss_weight: float = 1.0
    use_l2_normalize: bool = True
    vocos_dim: int = 512
    vocos_intermediate_dim: int = 4096
    vocos_num_layers: int = 30
    n_fft: int = 1920
    hop_size: int = 480
    padding: str = "same"
    # "vocos": the official decoder (ISTFT head). "hifigan": the backbone predicts the log mel
    # of the pretrained HiFi-GAN universal generator, which makes the waveform (the demo's
    # route, codecs/mel_decoder.py); mel_refine_layers ConvNeXt blocks run at the mel rate.
    vocoder: str = "vocos"
    # With "hifigan": a HiFi-GAN generator folder (config.json, generator.safetensors) inside the
    # model folder, such as a smaller one distilled from the universal V1 (recipes/vocoder);
    # empty: the installed universal V1.
    vocoder_folder: str = ""
    mel_refine_layers: int = 2
    # Training only: codes picked less often than this (moving average per batch) move onto
    # latents of the batch (codecs/quantize.py); 0 (the official codec) never moves them.
    dead_code_threshold: float = 0.0


@dataclass
class AcousticCodecConfig:
    encoder: AcousticEncoderConfig = field(default_factory=AcousticEncoderConfig)
    decoder: AcousticDecoderConfig = field(default_factory=AcousticDecoderConfig)
    sample_rate: int = 24000


@dataclass
class T2SConfig:
    hidden_size: int = 1536
    num_layers: int = 16
    num_heads: int = 16
    cfg_scale: float = 0.15
    cond_codebook_size: int = 8192
    cond_dim: int = 1024
    # Rows of the phone table (ids 0-362 used by the official vocabulary, 1023 = padding);
    # more only when fine-tuning for a language with more phones.
    phone_vocab_size: int = 1024
    # Alignment help (t2s/progress.py), a demo option: each phone and frame also gets where it
    # lies in its sequence. Off in the official layout (no extra weights).
    progress_embedding: bool = False
    # Alignment help (maskvox/frame_phones.py), a demo option: each semantic frame also gets the
    # phone said in it; `frame_phone_drop` of the training items go without, as editing does.
    aligned_phones: bool = False
    frame_phone_drop: float = 0.2


@dataclass
class S2AConfig:
    num_quantizer: int = 12
    hidden_size: int = 1024
    num_layers: int = 16
    num_heads: int = 16
    codebook_size: int = 1024
    cfg_scale: float = 0.15
    mask_layer_schedule: str = "linear"
    cond_codebook_size: int = 8192
    cond_dim: int = 1024
    predict_layer_1: bool = False
    # What the model outputs: "tokens" (the official layout: logits over each layer's codes) or
    # "latent", a demo option (s2a/latent.py): the acoustic codec's continuous latent of the
    # first num_quantizer layers, regressed in one pass and decoded without ids.
    target: str = "tokens"
    latent_dim: int = 256  # "latent": the codec's latent width (its decoder's in_channels)
    # Alignment help for the latent S2A, a demo option (maskvox/frame_phones.py, as T2S's): each
    # frame also gets the phone said in it; `frame_phone_drop` of the training items go without,
    # as voice conversion and editing do.
    aligned_phones: bool = False
    frame_phone_drop: float = 0.2
    phone_vocab_size: int = 1024  # "aligned_phones": the front-end's phone ids, as T2S reads them
    # The longest prompt (frames) the pipeline gives S2A: a longer one is cut to its last frames.
    # A model trained on short crops has never seen more (the demo's: half of 200-frame crops),
    # and reads a longer prompt badly. 0: the whole prompt, as the official models read it.
    max_prompt_frames: int = 0
    # How the latent S2A writes a masked frame, a demo option: "regression" (its L1 estimate) or
    # "flow" (s2a/flow_head.py: a small per-frame flow-matching head draws the latent, told the
    # transformer's state; flow_steps Euler steps from noise scaled by flow_temperature).
    latent_head: str = "regression"
    flow_width: int = 256
    flow_layers: int = 3
    flow_steps: int = 8
    flow_temperature: float = 1.0
    flow_repeats: int = 4  # training: noise draws per masked frame
    flow_l1_weight: float = 1.0  # training: the regression head's L1 beside the flow's loss


@dataclass
class DurationConfig:
    """The total-duration predictor (maskvox's own: the official release has none)."""

    phone_vocab_size: int = 1024
    num_languages: int = 16
    hidden_size: int = 256
    num_heads: int = 4
    num_layers: int = 4
    target: str = "log_rate"  # the modelled number: log(frames / phones), or "log_frames"
    # Standardisation of the target: 50 Hz frames, about 4 frames per phone id.
    target_mean: float = 1.4
    target_std: float = 0.4
    sigma_min: float = 1e-4
    condition_drop: float = 0.1  # prompt dropped in training, for classifier-free guidance


def _s2a_1layer() -> S2AConfig:
    return S2AConfig(num_quantizer=1, predict_layer_1=True)


@dataclass
class AlignerConfig:
    """The CTC phone aligner: a small convolutional head over the semantic features
    (maskvox's own: the official release has none)."""

    feature_dim: int = 1024  # the semantic features' width (w2v-BERT 2.0: 1024)
    hidden_size: int = 256
    kernel_size: int = 5
    num_layers: int = 2
    phone_vocab_size: int = 1024  # the front-end's phone ids; the padding id is the CTC blank
    blank_id: int = 1023


@dataclass
class SamplingChanges:
    """T2S steps, temperatures, guidance and T2S drafts put over a preset's (None: the preset's own)."""

    t2s_steps: int | None = None
    t2s_temperature: float | None = None
    s2a_temperature: float | None = None
    t2s_cfg: float | None = None  # classifier-free guidance scale
    s2a_cfg: float | None = None
    t2s_candidates: int | None = None  # T2S drafts, the aligner's best kept (maskvox.candidates)
    t2s_candidate_judge: str | None = None  # what the aligner reads in each draft: ids or audio

    def given(self) -> dict[str, float | int | str]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(SamplingChanges)
                if getattr(self, f.name) is not None}


@dataclass
class SamplingDefaults(SamplingChanges):
    """Sampling settings a model folder asks for, put over every named preset's (maskvox's own;
    the official model has none and samples with the reference's values). Why: a model trained
    for a few CPU-hours can be understood better sampled otherwise (the demo's T2S:
    recipes/demo/RESULTS.md). A preset file is taken as it is."""

    # The most T2S steps the model gains from: a named preset asking more is cut to it (the
    # demo's T2S is as well understood at 12 as at 25, in half the time).
    t2s_steps_max: int | None = None
    # Put over the `default` preset alone, after the settings above.
    default: SamplingChanges | None = None
    # Put over the `fast` preset alone, after the settings above (the demo's fast T2S is as well
    # understood without guidance, which saves a quarter of its time).
    fast: SamplingChanges | None = None
    # Put over the `high` preset alone (the demo's: six T2S drafts, each heard by the aligner).
    high: SamplingChanges | None = None

    def changes(self, preset: str, t2s_steps: int) -> dict[str, float | int | str]:
        """What this puts over the named preset `preset`, whose T2S takes `t2s_steps` steps."""
        changes = self.given()
        own = {"default": self.default, "fast": self.fast, "high": self.high}.get(preset)
        if own is not None:
            changes.update(own.given())
        steps = changes.get("t2s_steps", t2s_steps)
        if self.t2s_steps_max is not None and steps > self.t2s_steps_max:
            changes["t2s_steps"] = self.t2s_steps_max
        return changes


@dataclass
class ModelConfig:
    """Every model of the stack, at the official sizes by default."""

    semantic_features: SemanticFeaturesConfig = field(default_factory=SemanticFeaturesConfig)
    semantic_codec: SemanticCodecConfig = field(default_factory=SemanticCodecConfig)
    acoustic_codec: AcousticCodecConfig = field(default_factory=AcousticCodecConfig)
    t2s: T2SConfig = field(default_factory=T2SConfig)
    s2a_1layer: S2AConfig = field(default_factory=_s2a_1layer)
    s2a_full: S2AConfig = field(default_factory=S2AConfig)
    duration: DurationConfig | None = None  # None: no duration model (the length rule is used)
    aligner: AlignerConfig | None = None  # None: no aligner (speech editing then needs --span)
    sampling: SamplingDefaults | None = None  # None: the named presets as they are

    @classmethod
    def from_official(cls, data: dict) -> "ModelConfig":
        return _from_official(data)

    def to_official(self) -> dict:
        return _to_official(self)


# ---------------------------------------------------------------------------------------
# Generic typed loading.


def from_dict(cls: type, data: Any, where: str = "", base=None):
    """Build dataclass `cls` from a mapping, checking every key and type. Keys left out keep
    `base`'s values (default: the class defaults); a nested section's base is its field's
    default, so a recipe's `field(default_factory=lambda: OptimConfig(lr=...))` holds for
    the keys a file leaves out."""
    if not isinstance(data, dict):
        raise ConfigError(f"config {where or 'root'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"unknown config key '{where}{key}' (known: {', '.join(sorted(fields))})"
            )
    kwargs = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            kwargs[key] = from_dict(hints[key], value, f"{where}{key}.", _field_default(fields[key]))
        else:
            kwargs[key] = _coerce(hints[key], value, f"{where}{key}")
    return cls(**kwargs) if base is None else dataclasses.replace(base, **kwargs)


def _field_default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def _coerce(hint: Any, value: Any, where: str):
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where + ".")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{where}': expected a list, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"config key '{where}': expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{where}': expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{where}': expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{where}': expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{where}': expected a string, got {value!r}")
        return value
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{where}': expected a list, got {value!r}")
        return [_coerce(item_type, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def to_dict(cfg) -> dict:
    """A plain, JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def read_mapping(path: str | Path) -> dict:
    """Read a YAML or JSON file into a dict (JSON is valid YAML, but JSON errors read better)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as err:
        first_line = (str(err).splitlines() or ["nested too deeply"])[0]
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"config file {path} is not valid {kind}: {first_line}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def load_config(path: str | Path, cls: type):
    """Load dataclass `cls` from YAML or JSON; a ModelConfig also reads the official format."""
    data = read_mapping(path)
    if cls is ModelConfig and "model" in data:
        return ModelConfig.from_official(data)
    return from_dict(cls, data)


def save_config(cfg, path: str | Path) -> None:
    data = cfg.to_official() if isinstance(cfg, ModelConfig) else to_dict(cfg)
    if Path(path).suffix in (".yaml", ".yml"):
        write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        write_text(path, json.dumps(data, indent=1) + "\n")


def apply_overrides(cfg, overrides: list[str]):
    """Return a copy of `cfg` with `dotted.key=value` overrides applied (values parsed as YAML;
    `key=` with nothing after it is the empty string, as a shell's `key="$(...)"` gives it)."""
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"override '{item}': '{part}' is not a config section")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"override '{item}': unknown config key '{key}'")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return from_dict(type(cfg), data)


# ---------------------------------------------------------------------------------------
# The official `maskgct.json` format.

# Keys of the official acoustic decoder config that do not change the model maskvox builds:
# the DAC-style decoder settings (MaskGCT uses the Vocos decoder) and the settings of the
# other quantizer types (MaskGCT uses factorized VQ).
_OFFICIAL_DECODER_IGNORED = {
    "upsample_initial_channel", "up_ratios", "codebook_type", "kmeans_init", "kmeans_iters",
    "decay", "eps", "threshold_ema_dead_code", "weight_init",
}
_OFFICIAL_DECODER_RENAMED = {"in_channel": "in_channels", "use_l2_normlize": "use_l2_normalize"}
_OFFICIAL_DECODER_REQUIRED = {"quantizer_type": "fvq", "use_vocos": True}


# Where each ModelConfig section sits in a model folder's config.json, for messages.
OFFICIAL_SECTIONS = {
    "semantic_features": "maskvox.semantic_features.", "semantic_codec": "model.semantic_codec.",
    "acoustic_codec": "model.acoustic_codec.", "t2s": "model.t2s_model.",
    "s2a_1layer": "model.s2a_model.s2a_1layer.", "s2a_full": "model.s2a_model.s2a_full.",
    "duration": "maskvox.duration.", "aligner": "maskvox.aligner.",
}


def _official_decoder(data: dict) -> AcousticDecoderConfig:
    values = {}
    for key, value in data.items():
        if key in _OFFICIAL_DECODER_IGNORED:
            continue
        if key in _OFFICIAL_DECODER_REQUIRED:
            if value != _OFFICIAL_DECODER_REQUIRED[key]:
                raise ConfigError(
                    f"acoustic_codec.decoder.{key} = {value!r} is not supported "
                    f"(maskvox builds the MaskGCT codec: {key} = {_OFFICIAL_DECODER_REQUIRED[key]!r})"
                )
            continue
        values[_OFFICIAL_DECODER_RENAMED.get(key, key)] = value
    return from_dict(AcousticDecoderConfig, values, "model.acoustic_codec.decoder.")


def _from_official(data: dict) -> ModelConfig:
    model = data.get("model")
    if not isinstance(model, dict):
        raise ConfigError("official config: expected a 'model' mapping at the top level")
    known = {"t2s_model", "s2a_model", "semantic_codec", "acoustic_codec"}
    for key in model:
        if key not in known:
            raise ConfigError(f"unknown config key 'model.{key}' (known: {', '.join(sorted(known))})")
    cfg = ModelConfig()
    if "semantic_codec" in model:
        cfg.semantic_codec = from_dict(SemanticCodecConfig, model["semantic_codec"], "model.semantic_codec.")
    if "acoustic_codec" in model:
        acoustic = model["acoustic_codec"]
        extra = set(acoustic) - {"encoder", "decoder"}
        if extra:
            raise ConfigError(f"unknown config key 'model.acoustic_codec.{sorted(extra)[0]}'")
        cfg.acoustic_codec = AcousticCodecConfig(
            encoder=from_dict(AcousticEncoderConfig, acoustic.get("encoder", {}), "model.acoustic_codec.encoder."),
            decoder=_official_decoder(acoustic.get("decoder", {})),
        )
    if "t2s_model" in model:
        cfg.t2s = from_dict(T2SConfig, model["t2s_model"], "model.t2s_model.")
    s2a = model.get("s2a_model", {})
    if "s2a_1layer" in s2a:
        cfg.s2a_1layer = from_dict(S2AConfig, s2a["s2a_1layer"], "model.s2a_model.s2a_1layer.")
    if "s2a_full" in s2a:
        cfg.s2a_full = from_dict(S2AConfig, s2a["s2a_full"], "model.s2a_model.s2a_full.")
    # maskvox's own additions live beside the official "model" section.
    extras = data.get("maskvox", {})
    if "semantic_features" in extras:
        cfg.semantic_features = from_dict(SemanticFeaturesConfig, extras["semantic_features"], "maskvox.semantic_features.")
    if "sample_rate" in extras.get("acoustic_codec", {}):
        cfg.acoustic_codec.sample_rate = extras["acoustic_codec"]["sample_rate"]
    if extras.get("duration") is not None:
        cfg.duration = from_dict(DurationConfig, extras["duration"], "maskvox.duration.")
    if extras.get("aligner") is not None:
        cfg.aligner = from_dict(AlignerConfig, extras["aligner"], "maskvox.aligner.")
    if extras.get("sampling") is not None:
        cfg.sampling = from_dict(SamplingDefaults, extras["sampling"], "maskvox.sampling.")
    return cfg


def _to_official(cfg: ModelConfig) -> dict:
    decoder = to_dict(cfg.acoustic_codec.decoder)
    decoder["in_channel"] = decoder.pop("in_channels")
    decoder["use_l2_normlize"] = decoder.pop("use_l2_normalize")
    decoder.update(_OFFICIAL_DECODER_REQUIRED)
    return {
        "model": {
            "t2s_model": to_dict(cfg.t2s),
            "s2a_model": {"s2a_1layer": to_dict(cfg.s2a_1layer), "s2a_full": to_dict(cfg.s2a_full)},
            "semantic_codec": to_dict(cfg.semantic_codec),
            "acoustic_codec": {"encoder": to_dict(cfg.acoustic_codec.encoder), "decoder": decoder},
        },
        "maskvox": {
            "semantic_features": to_dict(cfg.semantic_features),
            "acoustic_codec": {"sample_rate": cfg.acoustic_codec.sample_rate},
            "duration": None if cfg.duration is None else to_dict(cfg.duration),
            "aligner": None if cfg.aligner is None else to_dict(cfg.aligner),
            "sampling": None if cfg.sampling is None else to_dict(cfg.sampling),
        },
    }


# ---------------------------------------------------------------------------------------
# Presets.


def _tiny() -> ModelConfig:
    """Small widths for tests (the shapes of the golden `mini_seed0` models)."""
    cfg = ModelConfig()
    cfg.semantic_codec = SemanticCodecConfig(vocos_dim=64, vocos_intermediate_dim=128, vocos_num_layers=2)
    cfg.acoustic_codec = AcousticCodecConfig(
        encoder=AcousticEncoderConfig(d_model=8),
        decoder=AcousticDecoderConfig(vocos_dim=64, vocos_intermediate_dim=128, vocos_num_layers=2),
    )
    small = dict(hidden_size=128, num_layers=2, num_heads=4)
    cfg.t2s = T2SConfig(**small)
    cfg.s2a_1layer = S2AConfig(num_quantizer=1, predict_layer_1=True, **small)
    cfg.s2a_full = S2AConfig(**small)
    return cfg


PRESETS = {"official": ModelConfig, "tiny": _tiny}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]()
