"""Build a multi-speaker English speech corpus from offline voices (no network).

    python -m recipes.offline_corpus.build --out data/corpus --per-voice 40

Voices: flite (kal16, awb, rms, slt) and espeak-ng English accents with its voice
variants; text: sentences from Debian's fortune databases (apt package `fortunes`);
plus the LibriVox clips of Debian's `pocketsphinx-testdata` when installed (real speech,
training split). Each voice is one speaker. Whole voices are held out for evaluation.

Deterministic from --seed; resumable (finished files are kept, each written atomically);
writes `train.jsonl`, `heldout.jsonl` and `all.jsonl` manifests in the output folder.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from ..common.manifest import Utterance, write_manifest

FORTUNE_DIR = Path("/usr/share/games/fortunes")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass(frozen=True)
class Voice:
    engine: str  # "flite" or "espeak-ng"
    name: str  # engine voice name, e.g. "slt" or "en-us+f2"
    rate: int = 0  # espeak-ng words per minute (0: engine default)

    @property
    def speaker(self) -> str:
        return f"{self.engine.replace('-', '')}_{re.sub(r'[^A-Za-z0-9]+', '_', self.name)}"


FLITE_VOICES = [Voice("flite", name) for name in ("kal16", "awb", "rms", "slt")]
ESPEAK_VOICES = [
    Voice("espeak-ng", f"{accent}+{variant}", rate)
    for accent, variant, rate in [
        ("en-us", "m1", 165), ("en-us", "m3", 150), ("en-us", "m7", 170), ("en-us", "f2", 160),
        ("en-us", "f4", 150), ("en-gb", "m2", 160), ("en-gb", "f1", 165), ("en-gb", "f3", 155),
        ("en-gb-scotland", "m4", 150), ("en-gb-x-rp", "m5", 160), ("en-029", "m6", 155),
        ("en-gb-x-gbclan", "f5", 160),
    ]
]
VOICES = FLITE_VOICES + ESPEAK_VOICES
HELD_OUT = {"flite_slt", "espeakng_en_gb_f3", "espeakng_en_us_m3"}


def fortune_sentences(min_words: int = 4, max_words: int = 24) -> list[str]:
    """Plain one-line sentences from the fortune databases, deduplicated, in a fixed order."""
    if not FORTUNE_DIR.is_dir():
        raise UserError(f"no fortune databases in {FORTUNE_DIR}: install them with `apt-get install fortunes`")
    allowed = re.compile(r"^[A-Za-z][A-Za-z ,.'?!;:-]*[.?!]$")
    seen, sentences = set(), []
    for path in sorted(p for p in FORTUNE_DIR.iterdir() if p.is_file() and not p.suffix):
        text = path.read_text(encoding="latin-1")
        for entry in text.split("\n%\n"):
            line = " ".join(entry.split())
            if allowed.match(line) and min_words <= len(line.split()) <= max_words and line not in seen:
                seen.add(line)
                sentences.append(line)
    return sentences


def synthesize(voice: Voice, text: str, target: Path) -> None:
    if voice.engine == "flite":
        command = ["flite", "-voice", voice.name, "-t", text, "-o"]
    else:
        command = ["espeak-ng", "-v", voice.name, "-s", str(voice.rate), "-w"]
    with atomic_path(target) as tmp:
        args = command + [str(tmp)] + ([] if voice.engine == "flite" else [text])
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


def check_engines(voices: list[Voice]) -> None:
    for engine in sorted({v.engine for v in voices}):
        if shutil.which(engine) is None:
            raise UserError(f"{engine} is not installed: `apt-get install {engine}`")


def librivox_utterances(out: Path) -> list[Utterance]:
    transcription = LIBRIVOX_DIR / "transcription"
    if not transcription.is_file():
        return []
    items = []
    for line in transcription.read_text().splitlines():
        match = re.match(r"^(.*)\s+\((\S+)\)\s*$", line.strip())
        if not match:
            continue
        # Sphinx transcripts are lower case and wrapped in <s> ... </s>.
        words, file_id = re.sub(r"</?s>", " ", match.group(1)).split(), match.group(2)
        wav = LIBRIVOX_DIR / f"{file_id}.wav"
        if wav.is_file() and words:
            text = " ".join(words).capitalize() + "."
            items.append(Utterance(file_id, str(wav), text, "en", "librivox_austen", sf.info(str(wav)).duration))
    return items


def build(out: Path, per_voice: int, seed: int, voices: list[Voice] = VOICES, quiet: bool = False) -> dict[str, list[Utterance]]:
    check_engines(voices)
    sentences = fortune_sentences()
    random.Random(seed).shuffle(sentences)
    needed = per_voice * len(voices)
    if len(sentences) < needed:
        raise UserError(f"only {len(sentences)} sentences for {needed} utterances: lower --per-voice")
    jobs = []
    for index, voice in enumerate(voices):
        for k in range(per_voice):
            text = sentences[index * per_voice + k]
            jobs.append((voice, text, out / "wavs" / voice.speaker / f"{voice.speaker}_{k:04d}.wav"))
    items = []
    for voice, text, wav in tqdm(jobs, desc="synthesizing", disable=quiet):
        if not wav.exists():
            synthesize(voice, text, wav)
        items.append(Utterance(wav.stem, str(wav), text, "en", voice.speaker, sf.info(str(wav)).duration))
    items += librivox_utterances(out)
    splits = {
        "train": [u for u in items if u.speaker not in HELD_OUT],
        "heldout": [u for u in items if u.speaker in HELD_OUT],
        "all": items,
    }
    for name, split in splits.items():
        write_manifest(out / f"{name}.jsonl", split)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--per-voice", type=int, default=40, help="utterances per voice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        splits = build(Path(args.out), args.per_voice, args.seed, quiet=args.quiet)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    for name, split in splits.items():
        hours = sum(u.duration for u in split) / 3600
        print(f"{name}: {len(split)} utterances, {hours * 60:.1f} min, {len({u.speaker for u in split})} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
