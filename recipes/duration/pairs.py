"""Prompt/target pairs for the duration model: both from one speaker, lengths in frames.

Input: shards with phone ids and frame counts (`recipes.token_shards.extract`, with or
without `--ids`), whose utterances name their speaker and language.
"""

from __future__ import annotations

import random

import torch

from maskvox.duration.model import LANGUAGE_IDS, DurationBatch
from maskvox.errors import UserError

from ..common.shards import TokenCorpus, TokenItem


def usable_utterances(folder: str, max_phones: int = 100_000) -> list[TokenItem]:
    """Utterances with phones, a length, a known language, and another utterance of their speaker."""
    corpus = TokenCorpus(folder, need=("phones",))
    items = [item for item in corpus.items
             if 0 < len(item.phones) <= max_phones and item.num_frames > 0 and item.language in LANGUAGE_IDS]
    per_speaker: dict[str, int] = {}
    for item in items:
        per_speaker[item.speaker] = per_speaker.get(item.speaker, 0) + 1
    items = [item for item in items if per_speaker[item.speaker] >= 2]
    if not items:
        raise UserError(
            f"no usable utterances in {folder}: each needs phones, a frame count, a language "
            f"({', '.join(LANGUAGE_IDS)}) and a second utterance of the same speaker"
        )
    return items


class SpeakerPairs(torch.utils.data.Dataset):
    """Item i is utterance i as the target, with another utterance of its speaker as the prompt,
    drawn afresh each time (torch's random numbers, so the run's seed fixes them)."""

    def __init__(self, items: list[TokenItem]):
        self.items = items
        self.by_speaker: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            self.by_speaker.setdefault(item.speaker, []).append(index)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[TokenItem, TokenItem]:
        target = self.items[index]
        others = [i for i in self.by_speaker[target.speaker] if i != index]
        prompt = self.items[others[int(torch.randint(len(others), ()))]]
        return prompt, target


def fixed_pairs(items: list[TokenItem], seed: int, per_target: int = 1) -> list[tuple[TokenItem, TokenItem]]:
    """For evaluation: `per_target` prompts per target, drawn once from `seed`."""
    dataset, draw = SpeakerPairs(items), random.Random(seed)
    pairs = []
    for index, target in enumerate(items):
        others = [i for i in dataset.by_speaker[target.speaker] if i != index]
        pairs += [(items[i], target) for i in draw.sample(others, min(per_target, len(others)))]
    return pairs


def collate(pairs: list[tuple[TokenItem, TokenItem]]) -> dict:
    """{"batch": DurationBatch, "frames": (B,) target frames}."""
    batch = DurationBatch(
        target_phones=[torch.from_numpy(target.phones) for _, target in pairs],
        prompt_phones=[torch.from_numpy(prompt.phones) for prompt, _ in pairs],
        prompt_frames=torch.tensor([float(prompt.num_frames) for prompt, _ in pairs]),
        languages=torch.tensor([LANGUAGE_IDS[target.language] for _, target in pairs]),
    )
    return {"batch": batch, "frames": torch.tensor([float(target.num_frames) for _, target in pairs])}
