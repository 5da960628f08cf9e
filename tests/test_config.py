import json

import pytest

from maskvox.config import (
    AcousticCodecConfig,
    ModelConfig,
    apply_overrides,
    from_dict,
    load_config,
    preset,
    save_config,
    to_dict,
)
from maskvox.errors import ConfigError


def test_official_format_builds_the_golden_sizes(golden_dir):
    cfg = load_config(golden_dir / "config.json", ModelConfig)
    assert cfg.semantic_codec.vocos_dim == 64
    assert cfg.acoustic_codec.encoder.d_model == 8
    assert cfg.acoustic_codec.encoder.up_ratios == (3, 4, 5, 8)
    assert cfg.acoustic_codec.decoder.use_l2_normalize is True
    assert cfg.t2s.hidden_size == 128 and cfg.s2a_1layer.num_quantizer == 1 and cfg.s2a_full.num_quantizer == 12


def test_official_preset_is_the_released_config():
    cfg = preset("official")
    assert (cfg.t2s.hidden_size, cfg.t2s.num_layers) == (1536, 16)
    assert cfg.acoustic_codec.decoder.vocos_num_layers == 30
    assert cfg.semantic_features.layer == 17


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_save_and_load_round_trip(tmp_path, suffix):
    cfg = preset("tiny")
    path = tmp_path / f"config{suffix}"
    save_config(cfg, path)
    assert load_config(path, ModelConfig) == cfg


def test_official_json_round_trip_keeps_reference_key_names(tmp_path):
    data = preset("tiny").to_official()
    decoder = data["model"]["acoustic_codec"]["decoder"]
    assert decoder["use_l2_normlize"] is True and decoder["in_channel"] == 256 and decoder["quantizer_type"] == "fvq"
    assert ModelConfig.from_official(json.loads(json.dumps(data))) == preset("tiny")


def test_plain_yaml_and_overrides(tmp_path):
    path = tmp_path / "codec.yaml"
    path.write_text("encoder: {d_model: 16}\ndecoder: {vocos_num_layers: 4}\n")
    cfg = load_config(path, AcousticCodecConfig)
    assert cfg.encoder.d_model == 16 and cfg.decoder.vocos_num_layers == 4
    cfg = apply_overrides(cfg, ["decoder.vocos_dim=96", "encoder.up_ratios=[2, 4, 5, 12]"])
    assert cfg.decoder.vocos_dim == 96 and cfg.encoder.up_ratios == (2, 4, 5, 12)
    assert to_dict(cfg)["encoder"]["up_ratios"] == [2, 4, 5, 12]
    # `key=` (a shell's `key="$(command)"` when the command prints nothing) is the empty string.
    assert apply_overrides(cfg, ["decoder.vocoder_folder=vocoder"]).decoder.vocoder_folder == "vocoder"
    assert apply_overrides(cfg, ["decoder.vocoder_folder="]).decoder.vocoder_folder == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("encoder: {d_modle: 16}\n", "unknown config key 'encoder.d_modle'"),
        ("encoder: {d_model: sixteen}\n", "'encoder.d_model': expected an integer"),
        ("encoder: {use_tanh: 1}\n", "expected true or false"),
        ("encoder: [1, 2]\n", "expected a mapping"),
        ("encoder: {d_model: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, AcousticCodecConfig)


def test_bad_overrides_and_official_values():
    with pytest.raises(ConfigError, match="unknown config key 'encoder.nope'"):
        apply_overrides(AcousticCodecConfig(), ["encoder.nope=1"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides(AcousticCodecConfig(), ["encoder.d_model"])
    with pytest.raises(ConfigError, match="quantizer_type = 'vq' is not supported"):
        ModelConfig.from_official({"model": {"acoustic_codec": {"decoder": {"quantizer_type": "vq"}}}})
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml", ModelConfig)


def test_a_section_left_partly_out_keeps_its_fields_default_not_the_class_defaults():
    from recipes.aligner.train import AlignerTrainConfig

    cfg = from_dict(AlignerTrainConfig, {"optim": {"lr": 0.002}})
    # The recipe's own defaults (AdamW's betas, clip 5), not the token models' (0.98, clip 1).
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.grad_clip, cfg.optim.warmup_steps) == (0.002, (0.9, 0.999), 5.0, 200)
