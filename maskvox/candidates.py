"""T2S best of N: several semantic drafts of each clone, the one the aligner reads best kept.

A masked T2S samples: the same text and prompt give drafts that Whisper hears very
differently (the demo's README clone, 20 sentences at 4 seeds: 22 % WER on average, 10 % for
the best draft of each sentence). `InferencePreset.t2s_candidates` = N > 1 samples N drafts of
each item in one T2S batch and keeps the draft in which the aligner reads the target's spoken
phones best: their CTC log-likelihood, per phone. `InferencePreset.t2s_candidate_judge` says over
what the aligner reads:

- `ids`: the centroids of each draft's semantic ids (the features a k-means semantic codec stands
  them for). T2S costs N times as much (in one batch); S2A and decoding run once, on the kept draft.
- `audio`: the semantic features of each draft made whole (S2A, the decoder, then the semantic
  encoder on its audio), so what S2A and the decoder get wrong counts too (the demo, three
  drafts: 13.4 % Whisper-base WER against 15.5 % with the ids judged; recipes/demo/RESULTS.md).
  S2A, decoding and the encoder run on every draft; the kept draft's audio is the clone's.

No ASR judges here: the aligner is the model's own (the one that edits), not the evaluation's
Whisper. Draft 0 of an item uses the item's own generator, so N = 1 is the plain clone and a draft
0 that wins gives the plain clone's audio exactly; draft k > 0 uses a generator seeded from the
item's seed and k.
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


def spoken_phones(target_phones: list[int]) -> list[int]:
    """The phones of a target that are said (pauses and word marks left out)."""
    from .aligner.frames import phone_roles

    silent, _ = phone_roles()
    return [int(p) for p in target_phones if int(p) not in silent]


@torch.no_grad()
def phone_score(aligner, semantic_codec, ids: torch.Tensor, target_phones: list[int]) -> float:
    """The aligner's CTC log-likelihood of the spoken phones of `target_phones` over the
    centroids of (T,) semantic ids, per phone; -inf when the frames cannot hold the phones."""
    spoken = spoken_phones(target_phones)
    if not spoken or len(ids) < len(spoken):
        return float("-inf")
    return ctc_per_phone(aligner, semantic_codec.decode_ids(ids[None].long())[0].float(), spoken)


@torch.no_grad()
def heard_score(aligner, features: torch.Tensor, target_phones: list[int]) -> float:
    """The aligner's CTC log-likelihood of the spoken phones of `target_phones` over the (T, D)
    semantic features of a draft's decoded audio, per phone; -inf as `phone_score`."""
    return ctc_per_phone(aligner, features.float(), spoken_phones(target_phones))


def ctc_per_phone(aligner, features: torch.Tensor, phones: list[int]) -> float:
    """The aligner's CTC log-likelihood of `phones` over (T, D) semantic features, per phone;
    -inf when the frames cannot hold the phones."""
    if not phones or len(features) < len(phones):
        return float("-inf")
    log_probs = torch.from_numpy(aligner.log_probs(features)).float()
    nll = F.ctc_loss(log_probs[:, None], torch.tensor([phones]), torch.tensor([len(log_probs)]),
                     torch.tensor([len(phones)]), blank=aligner.blank, reduction="sum", zero_infinity=False)
    return -float(nll) / len(phones)


def best_of_each(scores: list[float], count: int) -> list[int]:
    """The index (into `scores`) of the best of each item's `count` consecutive drafts (ties: the earliest)."""
    return [item + max(range(count), key=lambda k: (scores[item + k], -k)) for item in range(0, len(scores), count)]


def best_drafts(drafts: list[torch.Tensor], count: int, aligner, semantic_codec,
                target_phones: list[list[int]]) -> list[torch.Tensor]:
    """The best of each item's `count` consecutive drafts by their ids (ties: the earliest)."""
    scores = [phone_score(aligner, semantic_codec, ids, target_phones[index // count])
              for index, ids in enumerate(drafts)]
    return [drafts[index] for index in best_of_each(scores, count)]
