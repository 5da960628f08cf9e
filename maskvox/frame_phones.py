"""Alignment help for a small T2S or latent S2A (a demo option, `aligned_phones`; the official
models have none): each semantic frame is told which phone is said in it.

The in-context T2S must find by attention which phone each frame says; trained on a few hours
of speech on a CPU it learns that slowly (held-out accuracy +3 points per doubling of
CPU-hours). Here every frame also gets the embedding of its phone (the aligner's forced
alignment in training, `recipes.token_shards.align`; in generation, the phones spread over the
target's frames by their mean lengths, `FramePhones.spread`), plus a marker on a phone's first
frame, so the model only has to say how each phone sounds in this voice. The latent S2A
(s2a/latent.py) takes the same help, as the semantic ids it reads leave the phone ambiguous.
The embeddings start at zero, so a model fine-tuned with them starts where the model without
them stood, and items trained without them (`drop`) keep the model usable where no alignment
exists (speech editing, voice conversion).
"""

from __future__ import annotations

import torch
from torch import nn

from maskvox.aligner.frames import SILENCE, owners_of_counts, spread_frames


class FramePhones(nn.Module):
    """(L,) phone ids and (T,) owners (positions in them, -1 silence) -> (T, hidden)."""

    def __init__(self, phone_vocab_size: int, hidden: int):
        super().__init__()
        self.silence = phone_vocab_size  # the extra last row
        self.table = nn.Embedding(phone_vocab_size + 1, hidden)
        self.first_frame = nn.Parameter(torch.zeros(hidden))
        nn.init.zeros_(self.table.weight)
        # Mean frames per phone id in the training alignments (the silence row: the mean
        # trailing silence), set by the training recipe; generation spreads phones by them.
        self.register_buffer("mean_frames", torch.ones(phone_vocab_size + 1))

    def forward(self, phone_ids: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        said = phone_ids[owners.clamp(min=0)]
        ids = torch.where(owners == SILENCE, torch.full_like(said, self.silence), said)
        starts = torch.ones_like(owners, dtype=torch.bool)
        starts[1:] = owners[1:] != owners[:-1]
        return self.table(ids) + starts[:, None].to(self.first_frame.dtype) * self.first_frame

    def spread(self, phone_ids: torch.Tensor, start: int, stop: int, frames: int) -> torch.Tensor:
        """(frames,) owners for phones start..stop-1 of `phone_ids` said over `frames` frames,
        each phone's share its mean length, with the mean trailing silence after the last."""
        weights = self.mean_frames[phone_ids[start:stop]].tolist() + [float(self.mean_frames[self.silence])]
        counts = spread_frames(weights, frames)
        owners = owners_of_counts(counts[:-1], offset=start)
        silence = torch.full((int(counts[-1]),), SILENCE, dtype=torch.long)
        return torch.cat([torch.from_numpy(owners), silence]).to(phone_ids.device)

    def plan(self, phone_ids: torch.Tensor, prompt_phones: int, prompt_frames: int, target_frames: int,
             prompt_owners: torch.Tensor | None = None) -> torch.Tensor:
        """(prompt_frames + target_frames,) owners for generation: the prompt's own alignment
        if given (the aligner's), else its phones spread over its frames; then the target's
        phones (those after the prompt's) spread over the target's frames."""
        if prompt_owners is None:
            prompt_owners = (self.spread(phone_ids, 0, prompt_phones, prompt_frames) if prompt_phones
                             else torch.full((prompt_frames,), SILENCE, dtype=torch.long, device=phone_ids.device))
        if len(prompt_owners) != prompt_frames:
            raise ValueError(f"the prompt's alignment has {len(prompt_owners)} frames, its ids {prompt_frames}")
        target = self.spread(phone_ids, prompt_phones, len(phone_ids), target_frames)
        return torch.cat([prompt_owners.to(phone_ids.device).long(), target])


@torch.no_grad()
def fit_mean_frames(frame_phones: FramePhones, items) -> None:
    """Mean frames per occurrence of each phone id over `items` (pairs of (L,) phone ids and
    (T,) owners): a written mark that is never said (a word separator) gets 0, an id never seen
    keeps 1. The silence row gets the mean trailing silence."""
    size = frame_phones.mean_frames.numel()
    frames = torch.zeros(size, dtype=torch.float64)
    occurrences = torch.zeros(size, dtype=torch.float64)
    trailing = 0.0
    for phone_ids, owners in items:
        phone_ids, owners = torch.as_tensor(phone_ids), torch.as_tensor(owners)
        positions, lengths = torch.unique_consecutive(owners, return_counts=True)
        spoken = positions != SILENCE
        frames.index_add_(0, phone_ids[positions[spoken]], lengths[spoken].double())
        occurrences.index_add_(0, phone_ids, torch.ones(len(phone_ids), dtype=torch.float64))
        trailing += float(lengths[-1]) if positions[-1] == SILENCE else 0.0
    mean = torch.where(occurrences > 0, frames / occurrences.clamp(min=1), torch.ones(size, dtype=torch.float64))
    mean[frame_phones.silence] = trailing / max(1, len(items))
    frame_phones.mean_frames.copy_(mean.float())
