"""The dubbing benchmark's scoring: each cue judged in its target language, with its slot error."""

import json

import pytest

from factories import EXAMPLE_PROMPT
from maskvox.audio import load_audio, write_audio
from recipes.dub import benchmark

GERMAN = ["Guten Morgen.", "Das Wetter ist gut.", "Wir gehen am Abend ins Kino."]


def write_corpus(folder):
    """Two English voices, one 3 s utterance each (the benchmark takes cues of 1.5-5 s)."""
    write_audio(folder / "short.wav", load_audio(EXAMPLE_PROMPT, 16000)[:48000], 16000)
    rows = [{"id": f"u{i}", "audio": "short.wav", "text": "Hello there, how are you today?", "language": "en",
             "speaker": voice, "duration": 3.0} for i, voice in enumerate(("alice", "bob"))]
    (folder / "heldout.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "targets.de.txt").write_text("\n".join(GERMAN) + "\n")
    return folder / "heldout.jsonl", folder / "targets.de.txt"


@pytest.mark.slow
def test_dub_benchmark_scores_each_cue_in_its_target_language(tiny_full_model, tmp_path, monkeypatch, capsys):
    manifest, targets = write_corpus(tmp_path)
    judged = []

    def fake_eval(meta, out, wav_dir, asr, language):  # maskvox eval (Whisper) is tested on its own
        lines = [line.split("|") for line in meta.read_text().splitlines()]
        judged.append((language, asr, [line[3] for line in lines]))
        assert all((wav_dir / f"{line[0]}.wav").is_file() and line[2].endswith("short.wav") for line in lines)
        out.mkdir(parents=True, exist_ok=True)
        (out / "items.jsonl").write_text("".join(
            json.dumps({"id": line[0], "hypothesis": "guten morgen", "wer": 0.5 * n, "similarity": 0.6}) + "\n"
            for n, line in enumerate(lines)))

    monkeypatch.setattr("recipes.demo.evaluate.run_maskvox_eval", fake_eval)
    args = ["--manifest", str(manifest), "--model", str(tiny_full_model), "--cues", "2", "--batch-sizes", "1",
            "--targets", str(targets), "--target-language", "de", "--score", "--asr", "whisper-base",
            "--out", str(tmp_path / "out")]
    assert benchmark.main(args) == 0
    [(language, asr, texts)] = judged
    assert language == "de" and asr == "whisper-base" and len(texts) == 2 and set(texts) <= set(GERMAN)
    scores = json.loads((tmp_path / "out/results.json").read_text())["scores"]
    assert scores["wer_mean"] == scores["wer_median"] == scores["wer_capped_mean"] == 0.25
    assert scores["similarity_mean"] == pytest.approx(0.6)
    assert [row["slot_error_ms"] for row in scores["cues"]] == [0.0, 0.0]  # each cue fills its slot exactly
    assert "WER 25.0 % (mean)" in capsys.readouterr().out


def test_dub_benchmark_refuses_fewer_targets_than_cues(tmp_path, capsys):
    manifest, targets = write_corpus(tmp_path)
    args = ["--manifest", str(manifest), "--cues", "4", "--targets", str(targets), "--out", str(tmp_path / "out"),
            "--asr", "whisper-base"]
    assert benchmark.main(args) == 2
    assert "4 cues need as many target sentences; 3 given" in capsys.readouterr().err
