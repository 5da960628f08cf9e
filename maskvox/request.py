"""A clone request, its result, and reading one: the controls and texts checked, the prompt
recording read, the texts turned into phone ids (each text once)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .duration.control import LengthRequest
from .errors import UserError
from .prompt import PromptAudio, load_prompt
from .text import TextFrontEnd

if TYPE_CHECKING:
    import torch


@dataclass
class CloneRequest:
    """One thing to say: the prompt (file, or (samples, rate)) and its transcript, the text."""

    prompt: str | Path | tuple[np.ndarray, int]
    prompt_text: str
    text: str
    language: str = "en"
    prompt_language: str | None = None  # default: `language`
    duration: float | None = None  # exact length in seconds
    speed: float = 1.0  # or a speaking-rate factor on the natural length
    seed: int | None = None  # None: a random seed (reported in the result)
    # (low, high): `duration` is clamped to low..high x the natural length (dubbing: fit the
    # slot, but never absurdly fast or slow)
    duration_clamp: tuple[float, float] | None = None

    def length_request(self) -> LengthRequest:
        """The length controls, checked (UserError)."""
        return LengthRequest(seconds=self.duration, speed=self.speed, clamp=self.duration_clamp)

    @property
    def language_of_prompt(self) -> str:
        return self.prompt_language or self.language


@dataclass
class CloneResult:
    audio: np.ndarray  # (samples,) float32
    sample_rate: int
    seed: int
    target_seconds: float  # the length aimed for
    natural_seconds: float  # the duration model's (or rule's) length before --duration/--speed
    duration_source: str  # model | rule | requested
    pieces: list[str]  # the text, as cut into pieces generated separately
    prompt_text: str  # what the prompt says (shortened if the prompt was cut)
    prompt_seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    semantic_ids: list[np.ndarray] = field(default_factory=list)  # per piece: (T,) T2S output
    # per piece: (T', L) S2A ids (L <= 12), or (T', D) latents from a latent S2A (s2a/latent.py)
    acoustic_ids: list[np.ndarray] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.audio.size / self.sample_rate

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 4), "target_seconds": round(self.target_seconds, 4),
            "natural_seconds": round(self.natural_seconds, 4), "duration_source": self.duration_source,
            "seed": self.seed, "pieces": len(self.pieces), "prompt_seconds": round(self.prompt_seconds, 4),
            "timings": {stage: round(seconds, 4) for stage, seconds in self.timings.items()},
        }


@dataclass
class PreparedPrompt:
    """The prompt as the models see it: processed audio, phone ids, semantic and acoustic ids."""

    audio: PromptAudio
    phones: list[int]
    semantic: torch.Tensor  # (P_s,) semantic ids
    acoustic: torch.Tensor  # (P_a, 12) acoustic ids
    read_seconds: float  # reading, checking, cutting, normalising (0 when it came from the cache)
    tokenize_seconds: float  # semantic ids + acoustic ids (0 likewise)
    # (P_s,) each semantic frame's position in `phones` (-1 silence), by the aligner, for a T2S
    # with alignment help (maskvox/frame_phones.py); None otherwise or when it aligns badly.
    frame_owners: torch.Tensor | None = None


@dataclass
class PreparedRequest:
    """A request with its prompt read, its text cut into pieces (phone ids each), its seed
    and, once sized, each piece's length in frames."""

    request: CloneRequest
    prompt: PreparedPrompt
    pieces: list[str]
    piece_phones: list[list[int]]
    seed: int
    frames: list[int] = field(default_factory=list)  # per piece
    natural_frames: float = 0.0
    source: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class RecentCache:
    """The values of the last `size` keys used (the least recently used is dropped first);
    a key of None is never kept."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict = OrderedDict()

    def get(self, key):
        if key is None or key not in self._values:
            return None
        self._values.move_to_end(key)
        return self._values[key]

    def keep(self, key, value) -> None:
        if key is None or self.size < 1:
            return
        self._values[key] = value
        while len(self._values) > self.size:
            self._values.popitem(last=False)

    def clear(self) -> None:
        self._values.clear()


class RequestReader:
    """Reads requests: texts into phone ids through the front-end (`normalization`
    "reference": the reference's cleaning) and prompt recordings into PromptAudio (with
    `process_prompt`, cut at a pause to 15 s and loudness normalised), each text and each of
    the last `keep_prompts` prompts read once, so a request checked before the models load
    costs nothing more when it is generated."""

    def __init__(self, normalization: str = "full", process_prompt: bool = True, keep_prompts: int = 4):
        self.frontend = TextFrontEnd(normalization=normalization)
        self.process_prompt = process_prompt
        self._phones: dict[tuple[str, str], list[int]] = {}
        self._prompts = RecentCache(keep_prompts)

    def phones(self, text: str, language: str, what: str = "text") -> list[int]:
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"the {what} is empty")
        key = (text, language)
        if key not in self._phones:
            self._phones[key] = list(self.frontend(text, language).ids)
        return self._phones[key]

    def texts(self, request: CloneRequest) -> list[int]:
        """Check the controls and both texts; the target's phone ids."""
        request.length_request()
        check_seed(request.seed)
        target = self.phones(request.text, request.language)
        self.phones(request.prompt_text, request.language_of_prompt, "prompt's transcript")
        return target

    def prompt_audio(self, request: CloneRequest) -> PromptAudio:
        """The prompt recording, checked (and processed, see the class)."""
        language = request.language_of_prompt
        key = prompt_key(request.prompt, request.prompt_text, language)
        audio = self._prompts.get(key)
        if audio is None:
            audio = load_prompt(request.prompt, request.prompt_text, lambda text: len(self.phones(text, language)),
                                normalize=self.process_prompt, cut=self.process_prompt)
            self._prompts.keep(key, audio)
        return audio

    def check(self, request: CloneRequest) -> PromptAudio:
        """Everything that can be checked without the models: the controls, both texts, the prompt."""
        self.texts(request)
        return self.prompt_audio(request)


def check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise UserError(f"the seed must be a non-negative integer, got {seed!r}")


def prompt_key(prompt, text: str, language: str) -> tuple | None:
    """A cache key for a prompt: a file's path, size and time of change, or a hash of the
    samples of a (samples, rate) pair (a dubbing job reads each cue's prompt as samples)."""
    if isinstance(prompt, tuple) and len(prompt) == 2 and isinstance(prompt[0], np.ndarray):
        samples = np.ascontiguousarray(prompt[0])
        digest = hashlib.sha1(samples.view(np.uint8)).hexdigest()
        return ("samples", digest, samples.dtype.str, samples.shape, int(prompt[1]), text, language)
    if not isinstance(prompt, (str, Path)):
        return None
    try:
        stat = Path(prompt).stat()
    except OSError:
        return None  # load_prompt reports it
    return (str(Path(prompt).resolve()), stat.st_size, stat.st_mtime_ns, text, language)
