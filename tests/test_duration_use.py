"""Using the duration model: saving and loading it (folder, hub cache, rule fallback), the
`maskvox duration` command, and its recipes (phone shards, training with resume, evaluation)."""

import json

import numpy as np
import pytest
import torch

from factories import populate_hub_cache, speechlike, write_wav
from maskvox.checkpoint import CONFIG_FILE, OFFICIAL_FILES, write_model_folder
from maskvox.cli import main as cli_main
from maskvox.config import DurationConfig
from maskvox.duration.control import LengthRequest
from maskvox.duration.model import DurationModel
from maskvox.duration.predictor import DurationPredictor, LengthQuery
from maskvox.errors import CheckpointError
from recipes.common.manifest import Utterance, write_manifest
from recipes.common.shards import TokenCorpus
from recipes.duration.evaluate import main as evaluate_main
from recipes.duration.train import main as train_main
from recipes.token_shards.extract import main as extract_main

TINY = DurationConfig(hidden_size=32, num_heads=2, num_layers=1)
PROMPT_TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def duration_folder(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("duration_model")

    def update(model_cfg):
        model_cfg.duration = TINY

    write_model_folder(folder, {"duration": DurationModel(TINY)}, update)
    return folder


def _queries():
    return [
        LengthQuery(list(range(10, 40)), 150.0, list(range(50, 70)), "en"),
        LengthQuery(list(range(5, 25)), 90.0, list(range(30, 75)), "de"),
        LengthQuery(list(range(20, 30)), 60.0, list(range(80, 88)), "en"),
    ]


def test_saved_model_loads_and_gives_the_same_lengths_alone_or_batched(duration_folder):
    predictor = DurationPredictor.from_pretrained(duration_folder, steps=4)
    assert predictor.source == "model"
    together = predictor.estimate(_queries(), seed=7)
    for query, estimate in zip(_queries(), together):
        [alone] = predictor.estimate([query], seed=7)
        # Padding changes the float summation order only: equal to 1e-5 relative, same frames.
        assert alone.natural_frames == pytest.approx(estimate.natural_frames, rel=1e-5)
        assert (alone.frames, alone.rule_frames, alone.source) == (estimate.frames, estimate.rule_frames, estimate.source)
        assert estimate.source == "model" and estimate.frames >= len(query.target_phones)
    assert [e.rule_frames for e in together] == [100, 202, 48]  # int(prompt x target / prompt phones)


def test_folder_without_a_duration_model_uses_the_rule(tiny_acoustic_model):
    predictor = DurationPredictor.from_pretrained(tiny_acoustic_model)
    assert predictor.model is None
    estimates = predictor.estimate(_queries(), LengthRequest(speed=2.0))
    assert [(e.frames, e.source) for e in estimates] == [(50, "rule"), (101, "rule"), (24, "rule")]


def test_config_naming_a_missing_duration_file_is_a_clear_error(duration_folder, tmp_path):
    (tmp_path / CONFIG_FILE).write_text((duration_folder / CONFIG_FILE).read_text())
    with pytest.raises(CheckpointError, match="missing duration_model/model.safetensors"):
        DurationPredictor.from_pretrained(tmp_path)


def test_duration_model_from_a_hub_repo_in_the_local_cache(duration_folder, tmp_path, monkeypatch):
    populate_hub_cache(tmp_path / "hub", "someone/tiny-duration", duration_folder,
                       [OFFICIAL_FILES["duration"], CONFIG_FILE])
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from_hub = DurationPredictor.from_pretrained("someone/tiny-duration", steps=4)
    local = DurationPredictor.from_pretrained(duration_folder, steps=4)
    assert from_hub.estimate(_queries()) == local.estimate(_queries())  # same weights, same batch: equal
    # The official repo has no duration model: the rule, without touching the network.
    assert DurationPredictor.from_pretrained("amphion/MaskGCT").source == "rule"


# -- the command ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prompt_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("prompt") / "prompt.wav", speechlike(3.0, 16000), 16000)


def _duration_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert cli_main(["duration", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_duration_command(duration_folder, tiny_acoustic_model, prompt_wav, capsys):
    common = ["--prompt", str(prompt_wav), "--prompt-text", PROMPT_TEXT, "--text", "Hello there, how are you today?"]
    natural = _duration_json(capsys, *common, "--model", str(duration_folder))
    assert natural["source"] == "model" and set(natural) == {"seconds", "rule_seconds", "source", "frames"}
    faster = _duration_json(capsys, *common, "--model", str(duration_folder), "--speed", "2")
    assert faster["frames"] == round(natural["frames"] / 2) or abs(faster["frames"] * 2 - natural["frames"]) <= 1
    exact = _duration_json(capsys, *common, "--model", str(duration_folder), "--duration", "2.34")
    assert exact["seconds"] == 2.34 and exact["source"] == "requested"
    rule = _duration_json(capsys, *common, "--model", str(tiny_acoustic_model))
    # 3 s prompt = 150 frames, 40 prompt phones, 21 target phones: int(150 x 21 / 40) = 78 frames.
    assert rule == {"seconds": 1.56, "rule_seconds": 1.56, "source": "rule", "frames": 78}


@pytest.mark.parametrize("extra, message", [
    (["--duration", "0.1"], "too short for 21 phones"),
    (["--speed", "3"], "--speed must be between 0.5 and 2.0"),
    (["--lang", "xx"], "unsupported language 'xx'"),
    (["--text", "?!"], "nothing to pronounce"),
])
def test_duration_command_errors_are_one_line(extra, message, tiny_acoustic_model, prompt_wav, capsys):
    args = ["duration", "--prompt", str(prompt_wav), "--prompt-text", PROMPT_TEXT,
            "--text", "Hello there, how are you today?", "--model", str(tiny_acoustic_model), *extra]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert message in err.lower() and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_duration_command_rejects_a_short_prompt(tiny_acoustic_model, tmp_path, capsys):
    short = write_wav(tmp_path / "short.wav", speechlike(0.5, 16000), 16000)
    args = ["duration", "--prompt", str(short), "--prompt-text", PROMPT_TEXT, "--text", "Hello.",
            "--model", str(tiny_acoustic_model)]
    assert cli_main(args) == 2
    assert "too short" in capsys.readouterr().err


# -- the recipes ------------------------------------------------------------------------------

SENTENCES = [
    "Good morning.", "The weather is fine today.", "Please close the door behind you.",
    "A small cat sat on the warm mat by the fire.", "Where are my keys?",
    "Reading books is a pleasant way to spend an evening at home.",
]


def _corpus(folder):
    """Three speakers at different tempos; each recording's length follows its text."""
    items = []
    (folder / "wavs").mkdir(parents=True)
    for speaker, seconds_per_char in [("slow", 0.09), ("mid", 0.07), ("fast", 0.05)]:
        for k, text in enumerate(SENTENCES):
            seconds = 0.3 + seconds_per_char * len(text)
            wav = write_wav(folder / "wavs" / f"{speaker}_{k}.wav", speechlike(seconds, 16000, seed=k), 16000)
            items.append(Utterance(f"{speaker}_{k}", str(wav), text, "en", speaker, seconds))
    write_manifest(folder / "all.jsonl", items)
    return folder / "all.jsonl"


@pytest.mark.slow
def test_phone_shards_train_resume_and_evaluate(tmp_path, capsys):
    manifest = _corpus(tmp_path / "corpus")
    shards = tmp_path / "phones"
    assert extract_main(["--manifest", str(manifest), "--ids", "no", "--out", str(shards), "--quiet"]) == 0
    items = TokenCorpus(shards, need=("phones",)).items
    assert len(items) == 18 and {item.language for item in items} == {"en"}
    slow = next(item for item in items if item.id == "slow_1")
    assert slow.num_frames == round((0.3 + 0.09 * len(SENTENCES[1])) * 50) and len(slow.phones) > 10

    exp = tmp_path / "exp"
    common = ["--config", "recipes/duration/configs/tiny.yaml", "--set", f"data.train_shards={shards}",
              "--set", f"run.exp_dir={exp}", "--set", "data.batch_size=6", "--set", "run.save_every=10",
              "--set", "run.log_every=10", "--quiet"]
    assert train_main([*common, "--set", "run.max_steps=20"]) == 0
    assert train_main([*common, "--set", "run.max_steps=30"]) == 0  # resumes at step 20
    steps = [json.loads(line)["step"] for line in (exp / "log.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30]
    assert (exp / "export" / OFFICIAL_FILES["duration"]).is_file()

    report = tmp_path / "report.json"
    capsys.readouterr()
    assert evaluate_main(["--shards", str(shards), "--model", str(exp / "export"), "--out", str(report),
                          "--steps", "2", "--quiet"]) == 0
    assert "| rule |" in capsys.readouterr().out
    result = json.loads(report.read_text())
    assert result["pairs"] == 18 and result["speakers"] == 3
    rule = result["results"]["rule"]
    assert 0 < rule["median_ape"] < 1 and np.isfinite(result["results"][str(exp / "export")]["median_ape"])


def test_duration_training_needs_speakers_with_two_utterances(tmp_path, capsys):
    manifest = _corpus(tmp_path / "corpus")
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[::6]) + "\n")  # one utterance per speaker
    shards = tmp_path / "phones"
    assert extract_main(["--manifest", str(manifest), "--ids", "no", "--out", str(shards), "--quiet"]) == 0
    args = ["--config", "recipes/duration/configs/tiny.yaml", "--set", f"data.train_shards={shards}",
            "--set", f"run.exp_dir={tmp_path / 'exp'}", "--quiet"]
    assert train_main(args) == 2
    assert "a second utterance of the same speaker" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()


def test_the_shipped_demo_predicts_plausible_lengths(capsys):
    """The demo checkpoint carries a duration model (trained on the offline corpus); on the
    example prompt (real speech) a 13-word sentence takes 5.44 s (the rule says 7.00 s)."""
    from factories import EXAMPLE_PROMPT

    args = ["--prompt", str(EXAMPLE_PROMPT), "--prompt-text", EXAMPLE_PROMPT.with_suffix(".txt").read_text().strip(),
            "--text", "We are going to the market to buy some fresh bread and cheese."]
    natural = _duration_json(capsys, *args)
    assert natural["source"] == "model" and 4.0 < natural["seconds"] < 7.0, natural
    slower = _duration_json(capsys, *args, "--speed", "0.5")
    assert slower["frames"] == round(natural["frames"] * 2) or abs(slower["frames"] - 2 * natural["frames"]) <= 1


def test_evaluation_checks_its_output_before_any_work(tmp_path, capsys):
    status = evaluate_main(["--shards", str(tmp_path / "absent"), "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.strip() == f"error: output {tmp_path} must end in .json"
    assert evaluate_main(["--shards", str(tmp_path / "absent"), "--out", str(tmp_path / "r.txt"), "--quiet"]) == 2
    assert "must end in .json" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_evaluation_needs_at_least_one_prompt_per_target(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate_main(["--shards", str(tmp_path), "--prompts", "0"])
    assert caught.value.code == 2
    assert "--prompts: '0' is not a positive whole number" in capsys.readouterr().err
