"""Measure an acoustic codec's round trip on a manifest: how much of the speech survives.

    python -m recipes.acoustic_codec.evaluate --model maskvox/assets/demo \
        --manifest data/corpus/heldout.jsonl --out exp/codec_eval.jsonl

Per utterance: multi-scale mel distance (the training loss, lower is better), STOI
(intelligibility, 0..1) and wide-band PESQ (1..4.5) at 16 kHz, and the log-spectral
distance in dB. Writes one JSON line per utterance and prints the means (and saves them
beside the output as `<out>.summary.json`). Needs the `eval` extra (pesq, pystoi).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.audio import ACOUSTIC_RATE, load_audio, resample
from maskvox.codecs.gan import MelLossConfig, MultiScaleMelLoss
from maskvox.fileio import atomic_path, write_json
from maskvox.tokenizer import SpeechTokenizer

from ..common.cli import exit_status
from ..common.manifest import read_manifest

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


def evaluate(model: str, manifest: str, out: str, limit: int = 0, quiet: bool = False) -> dict[str, float]:
    tokenizer = SpeechTokenizer.from_pretrained(model, semantic="no")
    mel = MultiScaleMelLoss(ACOUSTIC_RATE, MelLossConfig())
    items = read_manifest(manifest)[: limit or None]
    rows = []
    for item in tqdm(items, desc="round trips", disable=quiet):
        wav = load_audio(item.audio, ACOUSTIC_RATE)
        wav = wav / max(float(np.abs(wav).max()), 1e-5) * 0.9
        decoded = tokenizer.decode(tokenizer.encode(wav))
        rows.append({"id": item.id, "speaker": item.speaker, **score(wav, decoded, mel)})
    summary = {name: float(np.mean([r[name] for r in rows])) for name in METRICS}
    summary.update(utterances=len(rows), speakers=len({r["speaker"] for r in rows}), model=str(model), manifest=str(manifest))
    with atomic_path(out) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_json(Path(out).with_suffix(".summary.json"), summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub repo with an acoustic codec")
    parser.add_argument("--manifest", required=True, help="JSONL manifest of the utterances to code")
    parser.add_argument("--out", required=True, help="per-utterance JSONL output")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    def run() -> None:
        summary = evaluate(args.model, args.manifest, args.out, args.limit, args.quiet)
        print(" ".join(f"{name}={summary[name]:.3f}" for name in METRICS), f"({summary['utterances']} utterances)")

    try:
        return exit_status(run)
    except ImportError as err:
        print(f"error: {err.name} is not installed: pip install -c constraints.txt -e '.[eval]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
