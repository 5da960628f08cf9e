"""recipes/acoustic_codec/evaluate.py: per-utterance scores, a summary, clear errors."""

import json

import numpy as np
import pytest

from factories import EXAMPLE_PROMPT
from recipes.acoustic_codec.evaluate import METRICS, main


@pytest.mark.slow
def test_scores_every_utterance_and_writes_a_summary(tiny_acoustic_model, tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "prompt", "audio": str(EXAMPLE_PROMPT), "speaker": "s"}) + "\n")
    out = tmp_path / "scores.jsonl"
    assert main(["--model", str(tiny_acoustic_model), "--manifest", str(manifest), "--out", str(out), "--quiet",
                 "--asr", "none"]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["utterances"] == 1 and all(np.isclose(summary[m], row[m]) for m in METRICS)
    assert summary["per_speaker"]["s"]["utterances"] == 1 and "wer_recording" not in summary
    # A random codec: intelligibility and quality near their floors, distances large.
    assert 0 <= row["stoi"] < 0.5 and 1 <= row["pesq_wb"] < 2 and row["mel_distance"] > 3
    assert "| all | 1 |" in capsys.readouterr().out


@pytest.mark.slow
def test_the_judge_hears_the_recording_and_not_a_random_codecs_resynthesis(tiny_acoustic_model, tmp_path):
    manifest = tmp_path / "m.jsonl"
    text = (EXAMPLE_PROMPT.parent / "prompt.txt").read_text().strip()
    manifest.write_text(json.dumps({"id": "prompt", "audio": str(EXAMPLE_PROMPT), "speaker": "s", "text": text,
                                    "language": "en"}) + "\n")
    out = tmp_path / "scores.jsonl"
    assert main(["--model", str(tiny_acoustic_model), "--manifest", str(manifest), "--out", str(out), "--quiet",
                 "--asr", "whisper-base"]) == 0
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["wer_recording"] == 0 and summary["wer_resynthesis"] >= 0.9
    assert summary["cer_recording"] == 0 < summary["cer_resynthesis"]
    assert summary["wer_ratio"] is None  # no ratio to a perfect recording
    assert summary["similarity_to_recording"] < 0.8


def test_missing_manifest_is_one_line_and_nothing_written(tiny_acoustic_model, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    assert main(["--model", str(tiny_acoustic_model), "--manifest", str(tmp_path / "no.jsonl"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: manifest") and not out.exists()
