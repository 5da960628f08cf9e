"""Zero-shot voice conversion: what a recording says, with its timing and prosody, in another voice.

    result = synth.convert("speech.wav", "voice.wav", seed=0)
    result.audio, result.sample_rate   # 24 kHz, exactly as long as the source

S2A turns semantic ids plus a prompt's acoustic ids into speech in the prompt's voice. Here the
semantic ids are the source recording's own (not T2S's), so the words, timing and prosody are
the source's and the voice is the prompt's. No text is needed: the prompt's transcript, when
given, only chooses where a prompt over 15 s is cut (at a sentence end; without it, at the
latest pause).

Length: the output has exactly N = round(source seconds x 24000) samples. The source's
semantic ids (50 Hz) are cut, or extended by repeating the last frame, to F = ceil(N / hop)
frames (the semantic front end and the codec frame a signal slightly differently); the F
frames decode to F x hop >= N samples, of which the first N are kept.

Windows: the models were trained on prompt + target under 30 s (`MAX_TOTAL_SECONDS`). A longer
source is converted in windows of at most 30 s less the prompt, cut at the quietest frame
within a second of evenly spaced cuts. Neighbouring windows share CROSSFADE_FRAMES frames and
are joined by `pieces.crossfade_join` over exactly those samples, so the joined audio is still
F x hop samples. Every window has the same prompt; window k draws with `piece_seed(seed, k)`,
so a window's audio does not depend on how many are generated together. The source's semantic
features are read in chunks of at most 30 s (with a second of context each side) for the same
reason and to bound the encoder's memory.

Timbre leakage: the semantic ids carry a little of the source speaker. `source_pitch_shift`
(semitones, default 0: off) shifts the source's pitch and formants together before it is
tokenized (Rubber Band without formant preservation, the length kept to the sample), as
timbre-perturbation voice conversion does; recipes/convert/evaluate.py sweeps it.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audio import ACOUSTIC_RATE, SEMANTIC_RATE
from .dub.stretch import check_rubberband, exact_length
from .edit import Recording, read_recording
from .errors import UserError
from .limits import FRAME_RATE_HZ, MAX_PITCH_SHIFT_SEMITONES, check_range
from .pieces import CROSSFADE_FRAMES, MAX_TOTAL_SECONDS, crossfade_join, piece_seed
from .prompt import frame_levels_db
from .request import RequestReader, check_seed

if TYPE_CHECKING:
    import torch

MAX_TOTAL_FRAMES = round(MAX_TOTAL_SECONDS * FRAME_RATE_HZ)  # prompt + window, as the models were trained
CUT_SEARCH_FRAMES = FRAME_RATE_HZ  # a window's end is the quietest frame within 1 s of its even cut
FEATURE_CHUNK_FRAMES = MAX_TOTAL_FRAMES  # semantic features read 30 s at a time ...
FEATURE_CONTEXT_FRAMES = FRAME_RATE_HZ  # ... with 1 s of context each side (dropped)
SAMPLES_PER_FRAME_16K = SEMANTIC_RATE // FRAME_RATE_HZ


@dataclass
class ConvertRequest:
    source: str | Path | tuple[np.ndarray, int] | Recording  # what to say, and how
    prompt: str | Path | tuple[np.ndarray, int]  # whose voice
    prompt_text: str = ""  # optional: only where a prompt over 15 s is cut
    language: str = "en"  # of prompt_text
    seed: int | None = None
    source_pitch_shift: float = 0.0  # semitones, applied to the source before tokenizing (0: off)

    @property
    def language_of_prompt(self) -> str:  # (RequestReader.prompt_audio reads a prompt by these names)
        return self.language


@dataclass
class ConvertResult:
    audio: np.ndarray  # (N,) float32 at 24 kHz, N = round(source seconds x 24000)
    sample_rate: int
    seed: int
    source_seconds: float
    prompt_seconds: float
    windows: list[tuple[int, int]]  # [start, end) source frames of each window
    source_pitch_shift: float
    timings: dict[str, float] = field(default_factory=dict)
    semantic_ids: np.ndarray | None = None  # (F,) the source's, as converted
    acoustic_ids: list[np.ndarray] = field(default_factory=list)  # per window: (end - start, 12)

    @property
    def seconds(self) -> float:
        return self.audio.size / self.sample_rate

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 4), "samples": int(self.audio.size),
                "source_seconds": round(self.source_seconds, 4), "prompt_seconds": round(self.prompt_seconds, 4),
                "windows": len(self.windows), "seed": self.seed, "source_pitch_shift": self.source_pitch_shift,
                "timings": {stage: round(seconds, 4) for stage, seconds in self.timings.items()}}


# -- checks and reading -----------------------------------------------------------------------------

def check_convert_request(request: ConvertRequest, reader: RequestReader) -> Recording:
    """What can be checked before the models load: `read_source`, and the prompt (through
    `reader`: give the same one to the Synthesizer and it is not read again)."""
    source = read_source(request)
    reader.prompt_audio(request)
    return source


def read_source(request: ConvertRequest) -> Recording:
    """The seed, the pitch shift and the source recording checked (a file's length from its
    header, before its samples are read); the source as read."""
    check_seed(request.seed)
    check_pitch_shift(request.source_pitch_shift)
    return read_recording(request.source, "the source", lift="convert it in shorter files")


def check_pitch_shift(semitones: float) -> None:
    check_range(semitones, -MAX_PITCH_SHIFT_SEMITONES, MAX_PITCH_SHIFT_SEMITONES, "the source pitch shift (semitones)")
    if semitones:
        check_rubberband()


def shift_pitch(wav: np.ndarray, rate: int, semitones: float) -> np.ndarray:
    """`wav` (n,) with its pitch and formants shifted by `semitones` (a higher, smaller-sounding
    voice for > 0), still n samples: the timbre perturbation applied to a source before it is
    tokenized. 0 returns the samples as they are."""
    if not semitones:
        return wav
    check_rubberband()
    import pyrubberband

    # No --formant: the formants move with the pitch, which is what hides the speaker.
    shifted = pyrubberband.pitch_shift(wav, rate, semitones, rbargs={"--fine": ""}).astype(np.float32)
    return exact_length(shifted, wav.size)


# -- the plan -----------------------------------------------------------------------------------------

def output_samples(recording: Recording) -> int:
    """N: the source's length at 24 kHz, to the sample."""
    return round(recording.samples.shape[0] * ACOUSTIC_RATE / recording.rate)


def fit_frames(ids: torch.Tensor, frames: int) -> torch.Tensor:
    """Semantic ids (T,) cut, or extended by repeating the last one, to `frames`."""
    import torch

    if len(ids) >= frames:
        return ids[:frames]
    return torch.cat([ids, ids[-1:].expand(frames - len(ids))])


def plan_windows(frames: int, budget: int, levels_db: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each window over `frames` source frames: one when they fit in `budget`,
    else as few as fit, each at most `budget`, consecutive windows sharing CROSSFADE_FRAMES,
    each cut at the quietest frame (`levels_db` (>= frames,): each frame's level) near an even
    split, the nearest of equally quiet ones."""
    overlap = CROSSFADE_FRAMES
    if budget <= 2 * overlap:
        raise UserError("the prompt leaves no room for the source in the models' 30 s: give a shorter prompt")
    search = min(CUT_SEARCH_FRAMES, budget // 4)  # (so no window is much shorter than the others)
    windows, start = [], 0
    while frames - start > budget:
        left = math.ceil((frames - start - overlap) / (budget - overlap))  # windows still needed
        even = start + math.ceil((frames - start + (left - 1) * overlap) / left)
        # Not so early that the rest would need one more window, nor later than the budget.
        low = max(start + overlap + 1, even - search, frames - (left - 1) * (budget - overlap))
        high = min(start + budget, even + search)
        end = min(range(low, high + 1), key=lambda frame: (levels_db[frame], abs(frame - even)))
        windows.append((start, end))
        start = end - overlap
    windows.append((start, frames))
    return windows


# -- converting ---------------------------------------------------------------------------------------

def convert_speech(synth, request: ConvertRequest, batch_size: int = 8) -> ConvertResult:
    """`Synthesizer.convert`: see the module's docstring."""
    import torch
    from tqdm import tqdm

    from .sampling import make_generators

    if synth.mode.exact:
        raise UserError("voice conversion needs fast sampling (the reference pipeline has no conversion)")
    if batch_size < 1:
        raise UserError(f"the batch size must be at least 1, got {batch_size}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    recording = read_source(request)
    source_16k = shift_pitch(recording.wav_16k, SEMANTIC_RATE, request.source_pitch_shift)
    timings["read"] = time.perf_counter() - clock
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    hop = synth.tokenizer.acoustic_codec.hop_length
    samples = output_samples(recording)
    frames = math.ceil(samples / hop)
    with torch.inference_mode():
        clock = time.perf_counter()
        prompt = synth.prompt_tokens(request)
        ids = fit_frames(source_ids(synth, source_16k), frames)
        timings["features"] = time.perf_counter() - clock
        from .pipeline import kept_prompt

        start, stop = kept_prompt(len(prompt.semantic), len(prompt.acoustic), True, synth.s2a_prompt_frames)
        prompt_frames = stop - start  # as s2a_inputs keeps them
        levels = frame_levels_db(np.pad(recording.wav_24k, (0, frames * hop)), ACOUSTIC_RATE)
        windows = plan_windows(frames, MAX_TOTAL_FRAMES - prompt_frames, levels)
        audio, codes = [], []
        with tqdm(total=len(windows), desc="convert", unit="window", disable=not synth.progress, leave=False) as bar:
            for first in range(0, len(windows), batch_size):
                batch = windows[first : first + batch_size]
                generators = make_generators([piece_seed(seed, k) for k in range(first, first + len(batch))],
                                             len(batch), synth.device)
                batch_codes = synth.generate_acoustic([ids[a:b] for a, b in batch], [prompt.semantic] * len(batch),
                                                      [prompt.acoustic] * len(batch), generators, spent=timings)
                for window_codes in batch_codes:
                    audio.append(synth.decode(window_codes, timings))
                    codes.append(window_codes.cpu().numpy())
                bar.update(len(batch))
    # The shared frames are crossfaded, so the join is frames x hop samples; then cut to N.
    joined = exact_length(crossfade_join(audio, CROSSFADE_FRAMES * hop), samples)
    timings["total"] = sum(timings.values())
    return ConvertResult(joined, ACOUSTIC_RATE, seed, recording.samples.shape[0] / recording.rate,
                         prompt.audio.seconds, windows, float(request.source_pitch_shift), timings,
                         ids.cpu().numpy(), codes)


def source_ids(synth, wav_16k: np.ndarray):
    """The semantic ids (T,) of a 16 kHz recording, its features read FEATURE_CHUNK_FRAMES at a
    time with FEATURE_CONTEXT_FRAMES of context on each side (the encoder's attention then
    never spans more than it was trained on, and its memory is bounded)."""
    import torch

    chunk, context = FEATURE_CHUNK_FRAMES * SAMPLES_PER_FRAME_16K, FEATURE_CONTEXT_FRAMES * SAMPLES_PER_FRAME_16K
    if wav_16k.size <= chunk:
        return synth.semantic_tokens(wav_16k)[1]
    ids = []
    for start in range(0, wav_16k.size, chunk):
        before = min(context, start)
        _, chunk_ids = synth.semantic_tokens(wav_16k[start - before : start + chunk + context])
        skip = before // SAMPLES_PER_FRAME_16K
        ids.append(chunk_ids[skip : skip + FEATURE_CHUNK_FRAMES])
    return torch.cat(ids)
