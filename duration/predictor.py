"""The target length of what is to be spoken: the duration model when there is one, else the
reference's rule, then the user's controls (`LengthRequest`).

    predictor = DurationPredictor.from_pretrained("exp/demo")     # rule-only if no model there
    [estimate] = predictor.estimate([LengthQuery(prompt_ids, prompt_frames, target_ids, "en")])
    estimate.seconds, estimate.rule_seconds, estimate.source         # source: model|rule|requested

Queries are predicted in batches; every item draws its noise from `seed` alone, so a query
gets the same answer alone or batched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from maskvox.checkpoint import build_on_meta, load_model_config, load_module, official_file
from maskvox.errors import UserError

from .control import FRAME_RATE_HZ, LengthRequest, resolve_frames, rule_frames
from .model import LANGUAGE_IDS, DurationBatch, DurationModel


@dataclass(frozen=True)
class LengthQuery:
    """One utterance to size: phone ids of the prompt's text and the target's, the prompt's length."""

    prompt_phones: Sequence[int]
    prompt_frames: float  # 50 Hz frames of the prompt recording
    target_phones: Sequence[int]
    language: str  # the target's


@dataclass(frozen=True)
class LengthEstimate:
    frames: int  # the length to generate
    natural_frames: float  # before the user's request
    rule_frames: int  # the reference's rule, for comparison
    source: str  # "model", "rule" (natural length from either, maybe sped up) or "requested"

    @property
    def seconds(self) -> float:
        return self.frames / FRAME_RATE_HZ

    @property
    def rule_seconds(self) -> float:
        return self.rule_frames / FRAME_RATE_HZ

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "rule_seconds": self.rule_seconds, "source": self.source,
                "frames": self.frames}


class DurationPredictor:
    def __init__(self, model: DurationModel | None = None, steps: int = 8, cfg_scale: float = 0.0,
                 temperature: float = 0.0, batch_size: int = 64):
        """`temperature` 0: the median of the model's distribution (the default); 1: a sample."""
        self.model = None if model is None else model.eval()
        self.steps, self.cfg_scale, self.temperature, self.batch_size = steps, cfg_scale, temperature, batch_size

    @classmethod
    def from_pretrained(cls, location: str | Path, device: str | torch.device = "cpu", model_cfg=None,
                        **options) -> "DurationPredictor":
        """The duration model of a model folder or hub repo; the rule alone when it has none
        (the official checkpoints have none). A folder whose config names a duration model
        but lacks its weights is a CheckpointError. `model_cfg`: the location's ModelConfig, if read already."""
        cfg = (model_cfg or load_model_config(location)).duration
        if cfg is None:
            return cls(None, **options)
        model = load_module(build_on_meta(lambda: DurationModel(cfg)), official_file(location, "duration"))
        return cls(model.to(device), **options)

    @property
    def source(self) -> str:
        return "rule" if self.model is None else "model"

    def estimate(self, queries: list[LengthQuery], request: LengthRequest = LengthRequest(),
                 seed: int = 0) -> list[LengthEstimate]:
        for query in queries:
            _check_query(query)
        natural = self.natural_frames(queries, seed)
        return [self._chosen(frames, len(query.target_phones), query_rule_frames(query), request)
                for query, frames in zip(queries, natural)]

    def estimate_joined(self, queries: list[LengthQuery], request: LengthRequest = LengthRequest(), seed: int = 0,
                        overlap_frames: int = 0) -> LengthEstimate:
        """The length of the pieces of one long text said one after the other, each join
        sharing `overlap_frames` (maskvox.pieces): `request` applies to the whole."""
        for query in queries:
            _check_query(query)
        shared = overlap_frames * (len(queries) - 1)
        natural = sum(self.natural_frames(queries, seed)) - shared
        rule = sum(query_rule_frames(query) for query in queries) - shared
        return self._chosen(natural, sum(len(query.target_phones) for query in queries), rule, request)

    def _chosen(self, natural: float, phones: int, rule: int, request: LengthRequest) -> LengthEstimate:
        chosen, how = resolve_frames(natural, phones, request)
        return LengthEstimate(chosen, natural, rule, "requested" if how == "requested" else self.source)

    def natural_frames(self, queries: list[LengthQuery], seed: int = 0) -> list[float]:
        """The natural length of each query, in frames: the model's, or the rule's."""
        if self.model is None:
            return [float(query_rule_frames(query)) for query in queries]
        frames: list[float] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start : start + self.batch_size]
            predicted = self.model.predict_frames(make_batch(chunk), self.steps, [seed] * len(chunk), self.cfg_scale,
                                                  temperature=self.temperature)
            frames.extend(predicted.cpu().tolist())
        return frames


def query_rule_frames(query: LengthQuery) -> int:
    """The reference's rule for one query."""
    return rule_frames(round(query.prompt_frames), len(query.prompt_phones), len(query.target_phones))


def make_batch(queries: list[LengthQuery]) -> DurationBatch:
    return DurationBatch(
        target_phones=[torch.as_tensor(list(q.target_phones), dtype=torch.long) for q in queries],
        prompt_phones=[torch.as_tensor(list(q.prompt_phones), dtype=torch.long) for q in queries],
        prompt_frames=torch.tensor([float(q.prompt_frames) for q in queries]),
        languages=torch.tensor([LANGUAGE_IDS[q.language] for q in queries]),
    )


def _check_query(query: LengthQuery) -> None:
    if not query.prompt_phones or not query.target_phones:
        raise UserError("the duration needs phones in both the prompt text and the target text")
    if not query.prompt_frames > 0:
        raise UserError(f"the prompt must have a positive length, got {query.prompt_frames} frames")
    if query.language not in LANGUAGE_IDS:
        raise UserError(f"no duration language id for '{query.language}' (known: {', '.join(LANGUAGE_IDS)})")
