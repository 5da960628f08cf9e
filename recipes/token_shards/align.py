"""Add each frame's phone to T2S token shards: the input of T2S's alignment help.

    python -m recipes.token_shards.align --shards data/tokens_demo3/t2s_train \
        --manifest data/corpus_v3/train.jsonl --model exp/demo3/model \
        --feature-cache exp/demo3/semantic_codec/features --out data/tokens_demo3/t2s_train_aligned

For every utterance of `--shards` (semantic ids and phone ids), the model folder's CTC aligner
(`maskvox.aligner`) reads its semantic features (from `--feature-cache`, as the semantic codec
recipe wrote them, else computed from the manifest's audio), the spoken phones of its phone ids
are forced-aligned, and `aligner.frames.frame_owners` gives each frame its position in the phone
ids (`frame_phones`, -1 for silence). Utterances the aligner cannot fit (too short for their
phones) or fits badly (confidence under `--min-confidence`, the figure speech editing uses) are
left out and counted. Shard by shard, atomically: a stopped run resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.edit import MIN_ALIGNMENT_CONFIDENCE
from maskvox.errors import UserError
from maskvox.fileio import write_json

from ..common.cli import exit_status
from ..common.manifest import cache_stem, read_manifest
from ..common.shards import read_shard, write_shard


class FrameAligner:
    """Utterance id -> (T,) frame owners, or None when it does not fit."""

    def __init__(self, model: str, manifest: str, feature_cache: str | None, min_confidence: float):
        from maskvox.aligner.model import Aligner
        from maskvox.checkpoint import load_model_config

        self.cfg = load_model_config(model)
        self.model = model
        self.aligner = Aligner.from_pretrained(model, model_cfg=self.cfg)
        self.utterances = {item.id: item for item in read_manifest(manifest)}
        self.cache = Path(feature_cache) if feature_cache else None
        self.min_confidence = min_confidence
        self._features = None

    def features(self, utterance_id: str) -> torch.Tensor:
        utterance = self.utterances.get(utterance_id)
        if utterance is None:
            raise UserError(f"utterance {utterance_id} of the shards is not in the manifest")
        cached = self.cache / f"{cache_stem(utterance)}.npy" if self.cache else None
        if cached is not None and cached.exists():
            return torch.from_numpy(np.load(cached).astype(np.float32))
        if self._features is None:
            from maskvox.codecs.pretrained import load_semantic_features

            self._features = load_semantic_features(self.cfg.semantic_features, self.model)
        from maskvox.audio import load_audio

        with torch.no_grad():
            features, _ = self._features([load_audio(utterance.audio, self.cfg.semantic_features.sample_rate)])
        return features[0]

    def __call__(self, utterance_id: str, phones: np.ndarray, frames: int) -> np.ndarray | None:
        features = self.features(utterance_id)
        if len(features) < frames:  # the ids were cut from the same features: never longer
            return None
        aligned = self.aligner.frame_owners(features[:frames], phones)
        if aligned is None or aligned[1] < self.min_confidence:
            return None
        return aligned[0]


def align(shards: str, manifest: str, model: str, out: str, feature_cache: str | None = None,
          min_confidence: float = MIN_ALIGNMENT_CONFIDENCE, quiet: bool = False) -> dict:
    paths = sorted(Path(shards).glob("shard-*.npz"))
    if not paths:
        raise UserError(f"no token shards (shard-*.npz) in {shards}")
    if feature_cache and not Path(feature_cache).is_dir():
        raise UserError(f"--feature-cache {feature_cache} is not a folder")
    Path(out).mkdir(parents=True, exist_ok=True)
    frame_aligner = FrameAligner(model, manifest, feature_cache, min_confidence)
    counts = {"utterances": 0, "aligned": 0, "left_out": 0}
    for path in tqdm(paths, desc="align shards", unit="shard", disable=quiet):
        target = Path(out) / path.name
        items = read_shard(path)
        if target.exists():  # written whole by an earlier run
            kept = read_shard(target)
        else:
            if any(item.semantic is None or item.phones is None for item in items):
                raise UserError(f"{path} lacks semantic or phone ids: align the T2S shards")
            kept = []
            for item in items:
                owners = frame_aligner(item.id, item.phones, len(item.semantic))
                if owners is not None:
                    item.frame_phones = owners
                    kept.append(item)
            write_shard(target, kept)
        counts["utterances"] += len(items)
        counts["aligned"] += len(kept)
    counts["left_out"] = counts["utterances"] - counts["aligned"]
    write_json(Path(out) / "align.json", {**counts, "min_confidence": min_confidence, "model": model})
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", required=True, help="T2S token shards (semantic and phone ids)")
    parser.add_argument("--manifest", required=True, help="the manifest the shards were made from")
    parser.add_argument("--model", required=True, help="model folder with an aligner and semantic features")
    parser.add_argument("--out", required=True, help="folder for the shards with frame phones")
    parser.add_argument("--feature-cache", help="cached semantic features (recipes.semantic_codec)")
    parser.add_argument("--min-confidence", type=float, default=MIN_ALIGNMENT_CONFIDENCE,
                        help=f"leave out utterances aligned with less confidence (default {MIN_ALIGNMENT_CONFIDENCE}, "
                             "speech editing's cut)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def run() -> None:
        counts = align(args.shards, args.manifest, args.model, args.out, args.feature_cache, args.min_confidence,
                       args.quiet)
        print(f"{counts['aligned']} of {counts['utterances']} utterances aligned ({counts['left_out']} left out)")

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
