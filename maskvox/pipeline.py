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

The sampling mode (`fast`, or `reference`: the reference pipeline's exact computation) is
one object, `maskvox.modes`. Presets are in `maskvox.presets`, reading a request in
`maskvox.request`, device, precision and the models held in `maskvox.runtime`.

Options (`from_pretrained`): `low_memory` holds each big model for its stage only; `quantize="int8"`
runs T2S and S2A with dynamic int8 linear layers on the CPU.

torch and the models are imported where they are used, so `maskvox.Synthesizer` can be named
(`import maskvox` is cheap) without loading them.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .audio import ACOUSTIC_RATE
from .duration.control import FRAME_RATE_HZ, resolve_frames
from .errors import ConfigError, UserError
from .modes import SamplingMode, sampling_mode
from .limits import check_piece_frames
from .pieces import CROSSFADE_FRAMES, Piece, crossfade_join, overlap_frames, piece_seed, split_text
from .presets import InferencePreset, load_preset
from .prompt import PromptAudio
from .quantize import quantize_linear_layers
from .request import CloneRequest, CloneResult, PreparedPrompt, PreparedRequest, RecentCache, RequestReader, prompt_key
from .runtime import HeldTokenizer, ModelHolder, StageClock, autocast, check_quantize, resolve_precision

if TYPE_CHECKING:
    import torch

    from .duration.predictor import DurationPredictor

__all__ = ["Synthesizer", "CloneRequest", "CloneResult", "check_request", "crossfade_join"]

# The big models, each used by one stage: reading a prompt, T2S, S2A layer 1, S2A layers 2-12.
SEMANTIC_MODELS = ("semantic_features", "semantic_codec")
GENERATION_MODELS = ("t2s", "s2a_1layer", "s2a_full")


class Synthesizer:
    def __init__(self, tokenizer, t2s, s2a_1layer, s2a_full, duration: DurationPredictor,
                 preset: str | InferencePreset = "default", sampling: str | SamplingMode = "fast",
                 precision: str = "auto", progress: bool = False, prompt_cache_size: int = 16, aligner=None,
                 quantize: str = "none", loaders: dict[str, Callable[[], torch.nn.Module]] | None = None,
                 reader: RequestReader | None = None, aligned_phones: bool | None = None,
                 s2a_aligned_phones: bool | None = None, s2a_prompt_frames: int = 0):
        """The models built (`from_pretrained` loads a folder). `quantize="int8"`: T2S and S2A
        with dynamic int8 linear layers (`maskvox.quantize`, in place; CPU). `loaders` (low
        memory): name -> function loading that model (SEMANTIC_MODELS, GENERATION_MODELS), for
        the models given as None and to reload those released after their stage. `reader`: the
        RequestReader that checked the requests before the models loaded (`check_request`), so
        their texts and prompts are not read again; it must read as the sampling mode does.
        `aligned_phones`, `s2a_aligned_phones`: whether T2S and the (latent) S2A take frame
        phones (maskvox/frame_phones.py); default: what the model given says (pass them when
        the models come from loaders). `s2a_prompt_frames`: the S2A config's
        `max_prompt_frames`, when S2A comes from a loader."""
        self.mode = sampling_mode(sampling)
        self.sampling = self.mode.name
        self.duration = duration
        self.preset = load_preset(preset)
        if s2a_full is not None:  # (with loaders only, from_pretrained checked the configured layers)
            self.preset.check_layers(s2a_full.num_quantizer)
        # T2S's device; the acoustic codec, always held, is on the same one when T2S is not loaded yet.
        self.device = next((t2s if t2s is not None else tokenizer.acoustic_codec).parameters()).device
        self.dtype = resolve_precision(precision, self.device, self.mode.exact)
        check_quantize(quantize, self.device, self.mode.exact)
        self.quantize = quantize
        self.progress = progress
        self.aligner = aligner  # maskvox.aligner.Aligner, for speech editing (None: regions given by hand)
        if aligned_phones is None:
            aligned_phones = getattr(t2s, "frame_phones", None) is not None
        if s2a_aligned_phones is None:
            s2a_aligned_phones = getattr(s2a_full, "frame_phones", None) is not None
        # Frame phones in fast mode only (the reference has no such input).
        self.aligned_phones = aligned_phones and not self.mode.exact
        self.s2a_aligned_phones = s2a_aligned_phones and not self.mode.exact
        # The longest prompt S2A reads (its config's max_prompt_frames; 0: all of it).
        self.s2a_prompt_frames = s2a_full.cfg.max_prompt_frames if s2a_full is not None else s2a_prompt_frames
        self.reader = reader or self.mode.reader(keep_prompts=0)  # (tokenized prompts have their own cache)
        built = {"semantic_features": tokenizer.semantic_features, "semantic_codec": tokenizer.semantic_codec,
                 "t2s": t2s, "s2a_1layer": s2a_1layer, "s2a_full": s2a_full}
        self.models = ModelHolder(built, loaders or {}, self._ready)
        self.tokenizer = HeldTokenizer(tokenizer.acoustic_codec, self.models)
        self.clock = StageClock(self.device)
        # The draws of the reference's w2v-BERT forward (`_skip_reference_draws`), counted now:
        # generation then needs no semantic model (low memory has released it by then).
        self._reference_draws = self.tokenizer.semantic_features.source_layers
        self._prompts = RecentCache(prompt_cache_size)  # tokenized prompts, by prompt_key

    # The big models, from the holder: in low memory, loaded on first use, released after their stage.
    t2s = property(lambda self: self.models.get("t2s"))
    s2a_1layer = property(lambda self: self.models.get("s2a_1layer"))
    s2a_full = property(lambda self: self.models.get("s2a_full"))

    @property
    def last_timings(self) -> dict[str, float]:
        """Wall seconds per stage of the last `clone_batch`."""
        return self.clock.totals

    @property
    def frontend(self):
        """The text front-end (maskvox.text.TextFrontEnd) this synthesizer reads texts with."""
        return self.reader.frontend

    def phones(self, text: str, language: str, what: str = "text") -> list[int]:
        """Phone ids of `text` (each text is read once); UserError naming `what` if it is empty."""
        return self.reader.phones(text, language, what)

    def _ready(self, name: str, model):
        """A big model as it comes in (again after each reload, in low memory)."""
        if name == "semantic_features":
            model.use_reference_attention(self.mode.exact)
        elif name in GENERATION_MODELS and self.quantize == "int8":
            model = quantize_linear_layers(model)
        return model

    @classmethod
    def from_pretrained(cls, location: str | Path | None = None, preset: str | InferencePreset = "default",
                        device: str = "auto", sampling: str = "fast", precision: str = "auto",
                        progress: bool = False, low_memory: bool = False, quantize: str = "none",
                        reader: RequestReader | None = None) -> "Synthesizer":
        """All models of a folder in the official layout or a hub repo (default: the demo
        checkpoint shipped with maskvox). The duration model is used when the location has
        one, else the reference's length rule.

        `low_memory`: w2v-BERT + the semantic codec, T2S and the S2A models are each loaded
        for their stage only and released after it (the acoustic codec, the duration model and
        the aligner stay), so the peak is the biggest stage's, not all of the ~8.2 GB that the
        official sizes take at once; the price is reading them again for every prompt and batch.
        The audio is the same. `quantize="int8"`: see `maskvox.quantize` (CPU only). `reader`: see
        `Synthesizer`."""
        import torch

        from .aligner import Aligner
        from .candidates import check_candidates_supported
        from .checkpoint import default_model_location, load_model_config, official_file
        from .codecs.pretrained import load_semantic_codec, load_semantic_features
        from .duration.predictor import DurationPredictor
        from .s2a.model import load_s2a
        from .t2s.model import load_t2s
        from .tokenizer import SpeechTokenizer, pick_device

        location = str(location or default_model_location())
        # A bad preset, mode, device, precision or quantization fails before the slow loading.
        preset_name = preset
        preset, mode, device = load_preset(preset), sampling_mode(sampling), pick_device(device)
        check_quantize(quantize, torch.device(device), mode.exact)
        resolve_precision(precision, torch.device(device), mode.exact)
        cfg = load_model_config(location)
        preset = load_preset(preset_name, cfg.sampling)  # the model's own sampling settings over a named preset
        preset.check_layers(cfg.s2a_full.num_quantizer)
        if preset.t2s_candidates > 1:  # before the slow loading
            check_candidates_supported(cfg.aligner is not None, cfg.semantic_codec.kind == "kmeans")
        check_latent_width(cfg)
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
        tokenizer = SpeechTokenizer.from_pretrained(location, device=device, semantic="yes", cfg=cfg)
        if low_memory:
            for name in generation:
                official_file(location, name)  # missing weights fail now, not in the middle of a clone
            models = {}
        else:
            models, loaders = {name: loaders[name]() for name in generation}, None
        duration = DurationPredictor.from_pretrained(location, device, model_cfg=cfg)
        aligner = None if cfg.aligner is None else Aligner.from_pretrained(location, device, model_cfg=cfg)
        return cls(tokenizer, models.get("t2s"), models.get("s2a_1layer"), models.get("s2a_full"), duration, preset,
                   mode, precision, progress, aligner=aligner, quantize=quantize, loaders=loaders, reader=reader,
                   aligned_phones=cfg.t2s.aligned_phones, s2a_aligned_phones=cfg.s2a_full.aligned_phones,
                   s2a_prompt_frames=cfg.s2a_full.max_prompt_frames)

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

    def convert(self, source, prompt, prompt_text: str = "", language: str = "en", seed: int | None = None,
                source_pitch_shift: float = 0.0, batch_size: int = 8):
        """Say what the recording `source` says, with its timing and prosody, in the voice of
        `prompt` (each a file, or (samples, sample_rate)): zero-shot voice conversion
        (maskvox.convert). Returns a ConvertResult: 24 kHz audio exactly as long as the source."""
        from .convert import ConvertRequest, convert_speech

        return convert_speech(self, ConvertRequest(source, prompt, prompt_text, language, seed, source_pitch_shift),
                              batch_size)

    def clone_batch(self, requests: Sequence[CloneRequest], batch_size: int = 8,
                    return_errors: bool = False) -> list[CloneResult]:
        """Results in the order of `requests`; up to `batch_size` pieces per forward pass.
        Any bad request raises its UserError before any generation; with `return_errors` its
        UserError takes its place in the results instead and the others are generated."""
        import torch

        if batch_size < 1:
            raise UserError(f"the batch size must be at least 1, got {batch_size}")
        self.clock.totals = {}
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

    def clear_prompt_cache(self) -> None:
        """Forget the prompts read so far (benchmarks: each run tokenizes its own)."""
        self._prompts.clear()

    def prepare(self, request: CloneRequest) -> PreparedRequest:
        """Check a request and read its prompt (cached) and text; no generation. Raises UserError."""
        target_phones = self.reader.texts(request)
        prompt = self.prompt_tokens(request)
        pieces = split_text(request.text, lambda piece: self.phones(piece, request.language), len(prompt.semantic),
                            len(prompt.phones))
        phones = [target_phones] if len(pieces) == 1 else [self.phones(piece, request.language) for piece in pieces]
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        timings = {"prompt": prompt.read_seconds, "features": prompt.tokenize_seconds}
        return PreparedRequest(request, prompt, pieces, phones, seed, timings=timings)

    def tokenize_audio(self, wav_16k: np.ndarray, wav_24k: np.ndarray):
        """One recording at both rates -> its semantic features (T, D) float32, semantic ids (T,)
        and acoustic ids (T', 12); T and T' can differ by a frame."""
        import torch

        features, semantic = self.semantic_tokens(wav_16k)
        with autocast(self.device, self.dtype):
            # Unpadded, as the reference encodes its prompt (padding changes the last frames).
            acoustic = self.tokenizer.acoustic_codec.encode(torch.from_numpy(wav_24k)[None].to(self.device), pad=False)[0]
        return features, semantic, acoustic

    def semantic_tokens(self, wav_16k: np.ndarray):
        """A 16 kHz recording -> its semantic features (T, D) float32 and semantic ids (T,)."""
        features = self.semantic_features(wav_16k)
        with self.models.stage("semantic_codec"), autocast(self.device, self.dtype):
            semantic = self.tokenizer.semantic_codec.quantize(features[None])[0][0]
        return features, semantic.to(self.device)

    def semantic_features(self, wav_16k: np.ndarray):
        """A 16 kHz recording -> its semantic features (T, D) float32 (what the aligner reads)."""
        with self.models.stage("semantic_features"), autocast(self.device, self.dtype):  # only recordings read need it
            features, _ = self.tokenizer.semantic_features([wav_16k])
        return features[0].float()

    def generate_tokens(self, phones: list[torch.Tensor], prompt_semantic: list[torch.Tensor],
                        prompt_acoustic: list[torch.Tensor], frames: list[int], generators=None,
                        known: torch.Tensor | None = None, known_semantic: torch.Tensor | None = None,
                        known_codes: torch.Tensor | None = None, spent: dict[str, float] | None = None,
                        prompt_owners: list[torch.Tensor | None] | None = None,
                        frame_owners: list[torch.Tensor] | None = None, decoded: list[np.ndarray] | None = None):
        """T2S, then S2A (layer 1, then the rest), for a batch: the target semantic ids (T_b,)
        and acoustic ids (T_b, 12) of each item, given its phones (prompt's + target's), its
        prompt's semantic (P_s,) and acoustic (P_a, 12) ids (may be empty) and its length.
        `known` (B, max T) with `known_semantic` (B, max T) and `known_codes` (B, max T, 12)
        fix some target frames (speech editing). A T2S or S2A with alignment help is given frame
        phones when `prompt_owners` is given (each item's prompt phone count and frame owners:
        `PreparedPrompt`), or `frame_owners`, each item's owners over its prompt and target frames
        whole (an edit window's, `maskvox.edit_phones`). Seconds per stage are added to `spent`.
        Clones whose drafts were judged by their audio (`t2s_candidate_judge: audio`) put the kept
        drafts' audio in `decoded` when it is given (else it stays empty): no need to decode again."""
        from .candidates import best_drafts, check_candidates_supported, draft_generators

        preset, mode = self.preset, self.mode
        plans = None  # each item's frame owners over its prompt's semantic ids and its target
        # Drafts for clones (prompt phones known), not edits (known frames) or reference sampling.
        cloning = prompt_owners is not None and known is None and generators is not None
        drafts = preset.t2s_candidates if cloning else 1
        if drafts > 1:
            check_candidates_supported(self.aligner is not None, hasattr(self.tokenizer.semantic_codec, "decode_ids"))
            item_generators, generators = generators, draft_generators(generators, drafts)
        # Each stage releases its model at its end (low memory; loading counts in the stage's time).
        with self.clock("t2s", spent), autocast(self.device, self.dtype), self.models.stage("t2s"):
            if frame_owners is not None and self.aligned_phones:
                plans = frame_owners
            elif prompt_owners is not None and self.aligned_phones:
                plans = frame_plans(self.t2s.frame_phones, phones, prompt_owners, prompt_semantic, frames)
            if drafts > 1:  # every item's drafts in one batch, item by item
                semantic = self.t2s.generate(repeat(phones, drafts), repeat(prompt_semantic, drafts),
                                             repeat(frames, drafts), preset.t2s_steps, preset.sampler("t2s", mode.name),
                                             generators, None, None, repeat(plans, drafts))
            else:
                semantic = self.t2s.generate(phones, prompt_semantic, frames, preset.t2s_steps,
                                             preset.sampler("t2s", mode.name), generators, known, known_semantic,
                                             plans)
        targets = [] if drafts == 1 else [item[count:].tolist() for item, (count, _) in zip(phones, prompt_owners)]
        if drafts > 1 and preset.t2s_candidate_judge == "ids":
            semantic = best_drafts(semantic, drafts, self.aligner, self.tokenizer.semantic_codec, targets)
            generators, drafts = item_generators, 1
        said = None
        if frame_owners is not None and self.s2a_aligned_phones:
            said = (phones, frame_owners)
        elif prompt_owners is not None and self.s2a_aligned_phones:
            said = (phones, plans if plans is not None else prompt_owners)
        if drafts > 1:  # judged by their audio: S2A and the decoder on every draft
            prompt_semantic, prompt_acoustic = repeat(prompt_semantic, drafts), repeat(prompt_acoustic, drafts)
            said = None if said is None else (repeat(said[0], drafts), repeat(said[1], drafts))
        codes = self.generate_acoustic(semantic, prompt_semantic, prompt_acoustic, generators, known, known_codes,
                                       spent, said)
        if drafts > 1:
            return self._keep_best_heard(semantic, codes, drafts, targets, spent, decoded)
        return semantic, codes

    def _keep_best_heard(self, semantic: list[torch.Tensor], codes: list[torch.Tensor], drafts: int,
                         targets: list[list[int]], spent: dict[str, float] | None, decoded: list | None):
        """Every draft (B * drafts, item by item) decoded, its audio's semantic features read by the
        aligner; each item's best draft's ids, codes and (into `decoded`) audio."""
        from .audio import resample
        from .candidates import best_of_each, heard_score

        audio = [self.decode(ids, spent) for ids in codes]
        with self.clock("judge", spent):
            scores = [heard_score(self.aligner, self.semantic_features(resample(wav, 24000, 16000)),
                                  targets[index // drafts]) for index, wav in enumerate(audio)]
        kept = best_of_each(scores, drafts)
        if decoded is not None:
            decoded.extend(audio[index] for index in kept)
        return [semantic[index] for index in kept], [codes[index] for index in kept]

    def generate_acoustic(self, semantic: list[torch.Tensor], prompt_semantic: list[torch.Tensor],
                          prompt_acoustic: list[torch.Tensor], generators=None, known: torch.Tensor | None = None,
                          known_codes: torch.Tensor | None = None, spent: dict[str, float] | None = None,
                          said: tuple[list[torch.Tensor], list] | None = None):
        """S2A (layer 1, then the rest) for a batch: the acoustic ids (T_b, L) of each item's target
        semantic ids (T_b,), given its prompt's semantic (P_s,) and acoustic (P_a, 12) ids; `known`
        and `known_codes` as in `generate_tokens`. T2S's output, or a recording's ids (voice conversion).
        L is the S2A model's layer count: 12, or fewer, which the codec decodes alone (the demo's 4).
        `said` (an S2A with alignment help): each item's phone ids, and either its frame owners
        over prompt + target (T2S's plans) or its prompt's (phone count, owners)."""
        import torch

        preset, mode = self.preset, self.mode
        semantic_in, acoustic_in, kept = s2a_inputs(prompt_semantic, prompt_acoustic, semantic, mode.trim_prompt,
                                                    self.s2a_prompt_frames)
        settings = preset.sampler("s2a", mode.name)
        extra = {}
        first = None  # layer 1 comes from the 1-layer model, or the full model predicts every layer
        if "s2a_1layer" in self.models:
            with self.clock("s2a_layer1", spent), autocast(self.device, self.dtype), self.models.stage("s2a_1layer"):
                first = self.s2a_1layer.generate(semantic_in, acoustic_in, preset.s2a_steps[:1], settings,
                                                 generators=generators, known=known, known_codes=known_codes)
        with self.clock("s2a_rest", spent), autocast(self.device, self.dtype), self.models.stage("s2a_full"):
            if said is not None:
                phones, plans = said
                if not isinstance(plans[0], torch.Tensor):  # prompts' owners: spread the targets' phones
                    plans = frame_plans(self.s2a_full.frame_phones, phones, plans, prompt_semantic,
                                        [len(ids) for ids in semantic])
                # The prompt frames s2a_inputs kept, with their frame owners.
                extra["frame_phones"] = [(p, torch.cat([plan[start:stop], plan[len(prompt):]]))
                                         for p, plan, (start, stop), prompt in zip(phones, plans, kept, prompt_semantic)]
            steps = preset.s2a_layer_steps(self.s2a_full.num_quantizer)
            codes = self.s2a_full.generate(semantic_in, acoustic_in, steps, settings, given_codes=first,
                                           generators=generators, known=known, known_codes=known_codes, **extra)
        return codes

    def decode(self, codes: torch.Tensor, spent: dict[str, float] | None = None) -> np.ndarray:
        """Acoustic ids (T, L <= 12), or a latent S2A's latents (T, D) float -> 24 kHz samples
        (T x hop,) float32."""
        codec = self.tokenizer.acoustic_codec
        with self.clock("decode", spent):
            if codes.is_floating_point():
                return codec.decode_latents(codes[None].float())[0].float().cpu().numpy()
            return codec.decode(codes[None].long())[0].float().cpu().numpy()

    def generate_pieces(self, batch: list[Piece], prompts: list[PreparedPrompt]) -> dict[str, float]:
        """T2S, S2A and decoding of pieces in one batch (reference mode: one piece), each with its
        prompt's tokens; fills in each piece's outputs and returns the seconds spent per stage."""
        spent: dict[str, float] = {}
        generators = self.mode.generators([job.seed for job in batch], self.device, self._skip_reference_draws)
        decoded = []  # the clones' audio when the drafts were judged by it
        semantic, codes = self.generate_tokens(
            [job.phones for job in batch], [prompt.semantic for prompt in prompts],
            [prompt.acoustic for prompt in prompts], [job.frames for job in batch], generators, spent=spent,
            prompt_owners=[(len(prompt.phones), prompt.frame_owners) for prompt in prompts], decoded=decoded,
        )
        for index, (job, job_semantic, job_codes) in enumerate(zip(batch, semantic, codes)):
            job.audio = decoded[index] if decoded else self.decode(job_codes, spent)
            job.semantic, job.codes = job_semantic.cpu().numpy(), job_codes.cpu().numpy()
        return spent

    # -- preparation ----------------------------------------------------------------------------

    def _prepare_sized(self, request: CloneRequest) -> PreparedRequest:
        item = self.prepare(request)
        for stage in ("prompt", "features"):
            self.clock.add(stage, item.timings[stage])
        with self.clock("duration", item.timings):
            self.mode.set_lengths(item, self.duration)
            for frames, phones in zip(item.frames, item.piece_phones):
                resolve_frames(frames, len(phones))  # a piece too short for its phones: a clear error
                check_piece_frames(frames)  # or too long: checked before any generation
        return item

    def prompt_tokens(self, request: CloneRequest) -> PreparedPrompt:
        """The prompt read and tokenized, or its cached copy (`reader.texts` checked its transcript;
        a voice conversion's prompt may have none, and then no phones)."""
        language = request.language_of_prompt
        key = prompt_key(request.prompt, request.prompt_text, language)
        cached = self._prompts.get(key)
        if cached is not None:
            return PreparedPrompt(cached.audio, cached.phones, cached.semantic, cached.acoustic, 0.0, 0.0,
                                  cached.frame_owners)
        started = time.perf_counter()
        audio = self.reader.prompt_audio(request)
        read = time.perf_counter()
        features, semantic, acoustic = self.tokenize_audio(audio.wav_16k, audio.wav_24k)
        phones = self.phones(audio.text, language) if audio.text.strip() else []
        prompt = PreparedPrompt(audio, phones, semantic, acoustic, read - started,
                                time.perf_counter() - read, self.prompt_frame_owners(features, phones))
        self._prompts.keep(key, prompt)
        return prompt

    def prompt_frame_owners(self, features: torch.Tensor, phones: list[int]) -> torch.Tensor | None:
        """Each prompt frame's position in its phones, for a T2S with alignment help: the
        aligner's, when it aligns with the confidence editing asks; else None (T2S then
        spreads the prompt's phones over its frames by their mean lengths)."""
        import torch

        from .edit import MIN_ALIGNMENT_CONFIDENCE

        if not (self.aligned_phones or self.s2a_aligned_phones) or self.aligner is None or not phones:
            return None
        aligned = self.aligner.frame_owners(features, phones)
        if aligned is None or aligned[1] < MIN_ALIGNMENT_CONFIDENCE:
            return None
        return torch.from_numpy(aligned[0]).to(self.device)

    def _jobs(self, index: int, item: PreparedRequest) -> list[Piece]:
        import torch

        return [
            Piece(torch.tensor(item.prompt.phones + phones, dtype=torch.long), frames, piece_seed(item.seed, piece), index)
            for piece, (phones, frames) in enumerate(zip(item.piece_phones, item.frames))
        ]

    # -- generation -------------------------------------------------------------------------------

    def _generate(self, jobs: list[Piece], items: list[PreparedRequest], batch_size: int) -> None:
        from tqdm import tqdm

        batch_size = min(batch_size, self.mode.max_batch or batch_size)
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

    def _result(self, index: int, item: PreparedRequest, jobs: list[Piece]) -> CloneResult:
        own = [job for job in jobs if job.item == index]
        audio = crossfade_join([job.audio for job in own], CROSSFADE_FRAMES * self.tokenizer.acoustic_codec.hop_length)
        target = sum(item.frames) - overlap_frames(len(item.frames))
        timings = dict(item.timings)
        timings["total"] = sum(timings.values())
        return CloneResult(
            audio=audio, sample_rate=ACOUSTIC_RATE, seed=item.seed, target_seconds=target / FRAME_RATE_HZ,
            natural_seconds=item.natural_frames / FRAME_RATE_HZ, duration_source=item.source, pieces=item.pieces,
            prompt_text=item.prompt.audio.text, prompt_seconds=item.prompt.audio.seconds, timings=timings,
            semantic_ids=[job.semantic for job in own], acoustic_ids=[job.codes for job in own],
        )

    def _skip_reference_draws(self, generator: torch.Generator | None = None) -> None:
        """Consume a generator (default: the global one) as the reference's w2v-BERT forward does
        between the seed and T2S's first draw: transformers 4.41's encoder draws one
        `torch.rand([])` per block of the checkpoint (its layer-drop check), even in eval mode."""
        import torch

        for _ in range(self._reference_draws):
            torch.rand([], generator=generator, device=self.device if generator is not None else "cpu")


def check_latent_width(cfg) -> None:
    """A latent S2A (s2a/latent.py) writes what the acoustic codec's decoder reads: same width."""
    s2a, width = cfg.s2a_full, cfg.acoustic_codec.decoder.in_channels
    if s2a.target == "latent" and s2a.latent_dim != width:
        raise ConfigError(f"s2a_full.latent_dim is {s2a.latent_dim} but the acoustic codec's decoder reads {width} "
                          "channels: the latent S2A was trained for another codec")


def check_request(request: CloneRequest, sampling: str = "fast", reader: RequestReader | None = None) -> PromptAudio:
    """What can be checked without the models (the command line calls this before loading
    them, so bad input fails at once): the controls, both texts, the prompt recording. Give
    the same `reader` to the Synthesizer and nothing is read twice."""
    return (reader or sampling_mode(sampling).reader()).check(request)


def frame_plans(frame_phones, phones: list[torch.Tensor], prompt_owners: list, prompt_semantic: list[torch.Tensor],
                frames: list[int]) -> list[torch.Tensor]:
    """Each item's frame owners over its prompt's semantic ids and its `frames` target frames
    (`FramePhones.plan`), from its phone ids and its prompt's (phone count, owners or None)."""
    return [frame_phones.plan(p, count, len(q), n, owners)
            for p, (count, owners), q, n in zip(phones, prompt_owners, prompt_semantic, frames)]


def kept_prompt(semantic_frames: int, acoustic_frames: int, trim: bool, longest: int = 0) -> tuple[int, int]:
    """The prompt frames S2A reads, (start, stop) of its semantic ids. The two prompts can
    differ by a frame (the fbank and the codec frame the signal differently); `trim` cuts
    both to the shorter so the output has exactly the target's frames (the reference keeps
    them as they are: its output then has P_s + T - P_a frames). `longest` > 0 (an S2A's
    `max_prompt_frames`) keeps only the prompt's last `longest` frames."""
    stop = min(semantic_frames, acoustic_frames) if trim else semantic_frames
    return (max(0, stop - longest) if longest > 0 else 0), stop


def s2a_inputs(prompt_semantic: list[torch.Tensor], prompt_acoustic: list[torch.Tensor],
               targets: list[torch.Tensor], trim: bool, longest: int = 0):
    """Semantic ids (prompt + target) and prompt acoustic ids for S2A, and the (start, stop)
    of each prompt's semantic ids kept (`kept_prompt`)."""
    import torch

    semantic, acoustic, kept = [], [], []
    for prompt_s, prompt_a, target in zip(prompt_semantic, prompt_acoustic, targets):
        start, stop = kept_prompt(len(prompt_s), len(prompt_a), trim, longest)
        acoustic_stop = stop if trim else len(prompt_a)
        semantic.append(torch.cat([prompt_s[start:stop], target]))
        acoustic.append(prompt_a[start:acoustic_stop])
        kept.append((start, stop))
    return semantic, acoustic, kept


def repeat(values: list | None, count: int) -> list | None:
    """Each value `count` times in a row (an item's drafts side by side); None stays None."""
    return None if values is None else [value for value in values for _ in range(count)]
