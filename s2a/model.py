"""Semantic to acoustic tokens: a SoundStorm-like masked transformer, coarse to fine.

Every position carries the semantic condition (its semantic id's embedding plus the
embedding of the acoustic layer being decoded, through the backbone's condition MLP).
Prompt positions add the sum of all their acoustic layers' embeddings; target positions
add the layers already decided, the current layer (mask embedding where masked) and one
mask embedding per layer still to come. Layers are decoded one after another, each by
iterative parallel decoding. Two official checkpoints use this class: `s2a_1layer`
(num_quantizer 1: layer 1 alone) and `s2a_full` (all 12 layers, given layer 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from maskvox.checkpoint import load_model_config, load_pretrained
from maskvox.config import S2AConfig
from maskvox.errors import ConfigError
from maskvox.nn import MaskedTransformer, draw_mask, init_masked_model_weights, masked_prediction_loss
from maskvox.sampling import SamplerSettings, guided_target_embeddings, make_sampler, reference_guided, stack_equal


@dataclass
class S2ABatch:
    """Training items: semantic ids (T_b,) and acoustic ids (T_b, num_quantizer), aligned; for a
    latent S2A with `aligned_phones`, each item's phone ids (L_b,) and frame owners (T_b,)
    (positions in them, -1 silence), or None for an item without an alignment."""

    semantic: list[torch.Tensor]
    acoustic: list[torch.Tensor]
    phones: list[torch.Tensor | None] | None = None
    frame_phones: list[torch.Tensor | None] | None = None


class S2AModel(nn.Module):
    def __init__(self, cfg: S2AConfig):
        super().__init__()
        self.cfg = cfg
        hidden, layers = cfg.hidden_size, cfg.num_quantizer
        self.layer_emb = nn.Embedding(layers, hidden)
        self.mask_emb = nn.Embedding(1, hidden)
        self.token_emb = nn.ModuleList(nn.Embedding(cfg.codebook_size, hidden) for _ in range(layers))
        self.to_logits = nn.ModuleList(nn.Linear(hidden, cfg.codebook_size) for _ in range(layers))
        self.cond_emb = nn.Embedding(cfg.cond_codebook_size, hidden)
        self.diff_estimator = MaskedTransformer(hidden, cfg.num_heads, cfg.num_layers, legacy_embed_tokens=True)
        init_masked_model_weights(self)

    @property
    def num_quantizer(self) -> int:
        return self.cfg.num_quantizer

    @property
    def first_layer(self) -> int:
        """The first layer this model predicts (the full model is given layer 1)."""
        return 0 if self.cfg.predict_layer_1 else 1

    # -- inputs -------------------------------------------------------------------------------

    def condition(self, semantic_ids: torch.Tensor, layer: int) -> torch.Tensor:
        """(..., S) semantic ids -> (..., S, C): cond_emb + layer_emb[layer], before the condition MLP."""
        return self.cond_emb(semantic_ids) + self.layer_emb.weight[layer]

    def prompt_input(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., P, >= num_quantizer) prompt codes -> the sum of their layers' embeddings."""
        total = self.token_emb[0](codes[..., 0])
        for layer in range(1, self.num_quantizer):
            total = total + self.token_emb[layer](codes[..., layer])
        return total

    def lower_layers_input(self, codes: torch.Tensor, count: int) -> torch.Tensor | None:
        """Sum of the embeddings of the first `count` layers of `codes` (..., T, >= count)."""
        total = None
        for layer in range(count):
            embedding = self.token_emb[layer](codes[..., layer])
            total = embedding if total is None else total + embedding
        return total

    def target_input(self, lower: torch.Tensor | None, ids, mask, layer: int, upper: torch.Tensor | None = None) -> torch.Tensor:
        """Lower layers + the current layer (mask embedding where masked) + the layers above:
        one mask embedding each, or `upper` (`upper_layers_input`) when some frames are known."""
        mask_embedding = self.mask_emb.weight[0]
        current = torch.where(mask[..., None], mask_embedding, self.token_emb[layer](ids))
        x = current if lower is None else lower + current
        return x + (mask_embedding * float(self.num_quantizer - 1 - layer) if upper is None else upper)

    def upper_layers_input(self, known: torch.Tensor, known_codes: torch.Tensor, layer: int) -> torch.Tensor:
        """(B, T, C): the layers above `layer` of each target frame. A known frame carries its
        own codes, as the context frames of span-masked training do; the others mask embeddings."""
        masked = self.mask_emb.weight[0] * float(self.num_quantizer - 1 - layer)
        own = torch.zeros_like(masked).expand(*known.shape, -1)
        for above in range(layer + 1, self.num_quantizer):
            own = own + self.token_emb[above](known_codes[..., above])
        return torch.where(known[..., None], own, masked)

    # -- one prediction step, as the reference lays it out (equal shapes in the batch) -------

    def conditional_embeddings(self, semantic_ids, prompt_codes, lower, ids, mask, layer, t) -> torch.Tensor:
        """semantic (B, P+T), prompt codes (B, P, >= nq), lower-layer sum (B, T, C) or None,
        current ids/mask (B, T), t (B,) -> target embeddings (B, T, C)."""
        prompt_length = prompt_codes.shape[1]
        x = torch.cat([self.prompt_input(prompt_codes), self.target_input(lower, ids, mask, layer)], dim=1)
        x = x + self.diff_estimator.cond_mlp(self.condition(semantic_ids, layer))
        return self.diff_estimator(x, t)[:, prompt_length:]

    def unconditional_embeddings(self, semantic_ids, prompt_length, lower, ids, mask, layer, t) -> torch.Tensor:
        """No acoustic prompt; the target's semantic condition stays."""
        condition = self.diff_estimator.cond_mlp(self.condition(semantic_ids[:, prompt_length:], layer))
        return self.diff_estimator(self.target_input(lower, ids, mask, layer) + condition, t)

    # -- generation -------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        semantic_ids: Sequence[torch.Tensor],
        prompt_codes: Sequence[torch.Tensor],
        steps: Sequence[int],
        settings: SamplerSettings | None = None,
        given_codes: Sequence[torch.Tensor] | None = None,
        generators: list[torch.Generator] | None = None,
        known: torch.Tensor | None = None,
        known_codes: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Acoustic ids (T_b, num_quantizer) for each item: semantic ids (P_b + T_b,) of prompt
        and target, prompt acoustic ids (P_b, >= num_quantizer), `steps[l]` decoding steps for
        layer l. `given_codes` (T_b, g) supply the first g layers (the full model is given
        layer 1). `known` (B, max T) bool with `known_codes` (B, max T, num_quantizer) fix some
        target frames in every layer (fast mode; speech editing).
        """
        settings = settings or SamplerSettings(temperature=1.5)
        if len(steps) != self.num_quantizer:
            raise ValueError(f"{len(steps)} step counts for {self.num_quantizer} layers")
        device = self.mask_emb.weight.device
        semantic_ids = [s.to(device) for s in semantic_ids]
        prompt_codes = [p.to(device) for p in prompt_codes]
        lengths = [len(s) - len(p) for s, p in zip(semantic_ids, prompt_codes)]
        if min(lengths) < 1:
            raise ValueError("the semantic ids must cover the prompt and at least one target frame")
        width = max(lengths)
        codes = torch.zeros(len(lengths), width, self.num_quantizer, dtype=torch.long, device=device)
        given = 0
        if given_codes is not None:
            given = given_codes[0].shape[-1]
            for b, item in enumerate(given_codes):
                codes[b, : lengths[b], :given] = item.to(device)
        sampler = make_sampler(settings, generators, len(lengths), device)
        if known is not None:
            known, known_codes = known.to(device), known_codes.to(device)
        for layer in range(given, self.num_quantizer):
            lower = self.lower_layers_input(codes, layer)
            if settings.mode == "reference":
                predict = self.reference_predictor(semantic_ids, prompt_codes, lower, layer, settings)
            else:
                upper = None if known is None else self.upper_layers_input(known, known_codes, layer)
                predict = self.fast_predictor(semantic_ids, prompt_codes, lower, layer, lengths, settings, upper)
            layer_known = None if known is None else known_codes[..., layer]
            codes[..., layer] = sampler.decode(predict, lengths, steps[layer], known, layer_known, device)
        return [codes[b, :n] for b, n in enumerate(lengths)]

    def reference_predictor(self, semantic_ids, prompt_codes, lower, layer: int, settings: SamplerSettings):
        """predict(ids, mask, t) -> logits of `layer`, computed as the reference does (equal shapes)."""
        semantic, prompt = stack_equal(semantic_ids), stack_equal(prompt_codes)

        def predict(ids, mask, t):
            t = torch.full((ids.shape[0],), t, device=ids.device)
            return self.to_logits[layer](reference_guided(
                lambda: self.conditional_embeddings(semantic, prompt, lower, ids, mask, layer, t),
                lambda: self.unconditional_embeddings(semantic, prompt.shape[1], lower, ids, mask, layer, t),
                settings,
            ))

        return predict

    def fast_predictor(self, semantic_ids, prompt_codes, lower, layer: int, lengths, settings: SamplerSettings,
                       upper: torch.Tensor | None = None):
        """predict(ids, mask, t) -> logits of `layer`, both CFG passes of every item in one forward."""
        conditions = [self.diff_estimator.cond_mlp(self.condition(s, layer)) for s in semantic_ids]
        contexts = [[self.prompt_input(p) + c[: len(p)]] for p, c in zip(prompt_codes, conditions)]

        def predict(ids, mask, t):
            target = self.target_input(lower, ids, mask, layer, upper)
            targets = [target[b, :n] + conditions[b][-n:] for b, n in enumerate(lengths)]
            return self.to_logits[layer](guided_target_embeddings(self.diff_estimator, contexts, targets, t, settings))

        return predict

    # -- training objective -------------------------------------------------------------------

    def forward(self, batch: S2ABatch | dict, span_ratio: float = 0.0, layer: int | None = None,
                soft_targets: torch.Tensor | None = None, soft_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """The training loss (`masked_loss`); a dict batch holds the fields of S2ABatch."""
        batch = batch if isinstance(batch, S2ABatch) else S2ABatch(**batch)
        return self.masked_loss(batch, span_ratio, layer, soft_targets, soft_weight)

    def layer_weights(self) -> torch.Tensor:
        """The reference's "linear" schedule: layer l drawn with weight (num_quantizer - l'),
        l' counted from the first layer the model predicts; coarse layers more often."""
        n = self.num_quantizer
        weights = [0.0] * self.first_layer + [float(n - i) for i in range(n - self.first_layer)]
        return torch.tensor(weights) / sum(weights)

    def masked_loss(self, batch: S2ABatch, span_ratio: float = 0.0, layer: int | None = None,
                    soft_targets: torch.Tensor | None = None, soft_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """One layer per batch (`layer_weights`, or `layer` when given: held-out figures per
        layer); per item the reference's mask (probability sin(t pi/2), a visible prefix prompt
        of up to T/2 frames carrying all its layers, no prompt with probability cfg_scale) or, with
        probability `span_ratio`, a middle span with context on both sides. Lower layers are
        given; upper layers are masked outside the context. `soft_targets` (num_quantizer, K, K)
        with `soft_weight`: the codes near each label learnt too (`masked_prediction_loss`)."""
        if layer is None:
            layer = int(torch.multinomial(self.layer_weights(), 1))
        elif not self.first_layer <= layer < self.num_quantizer:
            raise ValueError(f"layer {layer} is not one this model predicts")
        rows, draws = [], []
        for semantic, acoustic in zip(batch.semantic, batch.acoustic):
            draw = draw_mask(len(semantic), self.cfg.cfg_scale, span_ratio, floor=0.0, max_prompt=0.5)
            rows.append([self._training_input(semantic, acoustic, draw, layer)])
            draws.append(draw)
        labels = [acoustic[:, layer] for acoustic in batch.acoustic]
        soft = None if soft_targets is None else soft_targets[layer]
        outputs = masked_prediction_loss(self.diff_estimator, self.to_logits[layer], rows, draws, labels, soft,
                                         soft_weight)
        return {**outputs, "layer": torch.tensor(float(layer))}

    def _training_input(self, semantic, acoustic, draw, layer: int) -> torch.Tensor:
        mask = draw.mask.to(acoustic.device)
        context = draw.context.to(acoustic.device)[:, None]
        x = self.diff_estimator.cond_mlp(self.condition(semantic, layer))
        mask_embedding = self.mask_emb.weight[0]
        for index in range(self.num_quantizer):
            embedding = self.token_emb[index](acoustic[:, index])
            if index < layer:
                x = x + embedding
            elif index == layer:
                x = x + torch.where(mask[:, None], mask_embedding, embedding)
            else:
                x = x + torch.where(context, embedding, mask_embedding)
        return x


def load_s2a(location, name: str, cfg=None, device: str = "cpu") -> S2AModel:
    """S2A model `name` ("s2a_1layer" or "s2a_full") of a model folder or hub repo, loaded strictly."""
    if name not in ("s2a_1layer", "s2a_full"):
        raise ValueError(f"unknown S2A model '{name}' (s2a_1layer or s2a_full)")
    cfg = cfg or getattr(load_model_config(location), name)
    return load_pretrained(location, name, lambda: s2a_model_class(cfg)(cfg)).eval().to(device)


def s2a_model_class(cfg: S2AConfig) -> type[S2AModel]:
    """S2AModel, or the latent-regression variant (s2a/latent.py) for `target: latent`."""
    if cfg.target == "tokens":
        if cfg.aligned_phones:
            raise ConfigError("s2a aligned_phones is an option of the latent S2A: set target 'latent'")
        return S2AModel
    if cfg.target == "latent":
        from .latent import S2ALatentModel

        return S2ALatentModel
    raise ConfigError(f"s2a target must be 'tokens' or 'latent', not {cfg.target!r}")
