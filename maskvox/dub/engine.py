"""The engines that generate a job's groups of cues: here, one group after the other, or over
Ray Data actors (`ray_engine`, imported only when asked for, since it needs Ray)."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from .config import DubConfig
from .generator import CueGenerator
from .tasks import CueOutput, CueTask

Engine = Callable[[list[list[CueTask]]], Iterable[list[CueOutput]]]  # groups in, outputs per group out


def make_engine(config: DubConfig) -> Engine:
    """The engine `config.engine` names, loading `config.model` (once per process or actor)."""
    if config.engine == "ray":
        from .ray_engine import ray_engine

        return ray_engine(config)

    return local_engine(config.load_synthesizer)


def local_engine(load_synthesizer: Callable[[], object]) -> Engine:
    """Groups generated one after the other in this process."""

    def run(groups: list[list[CueTask]]) -> Iterator[list[CueOutput]]:
        generator = CueGenerator(load_synthesizer())
        for group in groups:
            yield generator.generate(group)

    return run
