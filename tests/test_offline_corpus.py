"""The offline corpus builder: real synthesis with flite and espeak-ng, deterministic, resumable."""

import shutil

import pytest

from recipes.common.manifest import read_manifest
from recipes.offline_corpus.build import FORTUNE_DIR, Voice, build


@pytest.fixture
def voices():
    missing = [tool for tool in ("flite", "espeak-ng") if shutil.which(tool) is None]
    if not FORTUNE_DIR.is_dir():
        missing.append("fortunes")
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)}; install.sh does it)")
    return [Voice("flite", "slt"), Voice("espeak-ng", "en-us+m1", 170)]


def test_build_is_deterministic_resumable_and_holds_voices_out(tmp_path, voices):
    first = build(tmp_path / "a", per_voice=2, seed=3, voices=voices, quiet=True)
    assert [u.speaker for u in first["heldout"]] == ["flite_slt", "flite_slt"]  # a held-out voice
    assert {u.speaker for u in first["train"]} >= {"espeakng_en_us_m1"}
    for utterance in first["all"]:
        assert utterance.duration > 0.5 and utterance.text.endswith((".", "?", "!"))
    manifest = read_manifest(tmp_path / "a" / "all.jsonl")
    assert [u.id for u in manifest] == [u.id for u in first["all"]]

    # Same seed, same texts; a second run over the same folder synthesizes nothing again.
    wav = tmp_path / "a" / "wavs" / "flite_slt" / "flite_slt_0000.wav"
    stamp = wav.stat().st_mtime_ns
    again = build(tmp_path / "a", per_voice=2, seed=3, voices=voices, quiet=True)
    assert wav.stat().st_mtime_ns == stamp
    assert [u.text for u in again["all"]] == [u.text for u in first["all"]]
    other = build(tmp_path / "b", per_voice=2, seed=4, voices=voices, quiet=True)
    assert [u.text for u in other["all"]] != [u.text for u in first["all"]]
