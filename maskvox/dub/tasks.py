"""What each cue asks of the models (CueTask), what comes back (CueOutput), and the fixed
groups they are generated in.

Per cue, the prompt is the speaker's reference clip when the cue names one, else the cue's own
source audio with its source text (or, when that is shorter than a prompt may be, the speaker's
longest cue in the same recording). The models are asked for the slot's length clamped to
LENGTH_CLAMP x the duration model's natural length for the line, so nobody speaks absurdly fast
or slow. A cue's seed comes from the job's seed and its id, and the groups (sorted by slot
length, so a group pads little) from the job alone, never from what an earlier run finished: a
resumed job generates exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio import ACOUSTIC_RATE, read_audio, to_mono
from ..jobs import fingerprint
from ..limits import MIN_PROMPT_SECONDS
from ..request import CloneRequest
from .cues import Cue

LENGTH_CLAMP = (0.8, 1.25)  # the length asked of the models, x the line's natural length


@dataclass(frozen=True)
class PromptClip:
    """Where a cue's voice comes from: a stretch of a recording (or all of it) and its text."""

    audio: str
    start: float | None  # None: the whole file
    end: float | None
    text: str
    language: str

    def source(self) -> str | tuple[np.ndarray, int]:
        """What a CloneRequest takes: the file itself (the Synthesizer caches its tokens by
        path), or the samples of the stretch."""
        if self.start is None:
            return self.audio
        return read_slice(self.audio, self.start, self.end)


@dataclass(frozen=True)
class CueTask:
    """One cue, planned: plain data, so Ray can ship it to an actor."""

    id: str
    seed: int
    prompt: PromptClip
    text: str
    language: str
    slot_seconds: float

    @property
    def slot_samples(self) -> int:
        return round(self.slot_seconds * ACOUSTIC_RATE)

    def clone_request(self) -> CloneRequest:
        return CloneRequest(self.prompt.source(), self.prompt.text, self.text, self.language, self.prompt.language,
                            duration=self.slot_seconds, duration_clamp=LENGTH_CLAMP, seed=self.seed)

    def fingerprint(self, identity: dict) -> str:
        """Everything that decides this cue's audio: the task and the job's `identity` (DubConfig.identity)."""
        return fingerprint({"task": asdict(self), **identity})


@dataclass
class CueOutput:
    id: str
    audio: np.ndarray | None  # (slot_samples,) float32 at 24 kHz; None when it failed
    error: str | None = None
    natural_s: float | None = None  # the duration model's length for the line
    target_s: float | None = None  # the length asked of the models (the slot, clamped)
    generated_s: float | None = None
    generate_s: float = 0.0  # this cue's share of the group's wall time


def read_slice(path: str | Path, start: float, end: float) -> tuple[np.ndarray, int]:
    """Seconds start..end of a recording, mono, without reading the rest (cut at the file's end)."""
    data, rate = read_audio(path, start, end)
    return to_mono(data), rate


def cue_seed(job_seed: int, cue_id: str) -> int:
    """A cue's seed: from the job's seed and the cue's id, so it never depends on the cue's order."""
    return int.from_bytes(hashlib.sha256(f"{job_seed}:{cue_id}".encode()).digest()[:4], "big") >> 1


def plan_tasks(cues: list[Cue], job_seed: int) -> list[CueTask]:
    longest = _longest_cue_per_speaker(cues)
    return [
        CueTask(cue.id, cue_seed(job_seed, cue.id), _prompt_clip(cue, longest.get((cue.speaker, cue.audio))),
                cue.target_text, cue.target_language, cue.slot_seconds)
        for cue in cues
    ]


def _prompt_clip(cue: Cue, longest: Cue | None) -> PromptClip:
    if cue.prompt is not None:
        return PromptClip(str(cue.prompt), None, None, cue.prompt_text, cue.source_language)
    # A cue shorter than a prompt may be borrows the voice from the speaker's longest cue.
    own = cue if cue.slot_seconds >= MIN_PROMPT_SECONDS or longest is None else longest
    return PromptClip(str(own.audio), own.start, own.end, own.source_text, own.source_language)


def _longest_cue_per_speaker(cues: list[Cue]) -> dict[tuple[str, Path], Cue]:
    longest: dict[tuple[str, Path], Cue] = {}
    for cue in cues:
        key = (cue.speaker, cue.audio)
        if key not in longest or cue.slot_seconds > longest[key].slot_seconds:
            longest[key] = cue
    return longest


def fixed_groups(tasks: list[CueTask], batch_size: int) -> list[list[CueTask]]:
    """Groups of similar slot lengths that depend only on the job, never on what is done."""
    ordered = sorted(tasks, key=lambda task: (task.slot_seconds, task.id))
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]
