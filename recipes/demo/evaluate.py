"""Score a model on held-out voices: recordings, codec resynthesis and clones, side by side.

    OMP_NUM_THREADS=1 python -m recipes.demo.evaluate --manifest data/corpus_v2/heldout.jsonl \
        --model maskvox/assets/demo --voices flite_slt_d100 espeakng_en_us_m3_s175_p50 --out exp/demo/eval

For each voice, `--per-voice` target utterances are taken in id order, each with the next
utterance of the same voice as its prompt (both 1.5-8 s). Then:

1. `meta.lst` (Seed-TTS-eval format) with the recordings as ground truth;
2. `resynth/<id>.wav`: each target through the acoustic codec (encode, decode);
3. `clone/<id>.wav`: the target's text cloned from its prompt (`Synthesizer.clone`, the
   predicted natural length, seed `--seed` + item number);
4. `maskvox eval` of the three, into `recordings/`, `resynth/` and `clone/`
   (items.jsonl, summary.json, plot.png);
5. `speakers.json`: each clone's resemblyzer similarity to its own prompt against its mean
   similarity to the prompts of the other voices.

Wavs already written are kept, so a stopped run resumes. `results.json` gathers the figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from maskvox.audio import ACOUSTIC_RATE, write_audio
from maskvox.errors import UserError
from maskvox.fileio import write_json, write_text
from maskvox.quantize import QUANTIZATIONS

from ..common.cli import exit_status, positive
from ..common.manifest import Utterance, read_manifest

SHORTEST, LONGEST = 1.5, 8.0  # seconds, for targets and prompts


def pick_pairs(items: list[Utterance], voices: list[str], per_voice: int) -> list[tuple[Utterance, Utterance]]:
    """(target, prompt) pairs: consecutive usable utterances of each voice, in id order."""
    by_voice = collections.defaultdict(list)
    for item in sorted(items, key=lambda item: item.id):
        if item.speaker in voices and SHORTEST <= item.duration <= LONGEST:
            by_voice[item.speaker].append(item)
    pairs = []
    for voice in voices:
        usable = by_voice.get(voice, [])
        if len(usable) < 2 * per_voice:
            raise UserError(f"voice {voice} has {len(usable)} utterances of {SHORTEST}-{LONGEST} s, {2 * per_voice} are needed")
        pairs += [(usable[2 * i], usable[2 * i + 1]) for i in range(per_voice)]
    return pairs


def write_meta_list(path: Path, pairs: list[tuple[Utterance, Utterance]]) -> None:
    lines = [f"{t.id}|{p.text}|{Path(p.audio).resolve()}|{t.text}|{Path(t.audio).resolve()}" for t, p in pairs]
    write_text(path, "".join(line + "\n" for line in lines))


def resynthesize(pairs, model: str, folder: Path, quiet: bool) -> None:
    from maskvox.tokenizer import SpeechTokenizer

    todo = [t for t, _ in pairs if not (folder / f"{t.id}.wav").exists()]
    if not todo:
        return
    tokenizer = SpeechTokenizer.from_pretrained(model, semantic="no")
    for target in tqdm(todo, desc="resynthesis", disable=quiet):
        write_audio(folder / f"{target.id}.wav", tokenizer.decode(tokenizer.encode_file(target.audio)), ACOUSTIC_RATE)


@dataclass
class CloneJob:
    """One clone an evaluation makes: its text from a prompt, into `wav`."""

    wav: Path
    prompt: str
    prompt_text: str
    text: str
    language: str
    prompt_language: str
    seed: int
    speed: float = 1.0  # the speaking-rate factor on the predicted length (`maskvox clone --speed`)


def clone_missing(jobs: list[CloneJob], model: str, preset: str, quiet: bool, quantize: str = "none") -> None:
    """Make each job's wav that is not written yet (a stopped evaluation resumes); the model is
    loaded only when one is missing."""
    from maskvox.pipeline import Synthesizer

    todo = [job for job in jobs if not job.wav.exists()]
    if not todo:
        return
    synthesizer = Synthesizer.from_pretrained(model, preset=preset, device="cpu", quantize=quantize)
    for job in tqdm(todo, desc="clones", disable=quiet):
        result = synthesizer.clone(job.prompt, job.prompt_text, job.text, language=job.language,
                                   prompt_language=job.prompt_language, speed=job.speed, seed=job.seed)
        write_audio(job.wav, result.audio, result.sample_rate)


def clone(pairs, model: str, folder: Path, seed: int, preset: str, quiet: bool, quantize: str = "none") -> None:
    jobs = [CloneJob(folder / f"{target.id}.wav", prompt.audio, prompt.text, target.text, target.language,
                     prompt.language, seed + n) for n, (target, prompt) in enumerate(pairs)]
    clone_missing(jobs, model, preset, quiet, quantize)


def run_maskvox_eval(meta: Path, out: Path, wav_dir: Path | None, asr: str, language: str = "en") -> dict:
    """`maskvox eval` of a Seed-TTS-eval list; `language` is the targets' (the ASR's language and WER rules)."""
    from maskvox.cli import main as maskvox

    source = ["--wav-dir", str(wav_dir)] if wav_dir else ["--ground-truth"]
    if not (out / "summary.json").exists():
        status = maskvox(["eval", "--list", str(meta), *source, "--asr", asr, "--speaker", "resemblyzer",
                          "--language", language, "--device", "cpu", "--out", str(out), "--quiet"])
        if status:
            raise UserError(f"maskvox eval of {out} failed (exit {status})")
    return json.loads((out / "summary.json").read_text())


def speaker_separation(pairs, clone_dir: Path) -> dict:
    """Similarity of each clone to its own prompt and, on average, to the other voices' prompts."""
    from maskvox.audio import load_audio
    from maskvox.evaluation.runner import SCORING_SAMPLE_RATE
    from maskvox.evaluation.speaker import cosine_similarity, get_speaker_backend

    encoder = get_speaker_backend("resemblyzer").load("cpu", None)
    embed = lambda path: encoder.embed(load_audio(path, SCORING_SAMPLE_RATE))  # noqa: E731
    prompts = {p.id: (p.speaker, embed(p.audio)) for _, p in pairs}
    own, others = [], []
    for target, prompt in pairs:
        clone_embedding = embed(clone_dir / f"{target.id}.wav")
        own.append(cosine_similarity(clone_embedding, prompts[prompt.id][1]))
        other = [cosine_similarity(clone_embedding, e) for speaker, e in prompts.values() if speaker != target.speaker]
        others.append(statistics.fmean(other) if other else None)  # one voice scored: nothing to compare with
    if None in others:
        return {"own_prompt_mean": statistics.fmean(own), "other_voices_mean": None,
                "clones_closer_to_own_prompt": None, "clones": len(own)}
    wins = sum(o > x for o, x in zip(own, others))
    return {"own_prompt_mean": statistics.fmean(own), "other_voices_mean": statistics.fmean(others),
            "clones_closer_to_own_prompt": wins, "clones": len(own)}


def evaluate(args) -> dict:
    out = Path(args.out)
    pairs = pick_pairs(read_manifest(args.manifest), args.voices, args.per_voice)
    for name in ("resynth_wavs", "clone_wavs"):
        (out / name).mkdir(parents=True, exist_ok=True)
    meta = out / "meta.lst"
    write_meta_list(meta, pairs)
    resynthesize(pairs, args.model, out / "resynth_wavs", args.quiet)
    clone(pairs, args.model, out / "clone_wavs", args.seed, args.preset, args.quiet, args.quantize)
    results = {
        "recordings": run_maskvox_eval(meta, out / "recordings", None, args.asr),
        "resynthesis": run_maskvox_eval(meta, out / "resynth", out / "resynth_wavs", args.asr),
        "clone": run_maskvox_eval(meta, out / "clone", out / "clone_wavs", args.asr),
    }
    results["speakers"] = speaker_separation(pairs, out / "clone_wavs")
    recordings_wer = results["recordings"]["wer_mean_per_utterance"]
    for name in ("resynthesis", "clone"):
        wer = results[name]["wer_mean_per_utterance"]
        results[name]["wer_ratio_to_recordings"] = wer / recordings_wer if recordings_wer else None
    results["setup"] = {"model": args.model, "voices": args.voices, "per_voice": args.per_voice, "asr": args.asr,
                        "preset": args.preset, "quantize": args.quantize, "seed": args.seed}
    write_json(out / "results.json", results)
    print(format_table(results))
    return results


def format_table(results: dict) -> str:
    rows = ["| audio | WER (mean per utt.) | WER (pooled) | x recordings | similarity to prompt |", "|---|---|---|---|---|"]
    for name in ("recordings", "resynthesis", "clone"):
        r = results[name]
        ratio = r.get("wer_ratio_to_recordings")
        rows.append(f"| {name} | {100 * r['wer_mean_per_utterance']:.1f} % | {100 * r['wer_pooled']:.1f} % | "
                    f"{'' if ratio is None else f'{ratio:.2f}'} | {r['similarity_mean']:.3f} |")
    s = results["speakers"]
    if s["other_voices_mean"] is None:
        rows.append(f"\nclones: similarity {s['own_prompt_mean']:.3f} to their own prompt (one voice: no other to compare)")
    else:
        rows.append(f"\nclones: similarity {s['own_prompt_mean']:.3f} to their own prompt, {s['other_voices_mean']:.3f} "
                    f"to the other voices' ({s['clones_closer_to_own_prompt']}/{s['clones']} closer to their own)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr  # the same judge as `maskvox eval`

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest of the held-out voices")
    parser.add_argument("--model", required=True, help="model folder (official layout) or hub repo")
    parser.add_argument("--voices", nargs="+", required=True, help="speakers of the manifest to score")
    parser.add_argument("--per-voice", type=positive, default=15)
    parser.add_argument("--out", required=True)
    parser.add_argument("--asr", default=default_asr(),
                        help="ASR judge (default: whisper-base when installed, else whisper-tiny.en)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS, help="int8: dynamic int8 T2S/S2A")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    np.random.seed(args.seed)
    return exit_status(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
