"""Zero-shot voice cloning: the codecs, front-end, duration model, T2S and S2A wired together.

    synth = Synthesizer.from_pretrained("amphion/MaskGCT", preset="default", device="cuda")
    result = synth.clone("prompt.wav", "what the prompt says", "what to say", language="en", seed=0)
    result.audio, result.sample_rate, result.timings

Per request: the prompt is read at 16 and 24 kHz (cut to 15 s at a pause, loudness
normalised) and tokenized; the target text is cut into pieces that keep prompt + piece
under 30 s; each piece's length comes from the duration model (or the reference's rule),
the user's --duration/--speed applied; then T2S gives its semantic ids, S2A (layer 1,
then layers 2-12) its acoustic ids, the codec decodes them, and the pieces are joined with
short crossfades. Pieces of many requests are generated together, several per forward.

Sampling modes:
- `fast` (default): per-piece generators seeded from the request's seed, both CFG passes in
  one forward, CFG statistics per item: a request gives the same audio alone or batched.
- `reference`: the reference pipeline's exact computation and random draws
  (`torch.manual_seed(seed)`, then T2S, S2A layer 1, S2A layers 2-12 on the global
  generator), its length rule and its unprocessed prompt; one piece at a time, fp32.

Options (`from_pretrained`): `low_memory` holds each big model for its stage only; `quantize="int8"`
runs T2S and S2A with dynamic int8 linear layers on the CPU.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .audio import ACOUSTIC_RATE, SEMANTIC_RATE
from .checkpoint import default_model_location, load_model_config
from .config import load_config
from .duration.control import FRAME_RATE_HZ, LengthRequest, resolve_frames
from .duration.predictor import DurationPredictor, LengthQuery
from .errors import ConfigError, UserError
from .prompt import PromptAudio, load_prompt
from .quantize import QUANTIZATIONS, quantize_linear_layers
from .sampling import SamplerSettings, make_generators
from .text import TextFrontEnd
from .text.sentences import chunk_text
from .tokenizer import SpeechTokenizer

MAX_TOTAL_SECONDS = 30.0  # prompt + one piece of target, as the models were trained
CROSSFADE_FRAMES = 2  # 40 ms joins between pieces of a long text
SAMPLING_MODES = ("fast", "reference")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The big models, each used by one stage: reading a prompt, T2S, S2A layer 1, S2A layers 2-12.
SEMANTIC_MODELS = ("semantic_features", "semantic_codec")
GENERATION_MODELS = ("t2s", "s2a_1layer", "s2a_full")


# -- settings ---------------------------------------------------------------------------------

@dataclass
class InferencePreset:
    """Decoding steps and guidance of T2S and S2A (the defaults are the reference's)."""

    t2s_steps: int = 25
    s2a_steps: tuple[int, ...] = (25, 10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)  # per acoustic layer
    t2s_cfg: float = 2.5
    s2a_cfg: float = 2.5
    rescale_cfg: float = 0.75
    t2s_temperature: float = 0.9
    s2a_temperature: float = 1.5
    top_k_ratio: float = 0.98

    def __post_init__(self):
        if self.t2s_steps < 1 or not self.s2a_steps or min(self.s2a_steps) < 1:
            raise ConfigError("preset: every step count must be at least 1")

    def sampler(self, stage: str, mode: str) -> SamplerSettings:
        if stage == "t2s":
            return SamplerSettings(self.t2s_cfg, self.rescale_cfg, self.t2s_temperature, self.top_k_ratio, mode=mode)
        return SamplerSettings(self.s2a_cfg, self.rescale_cfg, self.s2a_temperature, self.top_k_ratio, mode=mode)


PRESETS = {
    # Chosen on held-out voices (recipes/bench/RESULTS.md): T2S needs its guidance (without it
    # WER rose 63 %), S2A holds its quality without guidance at a third of the steps.
    "fast": InferencePreset(t2s_steps=8, s2a_steps=(8, 2) + (1,) * 10, s2a_cfg=0.0),
    "default": InferencePreset(),
    "high": InferencePreset(t2s_steps=50, s2a_steps=(50, 20) + (1,) * 10),
}


def load_preset(name_or_path: str | InferencePreset) -> InferencePreset:
    """A named preset (fast, default, high) or a YAML/JSON file of InferencePreset fields."""
    if isinstance(name_or_path, InferencePreset):
        return name_or_path
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    if Path(name_or_path).suffix in (".yaml", ".yml", ".json"):
        return load_config(name_or_path, InferencePreset)
    raise ConfigError(f"unknown preset '{name_or_path}' (known: {', '.join(PRESETS)}, or a .yaml/.json file)")


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
    acoustic_ids: list[np.ndarray] = field(default_factory=list)  # per piece: (T', 12) S2A output

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


# -- a request read and checked (`Synthesizer.prepare`) ----------------------------------------------

@dataclass
class PreparedPrompt:
    """The prompt as the models see it: processed audio, phone ids, semantic and acoustic ids."""

    audio: PromptAudio
    phones: list[int]
    semantic: torch.Tensor  # (P_s,) semantic ids
    acoustic: torch.Tensor  # (P_a, 12) acoustic ids
    read_seconds: float  # reading, checking, cutting, normalising (0 when it came from the cache)
    tokenize_seconds: float  # semantic ids + acoustic ids (0 likewise)


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


@dataclass
class Piece:
    """One piece of text to generate (`Synthesizer.generate_pieces`); the outputs are filled in."""

    phones: torch.Tensor  # prompt phones + piece phones
    frames: int
    seed: int
    item: int = 0  # which request it belongs to
    semantic: np.ndarray | None = None  # (frames,) the T2S output
    codes: np.ndarray | None = None  # (T', 12) the S2A output
    audio: np.ndarray | None = None


# -- the big models ---------------------------------------------------------------------------

class _ModelHolder:
    """The big models by name (SEMANTIC_MODELS, GENERATION_MODELS). A built model is held for
    good; a model with a loader (low memory) is loaded on first use and dropped at the end of
    its stage, so the peak is the biggest stage's rather than every model's at once.
    `ready(name, model)` prepares each model as it comes in, again after every reload."""

    def __init__(self, built: dict, loaders: dict[str, Callable[[], torch.nn.Module]], ready):
        self._loaders, self._ready = loaders, ready
        self._held = {name: ready(name, model) for name, model in built.items() if model is not None}

    def __contains__(self, name: str) -> bool:
        """Whether there is such a model (a demo-style folder has no 1-layer S2A)."""
        return name in self._held or name in self._loaders

    def get(self, name: str):
        if name not in self._held and name in self._loaders:
            self._held[name] = self._ready(name, self._loaders[name]())
        return self._held.get(name)

    def loaded(self) -> list[str]:
        return sorted(self._held)

    @contextlib.contextmanager
    def stage(self, *names: str):
        """A stage using models `names`: at its end, even on an error, those with loaders are released."""
        try:
            yield
        finally:
            self.release(*names)

    def release(self, *names: str) -> None:
        dropped = [name for name in names if name in self._loaders and self._held.pop(name, None) is not None]
        if dropped:
            gc.collect()  # modules can sit in reference cycles: free their weights now, before the next load
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()  # and hand the GPU memory back rather than keep it in torch's cache


class _HeldTokenizer(SpeechTokenizer):
    """The synthesizer's tokenizer: its own acoustic codec (always held: it encodes the prompt
    and decodes the output) and the semantic path from the model holder."""

    def __init__(self, acoustic_codec, models: _ModelHolder):  # (the semantic attributes are properties)
        self.acoustic_codec, self.semantic_note, self._models = acoustic_codec, "", models

    semantic_features = property(lambda self: self._models.get("semantic_features"))
    semantic_codec = property(lambda self: self._models.get("semantic_codec"))


# -- the synthesizer --------------------------------------------------------------------------

class Synthesizer:
    def __init__(self, tokenizer, t2s, s2a_1layer, s2a_full, duration: DurationPredictor,
                 preset: str | InferencePreset = "default", sampling: str = "fast", precision: str = "auto",
                 progress: bool = False, prompt_cache_size: int = 16, aligner=None, quantize: str = "none",
                 loaders: dict[str, Callable[[], torch.nn.Module]] | None = None):
        """The models built (`from_pretrained` loads a folder). `quantize="int8"`: T2S and S2A
        with dynamic int8 linear layers (`maskvox.quantize`, in place; CPU). `loaders` (low
        memory): name -> function loading that model (SEMANTIC_MODELS, GENERATION_MODELS), for
        the models given as None and to reload those released after their stage."""
        if sampling not in SAMPLING_MODES:
            raise ConfigError(f"unknown sampling mode '{sampling}' (known: {', '.join(SAMPLING_MODES)})")
        self.duration = duration
        self.preset = load_preset(preset)
        if s2a_full is not None:  # (with loaders only, from_pretrained checked the configured layers)
            _check_s2a_steps(self.preset, s2a_full.num_quantizer)
        self.sampling = sampling
        # T2S's device; the acoustic codec, always held, is on the same one when T2S is not loaded yet.
        self.device = next((t2s if t2s is not None else tokenizer.acoustic_codec).parameters()).device
        self.dtype = _resolve_precision(precision, self.device, sampling)
        _check_quantize(quantize, self.device, sampling)
        self.quantize = quantize
        self.progress = progress
        self.aligner = aligner  # maskvox.align.Aligner, for speech editing (None: regions given by hand)
        self._reader = _PhoneReader(sampling)
        built = {"semantic_features": tokenizer.semantic_features, "semantic_codec": tokenizer.semantic_codec,
                 "t2s": t2s, "s2a_1layer": s2a_1layer, "s2a_full": s2a_full}
        self._models = _ModelHolder(built, loaders or {}, self._ready)
        self.tokenizer = _HeldTokenizer(tokenizer.acoustic_codec, self._models)
        # The draws of the reference's w2v-BERT forward (`_skip_reference_draws`), counted now:
        # generation then needs no semantic model (low memory has released it by then).
        self._reference_draws = self.tokenizer.semantic_features.source_layers
        self._prompts: OrderedDict[tuple, PreparedPrompt] = OrderedDict()
        self._prompt_cache_size = prompt_cache_size
        self.last_timings: dict[str, float] = {}  # wall time per stage of the last clone_batch

    # The big models, from the holder: in low memory, loaded on first use, released after their stage.
    t2s = property(lambda self: self._models.get("t2s"))
    s2a_1layer = property(lambda self: self._models.get("s2a_1layer"))
    s2a_full = property(lambda self: self._models.get("s2a_full"))

    def _ready(self, name: str, model):
        """A big model as it comes in (again after each reload, in low memory)."""
        if name == "semantic_features":
            model.use_reference_attention(self.sampling == "reference")
        elif name in GENERATION_MODELS and self.quantize == "int8":
            model = quantize_linear_layers(model)
        return model

    @classmethod
    def from_pretrained(cls, location: str | Path | None = None, preset: str | InferencePreset = "default",
                        device: str = "auto", sampling: str = "fast", precision: str = "auto",
                        progress: bool = False, low_memory: bool = False, quantize: str = "none") -> "Synthesizer":
        """All models of a folder in the official layout or a hub repo (default: the demo
        checkpoint shipped with maskvox). The duration model is used when the location has
        one, else the reference's length rule.

        `low_memory`: w2v-BERT + the semantic codec, T2S and the S2A models are each loaded
        for their stage only and released after it (the acoustic codec, the duration model and
        the aligner stay), so the peak is the biggest stage's, not all of the ~8.2 GB that the
        official sizes take at once; the price is reading them again for every prompt and batch.
        The audio is the same. `quantize="int8"`: see `maskvox.quantize` (CPU only)."""
        from .align import Aligner
        from .checkpoint import official_file
        from .codecs.pretrained import load_semantic_codec, load_semantic_features
        from .s2a.model import load_s2a
        from .t2s.model import load_t2s
        from .tokenizer import pick_device

        location = str(location or default_model_location())
        preset = load_preset(preset)  # a bad preset, device, precision or quantization fails before the slow loading
        device = pick_device(device)
        _check_quantize(quantize, torch.device(device), sampling)
        _resolve_precision(precision, torch.device(device), sampling)
        cfg = load_model_config(location)
        _check_s2a_steps(preset, cfg.s2a_full.num_quantizer)
        loaders = {
            "semantic_features": lambda: load_semantic_features(cfg.semantic_features, location, device),
            "semantic_codec": lambda: load_semantic_codec(location, cfg, device),
            "t2s": lambda: load_t2s(location, cfg.t2s, device),
            "s2a_full": lambda: load_s2a(location, "s2a_full", cfg.s2a_full, device),
        }
        # A full model that predicts layer 1 too (the demo's) needs no 1-layer model.
        if not cfg.s2a_full.predict_layer_1:
            loaders["s2a_1layer"] = lambda: load_s2a(location, "s2a_1layer", cfg.s2a_1layer, device)
        generation = [name for name in GENERATION_MODELS if name in loaders]
        # The semantic path is loaded now in both modes: its errors come at once, and the first
        # prompt needs it (low memory releases it once that prompt is read).
        tokenizer = SpeechTokenizer.from_pretrained(location, device=device, semantic="yes")
        if low_memory:
            for name in generation:
                official_file(location, name)  # missing weights fail now, not in the middle of a clone
            models = {}
        else:
            models, loaders = {name: loaders[name]() for name in generation}, None
        duration = DurationPredictor.from_pretrained(location, device)
        aligner = None if cfg.aligner is None else Aligner.from_pretrained(location, device)
        return cls(tokenizer, models.get("t2s"), models.get("s2a_1layer"), models.get("s2a_full"), duration, preset,
                   sampling, precision, progress, aligner=aligner, quantize=quantize, loaders=loaders)

    # -- the API ------------------------------------------------------------------------------

    def clone(self, prompt, prompt_text: str, text: str, language: str = "en", prompt_language: str | None = None,
              duration: float | None = None, speed: float = 1.0, seed: int | None = None) -> CloneResult:
        """Say `text` in the voice of `prompt` (a file, or (samples, sample_rate))."""
        request = CloneRequest(prompt, prompt_text, text, language, prompt_language, duration, speed, seed)
        return self.clone_batch([request])[0]

    def edit(self, audio, text: str, new_text: str, language: str = "en", span: tuple[float, float] | None = None,
             seed: int | None = None):
        """Make the recording `audio` (a file, or (samples, sample_rate)) that says `text` say
        `new_text`, regenerating only the changed words (maskvox.edit). Returns an EditResult:
        the audio at the input's rate and the edited spans in seconds of input and output."""
        from .edit import EditRequest, edit_speech

        return edit_speech(self, EditRequest(audio, text, new_text, language, span, seed))

    def clone_batch(self, requests: Sequence[CloneRequest], batch_size: int = 8,
                    return_errors: bool = False) -> list[CloneResult]:
        """Results in the order of `requests`; up to `batch_size` pieces per forward pass.
        Any bad request raises its UserError before any generation; with `return_errors` its
        UserError takes its place in the results instead and the others are generated."""
        if batch_size < 1:
            raise UserError(f"the batch size must be at least 1, got {batch_size}")
        self.last_timings = {}
        with torch.inference_mode():
            items: list[PreparedRequest | UserError] = []
            for request in requests:
                try:
                    items.append(self._prepare_sized(request))
                except UserError as err:
                    if not return_errors:
                        raise
                    items.append(err)
            jobs = [job for index, item in enumerate(items) if not isinstance(item, UserError)
                    for job in self._jobs(index, item)]
            self._generate(jobs, items, batch_size)
        return [item if isinstance(item, UserError) else self._result(index, item, jobs)
                for index, item in enumerate(items)]

    def _prepare_sized(self, request: CloneRequest) -> PreparedRequest:
        item = self.prepare(request)
        for stage in ("prompt", "features"):
            self._stage(stage, item.timings[stage])
        with self._timed("duration", item.timings):
            self._set_lengths(item)
        return item

    def clear_prompt_cache(self) -> None:
        """Forget the prompts read so far (benchmarks: each run tokenizes its own)."""
        self._prompts.clear()

    def prepare(self, request: CloneRequest) -> PreparedRequest:
        """Check a request and read its prompt (cached) and text; no generation. Raises UserError."""
        target_phones = _read_texts(request, self._reader)
        prompt = self._prompt(request)
        budget = MAX_TOTAL_SECONDS * FRAME_RATE_HZ - len(prompt.semantic)
        frames_per_phone = len(prompt.semantic) / len(prompt.phones)

        def rule_cost(piece: str) -> float:
            return len(self._reader.phones(piece, request.language)) * frames_per_phone

        if len(target_phones) * frames_per_phone <= budget:
            pieces = [request.text]
        else:
            pieces = chunk_text(request.text, rule_cost, budget)
        phones = [target_phones] if len(pieces) == 1 else [self._reader.phones(piece, request.language) for piece in pieces]
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        timings = {"prompt": prompt.read_seconds, "features": prompt.tokenize_seconds}
        return PreparedRequest(request, prompt, pieces, phones, seed, timings=timings)

    # -- preparation ----------------------------------------------------------------------------

    def _prompt(self, request: CloneRequest) -> PreparedPrompt:
        """The prompt read and tokenized, or its cached copy (`_read_texts` checked its transcript)."""
        language = _prompt_language(request)
        key = _prompt_key(request.prompt, request.prompt_text, language)
        if key is not None and key in self._prompts:
            self._prompts.move_to_end(key)
            cached = self._prompts[key]
            return PreparedPrompt(cached.audio, cached.phones, cached.semantic, cached.acoustic, 0.0, 0.0)
        started = time.perf_counter()
        audio = _read_prompt_audio(request, self._reader)
        read = time.perf_counter()
        with self._autocast():
            semantic, acoustic = self._tokenize(audio)
        prompt = PreparedPrompt(audio, self._reader.phones(audio.text, language), semantic, acoustic, read - started,
                                time.perf_counter() - read)
        if key is not None:
            self._prompts[key] = prompt
            while len(self._prompts) > self._prompt_cache_size:
                self._prompts.popitem(last=False)
        return prompt

    def _tokenize(self, audio: PromptAudio) -> tuple[torch.Tensor, torch.Tensor]:
        """Semantic ids (P_s,) of the 16 kHz prompt and acoustic ids (P_a, 12) of the 24 kHz one."""
        _, semantic, acoustic = self.tokenize_audio(audio.wav_16k, audio.wav_24k)
        return semantic, acoustic

    def tokenize_audio(self, wav_16k: np.ndarray, wav_24k: np.ndarray):
        """One recording at both rates -> its semantic features (T, D) float32, semantic ids (T,)
        and acoustic ids (T', 12); T and T' can differ by a frame."""
        with self._models.stage(*SEMANTIC_MODELS):  # only prompts need them
            features, _ = self.tokenizer.semantic_features([wav_16k])
            features = features[0].float()
            semantic = self.tokenizer.semantic_codec.quantize(features[None])[0][0]
        codec = self.tokenizer.acoustic_codec
        # Unpadded, as the reference encodes its prompt (padding changes the last frames).
        acoustic = codec.encode(torch.from_numpy(wav_24k)[None].to(self.device), pad=False)[0]
        return features, semantic.to(self.device), acoustic

    def _set_lengths(self, item: PreparedRequest) -> None:
        """Frames of each piece: natural (duration model or rule) or as the user asked."""
        if self.sampling == "reference":
            self._set_reference_lengths(item)
        else:
            self._set_natural_lengths(item)
        for frames, phones in zip(item.frames, item.piece_phones):
            resolve_frames(frames, len(phones))  # a piece too short for its phones: a clear error

    def _set_natural_lengths(self, item: PreparedRequest) -> None:
        request, prompt = item.request, item.prompt
        queries = [LengthQuery(prompt.phones, prompt.audio.wav_16k.size / SEMANTIC_RATE * FRAME_RATE_HZ, phones,
                               request.language) for phones in item.piece_phones]
        natural = self.duration.natural_frames(queries, seed=item.seed)
        item.natural_frames = sum(natural) - _overlap_frames(len(natural))
        all_phones = sum(len(phones) for phones in item.piece_phones)
        total, how = resolve_frames(item.natural_frames, all_phones, request.length_request())  # too short: a clear error
        item.source = "requested" if how == "requested" else self.duration.source
        item.frames = _share(total + _overlap_frames(len(natural)), natural)

    def _set_reference_lengths(self, item: PreparedRequest) -> None:
        """The reference's rule, int(16 kHz samples x target phones / prompt phones / 16000 x 50),
        or int(duration x 50); per piece for a long text."""
        request, prompt = item.request, item.prompt
        samples = prompt.audio.wav_16k.size
        natural = [int(samples * len(phones) / len(prompt.phones) / SEMANTIC_RATE * FRAME_RATE_HZ)
                   for phones in item.piece_phones]
        item.natural_frames = float(sum(natural))
        if request.duration is not None:
            total = request.length_request().requested_frames(item.natural_frames)
            item.frames, item.source = _share(int(total), natural), "requested"
        else:
            item.frames = [max(1, round(frames / request.speed)) for frames in natural]
            item.source = "rule"

    def _jobs(self, index: int, item: PreparedRequest) -> list[Piece]:
        return [
            Piece(torch.tensor(item.prompt.phones + phones, dtype=torch.long), frames, _piece_seed(item.seed, piece), index)
            for piece, (phones, frames) in enumerate(zip(item.piece_phones, item.frames))
        ]

    # -- generation -------------------------------------------------------------------------------

    def _generate(self, jobs: list[Piece], items: list[PreparedRequest], batch_size: int) -> None:
        from tqdm import tqdm

        if self.sampling == "reference":
            batch_size = 1  # the reference's draws depend on the batch; one piece at a time
        order = sorted(range(len(jobs)), key=lambda j: -(len(jobs[j].phones) + jobs[j].frames))
        with tqdm(total=len(jobs), desc="clone", unit="piece", disable=not self.progress, leave=False) as bar:
            for start in range(0, len(order), batch_size):
                batch = [jobs[j] for j in order[start : start + batch_size]]
                spent = self.generate_pieces(batch, [items[job.item].prompt for job in batch])
                for job in batch:
                    for stage, seconds in spent.items():
                        timings = items[job.item].timings
                        timings[stage] = timings.get(stage, 0.0) + seconds / len(batch)
                bar.update(len(batch))

    def generate_pieces(self, batch: list[Piece], prompts: list[PreparedPrompt]) -> dict[str, float]:
        """T2S, S2A and decoding of pieces in one batch (reference mode: one piece), each with its
        prompt's tokens (`semantic`, `acoustic`); fills in each piece's outputs and returns the
        seconds spent per stage."""
        spent: dict[str, float] = {}
        reference = self.sampling == "reference"
        generators = None
        if reference:
            torch.manual_seed(batch[0].seed)
            self._skip_reference_draws()
        else:
            generators = make_generators([job.seed for job in batch], len(batch), self.device)
            for generator in generators:  # so that a piece draws what the reference draws for it
                self._skip_reference_draws(generator)
        # Each stage releases its model at its end (low memory; loading counts in the stage's time).
        with self._timed("t2s", spent), self._autocast(), self._models.stage("t2s"):
            semantic = self.t2s.generate(
                [job.phones for job in batch], [prompt.semantic for prompt in prompts], [job.frames for job in batch],
                self.preset.t2s_steps, self.preset.sampler("t2s", self.sampling), generators,
            )
        semantic_in, acoustic_in = _s2a_inputs(prompts, semantic, trim=not reference)
        s2a_settings = self.preset.sampler("s2a", self.sampling)
        first = None  # layer 1 comes from the 1-layer model, or the full model predicts every layer
        if "s2a_1layer" in self._models:
            with self._timed("s2a_layer1", spent), self._autocast(), self._models.stage("s2a_1layer"):
                first = self.s2a_1layer.generate(semantic_in, acoustic_in, self.preset.s2a_steps[:1], s2a_settings,
                                                 generators=generators)
        with self._timed("s2a_rest", spent), self._autocast(), self._models.stage("s2a_full"):
            codes = self.s2a_full.generate(semantic_in, acoustic_in, self.preset.s2a_steps, s2a_settings,
                                           given_codes=first, generators=generators)
        with self._timed("decode", spent):
            for job, job_semantic, job_codes in zip(batch, semantic, codes):
                wav = self.tokenizer.acoustic_codec.decode(job_codes[None].long())[0]
                job.audio = wav.float().cpu().numpy()
                job.semantic, job.codes = job_semantic.cpu().numpy(), job_codes.cpu().numpy()
        return spent

    def _result(self, index: int, item: PreparedRequest, jobs: list[Piece]) -> CloneResult:
        own = [job for job in jobs if job.item == index]
        audio = crossfade_join([job.audio for job in own], CROSSFADE_FRAMES * self.tokenizer.acoustic_codec.hop_length)
        target = sum(item.frames) - _overlap_frames(len(item.frames))
        timings = dict(item.timings)
        timings["total"] = sum(timings.values())
        return CloneResult(
            audio=audio, sample_rate=ACOUSTIC_RATE, seed=item.seed, target_seconds=target / FRAME_RATE_HZ,
            natural_seconds=item.natural_frames / FRAME_RATE_HZ, duration_source=item.source, pieces=item.pieces,
            prompt_text=item.prompt.audio.text, prompt_seconds=item.prompt.audio.seconds, timings=timings,
            semantic_ids=[job.semantic for job in own], acoustic_ids=[job.codes for job in own],
        )

    # -- helpers ------------------------------------------------------------------------------

    def _skip_reference_draws(self, generator: torch.Generator | None = None) -> None:
        """Consume a generator (default: the global one) as the reference's w2v-BERT forward does
        between the seed and T2S's first draw: transformers 4.41's encoder draws one
        `torch.rand([])` per block of the checkpoint (its layer-drop check), even in eval mode."""
        for _ in range(self._reference_draws):
            torch.rand([], generator=generator, device=self.device if generator is not None else "cpu")

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    @contextlib.contextmanager
    def _timed(self, stage: str, into: dict[str, float] | None = None):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        if into is not None:
            into[stage] = into.get(stage, 0.0) + seconds
        self._stage(stage, seconds)

    def _stage(self, stage: str, seconds: float) -> None:
        self.last_timings[stage] = self.last_timings.get(stage, 0.0) + seconds


class _PhoneReader:
    """Phone ids of texts through the front-end (the reference's cleaning in reference
    sampling), each text read once."""

    def __init__(self, sampling: str):
        self.reference = sampling == "reference"
        self.frontend = TextFrontEnd(normalization="reference" if self.reference else "full")
        self._cache: dict[tuple[str, str], list[int]] = {}

    def phones(self, text: str, language: str, what: str = "text") -> list[int]:
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"the {what} is empty")
        key = (text, language)
        if key not in self._cache:
            self._cache[key] = list(self.frontend(text, language).ids)
        return self._cache[key]


def check_request(request: CloneRequest, sampling: str = "fast") -> None:
    """What can be checked without the models (the command line calls this before loading
    them, so bad input fails at once): the controls, both texts, the prompt recording."""
    reader = _PhoneReader(sampling)
    _read_texts(request, reader)
    _read_prompt_audio(request, reader)


def _read_texts(request: CloneRequest, reader: _PhoneReader) -> list[int]:
    """Check the controls and both texts; the target's phone ids."""
    request.length_request()
    if request.seed is not None and (isinstance(request.seed, bool) or not isinstance(request.seed, int)
                                     or not 0 <= request.seed < 2**63):
        raise UserError(f"the seed must be a non-negative integer, got {request.seed!r}")
    target = reader.phones(request.text, request.language)
    reader.phones(request.prompt_text, _prompt_language(request), "prompt's transcript")
    return target


def _read_prompt_audio(request: CloneRequest, reader: _PhoneReader) -> PromptAudio:
    """The prompt recording, checked; cut and normalised unless in reference sampling."""
    language = _prompt_language(request)
    return load_prompt(request.prompt, request.prompt_text, lambda text: len(reader.phones(text, language)),
                       normalize=not reader.reference, cut=not reader.reference)


def _prompt_language(request: CloneRequest) -> str:
    return request.prompt_language or request.language


def _overlap_frames(pieces: int) -> int:
    """Frames shared by the crossfaded joins of `pieces` pieces."""
    return CROSSFADE_FRAMES * (pieces - 1)


def _check_s2a_steps(preset: InferencePreset, layers: int) -> None:
    if len(preset.s2a_steps) != layers:
        raise ConfigError(f"preset: {len(preset.s2a_steps)} S2A step counts for {layers} acoustic layers")


def _check_quantize(quantize: str, device: torch.device, sampling: str) -> None:
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown quantization '{quantize}' (known: {', '.join(QUANTIZATIONS)})")
    if quantize == "int8" and device.type != "cpu":
        raise UserError("--quantize int8 runs on the CPU only (torch's dynamic int8 layers have no GPU kernels): "
                        "use --device cpu")
    if quantize == "int8" and sampling == "reference":
        raise UserError("reference sampling runs in fp32, as the reference does: drop --quantize int8")


def _resolve_precision(precision: str, device: torch.device, sampling: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
    if precision == "auto":
        on_gpu = device.type == "cuda" and sampling != "reference"
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    if precision != "fp32" and device.type != "cuda":
        raise UserError(f"--precision {precision} needs a CUDA device (the CPU path runs in fp32)")
    if precision != "fp32" and sampling == "reference":
        raise UserError("reference sampling runs in fp32, as the reference does")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _prompt_key(prompt, text: str, language: str) -> tuple | None:
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


def _piece_seed(seed: int, piece: int) -> int:
    """The first piece uses the request's seed itself; later pieces one derived from it."""
    if piece == 0:
        return seed
    return int(np.random.SeedSequence([seed, piece]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _share(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split into integers in proportion to `weights` (largest remainders)."""
    exact = np.asarray(weights, dtype=np.float64)
    exact = exact / exact.sum() * total
    shares = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - shares))[: total - shares.sum()]:
        shares[index] += 1
    return shares.tolist()


def _s2a_inputs(prompts: list[PreparedPrompt], targets: list[torch.Tensor], trim: bool):
    """Semantic ids (prompt + target) and prompt acoustic ids for S2A. The two prompts can
    differ by a frame (the fbank and the codec frame the signal differently); `trim` cuts
    both to the shorter so the output has exactly the target's frames. The reference
    keeps them as they are (its output then has P_s + T - P_a frames)."""
    semantic, acoustic = [], []
    for prompt, target in zip(prompts, targets):
        length = min(len(prompt.semantic), len(prompt.acoustic)) if trim else len(prompt.semantic)
        acoustic_length = length if trim else len(prompt.acoustic)
        semantic.append(torch.cat([prompt.semantic[:length], target]))
        acoustic.append(prompt.acoustic[:acoustic_length])
    return semantic, acoustic


def crossfade_join(pieces: list[np.ndarray], overlap: int) -> np.ndarray:
    """Pieces joined end to start, each join a linear crossfade over `overlap` samples."""
    out = pieces[0].astype(np.float32)
    for piece in pieces[1:]:
        n = min(overlap, out.size, piece.size)
        fade = np.linspace(1.0, 0.0, n, dtype=np.float32)
        joint = out[out.size - n :] * fade + piece[:n] * (1 - fade)
        out = np.concatenate([out[: out.size - n], joint, piece[n:]])
    return out
