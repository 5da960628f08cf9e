"""Random fixed-length audio segments from a manifest, for codec training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from maskvox.audio import load_audio

from .manifest import read_manifest


@dataclass
class AudioDataConfig:
    train_manifest: str = ""
    segment_seconds: float = 1.0
    batch_size: int = 8
    num_workers: int = 0
    # Utterances are scaled to a random peak in this range: the codec must not learn one loudness.
    min_peak: float = 0.3
    max_peak: float = 0.95


class AudioSegments(Dataset):
    """Every utterance, resampled once and kept in memory; each item is a random segment.

    An epoch is one segment per utterance. Utterances shorter than a segment are
    zero-padded. Randomness comes from torch's generator, so `torch.manual_seed` (and a
    resumed run's restored RNG state) decide the segments.
    """

    def __init__(self, manifest: str, sample_rate: int, segment_samples: int, cfg: AudioDataConfig, quiet: bool = False):
        self.segment_samples = segment_samples
        self.cfg = cfg
        items = read_manifest(manifest)
        self.waves = [
            _peak_normalized(torch.from_numpy(load_audio(item.audio, sample_rate)))
            for item in tqdm(items, desc="loading audio", disable=quiet, leave=False)
        ]

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, index: int) -> torch.Tensor:
        wav = self.waves[index]
        if wav.numel() < self.segment_samples:
            wav = torch.nn.functional.pad(wav, (0, self.segment_samples - wav.numel()))
        start = int(torch.randint(0, wav.numel() - self.segment_samples + 1, ()).item())
        # The gain is drawn per segment but applied to an utterance-normalised signal, so
        # pauses stay quiet instead of being blown up to full scale.
        gain = self.cfg.min_peak + (self.cfg.max_peak - self.cfg.min_peak) * torch.rand(())
        return wav[start : start + self.segment_samples] * gain


def _peak_normalized(wav: torch.Tensor) -> torch.Tensor:
    return wav / wav.abs().max().clamp(min=1e-5)


def total_seconds(dataset: AudioSegments, sample_rate: int) -> float:
    return float(np.sum([w.numel() for w in dataset.waves]) / sample_rate)
