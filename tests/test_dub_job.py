"""maskvox dub: the job (slots, tracks, subtitles, report), resuming after SIGKILL, the CLI, and
the Ray engine on a local Ray instance (the same files as the local engine).

The models are random and tiny (tests/factories.py): the audio is noise, but every length,
placement, file and resume rule is the real one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from factories import speechlike, write_wav
from maskvox.audio import ACOUSTIC_RATE, resample
from maskvox.cli import main
from maskvox.dub.cues import Cue, parse_srt
from maskvox.dub.config import DubConfig
from maskvox.dub.job import CUE_FOLDER, REPORT_FILE, SUMMARY_FILE
from maskvox.dub.tasks import fixed_groups, plan_tasks
from maskvox.errors import UserError
from maskvox.jobs import LOCK_FILE

SOURCE_RATE = 44100
CUE_COUNT = 32
SLOT_PATTERN = (1.0, 1.3, 1.6, 0.7)  # seconds; the 0.7 s cues of a speaker without a clip borrow a prompt
GAP = 0.15
KILLS_AFTER_PROGRESS = 5
BATCH = "2"  # 16 groups: a kill costs at most three (kill_after_progress), so five land before the end


def cue_lines(audio: str, count: int = CUE_COUNT, clip: str = "ann.wav") -> list[dict]:
    lines, start = [], 0.3
    for index in range(count):
        slot = SLOT_PATTERN[index % len(SLOT_PATTERN)]
        line = {"id": f"c{index:02d}", "audio": audio, "start": round(start, 3), "end": round(start + slot, 3),
                "source_text": "hello there my friend", "target_text": ["bonjour mon ami", "guten tag"][index % 2],
                "target_language": ["fr", "de"][index % 2], "speaker": "ann" if index % 3 == 0 else "bob"}
        if line["speaker"] == "ann":
            line.update(prompt=clip, prompt_text="this is how ann speaks")
        lines.append(line)
        start += slot + GAP
    return lines


def write_manifest(folder: Path, lines: list[dict], name: str = "cues.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A 44.1 kHz stereo recording with 32 cues of two speakers, one with a prompt clip."""
    folder = tmp_path_factory.mktemp("dub_job")
    wav = speechlike(CUE_COUNT * 1.3 + 1.0, SOURCE_RATE, seed=1)
    write_wav(folder / "episode.wav", np.stack([wav, 0.5 * wav], axis=1), SOURCE_RATE)
    write_wav(folder / "ann.wav", speechlike(3.0, 16000, seed=2), 16000)
    write_manifest(folder, cue_lines("episode.wav"))
    return folder


def dub_args(model: Path, manifest: Path, out_dir: Path, *extra: str) -> list[str]:
    return ["dub", "--manifest", str(manifest), "--source-lang", "en", "--out-dir", str(out_dir), "--model", str(model),
            "--preset", "fast", "--batch-size", BATCH, "--seed", "3", "--quiet", *extra]


@pytest.fixture(scope="module")
def uninterrupted(job, tiny_full_model):
    out_dir = job / "uninterrupted"
    assert main(dub_args(tiny_full_model, job / "cues.jsonl", out_dir)) == 0
    return out_dir


def read_records(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / REPORT_FILE).read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_every_cue_fills_its_slot_and_sits_at_its_start_on_a_track_as_long_as_the_source(job, uninterrupted):
    records = read_records(uninterrupted)
    assert [record["id"] for record in records] == [f"c{index:02d}" for index in range(CUE_COUNT)]
    assert {record["status"] for record in records} == {"ok"}
    source = sf.info(str(job / "episode.wav"))
    track, rate = sf.read(str(uninterrupted / "episode.dub.wav"), dtype="float32")
    assert rate == SOURCE_RATE and track.shape == (source.frames,)  # mono, the source's length
    covered = np.zeros(track.size, dtype=bool)
    for record in records:
        cue, cue_rate = sf.read(str(uninterrupted / record["wav"]), dtype="float32")
        slot = record["end"] - record["start"]
        assert cue_rate == ACOUSTIC_RATE and cue.size == round(slot * ACOUSTIC_RATE)  # exact, so within 20 ms
        assert record["final_s"] == pytest.approx(slot, abs=1e-4)
        assert 0.8 * record["natural_s"] - 0.011 <= record["target_s"] <= 1.25 * record["natural_s"] + 0.011
        assert record["stretch"] == pytest.approx(record["final_s"] / record["target_s"], rel=0.05)
        first, last = round(record["start"] * SOURCE_RATE), round(record["end"] * SOURCE_RATE)
        expected = np.clip(resample(cue, ACOUSTIC_RATE, SOURCE_RATE)[: last - first], -1, 1)
        # Placed at its first sample: equal up to the track's 16-bit rounding.
        np.testing.assert_allclose(track[first:last], expected, atol=1.5 / 32768)
        assert np.abs(expected).max() > 0.01  # not silence
        covered[first:last] = True
    assert not track[~covered].any()  # nothing between the cues
    subtitles, errors = parse_srt((uninterrupted / "episode.de-fr.srt").read_text(encoding="utf-8"))
    assert not errors and [cue.text for cue in subtitles] == [record_text(job, record["id"]) for record in records]
    for subtitle, record in zip(subtitles, records):
        assert record["start"] - 0.001 <= subtitle.start < subtitle.end <= record["end"] + 0.001
    summary = json.loads((uninterrupted / SUMMARY_FILE).read_text())
    assert summary["ok"] == CUE_COUNT and summary["failed"] == summary["skipped"] == 0
    assert summary["generated_this_run"] == CUE_COUNT and summary["cues_per_minute"] > 0


def record_text(job: Path, cue_id: str) -> str:
    lines = {line["id"]: line for line in map(json.loads, (job / "cues.jsonl").read_text().splitlines())}
    return lines[cue_id]["target_text"]


def ok_count(out_dir: Path) -> int:
    try:
        return sum(1 for record in read_records(out_dir) if record["status"] == "ok")
    except (OSError, json.JSONDecodeError):
        return 0


def start_job(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "maskvox.cli", *args], stdout=subprocess.DEVNULL,
                                stderr=stderr, env=env)


def wait_for_progress(process: subprocess.Popen, out_dir: Path) -> bool:
    """Wait until the job has finished one more group; False if it ended first."""
    before, deadline = ok_count(out_dir), time.monotonic() + 300
    while ok_count(out_dir) == before:
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the job made no progress in 300 s"
        time.sleep(0.02)
    return True


def kill_after_progress(process: subprocess.Popen, out_dir: Path, rng: random.Random) -> bool:
    """SIGKILL at a random moment within the group after the next two; False if the job ended.

    The delay is drawn within the time the last group took, so on any machine a kill costs
    at most three groups and five kills land before the job's sixteen groups are done."""
    if not wait_for_progress(process, out_dir):
        return False
    first = time.monotonic()
    if not wait_for_progress(process, out_dir):
        return False
    time.sleep(rng.uniform(0.0, time.monotonic() - first))  # generating or writing the next group
    if process.poll() is not None:
        return False
    process.kill()
    process.wait()
    return True


@pytest.mark.slow
def test_a_job_killed_at_random_moments_resumes_to_the_same_outputs(job, tiny_full_model, uninterrupted, tmp_path):
    out_dir, log = tmp_path / "killed", tmp_path / "stderr.log"
    args = dub_args(tiny_full_model, job / "cues.jsonl", out_dir)
    rng = random.Random(9)
    process = start_job(args, log)  # the first kill lands early: while loading, or in the first group
    time.sleep(rng.uniform(1.0, 4.0))
    process.kill()
    process.wait()
    kills = 1
    for _ in range(KILLS_AFTER_PROGRESS):
        kills += kill_after_progress(start_job(args, log), out_dir, rng)
    assert kills == 1 + KILLS_AFTER_PROGRESS, f"the job ended before it was killed {1 + KILLS_AFTER_PROGRESS} times"
    assert ok_count(out_dir) < CUE_COUNT
    final = start_job(args, log)
    assert final.wait(timeout=600) == 0, log.read_text()

    records = read_records(out_dir)
    assert sorted(record["id"] for record in records) == sorted({record["id"] for record in records})  # once each
    assert len(records) == CUE_COUNT and all(record["status"] == "ok" for record in records)
    expected = {record["id"]: record for record in read_records(uninterrupted)}
    for record in records:
        timing_free = {key: value for key, value in record.items() if key != "generate_s"}
        assert timing_free == {key: value for key, value in expected[record["id"]].items() if key != "generate_s"}
    for name in [f"{CUE_FOLDER}/c{index:02d}.wav" for index in range(CUE_COUNT)] + ["episode.dub.wav",
                                                                                   "episode.de-fr.srt"]:
        assert (out_dir / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    leftovers = [path.name for folder in (out_dir, out_dir / CUE_FOLDER) for path in folder.glob(".*")
                 if path.name != LOCK_FILE]  # the lock file stays (its lock went with its process)
    assert not leftovers, f"temporary files left behind: {leftovers}"

    # Done cues are never redone: a rerun generates nothing and rewrites no cue.
    mtimes = {path: path.stat().st_mtime_ns for path in (out_dir / CUE_FOLDER).iterdir()}
    assert main(args) == 0
    assert json.loads((out_dir / SUMMARY_FILE).read_text())["generated_this_run"] == 0
    assert mtimes == {path: path.stat().st_mtime_ns for path in (out_dir / CUE_FOLDER).iterdir()}


@pytest.mark.slow
def test_a_changed_cue_is_redone_alone_and_force_redoes_all(job, tiny_full_model, tmp_path):
    lines = cue_lines(str(job / "episode.wav"), count=4, clip=str(job / "ann.wav"))
    manifest = write_manifest(tmp_path, lines)
    out_dir = tmp_path / "out"
    assert main(dub_args(tiny_full_model, manifest, out_dir)) == 0
    lines[1]["target_text"] = "guten abend"
    write_manifest(tmp_path, lines)
    assert main(dub_args(tiny_full_model, manifest, out_dir)) == 0
    assert json.loads((out_dir / SUMMARY_FILE).read_text())["generated_this_run"] == 1
    assert main(dub_args(tiny_full_model, manifest, out_dir, "--force")) == 0
    assert json.loads((out_dir / SUMMARY_FILE).read_text())["generated_this_run"] == 4


@pytest.mark.slow
def test_a_bad_line_is_skipped_and_a_failing_cue_fails_alone(job, tiny_full_model, tmp_path, capsys):
    lines = cue_lines(str(job / "episode.wav"), count=4, clip=str(job / "ann.wav"))
    lines[2]["target_text"] = "..."  # nothing to pronounce: fails when generated
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"id": "late", "audio": "nowhere.wav"}\n'
    manifest = tmp_path / "cues.jsonl"
    manifest.write_text(text, encoding="utf-8")
    out_dir = tmp_path / "out"
    assert main(dub_args(tiny_full_model, manifest, out_dir)) == 2
    err = capsys.readouterr().err
    assert "line 5:" in err and "cue c02:" in err
    assert err.strip().splitlines()[-1].startswith("maskvox: error: 1 cue(s) failed and 1 were skipped")
    records = {record["id"]: record for record in read_records(out_dir)}
    assert [records[f"c{i:02d}"]["status"] for i in range(4)] == ["ok", "ok", "failed", "ok"]
    assert records["late"]["status"] == "skipped" and records["late"]["line"] == 5
    assert "pronounce" in records["c02"]["error"] or "phone" in records["c02"]["error"]
    assert not (out_dir / CUE_FOLDER / "c02.wav").exists()


@pytest.mark.slow
def test_an_srt_pair_with_a_speaker_map_and_a_background_stem(job, tiny_full_model, tmp_path):
    source_srt = tmp_path / "source.srt"
    source_srt.write_text("1\n00:00:00,300 --> 00:00:01,500\nHello there.\n\n"
                          "2\n00:00:02,000 --> 00:00:03,100\nHow are you?\n\n", encoding="utf-8")
    target_srt = tmp_path / "target.srt"
    target_srt.write_text("1\n00:00:00,300 --> 00:00:01,500\nBonjour.\n\n"
                          "2\n00:00:02,000 --> 00:00:03,100\nComment allez-vous ?\n\n", encoding="utf-8")
    (tmp_path / "speakers.txt").write_text("2\tbob\n", encoding="utf-8")
    background = 0.1 * np.sin(np.arange(48000 * 5) / 48000 * 2 * np.pi * 220).astype(np.float32)
    write_wav(tmp_path / "music.wav", background, 48000)
    out_dir = tmp_path / "out"
    assert main(["dub", "--srt", str(source_srt), "--target-srt", str(target_srt), "--audio", str(job / "episode.wav"),
                 "--speaker-map", str(tmp_path / "speakers.txt"), "--source-lang", "en", "--target-lang", "fr",
                 "--out-dir", str(out_dir), "--model", str(tiny_full_model), "--preset", "fast", "--quiet",
                 "--background", str(tmp_path / "music.wav"), "--background-gain-db", "-6"]) == 0
    records = read_records(out_dir)
    assert [(r["id"], r["speaker"], r["status"]) for r in records] == [("cue0001", "speaker", "ok"),
                                                                        ("cue0002", "bob", "ok")]
    track, rate = sf.read(str(out_dir / "episode.dub.wav"), dtype="float32")
    assert rate == SOURCE_RATE and track.size == sf.info(str(job / "episode.wav")).frames
    stem = resample(background, 48000, SOURCE_RATE) * 10 ** (-6 / 20)
    between = slice(round(1.6 * SOURCE_RATE), round(1.9 * SOURCE_RATE))  # between the cues: the stem alone
    np.testing.assert_allclose(track[between], stem[between], atol=2 / 32768)
    assert not track[round(5.1 * SOURCE_RATE):].any()  # the stem is 5 s long
    subtitles, _ = parse_srt((out_dir / "episode.fr.srt").read_text(encoding="utf-8"))
    assert [cue.text for cue in subtitles] == ["Bonjour.", "Comment allez-vous ?"]


def test_a_short_cue_of_a_speaker_without_a_clip_borrows_the_longest_cue_as_prompt(tmp_path):
    def cue(cue_id, start, end, prompt=None):
        return Cue(cue_id, tmp_path / "a.wav", start, end, f"text {cue_id}", "en", "bonjour", "fr", "bob",
                   prompt, "clip text" if prompt else None, 1)

    tasks = plan_tasks([cue("short", 0.0, 0.6), cue("long", 1.0, 3.5), cue("own", 4.0, 5.2),
                        cue("clip", 6.0, 6.5, prompt=tmp_path / "clip.wav")], job_seed=0)
    prompts = {task.id: task.prompt for task in tasks}
    assert (prompts["short"].start, prompts["short"].end, prompts["short"].text) == (1.0, 3.5, "text long")
    assert (prompts["own"].start, prompts["own"].end) == (4.0, 5.2)
    assert prompts["clip"].start is None and prompts["clip"].text == "clip text"
    # Seeds come from the job's seed and the id, not the order; groups from the job alone.
    reordered = {task.id: task.seed for task in plan_tasks([cue("own", 4.0, 5.2), cue("short", 0.0, 0.6)], 0)}
    assert reordered["own"] == {task.id: task.seed for task in tasks}["own"]
    assert [[task.id for task in group] for group in fixed_groups(tasks, 2)] == [["clip", "short"], ["own", "long"]]


@pytest.mark.parametrize("args, message", [
    (["--source-lang", "en"], "--out-dir DIR is required"),
    (["--out-dir", "OUT", "--srt", "a.srt"], "missing: --target-srt, --audio, --source-lang, --target-lang"),
    (["--out-dir", "OUT", "--batch-size", "0"], "the batch size must be at least 1"),
    (["--out-dir", "OUT", "--preset", "quick"], "unknown preset 'quick'"),
    (["--out-dir", "OUT", "--manifest", "MANIFEST", "--audio", "x.wav"], "--audio does not go with --manifest"),
])
def test_bad_arguments_are_one_line_errors(job, tmp_path, capsys, args, message):
    args = [arg.replace("OUT", str(tmp_path / "out")).replace("MANIFEST", str(job / "cues.jsonl")) for arg in args]
    assert main(["dub", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_config_file_sets_the_job_and_flags_override_it(job, tmp_path, capsys):
    config = tmp_path / "dub.yaml"
    config.write_text("batch_size: 3\nengine: spark\n", encoding="utf-8")
    assert main(["dub", "--manifest", str(job / "cues.jsonl"), "--out-dir", str(tmp_path / "out"),
                 "--config", str(config)]) == 2
    assert "unknown engine 'spark'" in capsys.readouterr().err
    from maskvox.commands import build_parser
    from maskvox.commands.dub import dub_config

    config.write_text("batch_size: 3\nseed: 5\nquantize: int8\n", encoding="utf-8")
    args = build_parser().parse_args(["dub", "--config", str(config), "--seed", "7"])
    assert dub_config(args) == DubConfig(batch_size=3, seed=7, quantize="int8")
    args = build_parser().parse_args(["dub", "--config", str(config), "--quantize", "none", "--low-memory"])
    assert dub_config(args) == DubConfig(batch_size=3, seed=5, quantize="none", low_memory=True)


def test_the_jobs_memory_and_quantize_settings_reach_the_synthesizer(monkeypatch):
    from maskvox.pipeline import Synthesizer

    calls = []
    monkeypatch.setattr(Synthesizer, "from_pretrained", lambda *args, **kwargs: calls.append((args, kwargs)))
    DubConfig(model="m", preset="fast", device="cpu", low_memory=True, quantize="int8").load_synthesizer()
    assert calls == [(("m",), {"preset": "fast", "device": "cpu", "low_memory": True, "quantize": "int8"})]
    # int8 changes the audio, so a job resumed with another quantization redoes its cues; jobs
    # begun before the option existed keep their identity.
    assert DubConfig(quantize="int8").identity() != DubConfig().identity()
    assert DubConfig(low_memory=True).identity() == DubConfig().identity() == {"model": "None", "preset": "default",
                                                                            "seed": 0}
    with pytest.raises(UserError, match="unknown quantization 'int4'"):
        DubConfig(quantize="int4")


def test_a_background_needs_a_single_source_recording(job, tmp_path, capsys):
    lines = cue_lines(str(job / "episode.wav"), count=2, clip=str(job / "ann.wav"))
    write_wav(tmp_path / "other.wav", speechlike(3.0, 16000), 16000)
    lines[1].update(audio=str(tmp_path / "other.wav"), start=0.2, end=1.2)
    manifest = write_manifest(tmp_path, lines)
    assert main(["dub", "--manifest", str(manifest), "--source-lang", "en", "--out-dir", str(tmp_path / "out"),
                 "--background", str(job / "ann.wav")]) == 2
    assert "one source recording" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_ray_engine_writes_what_the_local_engine_writes(job, tiny_full_model, tmp_path):
    if importlib.util.find_spec("ray") is None:
        pytest.fail("Ray is not installed: pip install 'maskvox[ray]' (or run install.sh)")
    manifest = write_manifest(tmp_path, cue_lines(str(job / "episode.wav"), count=6, clip=str(job / "ann.wav")))
    local, ray = tmp_path / "local", tmp_path / "ray"
    assert main(dub_args(tiny_full_model, manifest, local)) == 0
    # Two actors of half a CPU each: two whole-CPU actors would leave Ray Data no CPU on a 2-core machine.
    assert main(dub_args(tiny_full_model, manifest, ray, "--engine", "ray", "--ray-actors", "2",
                         "--ray-cpus-per-actor", "0.5")) == 0
    names = sorted(path.name for path in (local / CUE_FOLDER).iterdir())
    assert len(names) == 6 and names == sorted(path.name for path in (ray / CUE_FOLDER).iterdir())
    for name in [f"{CUE_FOLDER}/{name}" for name in names] + ["episode.dub.wav", "episode.de-fr.srt"]:
        assert (ray / name).read_bytes() == (local / name).read_bytes(), name

    def records(folder):
        return [{key: value for key, value in json.loads(line).items() if key != "generate_s"}
                for line in (folder / REPORT_FILE).read_text().splitlines()]

    assert records(ray) == records(local)
