"""The latent-regression S2A (s2a/latent.py, `target: latent`, a demo option): it turns codes
into the codec's own latents, predicts latents in one deterministic pass, keeps an edit's known
frames exact, trains through the S2A recipe, and clones and converts through the pipeline."""

import numpy as np
import pytest
import torch

from factories import (
    EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, fitted_latent_s2a, synthetic_token_shards, tiny_full_model_folder,
    tiny_model_folder,
)
from maskvox.audio import ACOUSTIC_RATE
from maskvox.codecs.pretrained import load_acoustic_codec
from maskvox.config import S2AConfig
from maskvox.errors import ConfigError, UserError
from maskvox.pipeline import CloneRequest, Synthesizer, kept_prompt, s2a_inputs
from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables
from maskvox.s2a.model import S2AModel, s2a_model_class
from recipes.common.shards import TokenCorpus
from recipes.common.token_training import heldout_figures, spread_subset
from recipes.s2a.train import AlignedCrops, adapted, collate

SMALL = dict(hidden_size=32, num_layers=1, num_heads=2)


def latent_config(**changes) -> S2AConfig:
    return S2AConfig(**{**dict(num_quantizer=4, predict_layer_1=True, target="latent", latent_dim=256, **SMALL), **changes})


@pytest.fixture
def model(tiny_acoustic_codec):
    return fitted_latent_s2a(latent_config(), tiny_acoustic_codec)


def test_the_code_table_gives_the_codec_own_latents(model, tiny_acoustic_codec):
    codes = torch.randint(0, 1024, (2, 30, 4))
    expected = tiny_acoustic_codec.decoder.vq2emb(codes.permute(2, 0, 1)).transpose(1, 2)  # (B, T, D)
    torch.testing.assert_close(model.latents_of(codes), expected, rtol=1e-5, atol=1e-5)
    # Decoding latents is decoding the codes they come from.
    decoded = tiny_acoustic_codec.decode(codes).numpy()
    np.testing.assert_allclose(tiny_acoustic_codec.decode_latents(expected).numpy(), decoded, rtol=1e-5, atol=1e-5)
    assert model.latent_std.min() > 0 and not torch.equal(model.latent_mean, torch.zeros(256))


def test_generation_is_one_deterministic_pass_per_item_whatever_the_batch(model):
    torch.manual_seed(1)
    semantic = [torch.randint(0, 1024, (30,)), torch.randint(0, 1024, (45,))]
    prompts = [torch.randint(0, 1024, (10, 12)), torch.randint(0, 1024, (20, 12))]
    together = model.generate(semantic, prompts, steps=(25, 10, 1, 1))
    alone = [model.generate([s], [p])[0] for s, p in zip(semantic, prompts)]
    assert [tuple(x.shape) for x in together] == [(20, 256), (25, 256)]
    assert all(x.dtype == torch.float32 for x in together)
    for batched, single in zip(together, alone):
        torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model.generate(semantic, prompts)[1], together[1])
    with pytest.raises(ValueError, match="takes no given codes"):
        model.generate(semantic, prompts, given_codes=[torch.zeros(20, 1, dtype=torch.long)] * 2)


def test_an_edit_keeps_its_known_frames_exact(model):
    torch.manual_seed(2)
    semantic, prompt = torch.randint(0, 1024, (40,)), torch.zeros(0, 4, dtype=torch.long)
    known = torch.zeros(1, 40, dtype=torch.bool)
    known[0, :15] = known[0, 30:] = True
    known_codes = torch.randint(0, 1024, (1, 40, 4))
    latents = model.generate([semantic], [prompt], known=known, known_codes=known_codes)[0]
    exact = model.latents_of(known_codes[0])
    torch.testing.assert_close(latents[known[0]], exact[known[0]])
    assert not torch.allclose(latents[15:30], exact[15:30])


def test_training_lowers_the_loss_and_held_out_figures_have_no_accuracy(tmp_path, tiny_acoustic_codec):
    torch.manual_seed(0)
    model = S2ALatentModel(latent_config(cfg_scale=0.0))
    crops = AlignedCrops(TokenCorpus(synthetic_token_shards(tmp_path)), 50, 4)
    fit_latent_tables(model, tiny_acoustic_codec, [torch.from_numpy(item.acoustic) for item in crops.items])
    batch = collate([crops[i] for i in range(4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        first = float(model(batch)["loss"].detach())
    for _ in range(100):
        optimizer.zero_grad()
        model(batch)["loss"].backward()
        optimizer.step()
    with torch.random.fork_rng():
        torch.manual_seed(5)
        assert float(model(batch)["loss"].detach()) < 0.7 * first
    figures = heldout_figures(model, spread_subset(crops, 8), collate, batch_size=4)
    assert sorted(figures) == ["heldout/loss"] and figures["heldout/loss"] > 0


def test_a_latent_model_starts_from_a_token_model_s_weights():
    torch.manual_seed(0)
    tokens = S2AModel(S2AConfig(num_quantizer=12, predict_layer_1=True, **SMALL))
    latent = S2ALatentModel(latent_config())
    own_head = latent.to_latent.weight.clone()
    latent.load_state_dict(adapted(tokens.state_dict(), latent), strict=True)
    assert torch.equal(latent.token_emb[3].weight, tokens.token_emb[3].weight)
    assert torch.equal(latent.diff_estimator.cond_mlp[0].weight, tokens.diff_estimator.cond_mlp[0].weight)
    assert torch.equal(latent.to_latent.weight, own_head) and latent.to_logits is None


def test_bad_latent_configs_are_refused():
    assert s2a_model_class(latent_config()) is S2ALatentModel
    with pytest.raises(ConfigError, match="must be 'tokens' or 'latent'"):
        s2a_model_class(latent_config(target="mel"))
    with pytest.raises(ConfigError, match="set predict_layer_1 true"):
        S2ALatentModel(latent_config(predict_layer_1=False))


def test_the_recipe_trains_and_exports_a_latent_s2a_with_its_codec_table(tmp_path, capsys):
    from maskvox.s2a.model import load_s2a
    from recipes.s2a.train import main

    shards = synthetic_token_shards(tmp_path / "shards")
    exp, export = tmp_path / "exp", tmp_path / "export"
    argv = ["--quiet", "--set", f"data.train_shards={shards}", "--set", f"run.exp_dir={exp}",
            "--set", f"export_dir={export}", "--set", "model.target=latent", "--set", "model.num_quantizer=4",
            "--set", "model.predict_layer_1=true", "--set", "model.hidden_size=32", "--set", "model.num_layers=1",
            "--set", "model.num_heads=2", "--set", "data.batch_size=4", "--set", "data.max_frames=40",
            "--set", "run.max_steps=2", "--set", "run.save_every=2"]
    assert main(argv) == 2
    assert "needs latent.codec" in capsys.readouterr().err and not exp.exists()
    codec_folder = tiny_model_folder(tmp_path / "codec", with_semantic=False)
    assert main(argv + ["--set", f"latent.codec={codec_folder}"]) == 0
    model = load_s2a(export, "s2a_full")
    assert isinstance(model, S2ALatentModel)
    codes = torch.randint(0, 1024, (1, 20, 4))
    expected = load_acoustic_codec(codec_folder).decoder.vq2emb(codes.permute(2, 0, 1)).transpose(1, 2)
    torch.testing.assert_close(model.latents_of(codes), expected, rtol=1e-5, atol=1e-5)


def test_a_prompt_is_cut_to_the_last_frames_the_s2a_was_trained_with():
    assert kept_prompt(150, 151, trim=True) == (0, 150)
    assert kept_prompt(150, 151, trim=True, longest=100) == (50, 150)
    assert kept_prompt(80, 81, trim=True, longest=100) == (0, 80)
    assert kept_prompt(151, 150, trim=False, longest=0) == (0, 151)  # the reference: as they are
    prompt_s, prompt_a, target = torch.arange(150), torch.arange(151)[:, None].repeat(1, 4), torch.arange(7) + 1000
    semantic, acoustic, kept = s2a_inputs([prompt_s], [prompt_a], [target], trim=True, longest=100)
    assert kept == [(50, 150)] and torch.equal(semantic[0], torch.cat([torch.arange(50, 150), target]))
    assert torch.equal(acoustic[0][:, 0], torch.arange(50, 150))


@pytest.mark.slow
def test_a_latent_s2a_clones_and_converts_through_the_pipeline(tmp_path):
    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4, s2a_target="latent")
    synth = Synthesizer.from_pretrained(folder, device="cpu")
    assert isinstance(synth.s2a_full, S2ALatentModel)
    prompt_text = EXAMPLE_PROMPT_TEXT.read_text().strip()
    request = CloneRequest(text="Hello there.", prompt=str(EXAMPLE_PROMPT), prompt_text=prompt_text,
                           duration=1.0, seed=3)
    first, again = synth.clone_batch([request]), synth.clone_batch([request])
    assert first[0].audio.shape == (ACOUSTIC_RATE,) and np.array_equal(first[0].audio, again[0].audio)
    assert first[0].acoustic_ids[0].shape == (50, 256)  # latents, not ids
    converted = synth.convert((first[0].audio, ACOUSTIC_RATE), str(EXAMPLE_PROMPT), prompt_text, seed=1)
    assert converted.audio.shape == first[0].audio.shape


@pytest.mark.slow
def test_an_edit_through_a_latent_s2a_keeps_the_samples_outside_its_span(tmp_path):
    import soundfile as sf

    from maskvox.cli import main
    from maskvox.edit import CROSSFADE_SECONDS

    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4, s2a_target="latent")
    text = EXAMPLE_PROMPT_TEXT.read_text().strip()
    out = tmp_path / "out.wav"
    assert main(["edit", "--model", str(folder), "--audio", str(EXAMPLE_PROMPT), "--text", text,
                 "--new-text", text.replace("break", "bend"), "--span", "1.0", "1.6", "--out", str(out),
                 "--seed", "1", "--preset", "fast", "--quiet"]) == 0
    edited, rate = sf.read(out, dtype="float32")
    original, _ = sf.read(EXAMPLE_PROMPT, dtype="float32")
    fade = round(CROSSFADE_SECONDS * rate)
    assert np.array_equal(edited[: round(1.0 * rate) - fade], original[: round(1.0 * rate) - fade])
    assert not np.array_equal(edited, original)


def test_a_latent_s2a_for_another_codec_width_is_refused_before_loading(tmp_path):
    from maskvox.checkpoint import write_model_folder

    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4, s2a_target="latent")
    write_model_folder(folder, {}, lambda cfg: setattr(cfg.s2a_full, "latent_dim", 128))
    with pytest.raises(ConfigError, match="latent_dim is 128 but the acoustic codec's decoder reads 256"):
        Synthesizer.from_pretrained(folder, device="cpu")


@pytest.mark.slow
def test_finetuning_a_latent_s2a_keeps_its_table_and_needs_no_codec(tmp_path):
    from maskvox.s2a.model import load_s2a
    from recipes.s2a.train import main

    shards = synthetic_token_shards(tmp_path / "shards")
    codec_folder = tiny_model_folder(tmp_path / "codec", with_semantic=False)
    base = ["--quiet", "--set", f"data.train_shards={shards}", "--set", "model.target=latent",
            "--set", "model.num_quantizer=4", "--set", "model.predict_layer_1=true", "--set", "model.hidden_size=32",
            "--set", "model.num_layers=1", "--set", "model.num_heads=2", "--set", "data.batch_size=4",
            "--set", "data.max_frames=40", "--set", "run.max_steps=2", "--set", "run.save_every=2"]
    first = tmp_path / "first"
    assert main(base + ["--set", f"run.exp_dir={first}", "--set", f"latent.codec={codec_folder}"]) == 0
    tuned = tmp_path / "tuned"
    assert main(base + ["--set", f"run.exp_dir={tuned}", "--set", f"finetune.init_from={first / 'export'}",
                        "--set", "optim.lr=0"]) == 0
    before, after = load_s2a(first / "export", "s2a_full"), load_s2a(tuned / "export", "s2a_full")
    for name in ("code_latent", "latent_mean", "latent_std"):
        torch.testing.assert_close(after.state_dict()[name], before.state_dict()[name], rtol=0, atol=0)
    # A token S2A has no table to keep: starting from one still needs the codec.
    tokens = tmp_path / "tokens"
    assert main(["--quiet", "--set", f"data.train_shards={shards}", "--set", f"run.exp_dir={tokens}",
                 "--set", "model.num_quantizer=4", "--set", "model.hidden_size=32", "--set", "model.num_layers=1",
                 "--set", "model.num_heads=2", "--set", "data.batch_size=4", "--set", "data.max_frames=40",
                 "--set", "run.max_steps=1"]) == 0
    assert main(base + ["--set", f"run.exp_dir={tmp_path / 'x'}",
                        "--set", f"finetune.init_from={tokens / 'export'}"]) == 2
