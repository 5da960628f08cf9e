"""Word-boundary accuracy of a model folder's aligner on held-out flite voices.

    python -m recipes.aligner.evaluate --manifest data/corpus_v2/heldout.jsonl \
        --model maskvox/assets/demo --limit 25 --out exp/demo/eval/aligner.json

The truth comes from flite itself: each utterance of a flite speaker of the offline corpus
is synthesised again with that speaker's exact settings and `-psdur`, which prints every
segment with its end time. The new wav must have the stored file's length (flite is
deterministic; otherwise the timings may not belong to that audio). Segments are given to
words by reading each word alone with `-ps` (its segment count; pauses are no word's):
an utterance whose counts do not add up to the segments, or whose words are not those the
aligner reads (`maskvox.aligner.split_words` / `word_key`), is skipped and counted.

Reported: the absolute error of word starts and ends (mean, median, p90, in ms; share within
20 and 50 ms), and the alignment `confidence` of the right transcript against that of a wrong
one (another utterance's transcript on the same audio), with the threshold that tells them
apart best.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from maskvox.aligner import Aligner, split_words, word_key
from maskvox.audio import load_audio
from maskvox.checkpoint import load_model_config
from maskvox.codecs.pretrained import load_semantic_features
from maskvox.errors import UserError
from maskvox.tokenizer import pick_device

from ..common.cli import positive, report_status
from ..common.manifest import Utterance, read_manifest
from ..offline_corpus.build import FLITE_VOICES, HELD_OUT, Voice

FLITE_SPEAKERS = {voice.speaker: voice for voice in FLITE_VOICES}
# Corpus v3 speaks flite with each voice's own settings, under the plain voice name (flite_slt).
FLITE_SPEAKERS |= {f"flite_{name}": Voice("flite", name) for name in ("kal16", "awb", "rms", "slt")}
DEFAULT_SPEAKERS = sorted(speaker for speaker in HELD_OUT if speaker in FLITE_SPEAKERS)
PAUSE = "pau"
TOLERANCES_MS = (20, 50)


class Skipped(Exception):
    """An utterance whose reference timings cannot be trusted; the message is the reason."""


@dataclass
class ReferenceWord:
    key: str  # maskvox.aligner.word_key of the written word
    start: float  # seconds
    end: float


# -- flite's timings ---------------------------------------------------------------------------------

def check_flite() -> None:
    if shutil.which("flite") is None:
        raise UserError("flite is not installed: `apt-get install flite`")


def run_flite(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise UserError(f"flite failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def with_option(command: list[str], option: str) -> list[str]:
    """`command` (Voice.command's) with `option` before the text: flite wants options first."""
    at = command.index("-t")
    return command[:at] + [option] + command[at:]


def timed_segments(voice: Voice, text: str, wav: Path) -> list[tuple[str, float]]:
    """Synthesise `text` into `wav`; each segment with its end time in seconds."""
    printed = run_flite(with_option(voice.command(text, wav), "-psdur")).split()
    segments = []
    for token in printed:
        name, _, end = token.rpartition(":")
        try:
            segments.append((name, float(end)))
        except ValueError:
            raise UserError(f"flite -psdur printed {token!r}, not SEGMENT:END_TIME (another flite version?)") from None
    return segments


@functools.lru_cache(maxsize=None)
def segment_count(voice: Voice, word: str) -> int:
    """How many segments (pauses aside) flite says for `word` read alone."""
    printed = run_flite(with_option(voice.command(word, Path("none")), "-ps")).split()
    return sum(name != PAUSE for name in printed)


def same_length(first: Path, second: Path) -> bool:
    a, b = sf.info(str(first)), sf.info(str(second))
    return (a.frames, a.samplerate) == (b.frames, b.samplerate)


def reference_words(voice: Voice, text: str, audio: Path, workdir: Path) -> list[ReferenceWord]:
    """flite's start and end of every spoken word of `text` in `audio`; `Skipped` when unsure."""
    resynthesised = workdir / "resynthesised.wav"
    segments = timed_segments(voice, text, resynthesised)
    if not same_length(resynthesised, audio):
        raise Skipped("resynthesis has another length")
    # A segment starts where the previous one ends; pauses separate words but belong to none.
    spoken, start = [], 0.0
    for name, end in segments:
        if name != PAUSE:
            spoken.append((start, end))
        start = end
    words = [word for word in split_words(text) if word_key(word)]
    counts = [segment_count(voice, word) for word in words]
    if sum(counts) != len(spoken):
        raise Skipped("segment counts do not add up")
    reference, first = [], 0
    for word, count in zip(words, counts):
        if count:  # a word flite does not say (a lone symbol) has no span
            reference.append(ReferenceWord(word_key(word), spoken[first][0], spoken[first + count - 1][1]))
        first += count
    return reference


# -- the aligner's word spans -----------------------------------------------------------------------

class FeatureReader:
    """The model folder's semantic features of an audio file, as the aligner sees them."""

    def __init__(self, model: str, device: str):
        cfg = load_model_config(model).semantic_features
        self.sample_rate = cfg.sample_rate
        self.extractor = load_semantic_features(cfg, base=model, device=device)

    def __call__(self, audio: str | Path) -> torch.Tensor:
        features, _ = self.extractor([load_audio(audio, self.sample_rate)])
        return features[0]


def wrong_transcript(utterances: list[Utterance], index: int) -> Utterance:
    """The next utterance (cyclically) with another text: a transcript that is surely wrong."""
    own = [word_key(w) for w in split_words(utterances[index].text)]
    for step in range(1, len(utterances)):
        other = utterances[(index + step) % len(utterances)]
        if [word_key(w) for w in split_words(other.text)] != own:
            return other
    raise UserError("the utterances evaluated all have the same transcript: no wrong transcript to test")


def wrong_confidence(aligner: Aligner, features: torch.Tensor, other: Utterance) -> float:
    """Confidence of aligning another utterance's transcript; 0 when it cannot fit at all."""
    try:
        return aligner.align(features, aligner.words(other.text, other.language)).confidence
    except UserError:
        return 0.0


def measure_utterance(aligner: Aligner, features: torch.Tensor, item: Utterance, workdir: Path) -> dict:
    """Start and end errors (ms) of each word and the confidence; `Skipped` when unusable."""
    words = aligner.words(item.text, item.language)
    reference = reference_words(FLITE_SPEAKERS[item.speaker], item.text, Path(item.audio), workdir)
    if [w.key for w in words] != [r.key for r in reference]:
        raise Skipped("word lists differ")
    try:
        alignment = aligner.align(features, words)
    except UserError:
        raise Skipped("audio too short for its phones") from None
    starts, ends = [], []
    for span, truth in zip(alignment.words, reference):
        start, end = span.seconds
        starts.append(1000 * abs(start - truth.start))
        ends.append(1000 * abs(end - truth.end))
    return {"id": item.id, "speaker": item.speaker, "words": len(words), "start_errors_ms": starts,
            "end_errors_ms": ends, "confidence": alignment.confidence}


# -- summaries --------------------------------------------------------------------------------------

def error_summary(errors_ms: list[float]) -> dict:
    values = np.asarray(errors_ms, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    summary = {"count": int(values.size), "mean_ms": float(values.mean()), "median_ms": float(np.median(values)),
               "p90_ms": float(np.percentile(values, 90))}
    for tolerance in TOLERANCES_MS:
        summary[f"within_{tolerance}ms"] = float(np.mean(values <= tolerance))
    return summary


def distribution(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    quantiles = np.percentile(values, [10, 50, 90])
    return {"count": len(values), "min": min(values), "p10": float(quantiles[0]), "median": float(quantiles[1]),
            "p90": float(quantiles[2]), "max": max(values), "mean": statistics.fmean(values)}


def rejection_threshold(right: list[float], wrong: list[float]) -> dict:
    """The confidence below which to reject a transcript: the cut that best separates the two
    lists (mean of accepted-right and rejected-wrong shares), halfway across the widest gap
    among equally good cuts."""
    if not right or not wrong:
        return {}
    values = sorted(set(right) | set(wrong))
    best = None
    for low, high in zip(values, values[1:]):
        cut = (low + high) / 2
        accepted = float(np.mean(np.asarray(right) >= cut))
        rejected = float(np.mean(np.asarray(wrong) < cut))
        key = ((accepted + rejected) / 2, high - low)
        if best is None or key > best[0]:
            best = (key, {"threshold": cut, "accepts_right": accepted, "rejects_wrong": rejected})
    return best[1] if best else {}


def summarize(rows: list[dict], skipped: Counter) -> dict:
    starts = [e for row in rows for e in row["start_errors_ms"]]
    ends = [e for row in rows for e in row["end_errors_ms"]]
    right = [row["confidence"] for row in rows]
    wrong = [row["wrong_confidence"] for row in rows]
    speakers = sorted({row["speaker"] for row in rows})
    return {
        "utterances": len(rows), "words": sum(row["words"] for row in rows),
        "skipped": sum(skipped.values()), "skipped_by_reason": dict(skipped),
        "start": error_summary(starts), "end": error_summary(ends), "boundaries": error_summary(starts + ends),
        "by_speaker": {
            speaker: error_summary([e for row in rows if row["speaker"] == speaker
                                    for e in row["start_errors_ms"] + row["end_errors_ms"]])
            for speaker in speakers
        },
        "confidence_right": distribution(right), "confidence_wrong": distribution(wrong),
        "rejection": rejection_threshold(right, wrong),
    }


# -- the evaluation ------------------------------------------------------------------------------------

def evaluate_utterances(aligner: Aligner, read_features, items: list[Utterance], quiet: bool = True) -> dict:
    """Every item is an utterance of a flite speaker of FLITE_SPEAKERS; see the module's doc."""
    check_flite()
    rows, skipped = [], Counter()
    with tempfile.TemporaryDirectory(prefix="aligner_eval.") as workdir:
        for index, item in enumerate(tqdm(items, desc="utterances", disable=quiet)):
            features = read_features(item.audio)
            try:
                row = measure_utterance(aligner, features, item, Path(workdir))
            except Skipped as reason:
                skipped[str(reason)] += 1
                continue
            row["wrong_confidence"] = wrong_confidence(aligner, features, wrong_transcript(items, index))
            rows.append(row)
    report = summarize(rows, skipped)
    report["rows"] = rows
    return report


def select_utterances(manifest: str, speakers: list[str], limit: int | None) -> list[Utterance]:
    unknown = [speaker for speaker in speakers if speaker not in FLITE_SPEAKERS]
    if unknown:
        raise UserError(f"{unknown[0]} is not a flite speaker of the offline corpus; "
                        f"flite speakers: {', '.join(sorted(FLITE_SPEAKERS))}")
    items = read_manifest(manifest)
    chosen = []
    for speaker in speakers:
        own = [item for item in items if item.speaker == speaker]
        if not own:
            raise UserError(f"{manifest} has no utterance of speaker {speaker}")
        chosen += own[:limit]
    return chosen


def evaluate(manifest: str, model: str, speakers: list[str], limit: int | None, device: str = "cpu",
             quiet: bool = False) -> dict:
    check_flite()
    items = select_utterances(manifest, speakers, limit)
    device = str(pick_device(device))
    aligner = Aligner.from_pretrained(model, device)
    report = evaluate_utterances(aligner, FeatureReader(model, device), items, quiet)
    return {"manifest": manifest, "model": model, "speakers": speakers, "limit": limit, **report}


def table(report: dict) -> str:
    skipped = ", ".join(f"{reason}: {count}" for reason, count in report["skipped_by_reason"].items()) or "none"
    lines = [f"{report['utterances']} utterances ({report['words']} words) of {', '.join(report['speakers'])}; "
             f"skipped {report['skipped']} ({skipped})",
             "| word boundary | count | mean ms | median ms | p90 ms | within 20 ms | within 50 ms |",
             "|---|---|---|---|---|---|---|"]
    for name in ("start", "end", "boundaries"):
        row = report[name]
        if row["count"]:
            lines.append(f"| {name} | {row['count']} | {row['mean_ms']:.1f} | {row['median_ms']:.1f} | "
                         f"{row['p90_ms']:.1f} | {row['within_20ms']:.1%} | {row['within_50ms']:.1%} |")
    lines += ["", "| confidence | count | min | p10 | median | p90 | max |", "|---|---|---|---|---|---|---|"]
    for name in ("right", "wrong"):
        row = report[f"confidence_{name}"]
        if row["count"]:
            # Per-phone likelihood ratios span decades: significant digits, not decimals.
            lines.append(f"| {name} transcript | {row['count']} | {row['min']:.3g} | {row['p10']:.3g} | "
                         f"{row['median']:.3g} | {row['p90']:.3g} | {row['max']:.3g} |")
    rejection = report["rejection"]
    if rejection:
        lines.append(f"\nsuggested rejection threshold: confidence < {rejection['threshold']:.3g} "
                     f"(accepts {rejection['accepts_right']:.0%} of right transcripts, "
                     f"rejects {rejection['rejects_wrong']:.0%} of wrong ones)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="manifest of the offline corpus (e.g. its heldout.jsonl)")
    parser.add_argument("--model", required=True, help="model folder with an aligner")
    parser.add_argument("--speakers", nargs="+", default=DEFAULT_SPEAKERS,
                        help=f"flite speakers to evaluate (default: the held-out ones, {' '.join(DEFAULT_SPEAKERS)})")
    parser.add_argument("--limit", type=positive, help="first utterances per speaker (default: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return report_status(
        args.out, lambda: evaluate(args.manifest, args.model, args.speakers, args.limit, args.device, args.quiet), table
    )


if __name__ == "__main__":
    sys.exit(main())
