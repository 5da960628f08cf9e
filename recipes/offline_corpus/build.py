"""Build a multi-speaker English and German speech corpus from offline voices (no network).

    python -m recipes.offline_corpus.build --out data/corpus_v2 --per-voice 150 --jobs 2

Speakers: flite (kal16, awb, rms, slt), each at two tempo/pitch settings, and espeak-ng
English accents and German, each voice variant at its own rate (words per minute) and
pitch: about 40 speakers whose speaking rates differ. Whole speakers (`HELD_OUT`) are kept
out of training, for evaluation. Plus the LibriVox clips of Debian's `pocketsphinx-testdata`
when installed (real English speech, training split).

Text: sentences from Debian's fortune databases (apt packages `fortunes` and `fortunes-de`).
Each voice reads a mix of short sentences (2-3 words) and normal ones (4-24 words), so that
some utterances are well under two seconds. Each language's sentences are shuffled with the
seed and dealt out to that language's voices in turn, so no two voices read the same sentence
unless a language runs out of sentences; then the deal wraps around, deterministically, and
sentences are reused (the real databases have enough for ~150 utterances per voice).

Deterministic from --seed. Resumable: a wav's name holds a hash of its voice settings and text,
so a finished wav is kept and one made for another seed or --per-voice is never mistaken for
it; every wav is written atomically. Writes `train.jsonl`, `heldout.jsonl` and `all.jsonl`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from ..common.manifest import Utterance, write_manifest
from .jobs import run_missing
from .sources_real import LIBRIVOX_DIR, librivox_entries
from .text import (  # noqa: F401  (re-exported: corpus v2's names)
    FORTUNE_DIR, NORMAL_WORDS, SHORT_WORDS, TEXT_SOURCES, TextSource, deal, fortune_sentences, is_short,
    split_sentences,
)

LANGUAGES = ("en", "de")


# --- voices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """One speaker: an engine voice with its own prosody settings.

    espeak-ng uses `rate` (-s, words per minute) and `pitch` (-p, 0-99); flite uses `stretch`
    (duration_stretch, above 1 is slower) and `f0` (int_f0_target_mean in Hz, None keeps the
    voice's own pitch). The other engine's settings are ignored.
    """

    engine: str  # "flite" or "espeak-ng"
    name: str  # engine voice name, e.g. "slt" or "en-us+f2"
    language: str = "en"  # "en" or "de"
    rate: int = 175
    pitch: int = 50
    stretch: float = 1.0
    f0: int | None = None

    def __post_init__(self):
        if self.engine not in ("flite", "espeak-ng"):
            raise ValueError(f"unknown engine {self.engine!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")

    @property
    def speaker(self) -> str:
        """A readable id naming every setting that shapes the voice, e.g. espeakng_de_m3_s150_p40."""
        name = re.sub(r"[^A-Za-z0-9]+", "_", self.name)
        if self.engine == "flite":
            pitch = "" if self.f0 is None else f"_f{self.f0}"
            return f"flite_{name}_d{round(self.stretch * 100)}{pitch}"
        return f"espeakng_{name}_s{self.rate}_p{self.pitch}"

    def command(self, text: str, wav: Path) -> list[str]:
        if self.engine == "espeak-ng":
            return ["espeak-ng", "-v", self.name, "-s", str(self.rate), "-p", str(self.pitch), "-w", str(wav), text]
        command = ["flite", "-voice", self.name, "--setf", f"duration_stretch={self.stretch}"]
        if self.f0 is not None:
            command += ["--setf", f"int_f0_target_mean={self.f0}"]
        return command + ["-t", text, "-o", str(wav)]


def _flite(name: str, slow_stretch: float, slow_f0: int | None) -> list[Voice]:
    """Two speakers from one flite voice: as it is, and slower at another pitch."""
    return [Voice("flite", name), Voice("flite", name, stretch=slow_stretch, f0=slow_f0)]


def _espeak(language: str, table: list[tuple[str, int, int]]) -> list[Voice]:
    return [Voice("espeak-ng", name, language, rate, pitch) for name, rate, pitch in table]


# rms ignores int_f0_target_mean (its pitch comes from another model), so its two speakers
# differ in tempo only.
FLITE_VOICES = (
    _flite("kal16", 1.2, 120) + _flite("awb", 1.25, 110) + _flite("rms", 1.2, None) + _flite("slt", 1.15, 150)
)
ESPEAK_ENGLISH_VOICES = _espeak("en", [  # (accent+variant, words per minute, pitch)
    ("en-us+m1", 165, 45), ("en-us+m3", 175, 50), ("en-us+f2", 150, 60), ("en-us+f4", 195, 55),
    ("en-us+Andy", 140, 40), ("en-gb+m2", 185, 45), ("en-gb+f1", 160, 65), ("en-gb+f3", 170, 55),
    ("en-gb+m7", 130, 35), ("en-gb-scotland+m4", 155, 40), ("en-gb-scotland+f5", 205, 60),
    ("en-gb-x-rp+m5", 145, 50), ("en-gb-x-rp+steph", 180, 70), ("en-gb-x-rp+m6", 210, 30),
    ("en-029+m6", 165, 45), ("en-029+f2", 135, 65), ("en-029+paul", 190, 35),
    ("en-gb-x-gbclan+f5", 160, 55), ("en-gb-x-gbclan+robert", 200, 40),
    ("en-gb-x-gbcwmd+m2", 150, 50), ("en-gb-x-gbcwmd+linda", 175, 75),
])
ESPEAK_GERMAN_VOICES = _espeak("de", [
    ("de+m1", 130, 40), ("de+m2", 140, 50), ("de+m3", 150, 35), ("de+m4", 160, 45),
    ("de+m5", 170, 30), ("de+m6", 180, 50), ("de+m7", 200, 40), ("de+f1", 135, 65),
    ("de+f2", 155, 60), ("de+f3", 165, 70), ("de+f4", 185, 55), ("de+f5", 195, 60),
])
VOICES = FLITE_VOICES + ESPEAK_ENGLISH_VOICES + ESPEAK_GERMAN_VOICES

# Whole speakers kept for evaluation: both engines, both languages, one flite voice at both
# settings, and espeak-ng speakers whose rates lie inside the training range (not its ends).
HELD_OUT = frozenset(
    [v.speaker for v in FLITE_VOICES if v.name == "slt"]
    + [v.speaker for v in ESPEAK_ENGLISH_VOICES if v.name in ("en-us+m3", "en-gb+f3", "en-gb-scotland+m4", "en-gb+m2")]
    + [v.speaker for v in ESPEAK_GERMAN_VOICES if v.name in ("de+m4", "de+f2")]
)


# --- text ---------------------------------------------------------------------------------

SHORT_SHARE = 0.15  # of each voice's utterances; with 4-5 word sentences, ~19% are under 2 s


def texts_for_voices(voices: list[Voice], per_voice: int, seed: int) -> dict[Voice, list[str]]:
    """Each voice's sentences: a seeded mix of short and normal ones, disjoint between voices."""
    n_short = round(per_voice * SHORT_SHARE)
    texts = {}
    for language in sorted({v.language for v in voices}):
        sentences = fortune_sentences(language)
        random.Random(f"{seed}:{language}").shuffle(sentences)
        short = [s for s in sentences if is_short(s)]
        normal = [s for s in sentences if not is_short(s)]
        for index, voice in enumerate(v for v in voices if v.language == language):
            short_part = deal(short, index, n_short)
            chosen = short_part + deal(normal, index, per_voice - len(short_part))
            random.Random(f"{seed}:{voice.speaker}").shuffle(chosen)  # short ones spread through
            texts[voice] = chosen
    return texts


# --- synthesis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    voice: Voice
    text: str
    wav: Path


def wav_path(out: Path, voice: Voice, k: int, text: str) -> Path:
    """wavs/<speaker>/<speaker>_<k>_<hash>.wav; the hash covers the voice settings and the text."""
    key = json.dumps([asdict(voice), text], ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return out / "wavs" / voice.speaker / f"{voice.speaker}_{k:04d}_{digest}.wav"


def synthesize(voice: Voice, text: str, target: Path) -> None:
    with atomic_path(target) as tmp:
        command = voice.command(text, tmp)
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise UserError(f"{voice.engine} failed for {voice.speaker} (exit {result.returncode}): {message}")


def synthesize_missing(jobs: list[Job], workers: int, quiet: bool) -> None:
    """Synthesize the jobs whose wav does not exist yet, `workers` engine processes at a time."""
    missing = [job for job in jobs if not job.wav.exists()]
    run_missing(missing, lambda job: synthesize(job.voice, job.text, job.wav), workers, quiet, "synthesizing")


def check_engines(voices: list[Voice]) -> None:
    for engine in sorted({v.engine for v in voices}):
        if shutil.which(engine) is None:
            raise UserError(f"{engine} is not installed: `apt-get install {engine}`")
    flite_names = {v.name for v in voices if v.engine == "flite"}
    if flite_names:
        # flite quietly falls back to another voice for an unknown name; check the list.
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
        unknown = sorted(flite_names - set(listed))
        if unknown:
            raise UserError(f"flite has no voice {', '.join(unknown)}: `apt-get install flite`")


# --- corpus -------------------------------------------------------------------------------


def librivox_utterances() -> list[Utterance]:
    return [
        Utterance(file_id, str(wav), text, "en", "librivox_austen", sf.info(str(wav)).duration)
        for file_id, wav, text in librivox_entries(LIBRIVOX_DIR)
    ]


def utterance(job: Job) -> Utterance:
    duration = sf.info(str(job.wav)).duration
    return Utterance(job.wav.stem, str(job.wav), job.text, job.voice.language, job.voice.speaker, duration)


def build(
    out: Path, per_voice: int, seed: int, voices: list[Voice] = VOICES, quiet: bool = False, jobs: int = 2
) -> dict[str, list[Utterance]]:
    """Synthesize what is missing and write the manifests; returns {"train", "heldout", "all"}."""
    if per_voice < 1 or jobs < 1:
        raise UserError(f"--per-voice and --jobs must be at least 1, got {per_voice} and {jobs}")
    check_engines(voices)
    texts = texts_for_voices(voices, per_voice, seed)
    work = [Job(v, text, wav_path(out, v, k, text)) for v in voices for k, text in enumerate(texts[v])]
    synthesize_missing(work, jobs, quiet)
    items = [utterance(job) for job in work]
    if any(v.language == "en" for v in voices):
        items += librivox_utterances()
    splits = {
        "train": [u for u in items if u.speaker not in HELD_OUT],
        "heldout": [u for u in items if u.speaker in HELD_OUT],
        "all": items,
    }
    for name, split in splits.items():
        write_manifest(out / f"{name}.jsonl", split)
    return splits


def summary(splits: dict[str, list[Utterance]]) -> list[str]:
    lines = []
    for name, split in splits.items():
        minutes = sum(u.duration for u in split) / 60
        short = sum(u.duration < 2 for u in split) / max(1, len(split))
        speakers = len({u.speaker for u in split})
        lines.append(f"{name}: {len(split)} utterances, {minutes:.1f} min, {speakers} speakers, {short:.0%} under 2 s")
    return lines


def parse_languages(value: str) -> list[str]:
    languages = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown or not languages:
        raise argparse.ArgumentTypeError(f"languages are a comma-separated subset of {','.join(LANGUAGES)}")
    return languages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--per-voice", type=int, default=40, help="utterances per voice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="engine processes run at once")
    parser.add_argument("--languages", type=parse_languages, default=list(LANGUAGES), help="e.g. en,de (default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    voices = [v for v in VOICES if v.language in args.languages]
    try:
        splits = build(Path(args.out), args.per_voice, args.seed, voices=voices, quiet=args.quiet, jobs=args.jobs)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print("\n".join(summary(splits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
