"""The teacher's waveforms, cached once: HiFi-GAN V1 vocoding chosen utterances' mels.

    python -m recipes.vocoder.teacher --manifest data/corpus_v3/train.jsonl --out data/vocoder_teacher/train \
        --hours 1.0 --codec-from maskvox/assets/demo

A student generator learns to write what the universal V1 generator writes from the same mel
(recipes/vocoder/distill.py). V1 is deterministic, so its waveform, phase included, is a
function of the mel: the student can regress it directly, with no discriminator. Running V1
costs about 0.3-0.5 s per second of audio on one thread, so its outputs are computed once here
rather than at every step.

Per utterance, one `.npz` (float16): `mel_true` (80, M), the HiFi-GAN mel of the recording,
and `wav_true` (M * 256,), V1's waveform from it; with `--codec-from`, also `mel_codec` and
`wav_codec`: the mel that model's acoustic codec predicts from its first `--codec-layers`
quantizer layers (what the vocoder reads when the demo speaks), and V1's waveform from that.
Utterances are taken in turn from each speaker (seeded), up to `--hours`; a stopped run
resumes, keeping the files it wrote.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maskvox.audio import load_audio
from maskvox.errors import UserError
from maskvox.fileio import atomic_path, check_writable_folder
from maskvox.limits import check_range

from ..common.cli import exit_status
from ..common.manifest import Utterance, cache_stem, read_manifest

MIN_SECONDS = 1.0  # a crop of the student's training is 0.37 s plus margins
MAX_HOURS = 50.0


@dataclass
class TeacherCacheConfig:
    manifest: str
    out_dir: str
    hours: float = 1.0
    max_seconds: float = 12.0
    codec_from: str = ""  # a model folder whose acoustic codec's mel is vocoded too
    codec_layers: int = 4
    seed: int = 0
    quiet: bool = False


def pick_utterances(rows: list[Utterance], hours: float, max_seconds: float, seed: int) -> list[Utterance]:
    """Utterances of MIN_SECONDS to `max_seconds`, one from each speaker in turn (each
    speaker's order shuffled with `seed`), until `hours` of audio."""
    rng = random.Random(seed)
    by_speaker: dict[str, list[Utterance]] = {}
    for row in rows:
        if MIN_SECONDS <= row.duration <= max_seconds:
            by_speaker.setdefault(row.speaker, []).append(row)
    for utterances in by_speaker.values():
        rng.shuffle(utterances)
    picked, total, budget = [], 0.0, hours * 3600
    queues = [by_speaker[speaker] for speaker in sorted(by_speaker)]
    while total < budget and any(queues):
        for queue in queues:
            if queue and total < budget:
                row = queue.pop()
                picked.append(row)
                total += row.duration
    return picked


class Teacher:
    """V1 (and optionally a codec's mel decoder): an utterance's mels and V1's waveforms."""

    def __init__(self, codec_from: str = "", codec_layers: int = 4):
        from maskvox.codecs.hifigan import HifiganMel
        from maskvox.codecs.hifigan_data import load_hifigan

        self.generator = load_hifigan()
        self.mel = HifiganMel(self.generator.cfg)
        self.rate = self.generator.cfg.sampling_rate
        self.codec, self.codec_layers = None, codec_layers
        if codec_from:
            from maskvox.codecs.pretrained import load_acoustic_codec

            self.codec = load_acoustic_codec(codec_from)
            if self.codec.cfg.decoder.vocoder != "hifigan":
                raise UserError(f"{codec_from}: its acoustic codec does not predict HiFi-GAN mels (vocoder hifigan)")

    @torch.no_grad()
    def __call__(self, audio: str) -> dict[str, np.ndarray]:
        wav = torch.from_numpy(load_audio(audio, self.rate))[None]
        mels = {"true": self.mel(wav)}
        if self.codec is not None:
            wav_24k = torch.from_numpy(load_audio(audio, self.codec.sample_rate))[None]
            codes = self.codec.encode(wav_24k, n_quantizers=self.codec_layers)
            mels["codec"] = self.codec.decoder(self.codec.decoder.vq2emb(codes.permute(2, 0, 1)))
        arrays = {}
        for name, mel in mels.items():
            arrays[f"mel_{name}"] = mel[0].numpy().astype(np.float16)
            arrays[f"wav_{name}"] = self.generator(mel)[0, 0].numpy().astype(np.float16)
        return arrays


def build_cache(cfg: TeacherCacheConfig) -> list[Path]:
    """Write the missing `.npz` files; returns every file of the cache, in order."""
    from tqdm import tqdm

    check_range(cfg.hours, 0.0, MAX_HOURS, "--hours")
    check_range(cfg.max_seconds, MIN_SECONDS, 60.0, "--max-seconds")
    out = Path(cfg.out_dir)
    check_writable_folder(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    picked = pick_utterances(read_manifest(cfg.manifest), cfg.hours, cfg.max_seconds, cfg.seed)
    if not picked:
        raise UserError(f"{cfg.manifest}: no utterance of {MIN_SECONDS:g} to {cfg.max_seconds:g} s with its duration")
    files = [out / f"{cache_stem(row)}.npz" for row in picked]
    missing = [(row, path) for row, path in zip(picked, files) if not path.is_file()]
    teacher = Teacher(cfg.codec_from, cfg.codec_layers) if missing else None
    for row, path in tqdm(missing, desc="teacher", unit="utt", disable=cfg.quiet):
        arrays = teacher(row.audio)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="an offline-corpus manifest (with durations)")
    parser.add_argument("--out", required=True, help="the cache folder (a stopped run resumes in it)")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=12.0)
    parser.add_argument("--codec-from", default="", help="a model folder whose codec's mels are vocoded too")
    parser.add_argument("--codec-layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    cfg = TeacherCacheConfig(args.manifest, args.out, args.hours, args.max_seconds, args.codec_from,
                             args.codec_layers, args.seed, args.quiet)

    def run() -> None:
        files = build_cache(cfg)
        if not cfg.quiet:
            print(f"{len(files)} utterances cached in {cfg.out_dir}", file=sys.stderr)

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
