"""Corpus v3: real human speech and offline synthetic voices in seven languages, one command.

    python -m recipes.offline_corpus.build_v3 --out data/corpus_v3 [--jobs 2] [--quiet]

Install the assets first: `bash recipes/offline_corpus/install_assets.sh` (apt and pip).

Real speech (sources_real.py): Asterisk prompts (en, es, fr), Fish Fillets NG dialogue (cs,
nl, one speaker per actor), the LibriVox clips (en); each decoded once to a mono wav at its own
rate. Synthetic speech (voices.py): SVOX Pico, flite, festival, Piper and (for Dutch and a
little Czech) espeak-ng, each voice multiplied into speakers by pitch / formant / tempo
variants (augment.py), each speaker reading its own sentences (text.py: fortunes; the game
script for fr and nl). Whole speakers are held out (split.py). The transcripts of the real
speech are checked by a recogniser (asr_check.py, `--check-asr`, resumable).

Deterministic from --seed; resumable (a wav's name holds a hash of what made it, and every
file is written atomically). Writes train.jsonl, heldout.jsonl, all.jsonl (Utterance lines with
`source`, `kind` and `sample_rate` added) and summary.json; prints hours per language and source.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from maskvox.errors import UserError
from maskvox.fileio import atomic_path, remove_stale_temporaries, write_json

from ..common.manifest import Utterance, write_manifest
from . import asr_check
from .jobs import NoAudio, run_missing
from .plan import (
    LANGUAGES, REAL_SOURCES, RealJob, RealRoots, SynthJob, chosen_voices, real_clips, real_jobs, synth_jobs,
    text_pools,
)
from .split import split_by_speaker
from .voices import ENGINES, VOICES, check_engines

SOURCES = REAL_SOURCES + ENGINES


@dataclass
class CorpusUtterance(Utterance):
    source: str = ""  # asterisk, fillets, librivox, pico, flite, festival, piper, espeak-ng
    kind: str = ""  # "real" or "synthetic"
    sample_rate: int = 0


def utterance_of(job) -> CorpusUtterance:
    info = sf.info(str(job.wav))
    if isinstance(job, RealJob):
        clip = job.clip
        return CorpusUtterance(clip.id, str(job.wav), clip.text, clip.language, clip.speaker, info.duration,
                               clip.source, "real", info.samplerate)
    return CorpusUtterance(job.wav.stem, str(job.wav), job.text, job.voice.language, job.speaker, info.duration,
                           job.voice.engine, "synthetic", info.samplerate)


def build(out: Path, *, seed: int = 0, per_voice: int = 120, languages=LANGUAGES, sources=SOURCES, jobs: int = 2,
          quiet: bool = False, check_asr: str = "none", asr_device: str = "cpu", check_limit: int | None = None,
          roots: RealRoots | None = None, voices=VOICES, load_transcriber=None) -> dict:
    """Make what is missing, check transcripts, write the manifests; returns the summary."""
    if per_voice < 1 or jobs < 1:
        raise UserError(f"--per-voice and --jobs must be at least 1, got {per_voice} and {jobs}")
    started = time.monotonic()
    roots = roots or RealRoots()
    voices = chosen_voices(languages, sources, voices)
    if voices:
        check_engines(voices)
    clips = real_clips(languages, sources, roots)
    work = real_jobs(out, clips)
    if voices:
        pools = text_pools(sorted({v.language for v in voices}), roots)
        work += synth_jobs(out, voices, per_voice, seed, pools)
    for folder in {job.wav.parent for job in work}:
        remove_stale_temporaries(folder)  # left by a run killed mid-write
    missing = [job for job in work if not job.wav.exists()]
    failures = []

    def attempt(job) -> None:
        try:
            job.run()
        except NoAudio as error:
            failures.append((job, str(error)))

    run_missing(missing, attempt, jobs, quiet, "making wavs")
    check_failures(work, failures)
    items = [utterance_of(job) for job in work if job.wav.exists()]

    real = [u for u in items if u.kind == "real"]
    checked = {}
    if check_asr != "none" and real:
        load = load_transcriber or (lambda: asr_check.load_transcriber(check_asr, asr_device))
        records = asr_check.run_check(real, out, check_asr, load, quiet, check_limit)
        checked = asr_check.verdicts(real, records)
        write_rejected(out, real, records, checked)
    dropped = {i for i, ok in checked.items() if ok is False}
    unchecked = {u.id for u in real if checked.get(u.id) is None} if check_asr != "none" else set()
    kept = [u for u in items if u.id not in dropped]
    train, heldout = split_by_speaker(kept)
    train = [u for u in train if u.id not in unchecked]
    splits = {"train": train, "heldout": heldout, "all": kept}
    for name, split in splits.items():
        write_manifest(out / f"{name}.jsonl", split)
    made = {"real": sum(isinstance(j, RealJob) and j.wav.exists() for j in missing),
            "synthetic": sum(isinstance(j, SynthJob) and j.wav.exists() for j in missing), "left_out": len(failures)}
    summary = summarize(splits, items, checked, check_asr, seed, per_voice, made, time.monotonic() - started)
    write_json(out / "summary.json", summary)
    return summary


def check_failures(work: list, failures: list) -> None:
    """A few texts an engine cannot read, or empty packaged clips, are left out (and tried again
    on the next run); a speaker none of whose wavs could be made is an error."""
    failed_speakers = {job.speaker for job, _ in failures}
    for speaker in sorted(failed_speakers):
        if not any(job.wav.exists() for job in work if job.speaker == speaker):
            example = next(message for job, message in failures if job.speaker == speaker)
            raise UserError(f"no wav of {speaker} could be made: {example}")
    for job, message in failures[:5]:
        print(f"left out: {message}", file=sys.stderr)


def write_rejected(out: Path, real: list, records: dict, checked: dict) -> None:
    """asr_rejected.jsonl: each dropped pair with what the recogniser heard, for a look."""
    import json

    with atomic_path(out / "asr_rejected.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for item in real:
            if checked.get(item.id) is False:
                handle.write(json.dumps(records[item.id], ensure_ascii=False) + "\n")


def _hours(items) -> float:
    return round(sum(u.duration for u in items) / 3600, 3)


def _group(items, key) -> dict[str, list]:
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))


def summarize(splits, items, checked, check_asr, seed, per_voice, made, seconds) -> dict:
    heldout = splits["heldout"]
    asr = {}
    if check_asr != "none":
        for source, group in _group([u for u in items if u.kind == "real"], lambda u: u.source).items():
            verdicts = [checked.get(u.id) for u in group]
            done = [v for v in verdicts if v is not None]
            asr[source] = {"utterances": len(group), "checked": len(done), "dropped": done.count(False),
                           "drop_rate": round(done.count(False) / len(done), 4) if done else None,
                           "unchecked_left_out_of_train": verdicts.count(None)}
    return {
        "seed": seed, "per_voice": per_voice, "seconds": round(seconds, 1), "made": made,
        "splits": {name: {"utterances": len(s), "hours": _hours(s), "speakers": len({u.speaker for u in s})}
                   for name, s in splits.items()},
        "hours_by_language": {k: _hours(v) for k, v in _group(splits["all"], lambda u: u.language).items()},
        "hours_by_source": {k: _hours(v) for k, v in _group(splits["all"], lambda u: u.source).items()},
        "train_hours_by_language": {k: _hours(v) for k, v in _group(splits["train"], lambda u: u.language).items()},
        "train_hours_by_source": {k: _hours(v) for k, v in _group(splits["train"], lambda u: u.source).items()},
        "speakers": {"real": len({u.speaker for u in splits["all"] if u.kind == "real"}),
                     "synthetic": len({u.speaker for u in splits["all"] if u.kind == "synthetic"})},
        "heldout_speakers": sorted({u.speaker for u in heldout}),
        "asr_check": {"asr": check_asr, "by_source": asr,
                      "note": "real utterances not checked yet are left out of train.jsonl (kept in heldout "
                              "and all); pairs that fail the check are left out of every manifest"
                      if check_asr != "none" else "not run: real transcripts are unchecked"},
    }


def report(summary: dict) -> list[str]:
    lines = [f"{name}: {s['utterances']} utterances, {s['hours']:.2f} h, {s['speakers']} speakers"
             for name, s in summary["splits"].items()]
    lines.append("hours by language: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["hours_by_language"].items()))
    lines.append("hours by source: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["hours_by_source"].items()))
    lines.append(f"speakers: {summary['speakers']['real']} real, {summary['speakers']['synthetic']} synthetic")
    lines.append(f"held-out speakers ({len(summary['heldout_speakers'])}): " + ", ".join(summary["heldout_speakers"]))
    check = summary["asr_check"]
    for source, s in check["by_source"].items():
        rate = "n/a" if s["drop_rate"] is None else f"{s['drop_rate']:.1%}"
        lines.append(f"ASR check ({check['asr']}) {source}: {s['checked']}/{s['utterances']} checked, "
                     f"{s['dropped']} dropped ({rate}), {s['unchecked_left_out_of_train']} unchecked")
    made = summary["made"]
    lines.append(f"made {made['real']} real and {made['synthetic']} synthetic wavs in {summary['seconds']:.0f} s "
                 f"({made['left_out']} left out: no audio)")
    return lines


def _subset(allowed, what):
    def parse(value: str) -> list[str]:
        chosen = [part.strip() for part in value.split(",") if part.strip()]
        if not chosen or any(part not in allowed for part in chosen):
            raise argparse.ArgumentTypeError(f"{what} are a comma-separated subset of {','.join(allowed)}")
        return chosen
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-voice", type=int, default=120,
                        help="utterances per synthetic speaker at weight 1 (default 120)")
    parser.add_argument("--jobs", type=int, default=2, help="wavs made at once")
    parser.add_argument("--languages", type=_subset(LANGUAGES, "languages"), default=list(LANGUAGES))
    parser.add_argument("--sources", type=_subset(SOURCES, "sources"), default=list(SOURCES),
                        help=f"default all: {','.join(SOURCES)}")
    parser.add_argument("--check-asr", default=None,
                        help="recogniser for the real transcripts, or none (default whisper-base when installed)")
    parser.add_argument("--asr-device", default="cpu")
    parser.add_argument("--check-limit", type=int, default=None, help="check at most this many utterances this run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    check = args.check_asr or asr_check.default_check_asr()
    try:
        summary = build(Path(args.out), seed=args.seed, per_voice=args.per_voice, languages=args.languages,
                        sources=args.sources, jobs=args.jobs, quiet=args.quiet, check_asr=check,
                        asr_device=args.asr_device, check_limit=args.check_limit)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print("\n".join(report(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
