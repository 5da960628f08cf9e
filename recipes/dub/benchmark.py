"""Dubbing throughput: cues per minute with batching against one cue at a time, in one run.

    OMP_NUM_THREADS=1 python -m recipes.dub.benchmark --manifest data/corpus_v2/heldout.jsonl \
        --model maskvox/assets/demo --cues 32 --out exp/dub/bench

An English "episode" is built from held-out recordings (`--cues` utterances, round-robin over
the English voices, 0.4 s apart), each utterance one cue in its speaker's voice; the targets
are German held-out sentences, paired with the cues by length (longest with longest) so the
slots are plausible for them. `--targets` gives the target sentences from a file instead (one a
line, in `--target-language`; `egs/clone/sentences.de.txt` holds 20 German ones no model heard).
The models load once; then the whole job runs once per batch size (`--batch-sizes`, default 1
and 8), each into its own folder, with the prompt cache emptied in between, after one warm-up
cue. Wall time covers planning, generation, stretching and every write.

`--score` then judges the first run's cues with `maskvox eval` (Whisper base by default, in the
target language; resemblyzer against the cue's English source, whose voice the cue clones): each
cue's WER against its target text, its similarity, and its slot error. Results:
`<out>/results.json` and tables on stdout.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from maskvox.audio import load_audio, write_audio
from maskvox.jobs import read_records, write_records
from maskvox.dub.config import DubConfig
from maskvox.dub.cues import read_manifest
from maskvox.dub.engine import local_engine
from maskvox.dub.generator import CueGenerator
from maskvox.dub.job import CUE_FOLDER, REPORT_FILE, run_dub_job
from maskvox.dub.tasks import plan_tasks
from maskvox.errors import UserError
from maskvox.fileio import write_json, write_text
from maskvox.pipeline import Synthesizer
from maskvox.tokenizer import pick_device

from ..common.cli import exit_status
from ..common.manifest import Utterance
from ..common.manifest import read_manifest as read_corpus
from ..demo.prompt_eval import read_sentences

EPISODE_RATE = 24000
GAP_SECONDS = 0.4


def pick_sources(rows: list[Utterance], cues: int, seed: int) -> list[Utterance]:
    """`cues` English utterances of 1.5-5 s, taken in turn from each English voice."""
    rng = random.Random(seed)
    by_voice: dict[str, list[Utterance]] = {}
    for row in rows:
        if row.language == "en" and 1.5 <= row.duration <= 5.0:
            by_voice.setdefault(row.speaker, []).append(row)
    for utterances in by_voice.values():
        rng.shuffle(utterances)
    voices = sorted(by_voice)
    picked = [by_voice[voices[i % len(voices)]][i // len(voices)] for i in range(cues)]
    return picked


def build_job(rows: list[Utterance], target_texts: list[str], language: str, cues: int, out: Path,
              seed: int) -> tuple[Path, list[Utterance]]:
    """The episode (wav) and its manifest; returns the manifest and each cue's source utterance."""
    if len(target_texts) < cues:
        raise UserError(f"{cues} cues need as many target sentences; {len(target_texts)} given")
    sources = pick_sources(rows, cues, seed)
    texts = sorted(target_texts, key=len)
    step = max(1, len(texts) // cues)
    targets = sorted(texts[::step][:cues], key=len)
    by_length = sorted(range(cues), key=lambda i: sources[i].duration)
    target_of = {index: targets[rank] for rank, index in enumerate(by_length)}
    pieces, lines, start = [], [], GAP_SECONDS
    for index, row in enumerate(sources):
        wav = load_audio(row.audio, EPISODE_RATE)
        pieces += [np.zeros(round(GAP_SECONDS * EPISODE_RATE), np.float32), wav]
        end = start + wav.size / EPISODE_RATE
        lines.append({"id": f"cue{index:03d}", "audio": "episode.wav", "start": round(start, 3), "end": round(end, 3),
                      "source_text": row.text, "source_language": "en", "target_text": target_of[index],
                      "target_language": language, "speaker": row.speaker})
        start = end + GAP_SECONDS
    out.mkdir(parents=True, exist_ok=True)
    write_audio(out / "episode.wav", np.concatenate(pieces + [np.zeros(EPISODE_RATE // 2, np.float32)]), EPISODE_RATE)
    manifest = out / "cues.jsonl"
    write_records(manifest, lines)
    return manifest, sources


def score_cues(cues, sources: list[Utterance], run_dir: Path, out: Path, asr: str, language: str) -> list[dict]:
    """Each ok cue of one run: WER in the target language, similarity to its source, slot error."""
    from ..demo.evaluate import run_maskvox_eval

    records = read_records(run_dir / REPORT_FILE)
    ok = [(cue, source) for cue, source in zip(cues, sources) if records[cue.id]["status"] == "ok"]
    meta = out / "meta.lst"
    write_text(meta, "".join(f"{cue.id}|{source.text}|{Path(source.audio).resolve()}|{cue.target_text}\n"
                             for cue, source in ok))
    (out / "summary.json").unlink(missing_ok=True)  # the cues were generated anew: score them anew
    run_maskvox_eval(meta, out, run_dir / CUE_FOLDER, asr, language)
    items = read_records(out / "items.jsonl")
    rows = []
    for cue, _ in ok:
        record, item = records[cue.id], items[cue.id]
        rows.append({"id": cue.id, "target_text": cue.target_text, "hypothesis": item.get("hypothesis"),
                     "wer": item.get("wer"), "similarity": item.get("similarity"), "slot_s": record["slot_s"],
                     "natural_s": record["natural_s"], "target_s": record["target_s"],
                     "slot_error_ms": round(abs(record["final_s"] - record["slot_s"]) * 1000, 2)})
    return rows


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows = read_corpus(args.manifest)
    target_texts = (read_sentences(args.targets) if args.targets else
                    [row.text for row in rows if row.language == args.target_language])
    manifest, sources = build_job(rows, target_texts, args.target_language, args.cues, out, args.seed)
    cues, errors = read_manifest(manifest)
    assert not errors, errors
    synthesizer = Synthesizer.from_pretrained(args.model, preset=args.preset, device=pick_device(args.device))
    CueGenerator(synthesizer).generate(plan_tasks(cues[:1], args.seed))  # warm-up
    runs = []
    for batch_size in args.batch_sizes:
        synthesizer.clear_prompt_cache()  # each run tokenizes its prompts itself
        config = DubConfig(model=args.model, preset=args.preset, device=args.device, batch_size=batch_size,
                           seed=args.seed, force=True)
        started = time.perf_counter()
        summary = run_dub_job(cues, [], out / f"batch{batch_size}", config, local_engine(lambda: synthesizer),
                              progress=False, report=lambda message: print(message, file=sys.stderr))
        seconds = time.perf_counter() - started
        records = read_records(out / f"batch{batch_size}" / REPORT_FILE).values()
        fit_error_ms = max(abs(r["final_s"] - r["slot_s"]) * 1000 for r in records if r["status"] == "ok")
        runs.append({"batch_size": batch_size, "ok": summary.ok, "seconds": round(seconds, 2),
                     "cues_per_minute": round(summary.ok / seconds * 60, 2), "clamped": summary.clamped,
                     "max_slot_error_ms": round(fit_error_ms, 2)})
    baseline = runs[0]["cues_per_minute"]
    for entry in runs:
        entry["speedup"] = round(entry["cues_per_minute"] / baseline, 2)
    result = {"model": args.model, "preset": args.preset, "device": pick_device(args.device), "cues": len(cues),
              "threads": args.threads,
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "runs": runs}
    if args.score:
        scored = score_cues(cues, sources, out / f"batch{args.batch_sizes[0]}", out / "eval", args.asr,
                            args.target_language)
        result["scores"] = {"batch_size": args.batch_sizes[0], "asr": args.asr, "language": args.target_language,
                            "wer_mean": statistics.fmean(row["wer"] for row in scored),
                            # One repetition loop of the ASR (10x the words) outweighs every other cue.
                            "wer_median": statistics.median(row["wer"] for row in scored),
                            "wer_capped_mean": statistics.fmean(min(1.0, row["wer"]) for row in scored),
                            "similarity_mean": statistics.fmean(row["similarity"] for row in scored), "cues": scored}
    write_json(out / "results.json", result)
    return result


def print_table(result: dict) -> None:
    print(f"{result['cues']} cues on {result['device']}, preset {result['preset']}, {result['threads']} thread(s), "
          f"torch {result['torch']}")
    print("| batch size | ok | seconds | cues/min | x batch 1 | clamped | max slot error (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in result["runs"]:
        print(f"| {r['batch_size']} | {r['ok']} | {r['seconds']} | {r['cues_per_minute']} | {r['speedup']} | "
              f"{r['clamped']} | {r['max_slot_error_ms']} |")
    if "scores" in result:
        scores = result["scores"]
        print(f"\nEach cue of batch size {scores['batch_size']}, {scores['asr']} in {scores['language']}: "
              f"WER {100 * scores['wer_mean']:.1f} % (mean), {100 * scores['wer_median']:.1f} % (median), "
              f"{100 * scores['wer_capped_mean']:.1f} % (mean, each cue capped at 100 %); "
              f"similarity to the source {scores['similarity_mean']:.3f}")
        print("| cue | WER | similarity | slot s | natural s | slot error (ms) | target text |")
        print("|---|---|---|---|---|---|---|")
        for row in scores["cues"]:
            print(f"| {row['id']} | {100 * row['wer']:.0f} % | {row['similarity']:.3f} | {row['slot_s']} | "
                  f"{row['natural_s']} | {row['slot_error_ms']} | {row['target_text']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="an offline-corpus manifest (recipes/offline_corpus)")
    parser.add_argument("--model", default="maskvox/assets/demo")
    parser.add_argument("--cues", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="exp/dub/bench")
    parser.add_argument("--targets", default="", help="target sentences, one a line (default: the manifest's)")
    parser.add_argument("--target-language", default="de")
    parser.add_argument("--score", action="store_true", help="judge each cue of the first run (WER, similarity)")
    parser.add_argument("--asr", default="", help="maskvox eval's ASR (default: Whisper base when installed)")
    args = parser.parse_args(argv)
    if not args.asr:
        from maskvox.evaluation.asr import default_asr

        args.asr = default_asr()
    return exit_status(lambda: print_table(run(args)))


if __name__ == "__main__":
    sys.exit(main())
