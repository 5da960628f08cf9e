"""The "hifigan" decoder route of the acoustic codec: the mel decoder's frames, decoding
through a (tiny) HiFi-GAN at 24 kHz, the paired training segments, and a training run
whose export loads and decodes."""

import json
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from factories import EXAMPLE_PROMPT
from maskvox.checkpoint import official_file, read_state_dict
from maskvox.codecs.acoustic import AcousticCodec
from maskvox.codecs.mel_decoder import mel_frames
from maskvox.codecs.pretrained import load_acoustic_codec
from maskvox.config import AcousticCodecConfig, AcousticDecoderConfig, AcousticEncoderConfig
from maskvox.errors import CheckpointError, ConfigError
from recipes.acoustic_codec.mel_route import PairedSegments
from recipes.acoustic_codec.train import main as acoustic_main
from recipes.common.data import AudioDataConfig

REPO = EXAMPLE_PROMPT.parent.parent.parent



def one_item_manifest(tmp_path) -> Path:
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(json.dumps({"id": "p", "audio": str(EXAMPLE_PROMPT)}) + "\n")
    return manifest


def tiny_mel_run_config(tmp_path, run: dict, **sections) -> Path:
    """A training config of a tiny mel-route codec (exp_dir tmp_path/exp), `run` and the other
    sections added."""
    config = tmp_path / "mel.json"
    config.write_text(json.dumps({
        "model": {"encoder": {"kind": "mel", "mel_bins": 20, "mel_dim": 16, "mel_layers": 1},
                  "decoder": {"vocos_dim": 32, "vocos_intermediate_dim": 64, "vocos_num_layers": 1,
                              "vocoder": "hifigan"}},
        "data": {"segment_seconds": 0.4, "batch_size": 2},
        "run": {"exp_dir": str(tmp_path / "exp"), "mixed_precision": "no", **run},
        **sections,
    }))
    return config


def mel_codec_config() -> AcousticCodecConfig:
    return AcousticCodecConfig(
        encoder=AcousticEncoderConfig(d_model=4),
        decoder=AcousticDecoderConfig(vocos_dim=32, vocos_intermediate_dim=64, vocos_num_layers=1,
                                      vocoder="hifigan", mel_refine_layers=1),
    )


def test_mel_frames_cover_the_codec_frames_at_the_vocoders_rate():
    assert [mel_frames(t) for t in (1, 50, 256)] == [2, 87, 441]  # ceil(T * 441 / 256)
    assert all(mel_frames(t) * 256 >= t * 441 > (mel_frames(t) - 1) * 256 for t in range(1, 300))


def test_the_decoder_predicts_80_bands_at_the_mel_rate_and_needs_its_vocoder_to_decode():
    torch.manual_seed(0)
    codec = AcousticCodec(mel_codec_config()).eval()
    embeddings = torch.randn(2, 256, 50)
    assert codec.decoder(embeddings).shape == (2, 80, 87)
    codes = torch.randint(0, 1024, (2, 50, 12))
    with pytest.raises(CheckpointError, match="decodes through HiFi-GAN, which is not loaded"):
        codec.decode(codes)


def test_the_mel_encoder_gives_one_latent_per_480_samples():
    cfg = AcousticEncoderConfig(kind="mel", mel_bins=20, mel_dim=16, mel_layers=1)
    codec = AcousticCodec(AcousticCodecConfig(encoder=cfg, decoder=AcousticDecoderConfig(
        vocos_dim=32, vocos_intermediate_dim=64, vocos_num_layers=1, vocoder="hifigan"))).eval()
    for samples in (480 * 50, 480 * 50 - 100, 480 * 3):
        wav = torch.randn(2, samples)
        assert codec.encode(wav).shape == (2, -(-samples // 480), 12)
    with pytest.raises(ConfigError, match="encoder.kind must be one of dac, mel"):
        AcousticCodec(AcousticCodecConfig(encoder=AcousticEncoderConfig(kind="wav2vec")))


def test_an_unknown_vocoder_is_a_config_error():
    with pytest.raises(ConfigError, match="vocoder must be one of vocos, hifigan"):
        AcousticCodec(AcousticCodecConfig(decoder=AcousticDecoderConfig(vocoder="griffin-lim")))


def test_paired_segments_hold_the_same_stretch_at_both_rates(tmp_path):
    manifest = one_item_manifest(tmp_path)
    cfg = AudioDataConfig(min_peak=0.5, max_peak=0.5)
    dataset = PairedSegments(str(manifest), 24000, 480 * 25, cfg, quiet=True)
    torch.manual_seed(3)
    wav_24k, wav_22k = dataset[0]
    assert wav_24k.shape == (480 * 25,) and wav_22k.shape == (mel_frames(25) * 256,)
    expected = soxr.resample(wav_24k.numpy(), 24000, 22050, quality="HQ")
    # Away from the edges of the segment resampled alone, the two are one signal (measured
    # 1.5e-7 against a peak of 0.38; one sample of misalignment gives 0.06).
    inner = slice(500, 441 * 25 - 500)
    assert np.abs(wav_22k.numpy()[inner] - expected[inner]).max() < 1e-4 < np.abs(expected).max() / 10


@pytest.mark.slow
def test_a_short_training_run_exports_a_codec_that_decodes_at_24_khz(tmp_path, tiny_hifigan):
    manifest = one_item_manifest(tmp_path)
    config = tiny_mel_run_config(tmp_path, {"max_steps": 6, "log_every": 3, "save_every": 3})
    assert acoustic_main(["--config", str(config), "--quiet", "--set", f"data.train_manifest={manifest}"]) == 0
    log = [json.loads(line) for line in (tmp_path / "exp" / "log.jsonl").read_text().splitlines()]
    assert "gen/mel" in log[-1] and "disc/loss" not in log[-1]  # regression only, no GAN
    codec = load_acoustic_codec(tmp_path / "exp" / "export")
    assert codec.cfg.decoder.vocoder == "hifigan" and codec.vocoder is not None
    wav = codec.decode(torch.randint(0, 1024, (1, 30, 12)))
    assert wav.shape == (1, 30 * 480) and torch.isfinite(wav).all()

    # A new run with no checkpoint starts from a milestone's weights (`init_from`): with no
    # steps to take, what it exports is what it started from.
    milestone, restarted = tmp_path / "exp" / "export", tmp_path / "restarted"
    assert acoustic_main(["--config", str(config), "--quiet", "--set", f"data.train_manifest={manifest}",
                          "--set", f"init_from={milestone}", "--set", f"run.exp_dir={restarted}",
                          "--set", "run.max_steps=0"]) == 0
    for name in ("codec_encoder", "codec_decoder"):
        before, after = (read_state_dict(official_file(folder, name)) for folder in (milestone, restarted / "export"))
        assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)

    # The decoder-only fine-tune: the encoder and the quantizer (hence every acoustic id) stay
    # exactly as they were; only the decoder learns, from the mel loss alone.
    tuned = tmp_path / "decoder_only"
    assert acoustic_main(["--config", str(config), "--quiet", "--set", f"data.train_manifest={manifest}",
                          "--set", f"init_from={milestone}", "--set", f"run.exp_dir={tuned}",
                          "--set", "decoder_only.enabled=true", "--set", "decoder_only.layers=4",
                          "--set", "run.ema_decay=0"]) == 0
    assert "gen/vq" not in json.loads((tuned / "log.jsonl").read_text().splitlines()[-1])
    before, after = (read_state_dict(official_file(folder, "codec_decoder")) for folder in (milestone, tuned / "export"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("quantizer."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model."))
    encoder_before, encoder_after = (read_state_dict(official_file(folder, "codec_encoder"))
                                     for folder in (milestone, tuned / "export"))
    assert all(torch.equal(encoder_before[k], encoder_after[k]) for k in encoder_before)


@pytest.mark.slow
def test_the_decoder_learns_against_a_mel_adversary_and_resumes_with_it(tmp_path, tiny_hifigan):
    manifest = one_item_manifest(tmp_path)
    config = tiny_mel_run_config(tmp_path, {"max_steps": 4, "log_every": 1, "save_every": 2, "ema_decay": 0},
                                 decoder_only={"enabled": True, "layers": 4},
                                 mel_adversary={"weight": 1.0, "channels": 8}, adversarial_start_step=1)
    train = ["--config", str(config), "--quiet", "--set", f"data.train_manifest={manifest}"]
    assert acoustic_main(train) == 0
    log = [json.loads(line) for line in (tmp_path / "exp" / "log.jsonl").read_text().splitlines()]
    # The first step is the regression alone; from adversarial_start_step the adversary trains beside it.
    assert [row["step"] for row in log] == [1, 2, 3, 4]
    assert "disc/loss" not in log[0] and all("disc/loss" in row and "gen/feature_matching" in row for row in log[1:])
    checkpoint = sorted((tmp_path / "exp" / "checkpoints").iterdir())[-1]
    assert len(list(checkpoint.glob("model*.safetensors"))) == 2  # the codec and its adversary
    # A longer run resumes from the checkpoint, the adversary included.
    assert acoustic_main([*train, "--set", "run.max_steps=6"]) == 0
    log = [json.loads(line) for line in (tmp_path / "exp" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3, 4, 5, 6] and "disc/loss" in log[-1]


@pytest.mark.parametrize("setting, message", [
    ("mel_adversary.weight=-1", "must be 0 or more"),
    ("mel_adversary.channels=4096", "channels must be between 1 and 512"),
])
def test_a_bad_mel_adversary_is_one_line(tmp_path, capsys, setting, message):
    manifest = one_item_manifest(tmp_path)
    assert acoustic_main(["--quiet", "--set", f"data.train_manifest={manifest}", "--set",
                          "model.decoder.vocoder=hifigan", "--set", f"run.exp_dir={tmp_path / 'exp'}",
                          "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_a_mel_adversary_needs_the_mel_route(tmp_path, capsys):
    manifest = one_item_manifest(tmp_path)
    assert acoustic_main(["--quiet", "--set", f"data.train_manifest={manifest}", "--set", "mel_adversary.weight=1",
                          "--set", f"run.exp_dir={tmp_path / 'exp'}"]) == 2
    assert "judges the \"hifigan\" route's mel" in capsys.readouterr().err
