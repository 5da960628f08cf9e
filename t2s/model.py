"""Text to semantic tokens: a masked generative transformer over [phones | prompt | target].

The phones (prompt transcript + target text) enter as a prefix through the backbone's
condition MLP; the prompt's semantic ids and the target's (mask embedding where masked)
follow. The model predicts the semantic id (8192 classes) of every target position.
Names and shapes follow the official `t2s_model` checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from maskvox.checkpoint import load_model_config, load_pretrained
from maskvox.config import T2SConfig
from maskvox.errors import ConfigError
from maskvox.nn import MaskedTransformer, draw_mask, init_masked_model_weights, masked_prediction_loss
from maskvox.sampling import SamplerSettings, guided_target_embeddings, make_sampler, reference_guided, stack_equal

from maskvox.frame_phones import FramePhones
from .progress import ProgressEmbedding

PHONE_PAD = 1023  # the official padding id of the phone vocabulary


@dataclass
class T2SBatch:
    """Training items: phone ids (L_b,) and semantic ids (T_b,) of whole utterances."""

    phones: list[torch.Tensor]
    semantic: list[torch.Tensor]
    frame_phones: list[torch.Tensor] | None = None  # (T_b,) owners: positions in phones, -1 silence


class T2SModel(nn.Module):
    def __init__(self, cfg: T2SConfig):
        super().__init__()
        self.cfg = cfg
        hidden = cfg.hidden_size
        self.mask_emb = nn.Embedding(1, hidden)
        self.to_logit = nn.Linear(hidden, cfg.cond_codebook_size)
        self.cond_emb = nn.Embedding(cfg.cond_codebook_size, hidden)
        self.phone_emb = nn.Embedding(cfg.phone_vocab_size, hidden, padding_idx=PHONE_PAD)
        self.diff_estimator = MaskedTransformer(hidden, cfg.num_heads, cfg.num_layers)
        init_masked_model_weights(self)
        # After the initialisation above, which would overwrite its zeros.
        self.progress = ProgressEmbedding(hidden) if cfg.progress_embedding else None
        self.frame_phones = FramePhones(cfg.phone_vocab_size, hidden) if cfg.aligned_phones else None
        if not 0.0 <= cfg.frame_phone_drop <= 1.0:
            raise ConfigError(f"t2s.frame_phone_drop must be between 0 and 1, got {cfg.frame_phone_drop}")

    # -- inputs ---------------------------------------------------------------------------

    def phone_prefix(self, phone_ids: torch.Tensor) -> torch.Tensor:
        """(..., L) phone ids -> (..., L, C) through the condition MLP (+ where each phone lies)."""
        x = self.diff_estimator.cond_mlp(self.phone_emb(phone_ids))
        return x if self.progress is None else x + self.progress(phone_ids.shape[-1])

    def frame_progress(self, total: int, start: int = 0, count: int | None = None) -> torch.Tensor | float:
        """Where frames start .. start + count lie among `total` semantic frames (prompt and
        target together): (count, C), or 0 without alignment help."""
        return 0.0 if self.progress is None else self.progress(total, start, count)

    def target_input(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mask embedding where `mask` (True = masked), else the id's embedding."""
        return torch.where(mask[..., None], self.mask_emb.weight[0], self.cond_emb(ids))

    # -- one prediction step, as the reference lays it out (equal shapes in the batch) ----

    def conditional_embeddings(self, phone_ids, prompt_ids, ids, mask, t: torch.Tensor) -> torch.Tensor:
        """phones (B, L), prompt (B, P), target ids/mask (B, T), t (B,) -> target embeddings (B, T, C)."""
        total = prompt_ids.shape[1] + ids.shape[1]
        prompt = self.cond_emb(prompt_ids) + self.frame_progress(total, 0, prompt_ids.shape[1])
        prefix = torch.cat([self.phone_prefix(phone_ids), prompt], dim=1)
        target = self.target_input(ids, mask) + self.frame_progress(total, prompt_ids.shape[1])
        x = torch.cat([prefix, target], dim=1)
        return self.diff_estimator(x, t)[:, prefix.shape[1] :]

    def unconditional_embeddings(self, ids, mask, t: torch.Tensor) -> torch.Tensor:
        """The target alone: no phones, no prompt."""
        return self.diff_estimator(self.target_input(ids, mask) + self.frame_progress(ids.shape[1]), t)

    # -- generation ---------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        phone_ids: Sequence[torch.Tensor],
        prompt_ids: Sequence[torch.Tensor],
        target_lengths: Sequence[int],
        steps: int = 25,
        settings: SamplerSettings | None = None,
        generators: list[torch.Generator] | None = None,
        known: torch.Tensor | None = None,
        known_ids: torch.Tensor | None = None,
        frame_phones: Sequence[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Semantic ids (T_b,) for each item: phones (L_b,) of prompt text + target text,
        the prompt's semantic ids (P_b,), and the target length in frames.

        Fast mode: `generators` (one per item; default: seeded from the global generator).
        Reference mode: seed the global generator first (torch.manual_seed). `known`/`known_ids`
        (B, max T) fix some target tokens (fast mode), as speech editing needs. `frame_phones`
        (fast mode, a model with `aligned_phones`): each item's (P_b + T_b,) frame owners
        (`FramePhones.plan`); None: the model works without them.
        """
        settings = settings or SamplerSettings()
        if min(target_lengths) < 1:
            raise ValueError("every target needs at least one frame")
        device = self.mask_emb.weight.device
        phone_ids = [p.to(device) for p in phone_ids]
        prompt_ids = [p.to(device) for p in prompt_ids]
        if frame_phones is not None and (self.frame_phones is None or settings.mode == "reference"):
            raise ValueError("frame phones need a T2S with aligned_phones, in fast mode")
        if settings.mode == "reference":
            predict = self.reference_predictor(phone_ids, prompt_ids, settings)
        else:
            predict = self.fast_predictor(phone_ids, prompt_ids, target_lengths, settings, frame_phones)
        sampler = make_sampler(settings, generators, len(target_lengths), device)
        ids = sampler.decode(predict, target_lengths, steps, known, known_ids, device)
        return [ids[b, :n] for b, n in enumerate(target_lengths)]

    def reference_predictor(self, phone_ids, prompt_ids, settings: SamplerSettings):
        """predict(ids, mask, t) -> logits, computed as the reference does (equal shapes)."""
        phones, prompt = stack_equal(phone_ids), stack_equal(prompt_ids)

        def predict(ids, mask, t):
            t = torch.full((ids.shape[0],), t, device=ids.device)
            return self.to_logit(reference_guided(
                lambda: self.conditional_embeddings(phones, prompt, ids, mask, t),
                lambda: self.unconditional_embeddings(ids, mask, t),
                settings,
            ))

        return predict

    def fast_predictor(self, phone_ids, prompt_ids, lengths, settings: SamplerSettings, frame_phones=None):
        """predict(ids, mask, t) -> logits, both CFG passes of every item in one forward."""
        totals = [len(q) + n for q, n in zip(prompt_ids, lengths)]
        # Each item's frame-phone embeddings, split at the prompt's end: (P_b, C) and (T_b, C), or 0.
        prompt_said, target_said = [0.0] * len(phone_ids), [0.0] * len(phone_ids)
        if frame_phones is not None:
            for b, (p, q, owners) in enumerate(zip(phone_ids, prompt_ids, frame_phones)):
                said = self.frame_phones(p, owners.to(p.device))
                prompt_said[b], target_said[b] = said[: len(q)], said[len(q) :]
        contexts = [[self.phone_prefix(p), self.cond_emb(q) + self.frame_progress(total, 0, len(q)) + prompt_said[b]]
                    for b, (p, q, total) in enumerate(zip(phone_ids, prompt_ids, totals))]
        # (The unconditional pass shares the target's input, so it sees the fractions of the
        # whole sequence too, where training showed it those of the target alone. Frame phones
        # are a condition: that pass goes without them, as in training.)
        progress = [self.frame_progress(total, len(q)) for q, total in zip(prompt_ids, totals)]

        def predict(ids, mask, t):
            target = self.target_input(ids, mask)
            bare = [target[b, :n] + progress[b] for b, n in enumerate(lengths)]
            if frame_phones is None:
                return self.to_logit(guided_target_embeddings(self.diff_estimator, contexts, bare, t, settings))
            told = [x + said for x, said in zip(bare, target_said)]
            return self.to_logit(guided_target_embeddings(self.diff_estimator, contexts, told, t, settings, bare))

        return predict

    # -- training objective -------------------------------------------------------------------

    def forward(self, batch: T2SBatch | dict, span_ratio: float = 0.0) -> dict[str, torch.Tensor]:
        """The training loss (`masked_loss`); a dict batch holds the fields of T2SBatch."""
        return self.masked_loss(batch if isinstance(batch, T2SBatch) else T2SBatch(**batch), span_ratio)

    def masked_loss(self, batch: T2SBatch, span_ratio: float = 0.0) -> dict[str, torch.Tensor]:
        """The reference's masked objective, drawn per item (`draw_mask`): mask probability
        max(sin(t pi/2), 0.2), a visible prefix prompt of up to 0.4 T frames; with probability
        cfg_scale the item is unconditional (no phones, no prompt: the CFG pass), with
        probability `span_ratio` the context is both sides of a middle span. Cross-entropy
        over the masked frames."""
        rows, draws = [], []
        owners = batch.frame_phones or [None] * len(batch.phones)
        for phones, semantic, frame_owners in zip(batch.phones, batch.semantic, owners):
            draw = draw_mask(len(semantic), self.cfg.cfg_scale, span_ratio, floor=0.2, max_prompt=0.4)
            prefix = [] if draw.unconditional else [self.phone_prefix(phones)]
            target = self.target_input(semantic, draw.mask.to(semantic.device)) + self.frame_progress(len(semantic))
            if self.frame_phones is not None and frame_owners is not None and not draw.unconditional:
                if float(torch.rand(())) >= self.cfg.frame_phone_drop:
                    target = target + self.frame_phones(phones, frame_owners)
            rows.append(prefix + [target])
            draws.append(draw)
        return masked_prediction_loss(self.diff_estimator, self.to_logit, rows, draws, batch.semantic)

    # -- fine-tuning ----------------------------------------------------------------------------

    def init_new_phones(self, new_ids: Sequence[int], like: dict[int, int] | None = None) -> None:
        """Give phone rows that a new language needs a starting point: the embedding of a
        similar existing phone (`like[new] = old`) or the mean of the used rows."""
        like = like or {}
        weight = self.phone_emb.weight
        fresh = set(new_ids)
        used = [i for i in range(weight.shape[0]) if i != PHONE_PAD and i not in fresh]
        with torch.no_grad():
            mean = weight[used].mean(0)
            for new in new_ids:
                if new == PHONE_PAD or not 0 <= new < weight.shape[0]:
                    raise ConfigError(f"phone id {new} is the padding id or outside the table of {weight.shape[0]}")
                weight[new] = weight[like[new]] if new in like else mean


def grow_phone_table(state: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """A T2S state dict whose phone table has `size` rows (new rows: the mean of the old ones),
    to load into a model built with phone_vocab_size=size."""
    table = state["phone_emb.weight"]
    if size < table.shape[0]:
        raise ConfigError(f"cannot shrink the phone table from {table.shape[0]} to {size} rows")
    extra = table.mean(0, keepdim=True).expand(size - table.shape[0], -1)
    return {**state, "phone_emb.weight": torch.cat([table, extra])}


def load_t2s(location, cfg=None, device: str = "cpu") -> T2SModel:
    """The T2S model of a model folder or hub repo (official layout), loaded strictly."""
    cfg = cfg or load_model_config(location).t2s
    return load_pretrained(location, "t2s", lambda: T2SModel(cfg)).eval().to(device)
