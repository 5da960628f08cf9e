"""recipes/acoustic_codec/voice_loss.py: where a mel-route codec loses the voice."""

import json

from factories import EXAMPLE_PROMPT
from recipes.acoustic_codec.voice_loss import TRUE_MEL, main

DEMO = EXAMPLE_PROMPT.parent.parent.parent / "maskvox" / "assets" / "demo"


def write_manifest(path):
    path.write_text(json.dumps({"id": "prompt", "audio": str(EXAMPLE_PROMPT), "speaker": "s", "duration": 6.3}) + "\n")
    return path


def test_on_the_demo_the_true_mel_keeps_more_voice_than_the_round_trip(tmp_path, capsys):
    out = tmp_path / "voice.json"
    assert main(["--model", str(DEMO), "--manifest", str(write_manifest(tmp_path / "m.jsonl")), "--layers", "1", "12",
                 "--out", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    routes = report["all"]
    assert report["routes"] == [TRUE_MEL, "1 layer", "12 layers"] and routes["utterances"] == 1
    # The shipped vocoder on the prompt's own mel is the ceiling (measured 0.91), the 12-layer
    # round trip below it (0.78); twelve layers write a closer mel than one.
    assert routes[TRUE_MEL]["similarity"] > routes["12 layers"]["similarity"] + 0.05
    assert routes[TRUE_MEL]["mel_l1"] == 0 < routes["12 layers"]["mel_l1"] < routes["1 layer"]["mel_l1"]
    assert "| all | 1 |" in capsys.readouterr().out


def test_a_codec_without_a_mel_vocoder_is_one_line_and_nothing_written(tiny_acoustic_model, tmp_path, capsys):
    out = tmp_path / "voice.json"
    assert main(["--model", str(tiny_acoustic_model), "--manifest", str(write_manifest(tmp_path / "m.jsonl")),
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not decode through a mel vocoder" in err and "\n" not in err
    assert not out.exists()


def test_more_layers_than_the_codec_has_is_one_line(tmp_path, capsys):
    out = tmp_path / "voice.json"
    assert main(["--model", str(DEMO), "--manifest", str(write_manifest(tmp_path / "m.jsonl")), "--layers", "13",
                 "--out", str(out), "--quiet"]) == 2
    assert "this codec has 12 quantizer layers" in capsys.readouterr().err and not out.exists()
