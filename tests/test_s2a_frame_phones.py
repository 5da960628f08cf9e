"""A latent S2A told each frame's phone (`aligned_phones` on s2a/latent.py, a demo option): a
zero start that changes nothing, phones that are learnt when the semantic ids leave them
ambiguous, the recipe joining T2S's aligned shards by utterance id, and the pipeline handing
the clone's frame plan to S2A (and none to a voice conversion)."""

import numpy as np
import pytest
import torch

from factories import (
    EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, TINY_SSL_HIDDEN, loss_after_training, synthetic_token_shards,
    tiny_full_model_folder, tiny_model_folder,
)
from maskvox.aligner import PhoneCTCHead
from maskvox.checkpoint import load_model_config, write_model_folder
from maskvox.codecs.pretrained import load_acoustic_codec
from maskvox.config import AlignerConfig, S2AConfig, preset
from maskvox.errors import ConfigError
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables
from maskvox.s2a.model import S2ABatch, s2a_model_class
from recipes.common.shards import TokenCorpus, write_shards

SMALL = dict(hidden_size=32, num_layers=1, num_heads=2, phone_vocab_size=64)


def aligned_config(**changes) -> S2AConfig:
    return S2AConfig(**{**dict(num_quantizer=4, predict_layer_1=True, target="latent", latent_dim=256,
                               cfg_scale=0.0, aligned_phones=True, frame_phone_drop=0.0, **SMALL), **changes})


def test_zero_phone_embeddings_change_nothing_and_bad_uses_are_refused(tiny_acoustic_codec):
    torch.manual_seed(0)
    model = S2ALatentModel(aligned_config())
    fit_latent_tables(model, tiny_acoustic_codec, [torch.randint(0, 1024, (40, 4))])
    model.eval()
    semantic, prompt = torch.randint(0, 1024, (30,)), torch.randint(0, 1024, (10, 4))
    phones, owners = torch.randint(0, 64, (6,)), torch.arange(30) // 5
    told = model.generate([semantic], [prompt], frame_phones=[(phones, owners)])[0]
    torch.testing.assert_close(told, model.generate([semantic], [prompt])[0])
    with torch.no_grad():
        model.frame_phones.table.weight.normal_()
    assert not torch.allclose(model.generate([semantic], [prompt], frame_phones=[(phones, owners)])[0], told)
    with pytest.raises(ValueError, match="frame phones cover 29 frames, the semantic ids 30"):
        model.generate([semantic], [prompt], frame_phones=[(phones, owners[:29])])
    plain = S2ALatentModel(aligned_config(aligned_phones=False))
    with pytest.raises(ValueError, match="need an S2A with aligned_phones"):
        plain.generate([semantic], [prompt], frame_phones=[(phones, owners)])
    with pytest.raises(ConfigError, match="option of the latent S2A"):
        s2a_model_class(S2AConfig(aligned_phones=True))
    with pytest.raises(ConfigError, match="frame_phone_drop must be between 0 and 1"):
        S2ALatentModel(aligned_config(frame_phone_drop=1.5))


def test_phones_are_learnt_where_the_semantic_ids_leave_them_ambiguous(tiny_acoustic_codec):
    """Every frame has the same semantic id and its codes follow its phone: only a model told
    the phones can fit them."""
    rng = np.random.default_rng(0)
    phones = [torch.from_numpy(rng.integers(0, 64, 8)) for _ in range(6)]
    owners = [torch.arange(32) // 4 for _ in phones]
    acoustic = [torch.stack([(p[o] * (layer + 5) + 17 * layer) % 1024 for layer in range(4)], 1)
                for p, o in zip(phones, owners)]
    batch = S2ABatch([torch.zeros(32, dtype=torch.long)] * 6, acoustic, phones, owners)

    def final_loss(aligned: bool) -> float:
        torch.manual_seed(0)
        model = S2ALatentModel(aligned_config(aligned_phones=aligned))
        fit_latent_tables(model, tiny_acoustic_codec, acoustic)
        return loss_after_training(model, batch)

    assert final_loss(True) < 0.7 * final_loss(False)


def aligned_copy(shards, folder, keep: int):
    """T2S-style aligned shards for the first `keep` utterances of `shards` (each phone lasts
    2 + p % 3 frames there), the last of them one frame short (an alignment of other ids)."""
    items = TokenCorpus(shards).items[:keep]
    for item in items:
        item.frame_phones = np.repeat(np.arange(len(item.phones)), 2 + item.phones % 3)
        item.acoustic = None
    items[-1].semantic, items[-1].frame_phones = items[-1].semantic[:-1], items[-1].frame_phones[:-1]
    items[-1].num_frames -= 1
    write_shards(folder, items, shard_size=10)
    return folder


def test_the_recipe_joins_frame_phones_by_utterance_and_fits_their_lengths(tmp_path, capsys):
    from maskvox.s2a.model import load_s2a
    from recipes.s2a.train import main

    shards = synthetic_token_shards(tmp_path / "shards", utterances=24)
    aligned = aligned_copy(shards, tmp_path / "aligned", keep=16)
    corpus = TokenCorpus(shards)
    assert corpus.join_frame_phones(aligned) == 15  # the short one is not joined
    assert corpus.items[0].frame_phones is not None and corpus.items[15].frame_phones is None

    exp, export = tmp_path / "exp", tmp_path / "export"
    codec_folder = tiny_model_folder(tmp_path / "codec", with_semantic=False)
    argv = ["--set", f"data.train_shards={shards}", "--set", f"data.heldout_shards={shards}",
            "--set", f"run.exp_dir={exp}", "--set", f"export_dir={export}", "--set", f"latent.codec={codec_folder}",
            *[arg for key, value in dict(target="latent", num_quantizer=4, predict_layer_1="true", hidden_size=32,
                                         num_layers=1, num_heads=2, aligned_phones="true").items()
              for arg in ("--set", f"model.{key}={value}")],
            "--set", "data.batch_size=4", "--set", "data.max_frames=40", "--set", "data.heldout_items=4",
            "--set", "run.max_steps=2", "--set", "run.save_every=2"]
    assert main(["--quiet", *argv]) == 2
    assert "model.aligned_phones needs phones.train_shards" in capsys.readouterr().err and not exp.exists()
    capsys.readouterr()
    assert main([*argv, "--set", f"phones.train_shards={aligned}", "--set", f"phones.heldout_shards={aligned}"]) == 0
    assert "15 of 24 utterances have frame phones" in capsys.readouterr().out
    model = load_s2a(export, "s2a_full")
    assert load_model_config(export).s2a_full.aligned_phones and model.frame_phones is not None
    # Mean lengths fitted from the joined alignments: phone p lasts 2 + p % 3 frames.
    said = sorted({int(p) for item in corpus.items[:15] for p in item.phones})
    assert torch.equal(model.frame_phones.mean_frames[said], torch.tensor([2.0 + p % 3 for p in said]))


@pytest.fixture(scope="module")
def aligned_model(tmp_path_factory):
    """A tiny full model whose latent S2A takes frame phones (its T2S does not), with a random aligner."""
    folder = tiny_full_model_folder(tmp_path_factory.mktemp("s2a_aligned") / "model", s2a_layers=4,
                                    s2a_target="latent")
    torch.manual_seed(0)
    s2a_cfg = S2AConfig(num_quantizer=4, predict_layer_1=True, target="latent", hidden_size=64, num_layers=2,
                        num_heads=4, latent_dim=preset("tiny").acoustic_codec.decoder.in_channels,
                        aligned_phones=True, max_prompt_frames=30)
    s2a = S2ALatentModel(s2a_cfg)
    fit_latent_tables(s2a, load_acoustic_codec(folder), [torch.randint(0, 1024, (50, 4))])
    with torch.no_grad():
        s2a.frame_phones.table.weight.normal_()
    aligner_cfg = AlignerConfig(feature_dim=TINY_SSL_HIDDEN, hidden_size=16, num_layers=1)

    def update(cfg):
        cfg.s2a_full, cfg.aligner = s2a_cfg, aligner_cfg

    write_model_folder(folder, {"s2a_full": s2a, "aligner": PhoneCTCHead(aligner_cfg)}, update)
    return folder


@pytest.mark.slow
def test_a_clone_hands_its_frame_plan_to_s2a_and_a_conversion_none(aligned_model, monkeypatch):
    """(With the prompt cut to its last 30 frames, and the frame plan with it.)"""
    told = []
    generate = S2ALatentModel.generate

    def spy(self, semantic_ids, prompt_codes, *args, frame_phones=None, **kwargs):
        assert all(len(prompt) <= 30 for prompt in prompt_codes)  # max_prompt_frames
        told.append(None if frame_phones is None else [(len(o), len(s)) for (_, o), s in zip(frame_phones, semantic_ids)])
        return generate(self, semantic_ids, prompt_codes, *args, frame_phones=frame_phones, **kwargs)

    monkeypatch.setattr(S2ALatentModel, "generate", spy)
    prompt_text = EXAMPLE_PROMPT_TEXT.read_text().strip()
    request = CloneRequest(text="Hello there.", prompt=str(EXAMPLE_PROMPT), prompt_text=prompt_text,
                           duration=1.0, seed=3)
    synth = Synthesizer.from_pretrained(aligned_model, device="cpu")
    assert synth.s2a_aligned_phones and not synth.aligned_phones
    first, again = synth.clone_batch([request]), synth.clone_batch([request])
    assert np.array_equal(first[0].audio, again[0].audio) and first[0].audio.size == 24000
    assert told[0] is not None and all(owners == ids for owners, ids in told[0])  # one owner per S2A input frame
    synth.convert((first[0].audio, 24000), str(EXAMPLE_PROMPT), prompt_text, seed=1)
    assert told[-1] is None
    assert not Synthesizer.from_pretrained(aligned_model, device="cpu", sampling="reference").s2a_aligned_phones
