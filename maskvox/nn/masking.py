"""The training masks of the masked generative models (T2S and S2A share them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .transformer import pack_rows


@dataclass
class MaskDraw:
    t: float  # the mask step the model is told, in (0, 1]
    mask: torch.Tensor  # (T,) bool, True = masked (predicted, scored)
    context: torch.Tensor  # (T,) bool, True = visible prompt or span context
    unconditional: bool  # the item trains the unconditional (CFG) pass


def draw_mask(length: int, drop_probability: float, span_ratio: float, floor: float, max_prompt: float) -> MaskDraw:
    """Which of `length` frames to mask, drawn from the global generator.

    As the reference: t ~ U(0, 1) (clamped to 1e-5), mask probability max(sin(t pi/2), floor);
    a prefix prompt of U[min(T/4, 5), max_prompt T) frames stays visible, except with
    probability `drop_probability` (no context: the unconditional pass). With probability
    `span_ratio` the visible context is both sides of a random middle span (10-60 % of the
    frames) instead, so infilling (speech editing) is in distribution. At least one frame
    is masked.
    """
    t = float(torch.rand(()).clamp(1e-5, 1.0))
    probability = max(math.sin(t * math.pi / 2), floor)
    unconditional = float(torch.rand(())) < drop_probability
    context = torch.zeros(length, dtype=torch.bool)
    if not unconditional and length >= 4:
        if span_ratio > 0 and float(torch.rand(())) < span_ratio:
            span = int(torch.randint(max(1, length // 10), max(2, (length * 6) // 10), ()))
            start = int(torch.randint(1, max(2, length - span), ()))
            context[:start] = True
            context[start + span :] = True
        else:
            low = min(length // 4, 5)
            high = max(low + 1, int(length * max_prompt))
            context[: int(torch.randint(low, high, ()))] = True
    mask = (torch.rand(length) < probability) & ~context
    if not mask.any():
        free = (~context).nonzero()
        mask[int(free[0]) if len(free) else length - 1] = True
    return MaskDraw(t, mask, context, unconditional)


def masked_prediction_loss(backbone, head, rows, draws: list[MaskDraw], labels: list[torch.Tensor],
                           soft_targets: torch.Tensor | None = None, soft_weight: float = 0.0) -> dict:
    """Cross-entropy and accuracy over the masked frames of a batch. `rows[b]` is item b's
    input pieces, its target last, `labels[b]` the target's ids (T_b,). `soft_targets` (K, K):
    row y a distribution over the K classes to learn beside the label y itself, weighted
    `soft_weight` (a training option: the demo's S2A, recipes/s2a/soft_targets.py)."""
    packed = pack_rows([[pieces] for pieces in rows])
    t = torch.tensor([draw.t for draw in draws], device=packed.x.device)
    out = backbone.run_packed(packed, t)
    hidden, chosen = [], []
    for b, (pieces, draw, target) in enumerate(zip(rows, draws, labels)):
        mask = draw.mask.to(target.device)
        hidden.append(packed.piece_output(out, b, 0, len(pieces) - 1, len(target))[mask])
        chosen.append(target[mask])
    logits = head(torch.cat(hidden)).float()
    chosen = torch.cat(chosen)
    loss = torch.nn.functional.cross_entropy(logits, chosen)
    if soft_targets is not None and soft_weight > 0:
        soft = -(soft_targets[chosen] * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        loss = (1 - soft_weight) * loss + soft_weight * soft
    return {"loss": loss, "accuracy": (logits.argmax(-1) == chosen).float().mean()}
