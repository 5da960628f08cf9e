"""The codec decoder's ground-truth-aligned fine-tune (recipes/acoustic_codec/gta.py): windows of
what a latent S2A writes, paired with the audio those frames stand for; a run that trains the
decoder alone and scores held-out windows."""

import dataclasses
import json

import pytest
import torch

from factories import EXAMPLE_PROMPT
from maskvox.audio import ACOUSTIC_RATE, load_audio
from maskvox.checkpoint import official_file, read_state_dict, write_model_folder
from maskvox.codecs.acoustic import AcousticCodec
from maskvox.codecs.mel_decoder import mel_frames
from maskvox.config import AcousticCodecConfig, AcousticDecoderConfig, AcousticEncoderConfig, S2AConfig
from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables
from recipes.acoustic_codec.gta import GtaConfig, GtaCrops, collate, decoder_inputs
from recipes.acoustic_codec.mel_route import frames_at_both_rates
from recipes.acoustic_codec.train import main as acoustic_main
from recipes.common.shards import TokenItem, shard_path, write_shard

WINDOW = 20
CODEC = AcousticCodecConfig(
    encoder=AcousticEncoderConfig(kind="mel", mel_bins=20, mel_dim=16, mel_layers=1),
    decoder=AcousticDecoderConfig(vocos_dim=32, vocos_intermediate_dim=64, vocos_num_layers=1, vocoder="hifigan",
                                  mel_refine_layers=1),
)
S2A = S2AConfig(num_quantizer=4, predict_layer_1=True, target="latent", latent_dim=256, hidden_size=32,
                num_layers=1, num_heads=2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A model folder (mel-route codec + latent S2A), shards of the example prompt's ids and a
    manifest pointing at its audio."""
    root = tmp_path_factory.mktemp("gta")
    torch.manual_seed(0)
    codec = AcousticCodec(CODEC).eval()
    wav = torch.from_numpy(load_audio(EXAMPLE_PROMPT, ACOUSTIC_RATE))
    codes = codec.encode(wav[None], n_quantizers=4)[0]  # (T, 4)
    s2a = S2ALatentModel(S2A)
    fit_latent_tables(s2a, codec, [codes])
    model = root / "model"
    write_model_folder(model, {"codec_encoder": codec.encoder, "codec_decoder": codec.decoder, "s2a_full": s2a.eval()},
                       lambda cfg: (setattr(cfg, "acoustic_codec", CODEC), setattr(cfg, "s2a_full", S2A)))
    semantic = torch.randint(0, 1024, (len(codes),)).numpy()
    # The same utterance under two ids: a batch of two.
    write_shard(shard_path(root / "shards", 0),
                [TokenItem(name, "spk", semantic=semantic, acoustic=codes.numpy()) for name in ("p", "q")])
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps({"id": name, "audio": str(EXAMPLE_PROMPT), "speaker": "spk"}) + "\n"
                                for name in ("p", "q")))
    return {"root": root, "model": model, "shards": root / "shards", "manifest": manifest, "codes": codes,
            "wav": wav, "s2a": s2a.eval()}


def test_a_crop_holds_a_prompt_of_a_fifth_to_a_half_and_a_window_of_audio_after_it(setup):
    cfg = GtaConfig(max_frames=60)
    dataset = GtaCrops(str(setup["shards"]), str(setup["manifest"]), 4, WINDOW, cfg, quiet=True)
    torch.manual_seed(1)
    for _ in range(20):
        semantic, codes, prompt, offset, segment, target = dataset[0]
        assert len(semantic) == len(codes) == 60 and codes.shape[1] == 4
        assert 12 <= prompt <= 30 and prompt + offset + WINDOW <= 60
        assert segment.shape == (WINDOW * 480,) and target.shape == (mel_frames(WINDOW) * 256,)
    # The window's audio is the stretch its codes were encoded from.
    start = next(s for s in range(len(setup["codes"]) - 59) if torch.equal(setup["codes"][s: s + 60], codes))
    expected, _ = frames_at_both_rates(setup["wav"], start + prompt + offset, WINDOW)
    torch.testing.assert_close(segment, expected)


def test_decoder_inputs_are_s2a_s_latents_for_a_share_and_the_true_ones_for_the_rest(setup):
    dataset = GtaCrops(str(setup["shards"]), str(setup["manifest"]), 4, WINDOW, GtaConfig(max_frames=60), quiet=True)
    torch.manual_seed(2)
    batch = collate([dataset[0] for _ in range(4)])
    latents = decoder_inputs(setup["s2a"], batch, WINDOW, written=2)
    assert latents.shape == (4, 256, WINDOW)
    for b in (0, 1):  # written by S2A from the item's prompt
        codes, prompt, offset = batch["codes"][b], batch["prompt"][b], batch["offset"][b]
        written = setup["s2a"].generate([batch["semantic"][b]], [codes[:prompt]])[0]
        torch.testing.assert_close(latents[b].T, written[offset: offset + WINDOW])
    for b in (2, 3):  # the quantizer's own
        codes, prompt, offset = batch["codes"][b], batch["prompt"][b], batch["offset"][b]
        true = setup["s2a"].latents_of(codes[prompt + offset: prompt + offset + WINDOW])
        torch.testing.assert_close(latents[b].T, true)
        assert not torch.allclose(latents[b].T, setup["s2a"].generate([batch["semantic"][b]], [codes[:prompt]])[0][
            offset: offset + WINDOW])


@pytest.mark.slow
def test_a_gta_run_trains_the_decoder_alone_and_scores_held_out_windows(setup):
    root = setup["root"]
    config = root / "gta.json"
    config.write_text(json.dumps({
        "model": dataclasses.asdict(CODEC),
        "decoder_only": {"enabled": True, "layers": 4, "gta": {
            "s2a": str(setup["model"]), "shards": str(setup["shards"]), "max_frames": 60,
            "heldout_shards": str(setup["shards"]), "heldout_manifest": str(setup["manifest"]), "heldout_items": 2}},
        "init_from": str(setup["model"]),
        "data": {"train_manifest": str(setup["manifest"]), "segment_seconds": WINDOW / 50, "batch_size": 2},
        "run": {"exp_dir": str(root / "exp"), "max_steps": 4, "log_every": 2, "save_every": 2, "ema_decay": 0,
                "mixed_precision": "no"},
    }))
    assert acoustic_main(["--config", str(config), "--quiet"]) == 0
    log = [json.loads(line) for line in (root / "exp" / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 0 and {"heldout/mel_written", "heldout/mel_true"} <= log[0].keys()
    assert {"gen/mel_written", "gen/mel_true"} <= log[1].keys()
    assert "heldout/mel_written" in log[2] and log[2]["step"] == 4  # the step-2 save's, with the next record
    assert log[-1]["step"] == 4 and "heldout/mel_written" in log[-1] and "gen/mel" not in log[-1]  # the last export's
    export = root / "exp" / "export"
    for name, part in (("codec_encoder", ""), ("codec_decoder", "quantizer.")):
        before, after = (read_state_dict(official_file(folder, name)) for folder in (setup["model"], export))
        assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(part))
    before, after = (read_state_dict(official_file(folder, "codec_decoder")) for folder in (setup["model"], export))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model."))


@pytest.mark.parametrize("changes, message", [
    (["decoder_only.enabled=true", "model.decoder.vocoder=vocos"], "trains the \"hifigan\" route's decoder"),
    (["decoder_only.gta.s2a=somewhere"], "set decoder_only.enabled true"),
    (["decoder_only.enabled=true", "decoder_only.gta.s2a=somewhere", "decoder_only.gta.share=1.5"], "share must lie in 0..1"),
    (["decoder_only.enabled=true", "decoder_only.gta.s2a=somewhere", "decoder_only.gta.max_frames=20"],
     "max_frames must be at least 63"),
])
def test_a_bad_decoder_only_config_is_one_line_and_writes_nothing(tmp_path, capsys, changes, message):
    exp = tmp_path / "exp"
    argv = ["--quiet", "--set", f"run.exp_dir={exp}", "--set", "data.train_manifest=none.jsonl",
            "--set", "model.decoder.vocoder=hifigan"]
    for change in changes:
        argv += ["--set", change]
    assert acoustic_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not exp.exists()
