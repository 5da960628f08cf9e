"""Iterative parallel decoding of masked token sequences (MaskGIT-style), shared by T2S and S2A.

All target tokens start masked. Each step the model predicts every position; masked
positions take a sampled id (Gumbel-max over the top-k logits, temperature annealed
with t); then the least confident of them are masked again, as many as the cosine
schedule floor(sin(t_next * pi/2) * n) says, until none remain. The last step is
greedy. Classifier-free guidance mixes a conditional and an unconditional pass and
rescales the result to the conditional pass's standard deviation.

Two modes:

- `reference`: random numbers come from the global torch generator in exactly the
  reference's order and shapes (token choice (B, T, V), then confidences (B, T), every
  step), and CFG statistics span the whole batch: with the same seed, the same ids as
  the reference implementation. Items of a batch must have equal shapes.
- `fast` (default): the conditional and unconditional passes run as one forward; CFG
  statistics, random draws (one `torch.Generator` per item) and re-masking counts are
  per item, so an item gets the same ids alone or in a batch of any lengths. Each item's
  generator draws what the reference draws for that item alone, so an item seeded as
  reference mode seeds the global generator gets the same ids (up to float rounding: the
  passes are laid out differently, which can flip a near-tie).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .nn import MaskedTransformer, pack_rows

MODES = ("fast", "reference")
# Fast mode on a CPU lays sequences end to end with no padding (`pack_rows(flat=True)`);
# False keeps padded rows there too (benchmarks measure the difference).
FLAT_ON_CPU = True


@dataclass
class SamplerSettings:
    cfg: float = 2.5  # classifier-free guidance scale; 0 skips the unconditional pass
    rescale_cfg: float = 0.75  # how much of the guided output is rescaled to the conditional std
    temperature: float = 0.9  # token-choice temperature at t = 1, annealed linearly to 0
    top_k_ratio: float = 0.98  # sample among the top ceil((1 - ratio) * vocabulary) logits
    choice_temperature: float = 1.0  # confidence-noise scale at t = 1, annealed likewise
    mode: str = "fast"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown sampling mode '{self.mode}' (known: {', '.join(MODES)})")


def top_k_count(vocabulary: int, ratio: float) -> int:
    return max(1, min(vocabulary, math.ceil((1 - ratio) * vocabulary)))


def gumbel(uniform: torch.Tensor) -> torch.Tensor:
    """Gumbel noise from U(0, 1) samples, with the reference's 1e-10 guards."""
    return -torch.log(-torch.log(uniform + 1e-10) + 1e-10)


def mask_schedule(t: torch.Tensor) -> torch.Tensor:
    """Fraction of the target still masked at step t (1 -> all, 0 -> none)."""
    return torch.sin(t * math.pi / 2)


def remask_counts(t_next: float, unknown: torch.Tensor) -> torch.Tensor:
    """How many tokens of each item (B,) stay masked after the step, computed in float32
    exactly as the reference does."""
    t = torch.full(unknown.shape, t_next, dtype=torch.float32, device=unknown.device)
    return (mask_schedule(t) * unknown).long()


def classifier_free_guidance(
    cond: torch.Tensor, uncond: torch.Tensor, scale: float, rescale: float, lengths: Sequence[int] | None = None
) -> torch.Tensor:
    """e = c + scale (c - u), then rescaled toward std(c): rescale * e std(c)/std(e) + (1 - rescale) e.

    With `lengths` the standard deviations are taken per item over its first lengths[b]
    positions (padding ignored); without, over the whole tensor (the reference).
    """
    if lengths is None:
        return _guide(cond, uncond, scale, rescale)
    out = cond.clone()
    for b, n in enumerate(lengths):
        out[b, :n] = _guide(cond[b, :n], uncond[b, :n], scale, rescale)
    return out


def _guide(cond, uncond, scale, rescale):
    cond_std = cond.std()
    guided = cond + scale * (cond - uncond)
    rescaled = guided * cond_std / guided.std()
    return rescale * rescaled + (1 - rescale) * guided


def make_generators(seeds: int | Sequence[int] | None, count: int, device: torch.device | str) -> list[torch.Generator]:
    """One generator per item. One int seeds every item alike (an item's ids then do not depend
    on its batch); None draws the seeds from the global generator (so torch.manual_seed rules)."""
    if seeds is None:
        seeds = torch.randint(0, 2**62, (count,)).tolist()
    elif isinstance(seeds, int):
        seeds = [seeds] * count
    if len(seeds) != count:
        raise ValueError(f"{len(seeds)} seeds for {count} items")
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


class _ReferenceDraws:
    """The reference's draws: full-vocabulary -inf filtering, global generator, (B, T, V) noise."""

    def __init__(self, top_k_ratio: float):
        self.top_k_ratio = top_k_ratio

    def choose(self, logits, temperature, greedy, active, lengths):
        k = top_k_count(logits.shape[-1], self.top_k_ratio)
        values, indices = logits.topk(k, dim=-1)
        filtered = torch.full_like(logits, float("-inf")).scatter_(-1, indices, values)
        if greedy:
            ids = filtered.argmax(dim=-1)
        else:
            noise = gumbel(torch.zeros_like(filtered).uniform_(0, 1))
            ids = (filtered / max(temperature, 1e-10) + noise).argmax(dim=-1)
        probabilities = filtered.softmax(dim=-1).gather(-1, ids[..., None])[..., 0]
        return ids, probabilities

    def confidence_noise(self, probabilities, active, lengths):
        return gumbel(torch.zeros_like(probabilities).uniform_(0, 1))


class _ItemDraws:
    """Per-item generators, each drawing what the reference draws for that item alone: (T_b, V)
    uniforms for the token choice, then (T_b,) for the confidences. An item given the seed that
    reference mode gives the global generator gets the reference's ids; the Gumbel transform
    and the choice only run over the top-k candidates."""

    def __init__(self, top_k_ratio: float, generators: list[torch.Generator]):
        self.top_k_ratio = top_k_ratio
        self.generators = generators

    def _uniform(self, b: int, shape: tuple[int, ...], device) -> torch.Tensor:
        return torch.rand(shape, generator=self.generators[b], device=device)

    @staticmethod
    def _noise(like: torch.Tensor, active, lengths, uniforms) -> torch.Tensor:
        """Gumbel noise shaped like `like`: zero but over each active item's first n rows, where
        `uniforms(b, n)` gives its uniforms."""
        noise = torch.zeros_like(like)
        for b, n in enumerate(lengths):
            if active[b]:
                noise[b, :n] = gumbel(uniforms(b, n).to(like.dtype))
        return noise

    def choose(self, logits, temperature, greedy, active, lengths):
        vocabulary = logits.shape[-1]
        k = top_k_count(vocabulary, self.top_k_ratio)
        values, indices = logits.topk(k, dim=-1)  # sorted: index 0 is the argmax
        if greedy:
            choice = torch.zeros(values.shape[:-1], dtype=torch.long, device=values.device)
        else:
            def top_k_uniforms(b: int, n: int) -> torch.Tensor:  # drawn over the vocabulary, as the reference draws
                return self._uniform(b, (n, vocabulary), values.device).gather(-1, indices[b, :n])

            noise = self._noise(values, active, lengths, top_k_uniforms)
            choice = (values / max(temperature, 1e-10) + noise).argmax(dim=-1)
        ids = indices.gather(-1, choice[..., None])[..., 0]
        probabilities = values.softmax(dim=-1).gather(-1, choice[..., None])[..., 0]
        return ids, probabilities

    def confidence_noise(self, probabilities, active, lengths):
        return self._noise(probabilities, active, lengths,
                           lambda b, n: self._uniform(b, (n,), probabilities.device))


# predict(seq (B, T) ids, mask (B, T) bool True = masked, t) -> logits (B, T, V), guidance applied.
Predictor = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


class MaskedSampler:
    """Decodes masked sequences; keeps its per-item generators across calls (S2A's layers)."""

    def __init__(self, settings: SamplerSettings, generators: list[torch.Generator] | None = None):
        self.settings = settings
        if settings.mode == "reference":
            self.draws = _ReferenceDraws(settings.top_k_ratio)
        else:
            if generators is None:
                raise ValueError("fast sampling needs one generator per item (make_generators)")
            self.draws = _ItemDraws(settings.top_k_ratio, generators)

    def decode(
        self,
        predict: Predictor,
        lengths: Sequence[int],
        steps: int,
        known: torch.Tensor | None = None,
        known_ids: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Ids (B, max(lengths)) for items of `lengths` tokens (padding stays 0).

        `known` (B, T) bool marks tokens that are given (`known_ids`) and never resampled,
        e.g. the context around an edited span; the schedule then counts the others only.
        """
        if steps < 1:
            raise ValueError("the number of decoding steps must be at least 1")
        if self.settings.mode == "reference" and (len(set(lengths)) > 1 or known is not None):
            raise ValueError("reference sampling needs items of equal lengths and no known tokens; use fast mode")
        width = max(lengths)
        lengths_t = torch.tensor(list(lengths), device=device)
        valid = torch.arange(width, device=device)[None, :] < lengths_t[:, None]
        mask = valid if known is None else valid & ~known.to(device)
        seq = torch.zeros(len(lengths), width, dtype=torch.long, device=device)
        if known is not None:
            seq = torch.where(mask, seq, known_ids.to(device))
        unknown = mask.sum(dim=1)
        active = (unknown > 0).tolist()
        times = [1.0 - i * (1.0 / steps) for i in range(steps)] + [0.0]
        settings = self.settings
        for i in range(steps):
            if not any(active):
                break
            logits = predict(seq, mask, times[i])
            temperature = settings.temperature * times[i]
            choice_temperature = settings.choice_temperature * times[i]
            last = i == steps - 1
            if last and steps == 1:
                temperature = 0.2  # a single step still samples, coolly
            ids, probabilities = self.draws.choose(logits, max(temperature, 1e-3), last and steps > 1, active, lengths)
            seq = torch.where(mask, ids, seq)
            scores = choice_temperature * self.draws.confidence_noise(probabilities, active, lengths) + probabilities
            counts = remask_counts(times[i + 1], unknown).tolist()
            if settings.mode == "reference" and counts[0] == 0:
                break
            active = [a and c > 0 for a, c in zip(active, counts)]
            mask = self._remask(1 - scores, mask, counts, active)
            seq = seq.masked_fill(mask, 0)
        return seq

    @staticmethod
    def _remask(uncertainty, mask, counts, active):
        """Mask again the counts[b] most uncertain of each item's currently masked tokens."""
        uncertainty = uncertainty.masked_fill(~mask, -torch.finfo(uncertainty.dtype).max)
        new_mask = torch.zeros_like(mask)
        for b, count in enumerate(counts):
            if active[b]:
                new_mask[b, uncertainty[b].topk(count).indices] = True
        return new_mask


def make_sampler(settings: SamplerSettings, generators: list[torch.Generator] | None, count: int, device) -> MaskedSampler:
    """The sampler for `count` items: the global generator in reference mode, else the given
    per-item generators (default: seeded from the global generator)."""
    if settings.mode == "reference":
        return MaskedSampler(settings)
    return MaskedSampler(settings, generators or make_generators(None, count, device))


def reference_guided(conditional, unconditional, settings: SamplerSettings):
    """The reference's CFG step: two separate passes, statistics over the whole batch."""
    embeddings = conditional()
    if settings.cfg > 0:
        embeddings = classifier_free_guidance(embeddings, unconditional(), settings.cfg, settings.rescale_cfg)
    return embeddings


def stack_equal(items: Sequence[torch.Tensor]) -> torch.Tensor:
    try:
        return torch.stack(list(items))
    except RuntimeError:
        raise ValueError("reference sampling needs items of equal shapes; use fast mode") from None


def guided_target_embeddings(
    backbone: MaskedTransformer,
    contexts: list[list[torch.Tensor]],
    targets: list[torch.Tensor],
    t: float,
    guidance,
    unconditional: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """One packed forward for a batch of items: item b's conditional sequence
    (`contexts[b]` pieces, then `targets[b]` (T_b, C)) and, when guidance.cfg > 0, its
    unconditional sequence (the target alone, or `unconditional[b]` where the conditional
    target carries a condition of its own) side by side in one row. Returns the guided target
    embeddings (B, max T_b, C), CFG statistics per item (`guidance`: cfg, rescale_cfg)."""
    guided = guidance.cfg > 0
    alone = targets if unconditional is None else unconditional
    rows = [[context + [target]] + ([[bare]] if guided else []) for context, target, bare in zip(contexts, targets, alone)]
    # On a CPU the work is arithmetic, so lay sequences end to end with no padding; on a GPU
    # one padded, masked attention call per layer is faster than a call per sequence.
    packed = pack_rows(rows, flat=FLAT_ON_CPU and targets[0].device.type == "cpu")
    out = backbone.run_packed(packed, torch.full((len(rows),), t, device=packed.x.device))
    lengths = [len(target) for target in targets]
    cond = out.new_zeros(len(rows), max(lengths), out.shape[-1])
    uncond = torch.zeros_like(cond)
    for b, (context, n) in enumerate(zip(contexts, lengths)):
        cond[b, :n] = packed.piece_output(out, b, 0, len(context), n)
        if guided:
            uncond[b, :n] = packed.piece_output(out, b, 1, 0, n)
    if not guided:
        return cond
    return classifier_free_guidance(cond, uncond, guidance.cfg, guidance.rescale_cfg, lengths)
