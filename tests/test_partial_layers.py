"""An S2A model that predicts the first layers of the acoustic codes only (the demo's: 4 of 12):
the codec decodes them alone, presets use their first step counts, fine-tuning starts from a
12-layer model cut to its first layers, and the held-out figures are given per layer."""

import numpy as np
import pytest
import torch

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, synthetic_token_shards, tiny_full_model_folder
from maskvox.audio import ACOUSTIC_RATE
from maskvox.config import S2AConfig
from maskvox.errors import ConfigError
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.presets import load_preset
from maskvox.s2a.model import S2AModel
from recipes.common.shards import TokenCorpus
from recipes.common.token_training import heldout_figures, spread_subset
from recipes.s2a.train import AlignedCrops, collate, first_layers

SMALL = dict(hidden_size=32, num_layers=1, num_heads=2)


def test_presets_give_a_smaller_model_their_first_step_counts():
    preset = load_preset("default")
    assert preset.s2a_layer_steps(4) == tuple(preset.s2a_steps[:4]) == (25, 10, 1, 1)
    assert preset.s2a_layer_steps(12) == tuple(preset.s2a_steps)
    with pytest.raises(ConfigError, match="12 S2A step counts for 13 acoustic layers"):
        preset.check_layers(13)


def test_a_twelve_layer_checkpoint_cut_to_four_layers_keeps_their_weights():
    torch.manual_seed(0)
    full = S2AModel(S2AConfig(num_quantizer=12, predict_layer_1=True, **SMALL))
    small = S2AModel(S2AConfig(num_quantizer=4, predict_layer_1=True, **SMALL))
    small.load_state_dict(first_layers(full.state_dict(), 4), strict=True)
    assert len(small.token_emb) == len(small.to_logits) == 4
    assert torch.equal(small.layer_emb.weight, full.layer_emb.weight[:4])
    assert torch.equal(small.to_logits[3].weight, full.to_logits[3].weight)
    shared = dict(full.diff_estimator.named_parameters())
    assert all(torch.equal(value, shared[name]) for name, value in small.diff_estimator.named_parameters())


def test_heldout_figures_score_each_layer_the_model_predicts(tmp_path):
    torch.manual_seed(0)
    model = S2AModel(S2AConfig(num_quantizer=4, predict_layer_1=True, **SMALL))
    items = spread_subset(AlignedCrops(TokenCorpus(synthetic_token_shards(tmp_path)), 50, 4), 8)
    figures = heldout_figures(model, items, collate, batch_size=4)
    assert sorted(figures) == ["heldout/accuracy", "heldout/accuracy_layer1", "heldout/accuracy_layer2",
                               "heldout/accuracy_layer3", "heldout/accuracy_layer4", "heldout/loss"]
    assert figures == heldout_figures(model, items, collate, batch_size=4)  # the same masks each time
    with pytest.raises(ValueError, match="layer 4 is not one this model predicts"):
        model(collate([items[0]]), 0.0, 4)


@pytest.mark.slow
def test_a_four_layer_s2a_clones_and_converts_at_the_requested_length(tmp_path):
    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4)
    synth = Synthesizer.from_pretrained(folder, device="cpu")
    assert "s2a_1layer" not in synth.models and synth.s2a_full.num_quantizer == 4
    prompt_text = EXAMPLE_PROMPT_TEXT.read_text().strip()
    request = CloneRequest(text="Hello there.", prompt=str(EXAMPLE_PROMPT), prompt_text=prompt_text,
                           duration=1.0, seed=3)
    first, again = synth.clone_batch([request]), synth.clone_batch([request])
    assert first[0].audio.shape == (ACOUSTIC_RATE,) and np.array_equal(first[0].audio, again[0].audio)
    assert first[0].acoustic_ids[0].shape[1] == 4  # what S2A wrote: the first 4 layers, decoded alone
    source = first[0].audio
    converted = synth.convert((source, ACOUSTIC_RATE), str(EXAMPLE_PROMPT), prompt_text, seed=1)
    assert converted.audio.shape == source.shape


def test_soft_targets_peak_at_the_label_and_spread_over_its_neighbours():
    from recipes.s2a.soft_targets import soft_targets

    vectors = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    targets = soft_targets(vectors, neighbours=1)
    torch.testing.assert_close(targets.sum(1), torch.ones(4))
    assert torch.equal(targets.argmax(1), torch.arange(4))
    assert targets[1, 0] == pytest.approx(float(targets[1, 2])) and targets[1, 0] > 100 * targets[1, 3]


def test_the_soft_term_changes_the_loss_but_not_the_accuracy(tmp_path):
    torch.manual_seed(0)
    model = S2AModel(S2AConfig(num_quantizer=4, predict_layer_1=True, **SMALL))
    items = spread_subset(AlignedCrops(TokenCorpus(synthetic_token_shards(tmp_path)), 50, 4), 4)
    batch = collate([items[i] for i in range(4)])
    uniform = torch.full((4, 1024, 1024), 1 / 1024)
    outputs = []
    for soft, weight in ((None, 0.0), (uniform, 0.5), (torch.eye(1024).expand(4, -1, -1), 0.5)):
        torch.manual_seed(1)
        with torch.no_grad():
            outputs.append(model(batch, 0.0, 0, soft, weight))
    plain, spread, one_hot = outputs
    assert float(spread["accuracy"]) == float(plain["accuracy"])
    assert float(spread["loss"]) != pytest.approx(float(plain["loss"]))
    assert float(one_hot["loss"]) == pytest.approx(float(plain["loss"]), rel=1e-5)  # one-hot rows: the label itself


def test_a_model_folder_s_sampling_settings_go_over_the_named_presets_only(tmp_path):
    from maskvox.checkpoint import load_model_config, write_model_folder
    from maskvox.config import SamplingChanges, SamplingDefaults

    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4, s2a_target="latent")
    assert Synthesizer.from_pretrained(folder, device="cpu").preset == load_preset("default")  # none: as they are
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", SamplingDefaults(t2s_temperature=0.5)))
    assert load_model_config(folder).sampling == SamplingDefaults(t2s_temperature=0.5, s2a_temperature=None)
    for name in ("default", "fast"):
        preset = Synthesizer.from_pretrained(folder, preset=name, device="cpu").preset
        assert preset.t2s_temperature == 0.5 and preset.t2s_steps == load_preset(name).t2s_steps
        assert preset.s2a_temperature == load_preset(name).s2a_temperature
    assert load_preset("default").t2s_temperature == 0.9  # the shared named preset is not changed
    # A cap on T2S's steps cuts the presets that ask more, and only those.
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", SamplingDefaults(t2s_steps_max=12)))
    steps = {name: Synthesizer.from_pretrained(folder, preset=name, device="cpu").preset.t2s_steps
             for name in ("fast", "default", "high")}
    assert steps == {"fast": 8, "default": 12, "high": 12} and load_preset("high").t2s_steps == 50
    # Settings for `fast` alone go over the model's others there, and nowhere else.
    own = SamplingDefaults(t2s_temperature=0.5, t2s_cfg=1.5, fast=SamplingChanges(t2s_cfg=0.0))
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", own))
    assert load_model_config(folder).sampling == own
    presets = {name: Synthesizer.from_pretrained(folder, preset=name, device="cpu").preset for name in ("fast", "default")}
    assert (presets["fast"].t2s_cfg, presets["default"].t2s_cfg) == (0.0, 1.5)
    assert presets["fast"].t2s_temperature == presets["default"].t2s_temperature == 0.5
    # Drafts for `high` alone.
    own = SamplingDefaults(t2s_steps_max=12, high=SamplingChanges(t2s_candidates=4))
    assert own.changes("high", 50) == {"t2s_steps": 12, "t2s_candidates": 4} and own.changes("default", 25) == {
        "t2s_steps": 12}
    # `default` alone: fewer steps and several drafts (the cap still holds over a step count set here).
    own = SamplingDefaults(t2s_steps_max=12, default=SamplingChanges(t2s_steps=8, t2s_cfg=0.0, t2s_candidates=3),
                           high=SamplingChanges(t2s_steps=40))
    assert own.changes("default", 25) == {"t2s_steps": 8, "t2s_cfg": 0.0, "t2s_candidates": 3}
    assert own.changes("fast", 8) == {} and own.changes("high", 50) == {"t2s_steps": 12}
    # What judges the drafts, read back from the folder; an unknown judge fails before the weights load.
    own = SamplingDefaults(default=SamplingChanges(t2s_candidates=3, t2s_candidate_judge="audio"))
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", own))
    assert load_model_config(folder).sampling.changes("default", 25) == {"t2s_candidates": 3,
                                                                          "t2s_candidate_judge": "audio"}
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", SamplingDefaults(t2s_candidate_judge="asr")))
    with pytest.raises(ConfigError, match="t2s_candidate_judge must be one of ids, audio"):
        Synthesizer.from_pretrained(folder, device="cpu")
    file = tmp_path / "mine.yaml"
    file.write_text("t2s_steps: 4\n")
    assert Synthesizer.from_pretrained(folder, preset=str(file), device="cpu").preset.t2s_temperature == 0.9
    # Out of range in the folder: the preset's own range check, before any weights load.
    write_model_folder(folder, {}, lambda cfg: setattr(cfg, "sampling", SamplingDefaults(t2s_temperature=-1.0)))
    with pytest.raises(ConfigError, match="t2s_temperature"):
        Synthesizer.from_pretrained(folder, device="cpu")
