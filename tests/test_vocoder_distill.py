"""A smaller vocoder distilled from HiFi-GAN V1 (recipes/vocoder): the teacher's cache, the
student's training and held-out figures, and a model folder that ships the student."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from factories import EXAMPLE_PROMPT
from maskvox.checkpoint import load_model_config, write_model_folder
from maskvox.codecs.acoustic import AcousticCodec
from maskvox.codecs.hifigan_data import load_hifigan
from maskvox.codecs.pretrained import load_acoustic_codec
from maskvox.config import AcousticCodecConfig, AcousticDecoderConfig, AcousticEncoderConfig, save_config
from maskvox.errors import ConfigError, UserError
from recipes.demo.export import main as export_main
from recipes.demo.milestone_eval import snapshot
from recipes.vocoder import distill, teacher

STUDENT = {"upsample_initial_channel": 16, "resblock": "2", "resblock_kernel_sizes": [3],
           "resblock_dilation_sizes": [[1]]}


def codec_folder(folder):
    cfg = AcousticCodecConfig(encoder=AcousticEncoderConfig(kind="mel", mel_bins=20, mel_dim=16, mel_layers=1),
                              decoder=AcousticDecoderConfig(vocos_dim=32, vocos_intermediate_dim=64, vocos_num_layers=1,
                                                            vocoder="hifigan", mel_refine_layers=1))
    torch.manual_seed(1)
    codec = AcousticCodec(cfg)
    write_model_folder(folder, {"codec_encoder": codec.encoder, "codec_decoder": codec.decoder},
                       lambda model_cfg: setattr(model_cfg, "acoustic_codec", cfg))
    return folder


def write_manifest(tmp_path):
    rows = [{"id": f"p{i}", "audio": str(EXAMPLE_PROMPT), "text": "x", "language": "en", "speaker": f"s{i}",
             "duration": 6.3} for i in range(2)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.slow
def test_teacher_cache_holds_v1s_waveform_of_each_mel_and_resumes(tmp_path, tiny_hifigan):
    codec = codec_folder(tmp_path / "codec")
    args = ["--manifest", str(write_manifest(tmp_path)), "--out", str(tmp_path / "cache"), "--codec-from", str(codec),
            "--quiet"]
    assert teacher.main(args) == 0
    files = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 2  # one utterance of each speaker
    with np.load(files[0]) as cached:
        assert sorted(cached.files) == ["mel_codec", "mel_true", "wav_codec", "wav_true"]
        for kind in ("true", "codec"):
            mel, wav = cached[f"mel_{kind}"], cached[f"wav_{kind}"]
            assert mel.shape[0] == 80 and wav.shape == (mel.shape[1] * 256,)
        expected = load_hifigan()(torch.from_numpy(cached["mel_true"].astype(np.float32))[None])[0, 0]
        # float16 storage of the mel and of the waveform: agreement to their rounding
        assert np.abs(cached["wav_true"].astype(np.float32) - expected.detach().numpy()).max() < 2e-3
    stamps = [path.stat().st_mtime_ns for path in files]
    assert teacher.main(args) == 0  # a second run keeps what it finds
    assert [path.stat().st_mtime_ns for path in files] == stamps
    assert teacher.main(args[:4] + ["--hours", "-1", "--quiet"]) == 2


@pytest.mark.slow
def test_student_learns_the_teacher_and_ships_inside_a_model_folder(tmp_path, tiny_hifigan):
    cache = tmp_path / "cache"
    assert teacher.main(["--manifest", str(write_manifest(tmp_path)), "--out", str(cache), "--quiet"]) == 0
    config = tmp_path / "distill.json"
    config.write_text(json.dumps({
        "student": STUDENT,
        "data": {"train_cache": str(cache), "heldout_cache": str(cache), "heldout_items": 4, "segment_frames": 16,
                 "margin_frames": 2, "batch_size": 2, "codec_share": 0.0},
        "optim": {"lr": 0.003},
        "run": {"exp_dir": str(tmp_path / "exp"), "max_steps": 40, "log_every": 20, "save_every": 20,
                "mixed_precision": "no"},
    }))
    assert distill.main(["--config", str(config), "--quiet"]) == 0
    log = [json.loads(line) for line in (tmp_path / "exp/log.jsonl").read_text().splitlines()]
    heldout = [(r["step"], r["heldout/total"]) for r in log if "heldout/total" in r]
    assert [step for step, _ in heldout][0] == 0 and heldout[-1][0] == 40
    assert heldout[-1][1] < 0.8 * heldout[0][1], heldout  # the student moves towards the teacher
    assert all(-1 <= r["heldout/correlation"] <= 1 for r in log if "heldout/total" in r)

    # A model folder that ships the student decodes through it, not through the installed V1:
    # the campaign's evaluation puts it in a copy of the model (`--take vocoder=EXPORT`).
    model = tmp_path / "model"
    snapshot(codec_folder(tmp_path / "codec"), model, [f"vocoder={tmp_path / 'exp/export'}"])
    cfg = load_model_config(model)
    assert cfg.acoustic_codec.decoder.vocoder_folder == "vocoder" and (model / "vocoder/generator.safetensors").is_file()
    codec = load_acoustic_codec(model)
    assert codec.vocoder.generator.cfg.resblock_dilation_sizes == ((1,),)
    wav = codec.decode(torch.randint(0, 1024, (1, 20, 12)))
    assert wav.shape == (1, 20 * 480) and torch.isfinite(wav).all()

    cfg.acoustic_codec.decoder.vocoder_folder = "../vocoder"
    save_config(cfg, model / "config.json")
    with pytest.raises(ConfigError, match="inside the model folder"):
        load_acoustic_codec(model)
    with pytest.raises(UserError, match="expected a vocoder export"):
        snapshot(tmp_path / "codec", tmp_path / "other", [f"vocoder={tmp_path}"])

    # The demo's export (campaign stage 8) ships it the same way, in float16.
    packed = tmp_path / "packed"
    assert export_main(["--model", str(tmp_path / "codec"), "--out", str(packed),
                        "--vocoder", str(tmp_path / "exp/export")]) == 0
    assert load_model_config(packed).acoustic_codec.decoder.vocoder_folder == "vocoder"
    weights = load_file(str(packed / "vocoder/generator.safetensors"))
    assert weights and all(value.dtype == torch.float16 for value in weights.values())
    assert load_acoustic_codec(packed).vocoder.generator.cfg.resblock_dilation_sizes == ((1,),)
    assert export_main(["--model", str(tmp_path / "codec"), "--out", str(tmp_path / "other"),
                        "--vocoder", str(tmp_path)]) == 2
    assert not (tmp_path / "other").exists()


def test_distill_refuses_crops_without_room_beside_their_margins(tmp_path, capsys):
    args = ["--quiet", "--set", f"data.train_cache={tmp_path}", "--set", "data.segment_frames=10",
            "--set", "data.margin_frames=4", "--set", f"run.exp_dir={tmp_path / 'exp'}"]
    assert distill.main(args) == 2
    assert "data.segment_frames must lie in 16..400" in capsys.readouterr().err
