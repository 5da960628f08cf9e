"""The demo's own recipes: the small semantic encoder (phone CTC), the export to a <= 60 MB
checkpoint, and the shipped demo cloning a sentence on one CPU thread."""

import json
import shutil
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from factories import EXAMPLE_PROMPT
from maskvox.audio import SEMANTIC_RATE, load_audio
from maskvox.checkpoint import default_model_location, load_model_config
from maskvox.codecs.pretrained import load_semantic_features
from maskvox.pipeline import Synthesizer
from maskvox.prompt import frame_levels_db
from recipes.common.trainer import read_log
from recipes.demo.export import main as export_main
from recipes.semantic_codec.train import main as semantic_codec_main
from recipes.semantic_encoder.train import main as encoder_main

REPO = EXAMPLE_PROMPT.parent.parent.parent
PROMPT_TEXT = (REPO / "egs/clone/prompt.txt").read_text().strip()


@pytest.mark.slow
def test_shipped_demo_clones_a_sentence_on_one_cpu_thread_in_under_a_minute():
    assert torch.get_num_threads() == 1
    started = time.perf_counter()
    synthesizer = Synthesizer.from_pretrained(device="cpu")
    result = synthesizer.clone(EXAMPLE_PROMPT, PROMPT_TEXT, "The weather is lovely today, so we walked to the river.",
                               seed=3)
    seconds = time.perf_counter() - started
    assert seconds < 60, f"loading and cloning took {seconds:.1f} s"
    assert result.sample_rate == 24000 and result.duration_source == "model"
    assert len(result.audio) == round(result.target_seconds * 24000)
    assert 2.0 < result.target_seconds < 6.0  # 13 words
    levels = frame_levels_db(result.audio, 24000)
    assert np.sqrt(np.mean(result.audio ** 2)) > 0.01 and np.mean(levels > levels.max() - 30) > 0.5, "mostly silence"


def test_shipped_demo_is_a_complete_folder_under_60_mb():
    folder = default_model_location()
    from pathlib import Path

    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 60e6
    cfg = load_model_config(folder)
    # Whisper base's encoder comes from its pinned packages (install.sh), not from the folder.
    assert cfg.semantic_features.model == "whisper-base" and cfg.semantic_features.kind == "whisper"
    # One latent S2A for layers 1-4, read with at most the prompt length it was trained with.
    assert cfg.s2a_full.predict_layer_1 and cfg.s2a_full.target == "latent" and cfg.s2a_full.max_prompt_frames > 0
    # The waveform comes from its own distilled vocoder, not from the installed HiFi-GAN V1.
    assert cfg.acoustic_codec.decoder.vocoder == "hifigan" and cfg.acoustic_codec.decoder.vocoder_folder == "vocoder"
    names = {str(p.relative_to(folder)) for p in files}
    for needed in ("semantic_features/stats.npz", "semantic_codec/model.safetensors", "t2s_model/model.safetensors",
                   "s2a_model/s2a_model_full/model.safetensors", "duration_model/model.safetensors",
                   "aligner/model.safetensors", "acoustic_codec/model.safetensors", "vocoder/generator.safetensors",
                   "vocoder/config.json"):
        assert needed in names


def write_manifest(folder, copies=4):
    lines = [json.dumps({"id": f"prompt{i}", "audio": str(EXAMPLE_PROMPT), "text": PROMPT_TEXT, "language": "en",
                         "speaker": "s"}) for i in range(copies)]
    (folder / "train.jsonl").write_text("".join(line + "\n" for line in lines))
    return folder / "train.jsonl"


@pytest.mark.slow
def test_semantic_encoder_learns_phones_and_feeds_the_semantic_codec(tmp_path):
    manifest, model = write_manifest(tmp_path), tmp_path / "model"
    common = ["--quiet", "--set", f"data.train_manifest={manifest}", "--set", f"export_dir={model}"]
    assert encoder_main(["--config", str(REPO / "recipes/semantic_encoder/configs/tiny.yaml"),
                         "--set", f"run.exp_dir={tmp_path / 'encoder'}", *common]) == 0
    losses = [r["loss/ctc"] for r in read_log(tmp_path / "encoder/log.jsonl")]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0], losses

    cfg = load_model_config(model).semantic_features
    assert (cfg.model, cfg.layer, cfg.stats) == ("semantic_features", 1, "semantic_features/stats.npz")
    features, mask = load_semantic_features(cfg, base=model)([load_audio(EXAMPLE_PROMPT, SEMANTIC_RATE)])
    assert features.shape == (1, 314, 32) and mask.all()  # 6.3 s at 50 Hz (the fbank frames one fewer)
    assert abs(float(features.mean())) < 0.2 and 0.8 < float(features.std()) < 1.2  # the stats normalise
    head = load_file(str(model / "semantic_features/ctc_head.safetensors"))
    assert head["weight"].shape == (1024, 32)  # the phone table's rows; 1023 (padding) is the blank

    # The semantic codec reads the encoder through the folder's relative path.
    assert semantic_codec_main(["--config", str(REPO / "recipes/semantic_codec/configs/tiny.yaml"),
                                "--set", "model.hidden_size=32", "--set", "features.model=semantic_features",
                                "--set", "features.layer=1", "--set", "features.stats=semantic_features/stats.npz",
                                "--set", f"run.exp_dir={tmp_path / 'codec'}", "--set", "run.max_steps=5", *common]) == 0
    assert (model / "semantic_codec/model.safetensors").is_file()


def test_export_halves_the_weights_and_refuses_an_oversized_checkpoint(tiny_full_model, tmp_path, capsys):
    out = tmp_path / "demo"
    assert export_main(["--model", str(tiny_full_model), "--out", str(out)]) == 0
    for packed in out.rglob("*.safetensors"):
        original = load_file(str(tiny_full_model / packed.relative_to(out)))
        halved = load_file(str(packed))
        assert halved.keys() == original.keys()
        for key, value in halved.items():
            assert value.dtype == (torch.float16 if original[key].is_floating_point() else original[key].dtype)
    Synthesizer.from_pretrained(out, device="cpu")  # the loaders take fp16 files into fp32 models

    assert export_main(["--model", str(tiny_full_model), "--out", str(out), "--max-mb", "0.01"]) == 2
    assert "over the 0.01 MB limit" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # the old one kept, nothing left over


def test_export_writes_the_sampling_settings_the_demo_asks_for(tiny_full_model, tmp_path, capsys):
    from maskvox.checkpoint import load_model_config
    from maskvox.config import SamplingDefaults

    settings, out = tmp_path / "sampling.yaml", tmp_path / "demo"
    settings.write_text("t2s_temperature: 0.5\n")
    assert export_main(["--model", str(tiny_full_model), "--out", str(out), "--sampling", str(settings)]) == 0
    assert load_model_config(out).sampling == SamplingDefaults(t2s_temperature=0.5)
    assert Synthesizer.from_pretrained(out, device="cpu").preset.t2s_temperature == 0.5
    settings.write_text("t2s_temperatur: 0.5\n")
    assert export_main(["--model", str(tiny_full_model), "--out", str(out), "--sampling", str(settings)]) == 2
    assert "t2s_temperatur" in capsys.readouterr().err
    assert load_model_config(out).sampling == SamplingDefaults(t2s_temperature=0.5)  # the old one kept


def test_curves_are_copied_into_the_repository_and_drawn(tmp_path, capsys):
    from recipes.demo.curves import main as curves_main

    run = tmp_path / "exp_t2s"
    run.mkdir()
    records = [{"step": 50 * n, "train/accuracy": 0.01 * n, "train/loss": 7 - n, "cpu_hours": 0.25 * 2 ** n,
                "heldout/accuracy": 0.1 + 0.05 * n} for n in range(1, 7)]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "curves"
    assert curves_main(["--run", f"t2s={run}", "--out", str(out)]) == 0
    assert read_log(out / "t2s.jsonl") == records
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The held-out accuracy gains 0.05 per doubling of the CPU-hours here.
    assert "t2s heldout/accuracy: 0.4 at 16.00 CPU-h, +0.05 per doubling" in capsys.readouterr().out
    assert curves_main(["--run", f"t2s={tmp_path / 'nowhere'}", "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_milestone_unpacks_into_a_model_folder_in_float32(tiny_full_model, tmp_path, capsys):
    import shutil

    from recipes.demo.unpack import main as unpack_main

    packed = tmp_path / "packed"
    assert export_main(["--model", str(tiny_full_model), "--out", str(packed)]) == 0
    milestone = tmp_path / "milestone"  # the acoustic codec and the semantic path only
    for part in ("acoustic_codec", "semantic_codec", "semantic_features", "config.json"):
        copy = shutil.copytree if (packed / part).is_dir() else shutil.copyfile
        copy(packed / part, milestone / part)
    model = tmp_path / "model"
    assert unpack_main([str(milestone), str(model)]) == 0
    for path in [*milestone.glob("acoustic_codec/*.safetensors"), milestone / "semantic_codec/model.safetensors"]:
        unpacked = load_file(str(model / path.relative_to(milestone)))
        for key, value in load_file(str(path)).items():
            assert unpacked[key].dtype == torch.float32 and torch.equal(unpacked[key], value.float())
    source, written = load_model_config(milestone), load_model_config(model)
    assert written.acoustic_codec == source.acoustic_codec and written.semantic_features == source.semantic_features
    assert sorted(p.name for p in (model / "semantic_features").iterdir()) == sorted(
        p.name for p in (milestone / "semantic_features").iterdir())
    assert not (model / "t2s_model").exists()
    capsys.readouterr()
    assert unpack_main([str(tmp_path / "nowhere"), str(model)]) == 2
    assert "not a milestone folder" in capsys.readouterr().err


def test_the_clone_table_reads_one_voice_without_a_comparison():
    from recipes.demo.evaluate import format_table

    scored = {"wer_mean_per_utterance": 0.1, "wer_pooled": 0.1, "similarity_mean": 0.8}
    results = {"recordings": scored, "resynthesis": scored, "clone": {**scored, "wer_ratio_to_recordings": 1.0},
               "speakers": {"own_prompt_mean": 0.7, "other_voices_mean": None, "clones_closer_to_own_prompt": None,
                            "clones": 2}}
    assert "0.700 to their own prompt (one voice: no other to compare)" in format_table(results)


def test_milestone_eval_records_where_each_run_stood_and_the_figures(tmp_path, monkeypatch):
    from recipes.demo import milestone_eval

    for name, steps in (("t2s", [(50, 0.1), (100, 0.2), (150, 0.3)]), ("s2a", [(50, 0.05)])):
        (tmp_path / name / "checkpoints" / "step_50").mkdir(parents=True)
        (tmp_path / name / "checkpoints" / ("step_100" if name == "t2s" else "step_50")).mkdir(exist_ok=True)
        (tmp_path / name / "log.jsonl").write_text(
            "".join(json.dumps({"step": s, "cpu_hours": h, "train/loss": 1.0}) + "\n" for s, h in steps))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    convert = {"summary": {"0": {"wer_output_mean": 0.5, "wer_source_mean": 0.1, "similarity_prompt_mean": 0.7,
                                 "similarity_source_mean": 0.6}}}
    clone = {"clone": {"wer_mean_per_utterance": 0.4, "similarity_mean": 0.65},
             "recordings": {"wer_mean_per_utterance": 0.05}, "speakers": {"clones_closer_to_own_prompt": 5, "clones": 6}}

    def fake(results):  # the evaluators write results.json into their --out
        def run(argv):
            out = tmp_path / argv[argv.index("--out") + 1]
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results))
            assert argv[argv.index("--model") + 1] == str(tmp_path / "snaps" / "m1")  # the copy is scored
            return 0
        return run

    from recipes.convert import evaluate as convert_evaluation
    from recipes.demo import evaluate as clone_evaluation

    monkeypatch.setattr(convert_evaluation, "main", fake(convert))
    monkeypatch.setattr(clone_evaluation, "main", fake(clone))
    curve = tmp_path / "eval.jsonl"
    assert milestone_eval.main(["--model", str(model), "--snapshot", str(tmp_path / "snaps" / "m1"),
                                "--run", f"t2s={tmp_path / 't2s'}", "--run", f"s2a={tmp_path / 's2a'}",
                                "--curve", str(curve), "--quiet"]) == 0
    assert (tmp_path / "snaps" / "m1" / "config.json").is_file()
    record = json.loads(curve.read_text())
    assert record["snapshot"] == "m1" and record["runs"] == {"t2s": {"step": 100, "cpu_hours": 0.2},
                                                             "s2a": {"step": 50, "cpu_hours": 0.05}}
    assert record["convert_wer"] == 0.5 and record["clone_wer"] == 0.4 and record["clones_closer_to_own_prompt"] == 5
    assert milestone_eval.main(["--snapshot", str(tmp_path / "x"), "--run", "t2s=/nowhere", "--curve", str(curve)]) == 2


@pytest.mark.slow
def test_prompt_eval_clones_each_sentence_from_each_prompt_and_resumes(tiny_full_model, tmp_path, monkeypatch, capsys):
    from recipes.demo import prompt_eval

    scored = []

    def fake_eval(meta, out, wav_dir, asr, language):  # maskvox eval (Whisper) is tested on its own
        assert language == "de"  # the sentences' language reaches the judge
        scored.append(meta.read_text().splitlines())
        out.mkdir(parents=True, exist_ok=True)  # one clone heard as a repetition loop: 3x its words
        (out / "items.jsonl").write_text('{"id": "s000", "wer": 3.0}\n{"id": "s001", "wer": 0.2}\n')
        return {"wer_mean_per_utterance": 0.25, "wer_pooled": 0.2, "similarity_mean": 0.7}

    monkeypatch.setattr(prompt_eval, "run_maskvox_eval", fake_eval)
    from maskvox.pipeline import Synthesizer

    speeds, clone = [], Synthesizer.clone

    def clone_at(self, *args, **kwargs):  # the --speed of every clone
        speeds.append(kwargs["speed"])
        return clone(self, *args, **kwargs)

    monkeypatch.setattr(Synthesizer, "clone", clone_at)
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Guten Tag.\n\nGuten Morgen.\n")
    args = ["--model", str(tiny_full_model), "--sentences", str(sentences), "--out", str(tmp_path / "out"),
            "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT,
            "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT, "--asr", "whisper-base", "--quiet",
            "--language", "de", "--prompt-language", "en", "--speed", "1.25"]
    assert prompt_eval.main(args) == 0
    wavs = sorted((tmp_path / "out").glob("prompt*/wavs/*.wav"))
    assert [w.relative_to(tmp_path / "out").as_posix() for w in wavs] == [
        "prompt0/wavs/s000.wav", "prompt0/wavs/s001.wav", "prompt1/wavs/s000.wav", "prompt1/wavs/s001.wav"]
    assert scored[0][1].startswith("s001|") and scored[0][1].endswith("|Guten Morgen.")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [row["wer_mean_per_utterance"] for row in results["prompts"]] == [0.25, 0.25]
    assert [row["wer_capped_mean"] for row in results["prompts"]] == [0.6, 0.6]  # the loop counts as 100 %
    assert results["mean_of_prompts"]["wer_capped_mean"] == 0.6 and results["setup"]["speed"] == 1.25
    assert speeds == [1.25] * 4
    table = capsys.readouterr().out
    assert "| 2 | 25.0 % | 60.0 % | 20.0 % | 0.700 |" in table and "| mean of prompts |  | 25.0 % | 60.0 % |" in table
    # A second run keeps the wavs it finds (a stopped evaluation resumes).
    stamps = [w.stat().st_mtime_ns for w in wavs]
    assert prompt_eval.main(args) == 0
    assert [w.stat().st_mtime_ns for w in wavs] == stamps


def test_prompt_eval_refuses_unpaired_prompts_and_bad_sentence_files(tmp_path, capsys):
    from recipes.demo.prompt_eval import main

    sentences = tmp_path / "sentences.txt"
    sentences.write_text("One | two\n")
    base = ["--model", "unused", "--out", str(tmp_path / "out"), "--prompt", str(EXAMPLE_PROMPT)]
    assert main(base + ["--sentences", str(sentences), "--prompt-text", "a", "--prompt-text", "b"]) == 2
    assert main(base + ["--sentences", str(sentences), "--prompt-text", "a"]) == 2
    assert main(base + ["--sentences", str(tmp_path / "missing.txt"), "--prompt-text", "a"]) == 2
    assert main(base + ["--sentences", str(tmp_path / "missing.txt"), "--prompt-text", "a", "--speed", "5"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors)
    assert "in pairs" in errors[0] and "'|'" in errors[1] and "missing.txt" in errors[2] and "--speed" in errors[3]
    assert not (tmp_path / "out").exists()


def test_a_snapshot_takes_another_aligner_with_its_sizes(tmp_path):
    from maskvox.checkpoint import OFFICIAL_FILES
    from recipes.demo.milestone_eval import snapshot

    demo = REPO / "maskvox" / "assets" / "demo"
    export = tmp_path / "judge"  # what stage 4b exports: a wider head over the same features
    (export / "aligner").mkdir(parents=True)
    (export / OFFICIAL_FILES["aligner"]).write_bytes(b"judge weights")
    config = json.loads((demo / "config.json").read_text())
    config["maskvox"]["aligner"]["hidden_size"] = 384
    (export / "config.json").write_text(json.dumps(config))
    snapshot(demo, tmp_path / "copy", [f"aligner={export}"])
    assert load_model_config(tmp_path / "copy").aligner.hidden_size == 384
    assert (tmp_path / "copy" / OFFICIAL_FILES["aligner"]).read_bytes() == b"judge weights"
    assert load_model_config(demo).aligner.hidden_size != 384  # the model itself is untouched


def test_a_snapshot_with_another_decoder_keeps_the_models_vocoder(tmp_path):
    from maskvox.checkpoint import OFFICIAL_FILES
    from recipes.demo.milestone_eval import snapshot

    demo = REPO / "maskvox" / "assets" / "demo"
    export = tmp_path / "decoder_export"  # what the codec recipe exports: no vocoder_folder
    (export / "acoustic_codec").mkdir(parents=True)
    shutil.copyfile(demo / OFFICIAL_FILES["codec_decoder"], export / OFFICIAL_FILES["codec_decoder"])
    config = json.loads((demo / "config.json").read_text())
    config["model"]["acoustic_codec"]["decoder"]["vocoder_folder"] = ""
    (export / "config.json").write_text(json.dumps(config))
    snapshot(demo, tmp_path / "copy", [f"codec_decoder={export}"])
    assert load_model_config(tmp_path / "copy").acoustic_codec.decoder.vocoder_folder == "vocoder"
