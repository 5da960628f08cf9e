"""T2S best of N: several semantic drafts of each clone, the one the aligner reads best kept.

A masked T2S samples: the same text and prompt give drafts that Whisper hears very
differently (the demo's README clone, 20 sentences at 4 seeds: 22 % WER on average, 10 % for
the best draft of each sentence). `InferencePreset.t2s_candidates` = N > 1 samples N drafts of
each item in one T2S batch and keeps, for S2A, the draft whose semantic ids best carry the
target's phones: the aligner's CTC log-likelihood of the target's spoken phones over the
ids' centroids (the features a k-means semantic codec stands them for), per phone. No ASR
judges here: the aligner is the model's own (the one that edits), not the evaluation's Whisper.

Draft 0 of an item uses the item's own generator, so N = 1 is the plain clone and a draft 0
that wins gives the plain clone's audio exactly; draft k > 0 uses a generator seeded from the
item's seed and k. T2S costs N times as much (in one batch); S2A and decoding run once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import UserError

SEED_MIX = 1_000_003  # draft k of an item seeded (seed * SEED_MIX + k) mod 2^63


def check_candidates_supported(has_aligner: bool, has_centroids: bool) -> None:
    """Drafts are scored by the model's aligner over its semantic codes' centroids."""
    if not (has_aligner and has_centroids):
        raise UserError("t2s_candidates > 1 needs a model with an aligner and a k-means semantic codec "
                        "(the demo's); set t2s_candidates: 1 in the preset")


def draft_generators(generators: list[torch.Generator], count: int) -> list[torch.Generator]:
    """Each item's generator and then its count - 1 draft generators, item by item (B * count)."""
    drafts = []
    for generator in generators:
        drafts.append(generator)
        for k in range(1, count):
            draft = torch.Generator(device=generator.device)
            draft.manual_seed((generator.initial_seed() * SEED_MIX + k) % 2**63)
            drafts.append(draft)
    return drafts


@torch.no_grad()
def phone_score(aligner, semantic_codec, ids: torch.Tensor, target_phones: list[int]) -> float:
    """The aligner's CTC log-likelihood of the spoken phones of `target_phones` over the
    centroids of (T,) semantic ids, per phone; -inf when the frames cannot hold the phones."""
    from .aligner.frames import phone_roles

    silent, _ = phone_roles()
    spoken = [int(p) for p in target_phones if int(p) not in silent]
    if not spoken or len(ids) < len(spoken):
        return float("-inf")
    return ctc_per_phone(aligner, semantic_codec.decode_ids(ids[None].long())[0].float(), spoken)


def ctc_per_phone(aligner, features: torch.Tensor, phones: list[int]) -> float:
    """The aligner's CTC log-likelihood of `phones` over (T, D) semantic features, per phone;
    -inf when the frames cannot hold the phones."""
    if not phones or len(features) < len(phones):
        return float("-inf")
    log_probs = torch.from_numpy(aligner.log_probs(features)).float()
    nll = F.ctc_loss(log_probs[:, None], torch.tensor([phones]), torch.tensor([len(log_probs)]),
                     torch.tensor([len(phones)]), blank=aligner.blank, reduction="sum", zero_infinity=False)
    return -float(nll) / len(phones)


def best_drafts(drafts: list[torch.Tensor], count: int, aligner, semantic_codec,
                target_phones: list[list[int]]) -> list[torch.Tensor]:
    """The best of each item's `count` consecutive drafts (ties: the earliest)."""
    kept = []
    for item, phones in enumerate(target_phones):
        mine = drafts[item * count: (item + 1) * count]
        scores = [phone_score(aligner, semantic_codec, ids, phones) for ids in mine]
        kept.append(mine[max(range(count), key=lambda k: (scores[k], -k))])
    return kept
