"""Compare semantic feature extractors: how much phone content, how little speaker, in
their features and in their discrete units.

    OMP_NUM_THREADS=1 python -m recipes.semantic_codec.probe --train data/corpus_v3/train.jsonl \
        --test data/corpus_v3/heldout.jsonl --languages en --train-items 600 --test-items 150 \
        --candidates model:maskvox/assets/demo whisper:1-6:exact whisper:4:pad30 --out exp/probe

Candidates: `model:FOLDER` (the semantic features a model folder names, and its semantic
codec's ids when it has one) and `whisper:LAYERS[:WINDOW]` (Whisper base's encoder blocks,
e.g. `4` or `2-6`, window `exact` or `pad30`, codecs/whisper_features.py). For each:

- **phone probe**: a linear layer trained with CTC on the training speakers' frames
  (z-normalised), greedy-decoded on held-out speakers: phone error rate (PER);
- **units**: the codec's ids, or k-means with `--units` centroids fitted on the training
  frames; the same CTC probe over a table of one vector per unit (PER), and the units in use
  (perplexity of their histogram);
- **speaker invariance**: each held-out utterance is pitch-shifted by +-`--shift-cents` with sox
  (same timing, another voice): the share of frames whose unit is unchanged, and the mean
  cosine of the features, original against shifted.

Writes results.json and a Markdown table (results.md) to --out; seeds fixed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.audio import load_audio
from maskvox.codecs.kmeans import fit_kmeans, nearest_centroid
from maskvox.errors import UserError
from maskvox.fileio import write_json, write_text

from ..aligner.train import phone_targets
from ..common.cli import exit_status, positive
from ..common.manifest import Utterance, read_manifest

SAMPLE_RATE = 16000


# --- candidates -----------------------------------------------------------------------------


@dataclass
class Encoded:
    """One candidate's view of one utterance: features (T, D) and units (T,) when it has a codec."""

    features: np.ndarray
    units: np.ndarray | None = None


class ModelFolderCandidate:
    """The semantic features (and semantic codec ids) of a model folder."""

    def __init__(self, folder: str):
        from maskvox.checkpoint import load_model_config
        from maskvox.codecs.pretrained import load_semantic_codec, load_semantic_features

        cfg = load_model_config(folder)
        self.names = [f"model:{folder}"]
        self.extractor = load_semantic_features(cfg.semantic_features, base=folder)
        self.codec = load_semantic_codec(folder, cfg) if (Path(folder) / "semantic_codec").is_dir() else None

    def encode(self, wav: np.ndarray) -> list[Encoded]:
        features, _ = self.extractor([wav])
        units = self.codec.quantize(features)[0][0].numpy() if self.codec is not None else None
        return [Encoded(features[0].numpy(), units)]


class WhisperCandidate:
    """Blocks of Whisper base's encoder, all from one pass."""

    def __init__(self, spec: str):
        from maskvox.codecs.pretrained import load_semantic_features
        from maskvox.config import SemanticFeaturesConfig

        layers, _, window = spec.partition(":")
        first, _, last = layers.partition("-")
        self.layers = list(range(int(first), int(last or first) + 1))
        cfg = SemanticFeaturesConfig(kind="whisper", model="whisper-base", layer=max(self.layers),
                                     whisper_window=window or "exact")
        self.extractor = load_semantic_features(cfg, normalize=False)
        self.names = [f"whisper:{layer}:{cfg.whisper_window}" for layer in self.layers]

    def encode(self, wav: np.ndarray) -> list[Encoded]:
        with torch.no_grad():
            states = self.extractor.encode_one(torch.from_numpy(wav), all_layers=True)
        return [Encoded(states[layer - 1].numpy()) for layer in self.layers]


CANDIDATE = re.compile(r"^(model:.+|whisper:[1-9](-[1-9])?(:(exact|pad30))?)$")


def candidate_spec(spec: str) -> str:
    """An argparse type: the candidate's form is checked before anything loads."""
    if not CANDIDATE.match(spec):
        raise argparse.ArgumentTypeError(f"candidate {spec!r}: use model:FOLDER or whisper:LAYERS[:exact|pad30]")
    return spec


def make_candidate(spec: str):
    kind, _, rest = spec.partition(":")
    if kind == "model" and rest:
        return ModelFolderCandidate(rest)
    if kind == "whisper" and rest:
        return WhisperCandidate(rest)
    raise UserError(f"candidate {spec!r}: use model:FOLDER or whisper:LAYERS[:WINDOW]")


# --- data -------------------------------------------------------------------------------------


def pick(items: list[Utterance], languages: list[str], count: int, seed: int) -> list[Utterance]:
    """`count` utterances of 1-10 s in `languages`, spread over speakers, in a seeded order."""
    usable = [u for u in items if u.language in languages and 1.0 <= u.duration <= 10.0]
    order = np.random.default_rng(seed).permutation(len(usable))
    return [usable[i] for i in order[:count]]


def pitch_shifted(wav: np.ndarray, cents: int) -> np.ndarray:
    """`wav` (16 kHz) shifted by `cents` with sox (WSOLA: the timing is kept)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.wav", Path(folder) / "out.wav"
        sf.write(source, wav, SAMPLE_RATE)
        subprocess.run(["sox", str(source), str(target), "pitch", str(cents)], check=True, capture_output=True)
        shifted, _ = sf.read(target, dtype="float32")
    return shifted[: len(wav)] if len(shifted) >= len(wav) else np.pad(shifted, (0, len(wav) - len(shifted)))


# --- probes -----------------------------------------------------------------------------------


def edit_distance(a: np.ndarray, b: np.ndarray) -> int:
    previous = np.arange(len(b) + 1)
    for i, x in enumerate(a, start=1):
        current = np.empty_like(previous)
        current[0] = i
        for j, y in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return int(previous[-1])


def compact_targets(targets: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Phone ids renumbered 1..P over the phones that occur (0 is the CTC blank); returns P + 1."""
    phones = sorted({int(p) for t in targets.values() for p in t})
    index = {phone: n + 1 for n, phone in enumerate(phones)}
    return {key: np.array([index[int(p)] for p in t], dtype=np.int64) for key, t in targets.items()}, len(phones) + 1


def greedy_ctc(log_probs: torch.Tensor) -> np.ndarray:
    """(T, V) -> the best path's labels, repeats merged and blanks (0) removed."""
    best = log_probs.argmax(-1).numpy()
    keep = np.r_[True, best[1:] != best[:-1]] & (best != 0)
    return best[keep]


def train_ctc_probe(inputs: list[torch.Tensor], targets: list[np.ndarray], make_layer, steps: int, seed: int):
    """Fit `make_layer()` (inputs -> phone logits, blank 0) with CTC; batches of 16 utterances."""
    torch.manual_seed(seed)
    layer = make_layer()
    optimizer = torch.optim.Adam(layer.parameters(), lr=5e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        batch = rng.choice(len(inputs), size=min(16, len(inputs)), replace=False)
        padded = torch.nn.utils.rnn.pad_sequence([inputs[i] for i in batch], batch_first=True)
        log_probs = layer(padded).log_softmax(-1).transpose(0, 1)
        flat = torch.from_numpy(np.concatenate([targets[i] for i in batch]))
        loss = torch.nn.functional.ctc_loss(
            log_probs, flat, torch.tensor([len(inputs[i]) for i in batch]),
            torch.tensor([len(targets[i]) for i in batch]), blank=0, zero_infinity=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return layer.eval()


def phone_error_rate(layer, inputs: list[torch.Tensor], targets: list[np.ndarray]) -> float:
    with torch.no_grad():
        errors = sum(edit_distance(greedy_ctc(layer(x[None])[0].log_softmax(-1)), t) for x, t in zip(inputs, targets))
    return errors / sum(len(t) for t in targets)


def perplexity(units: np.ndarray, k: int) -> float:
    p = np.bincount(units, minlength=k) / len(units)
    return float(np.exp(-(p * np.log(p + 1e-12)).sum()))


# --- one candidate ------------------------------------------------------------------------------


def score(name: str, train: list[Encoded], train_targets, test: list[Encoded], test_targets,
          shifted: list[list[Encoded]], args) -> dict:
    train_frames = torch.from_numpy(np.concatenate([e.features for e in train])).float()
    mean, std = train_frames.mean(0), train_frames.std(0) + 1e-5
    norm = lambda e: (torch.from_numpy(e.features).float() - mean) / std
    width = train_frames.shape[1]
    linear = train_ctc_probe([norm(e) for e in train], train_targets,
                             lambda: torch.nn.Linear(width, args.classes), args.steps, args.seed)
    result = {"candidate": name, "dim": width, "per_features": phone_error_rate(linear, [norm(e) for e in test], test_targets)}

    if train[0].units is None:  # no codec: k-means units of the z-normalised frames
        centroids = fit_kmeans((train_frames - mean) / std, args.units, 15, args.seed)
        unit_of = lambda e: nearest_centroid(norm(e), centroids).numpy()
        size, result["units_from"] = args.units, f"k-means {args.units}"
    else:
        unit_of = lambda e: e.units
        size, result["units_from"] = int(max(e.units.max() for e in train + test)) + 1, "codec"
    table = lambda: torch.nn.Sequential(torch.nn.Embedding(size, 64), torch.nn.Linear(64, args.classes))
    to_ids = lambda e: torch.from_numpy(unit_of(e)).long()
    unit_probe = train_ctc_probe([to_ids(e) for e in train], train_targets, table, args.steps, args.seed)
    result["per_units"] = phone_error_rate(unit_probe, [to_ids(e) for e in test], test_targets)
    result["unit_perplexity"] = perplexity(np.concatenate([unit_of(e) for e in test]), size)

    same, cosines = [], []
    for original, variants in zip(test, shifted):
        for variant in variants:
            frames = min(len(original.features), len(variant.features))
            same.append(np.mean(unit_of(original)[:frames] == unit_of(variant)[:frames]))
            a, b = norm(original)[:frames], norm(variant)[:frames]
            cosines.append(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean().item())
    result["units_kept_under_shift"] = float(np.mean(same))
    result["feature_cosine_under_shift"] = float(np.mean(cosines))
    return result


def run(args) -> dict:
    train_items = pick(read_manifest(args.train), args.languages, args.train_items, args.seed)
    test_items = pick(read_manifest(args.test), args.languages, args.test_items, args.seed + 1)
    targets, args.classes = compact_targets(phone_targets(train_items + test_items, quiet=args.quiet))
    train_items = [u for u in train_items if u.id in targets]
    test_items = [u for u in test_items if u.id in targets]
    train_wavs = [load_audio(u.audio, SAMPLE_RATE) for u in train_items]
    test_wavs = [load_audio(u.audio, SAMPLE_RATE) for u in test_items]
    shifted_wavs = [[pitch_shifted(w, c) for c in (args.shift_cents, -args.shift_cents)]
                    for w in tqdm(test_wavs, desc="pitch shifts", disable=args.quiet)]
    results = []
    for spec in args.candidates:
        candidate = make_candidate(spec)
        encode = lambda wavs, what: [candidate.encode(w) for w in tqdm(wavs, desc=f"{spec} {what}", disable=args.quiet)]
        train_encoded, test_encoded = encode(train_wavs, "train"), encode(test_wavs, "test")
        shifted_encoded = [[candidate.encode(w) for w in variants] for variants in shifted_wavs]
        for index, name in enumerate(candidate.names):
            results.append(score(
                name, [e[index] for e in train_encoded], [targets[u.id] for u in train_items],
                [e[index] for e in test_encoded], [targets[u.id] for u in test_items],
                [[v[index] for v in variants] for variants in shifted_encoded], args))
            if not args.quiet:
                print(json.dumps(results[-1]))
    return {"train_items": len(train_items), "test_items": len(test_items),
            "train_speakers": sorted({u.speaker for u in train_items}),
            "test_speakers": sorted({u.speaker for u in test_items}), "results": results}


def markdown(report: dict) -> str:
    lines = ["| candidate | dim | PER features | units | PER units | unit perplexity | units kept under pitch shift | feature cosine under shift |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['candidate']} | {r['dim']} | {r['per_features']:.1%} | {r['units_from']} | {r['per_units']:.1%} "
                     f"| {r['unit_perplexity']:.0f} | {r['units_kept_under_shift']:.1%} | {r['feature_cosine_under_shift']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="manifest of the probe's training speakers")
    parser.add_argument("--test", required=True, help="manifest of held-out speakers")
    parser.add_argument("--candidates", nargs="+", required=True, type=candidate_spec)
    parser.add_argument("--languages", type=lambda s: s.split(","), default=["en"])
    parser.add_argument("--train-items", type=positive, default=600)
    parser.add_argument("--test-items", type=positive, default=150)
    parser.add_argument("--steps", type=positive, default=3000, help="probe training steps")
    parser.add_argument("--units", type=positive, default=512, help="k-means centroids for candidates without a codec")
    parser.add_argument("--shift-cents", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def probe() -> None:
        torch.manual_seed(args.seed)
        report = run(args)
        write_json(Path(args.out) / "results.json", report)
        write_text(Path(args.out) / "results.md", markdown(report))
        print(markdown(report))

    return exit_status(probe)


if __name__ == "__main__":
    sys.exit(main())
