"""Measure an acoustic codec's round trip on a manifest: how much of the speech survives.

    python -m recipes.acoustic_codec.evaluate --model maskvox/assets/demo \
        --manifest data/corpus_v3/heldout.jsonl --per-speaker 10 --out exp/codec_eval.jsonl

Per utterance: multi-scale mel distance (the training loss, lower is better), STOI
(intelligibility, 0..1) and wide-band PESQ (1..4.5) at 16 kHz, the log-spectral distance in
dB; with an ASR (`--asr`, default the judge of `maskvox eval`), the word errors of the
recording and of the resynthesis against the transcript (Seed-TTS-eval's normalisation, per
language), and the speaker similarity (resemblyzer) of the resynthesis to its recording.
Writes one JSON line per utterance and the summary (overall and per speaker: means, pooled
WERs and their ratio) beside it as `<out>.summary.json`, and prints a table. Needs the `eval`
extra (pesq, pystoi, faster-whisper).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.audio import ACOUSTIC_RATE, load_audio, resample
from maskvox.codecs.gan import MelLossConfig, MultiScaleMelLoss
from maskvox.errors import UserError
from maskvox.fileio import atomic_path, write_json
from maskvox.tokenizer import SpeechTokenizer

from ..common.cli import exit_status
from ..common.manifest import Utterance, read_manifest

METRICS = ("mel_distance", "stoi", "pesq_wb", "log_spectral_distance_db")


def log_spectral_distance(reference: np.ndarray, estimate: np.ndarray, n_fft: int = 1024) -> float:
    """Mean over frames of the RMS difference of log power spectra, in dB."""
    window = torch.hann_window(n_fft)

    def power(x):
        spec = torch.stft(torch.from_numpy(x), n_fft, n_fft // 4, window=window, return_complex=True)
        return 10 * torch.log10(spec.abs().pow(2).clamp(min=1e-8))  # floor at -80 dB

    difference = power(reference) - power(estimate)
    return float(difference.pow(2).mean(0).sqrt().mean())


def score(reference: np.ndarray, estimate: np.ndarray, mel: MultiScaleMelLoss) -> dict[str, float]:
    from pesq import pesq
    from pystoi import stoi

    reference_16k, estimate_16k = (resample(x, ACOUSTIC_RATE, 16000) for x in (reference, estimate))
    with torch.no_grad():
        mel_distance = float(mel(torch.from_numpy(estimate)[None], torch.from_numpy(reference)[None]))
    return {
        "mel_distance": mel_distance,
        "stoi": float(stoi(reference_16k, estimate_16k, 16000, extended=False)),
        "pesq_wb": float(pesq(16000, reference_16k, estimate_16k, "wb")),
        "log_spectral_distance_db": log_spectral_distance(reference, estimate),
    }


def pick(items: list[Utterance], speakers: list[str] | None, per_speaker: int, limit: int) -> list[Utterance]:
    """The first `per_speaker` utterances (by id, 1-10 s) of each speaker (or of `speakers`)."""
    if per_speaker:
        by_speaker: dict[str, list[Utterance]] = collections.defaultdict(list)
        for item in sorted(items, key=lambda item: item.id):
            if (speakers is None or item.speaker in speakers) and 1.0 <= item.duration <= 10.0:
                by_speaker[item.speaker].append(item)
        items = [item for speaker in sorted(by_speaker) for item in by_speaker[speaker][:per_speaker]]
    elif speakers is not None:
        items = [item for item in items if item.speaker in speakers]
    return items[: limit or None]


def characters(text: str) -> str:
    """Normalised text as space-separated characters, word gaps dropped (for a CER)."""
    return " ".join(char for char in text if not char.isspace())


class SpeechJudge:
    """Whisper (or another named ASR) and resemblyzer, loaded once."""

    def __init__(self, asr: str):
        from maskvox.evaluation.asr import get_asr_backend
        from maskvox.evaluation.speaker import get_speaker_backend

        self.transcriber = get_asr_backend(asr).load("cpu")
        self.speaker = get_speaker_backend("resemblyzer").load("cpu", None)

    def score(self, item: Utterance, reference_16k: np.ndarray, estimate_16k: np.ndarray) -> dict:
        from maskvox.evaluation.speaker import cosine_similarity
        from maskvox.evaluation.wer import normalize_for_wer, word_errors

        text = normalize_for_wer(item.text, item.language)
        row = {"reference_words": len(text.split()), "reference_chars": len(characters(text).split())}
        for name, wav in (("recording", reference_16k), ("resynthesis", estimate_16k)):
            heard = normalize_for_wer(self.transcriber.transcribe(wav, item.language), item.language)
            row[f"asr_{name}"] = heard
            row[f"errors_{name}"] = word_errors(text, heard).errors
            # Characters too: where Whisper base misses most words (the Czech and Dutch game
            # voices), the character errors still tell a resynthesis from its recording.
            row[f"char_errors_{name}"] = word_errors(characters(text), characters(heard)).errors
        row["similarity_to_recording"] = cosine_similarity(self.speaker.embed(estimate_16k), self.speaker.embed(reference_16k))
        return row


def summarize(rows: list[dict]) -> dict:
    summary = {name: float(np.mean([r[name] for r in rows])) for name in METRICS}
    summary.update(utterances=len(rows), speakers=len({r["speaker"] for r in rows}))
    if rows and "similarity_to_recording" in rows[0]:
        words = sum(r["reference_words"] for r in rows)
        summary["wer_recording"] = sum(r["errors_recording"] for r in rows) / max(1, words)
        summary["wer_resynthesis"] = sum(r["errors_resynthesis"] for r in rows) / max(1, words)
        summary["wer_ratio"] = summary["wer_resynthesis"] / summary["wer_recording"] if summary["wer_recording"] else None
        summary["similarity_to_recording"] = float(np.mean([r["similarity_to_recording"] for r in rows]))
        chars = sum(r["reference_chars"] for r in rows)
        summary["cer_recording"] = sum(r["char_errors_recording"] for r in rows) / max(1, chars)
        summary["cer_resynthesis"] = sum(r["char_errors_resynthesis"] for r in rows) / max(1, chars)
    return summary


def evaluate(model: str, manifest: str, out: str, limit: int = 0, quiet: bool = False, asr: str = "none",
             speakers: list[str] | None = None, per_speaker: int = 0, layers: int = 0) -> dict:
    tokenizer = SpeechTokenizer.from_pretrained(model, semantic="no")
    mel = MultiScaleMelLoss(ACOUSTIC_RATE, MelLossConfig())
    items = pick(read_manifest(manifest), speakers, per_speaker, limit)
    if not items:
        raise UserError(f"no utterances of {manifest} to score (check --speakers and --per-speaker)")
    judge = SpeechJudge(asr) if asr != "none" else None
    rows = []
    for item in tqdm(items, desc="round trips", disable=quiet):
        wav = load_audio(item.audio, ACOUSTIC_RATE)
        wav = wav / max(float(np.abs(wav).max()), 1e-5) * 0.9
        tokens = tokenizer.encode(wav)
        if layers:  # the first `layers` quantizers only: what S2A must get right to be understood
            tokens = dataclasses.replace(tokens, acoustic_codes=tokens.acoustic_codes[:, :layers])
        decoded = tokenizer.decode(tokens)
        row = {"id": item.id, "speaker": item.speaker, "language": item.language, **score(wav, decoded, mel)}
        if judge is not None:
            row.update(judge.score(item, resample(wav, ACOUSTIC_RATE, 16000), resample(decoded, ACOUSTIC_RATE, 16000)))
        rows.append(row)
    summary = summarize(rows)
    summary["per_speaker"] = {speaker: summarize([r for r in rows if r["speaker"] == speaker])
                              for speaker in sorted({r["speaker"] for r in rows})}
    summary.update(model=str(model), manifest=str(manifest), asr=asr, layers=layers or "all")
    with atomic_path(out) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_json(Path(out).with_suffix(".summary.json"), summary)
    return summary


def table(summary: dict) -> str:
    judged = "wer_recording" in summary
    head = "| speaker | utt. | STOI | PESQ-WB | mel distance |" + (
        " WER recording | WER resynthesis | ratio | CER recording | CER resynthesis | similarity |" if judged else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in [*summary["per_speaker"].items(), ("all", summary)]:
        line = f"| {name} | {s['utterances']} | {s['stoi']:.3f} | {s['pesq_wb']:.2f} | {s['mel_distance']:.3f} |"
        if judged:
            ratio = "" if s["wer_ratio"] is None else f"{s['wer_ratio']:.2f}"
            line += (f" {100 * s['wer_recording']:.1f} % | {100 * s['wer_resynthesis']:.1f} % | {ratio} |"
                     f" {100 * s['cer_recording']:.1f} % | {100 * s['cer_resynthesis']:.1f} % | {s['similarity_to_recording']:.3f} |")
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub repo with an acoustic codec")
    parser.add_argument("--manifest", required=True, help="JSONL manifest of the utterances to code")
    parser.add_argument("--out", required=True, help="per-utterance JSONL output")
    parser.add_argument("--speakers", nargs="+", help="only these speakers of the manifest")
    parser.add_argument("--per-speaker", type=int, default=0, help="the first N utterances (1-10 s) of each speaker")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    parser.add_argument("--asr", default=default_asr(), help="ASR judge for the WERs, or none (default: maskvox eval's)")
    parser.add_argument("--layers", type=int, default=0, help="decode the first N quantizer layers only (default: all)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def run() -> None:
        summary = evaluate(args.model, args.manifest, args.out, args.limit, args.quiet, args.asr,
                           args.speakers, args.per_speaker, args.layers)
        print(table(summary))

    try:
        return exit_status(run)
    except ImportError as err:
        print(f"error: {err.name} is not installed: pip install -c constraints.txt -e '.[eval]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
