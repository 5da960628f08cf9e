"""Sampling modes: what differs between maskvox's own sampling and the reference pipeline's
exact computation, chosen once when a synthesizer is made.

- `fast` (default): per-piece generators seeded from the request's seed, both CFG passes in
  one forward, CFG statistics per item (a request gives the same audio alone or batched); the
  prompt cut at a pause and loudness normalised; lengths from the duration model.
- `reference`: the reference pipeline's computation and random draws (`torch.manual_seed(seed)`,
  then T2S, S2A layer 1, S2A layers 2-12 on the global generator), its text cleaning, its
  unprocessed prompt and its length rule; one piece at a time, in fp32.

The models' own paired code (which predictor a step uses) follows `name` through
`SamplerSettings.mode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .errors import ConfigError
from .pieces import natural_lengths, reference_lengths
from .request import PreparedRequest, RequestReader

if TYPE_CHECKING:
    import torch

    from .duration.predictor import DurationPredictor


@dataclass(frozen=True)
class SamplingMode:
    name: str
    exact: bool  # the reference's computation: fp32, its draws, its attention
    text_normalization: str  # the text front-end's (maskvox.text)
    process_prompt: bool  # cut the prompt at a pause to 15 s and normalise its loudness
    max_batch: int | None  # pieces per forward (the reference's draws depend on the batch)
    trim_prompt: bool  # cut the semantic and acoustic prompts to the same frames (see `s2a_inputs`)
    set_lengths: Callable[[PreparedRequest, DurationPredictor], None]

    def reader(self, keep_prompts: int = 4) -> RequestReader:
        """A request reader that reads texts and prompts as this mode does."""
        return RequestReader(self.text_normalization, self.process_prompt, keep_prompts)

    def generators(self, seeds: list[int], device: torch.device,
                   skip: Callable[[torch.Generator | None], None]) -> list[torch.Generator] | None:
        """Seed the draws of one batch: per-piece generators, or (exact) the global generator
        with the first seed. `skip(generator)` then consumes what the reference's w2v-BERT
        forward draws, so each piece draws what the reference would for it."""
        import torch

        from .sampling import make_generators

        if self.exact:
            torch.manual_seed(seeds[0])
            skip(None)
            return None
        generators = make_generators(seeds, len(seeds), device)
        for generator in generators:
            skip(generator)
        return generators


FAST = SamplingMode("fast", exact=False, text_normalization="full", process_prompt=True, max_batch=None,
                    trim_prompt=True, set_lengths=natural_lengths)
REFERENCE = SamplingMode("reference", exact=True, text_normalization="reference", process_prompt=False, max_batch=1,
                         trim_prompt=False, set_lengths=reference_lengths)
SAMPLING_MODES = {mode.name: mode for mode in (FAST, REFERENCE)}


def sampling_mode(name: str | SamplingMode) -> SamplingMode:
    if isinstance(name, SamplingMode):
        return name
    if name not in SAMPLING_MODES:
        raise ConfigError(f"unknown sampling mode '{name}' (known: {', '.join(SAMPLING_MODES)})")
    return SAMPLING_MODES[name]
