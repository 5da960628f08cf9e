"""Generating a group of cues with one Synthesizer (in the local engine, or inside each Ray actor):
one `clone_batch` at the lengths asked, then a pitch-preserving stretch (`stretch.fit_to_length`)
lands each line exactly on its slot."""

from __future__ import annotations

import time

from ..errors import UserError
from .stretch import fit_to_length
from .tasks import CueOutput, CueTask


class CueGenerator:
    """Generates groups of cues with one Synthesizer."""

    def __init__(self, synthesizer):
        self.synthesizer = synthesizer

    def generate(self, tasks: list[CueTask]) -> list[CueOutput]:
        started = time.perf_counter()
        outputs: dict[str, CueOutput] = {}
        requests, ready = [], []
        for task in tasks:
            try:
                requests.append(task.clone_request())
                ready.append(task)
            except UserError as err:
                outputs[task.id] = CueOutput(task.id, None, str(err))
        results = self.synthesizer.clone_batch(requests, batch_size=max(1, len(requests)), return_errors=True)
        for task, result in zip(ready, results):
            outputs[task.id] = self._fitted(task, result)
        share = (time.perf_counter() - started) / max(1, len(tasks))
        for output in outputs.values():
            output.generate_s = share
        return [outputs[task.id] for task in tasks]

    @staticmethod
    def _fitted(task: CueTask, result) -> CueOutput:
        if isinstance(result, UserError):
            return CueOutput(task.id, None, str(result))
        try:
            audio = fit_to_length(result.audio, result.sample_rate, task.slot_samples)
        except UserError as err:
            return CueOutput(task.id, None, str(err))
        return CueOutput(task.id, audio, None, result.natural_seconds, result.target_seconds, result.seconds)
