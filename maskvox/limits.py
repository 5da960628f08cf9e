"""Every size a user controls, with its bound: the one place that states them (docs/limits.md
is their table, with the errors a user sees).

Each bound is checked before the work or the allocation that depends on it, and a value
outside it is a one-line UserError naming the limit (and how to get past it where one can).
Light: no numpy or torch, so any module may check a size before it imports either.
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Real

from .errors import ConfigError, UserError

FRAME_RATE_HZ = 50  # the models' frames (duration.control and the codecs say the same)

# -- what to say ----------------------------------------------------------------------------------
# About 50 minutes of speech: longer text goes in several runs (several files, or a batch).
MAX_TEXT_CHARACTERS = 50_000
# --duration, the whole output (10 minutes: a typo such as 3500 for 3.5 s is refused at once).
MAX_DURATION_SECONDS = 600.0
# One piece of a long text after --duration or --speed. The models were trained on prompt +
# piece under 30 s (maskvox.pieces cuts the text so); this leaves room for slow speech.
MAX_PIECE_SECONDS = 90.0

# -- recordings -----------------------------------------------------------------------------------
MIN_PROMPT_SECONDS = 1.0
MAX_PROMPT_SECONDS = 60.0  # a longer prompt is refused (up to this, one over 15 s is cut at a pause)
# What the codecs, speech editing and voice conversion take in one go (codec encode/roundtrip, edit
# recordings, convert sources);
# also the longest code file decoded.
MAX_RECORDING_SECONDS = 600.0
MAX_PITCH_SHIFT_SEMITONES = 12.0  # convert --source-pitch-shift, either way (an octave)
MIN_CODEC_SECONDS = 0.1  # the codecs' front-ends need a few frames
MAX_CODE_FRAMES = int(MAX_RECORDING_SECONDS * FRAME_RATE_HZ)  # of a code file (.npz)
MAX_QUANTIZERS = 64  # acoustic layers, in a code file or a model config
MIN_CUE_SECONDS = 1 / FRAME_RATE_HZ  # a dub cue's slot: at least one 20 ms frame
MAX_SAMPLE_RATE = 384_000  # of a code file

# -- list files (clone items, edit TSVs, dub manifests, g2p lines, results) ------------------------
MAX_LIST_BYTES = 256 * 2**20

# -- the speech server (`maskvox serve`) ------------------------------------------------------------
# What one HTTP request may ask for: OpenAI's speech endpoint takes 4,096 characters, and a server
# answers one request at a time, so a request is kept to a few minutes of speech.
MAX_SERVE_TEXT_CHARACTERS = 4_096
# An uploaded prompt: 60 s of 48 kHz stereo float32 is 23 MiB.
MAX_UPLOAD_BYTES = 32 * 2**20
# A request body that is not an upload (the JSON of /v1/audio/speech).
MAX_JSON_BYTES = 64 * 2**10
MAX_SERVE_QUEUE = 1_024  # requests waiting behind the one generating
MAX_SERVE_BATCH = 256  # requests gathered into one clone_batch call (--max-batch), pieces per forward (--batch-size)
MAX_SERVE_BATCH_WAIT_MS = 1_000  # how long the first request of a batch may wait for more (--batch-wait-ms)

# -- decoding presets -----------------------------------------------------------------------------
MAX_STEPS = 500  # per stage; the reference uses 25 (high: 50)
MAX_CANDIDATES = 8  # T2S drafts of a clone (maskvox.candidates): each costs a T2S pass
CANDIDATE_JUDGES = ("ids", "audio")  # what the aligner reads in each draft (maskvox.candidates)
PRESET_RANGES = {  # field -> (low, high), both allowed
    "t2s_cfg": (0.0, 20.0), "s2a_cfg": (0.0, 20.0), "rescale_cfg": (0.0, 1.0),
    "t2s_temperature": (0.0, 10.0), "s2a_temperature": (0.0, 10.0), "top_k_ratio": (0.0, 1.0),
}

# -- model sizes in a model folder's config.json --------------------------------------------------
# Checked before any module is built; the weights' shapes are then checked against the sizes
# before any weight is read (maskvox.checkpoint), so a config cannot make maskvox allocate more
# than its checkpoint files hold.
MAX_WIDTH = 65_536  # hidden sizes, channels, dimensions, FFT sizes
MAX_LAYERS = 1_024
MAX_HEADS = 1_024
MAX_CODEBOOK = 32_768  # code files store ids as 16-bit integers
MAX_VOCABULARY = 65_536  # phone tables, languages
MAX_MODEL_SAMPLE_RATE = 192_000
_SIZE_KINDS = {  # config field -> (low, high)
    **dict.fromkeys(("hidden_size", "cond_dim", "codebook_dim", "vocos_dim", "vocos_intermediate_dim", "d_model",
                     "latent_dim",
                     "out_channels", "in_channels", "mel_dim", "mel_bins", "feature_dim", "n_fft", "hop_size",
                     "kernel_size"), (1, MAX_WIDTH)),
    **dict.fromkeys(("num_layers", "vocos_num_layers", "mel_layers", "layer"), (1, MAX_LAYERS)),
    "mel_refine_layers": (0, MAX_LAYERS),
    "num_heads": (1, MAX_HEADS),
    **dict.fromkeys(("codebook_size", "cond_codebook_size"), (2, MAX_CODEBOOK)),
    **dict.fromkeys(("num_quantizer", "num_quantizers"), (1, MAX_QUANTIZERS)),
    **dict.fromkeys(("phone_vocab_size", "num_languages"), (1, MAX_VOCABULARY)),
    "blank_id": (0, MAX_VOCABULARY - 1),
    "up_ratios": (1, 64),
    "sample_rate": (1_000, MAX_MODEL_SAMPLE_RATE),
    "frame_rate_hz": (1, 1_000),
    "max_prompt_frames": (0, MAX_CODE_FRAMES),
    "flow_width": (1, MAX_WIDTH),
    "flow_layers": (0, MAX_LAYERS),
    "flow_steps": (1, 1_000),
    "flow_repeats": (1, 64),
}
# The transformers config of a w2v-BERT folder (semantic_features/config.json): its sizes.
SSL_SIZE_KINDS = {
    "hidden_size": (1, MAX_WIDTH), "intermediate_size": (1, MAX_WIDTH), "output_hidden_size": (1, MAX_WIDTH),
    "feature_projection_input_dim": (1, MAX_WIDTH), "conv_depthwise_kernel_size": (1, 1_024),
    "num_hidden_layers": (1, MAX_LAYERS), "num_attention_heads": (1, MAX_HEADS),
    "num_adapter_layers": (0, MAX_LAYERS),
}


def check_range(value, low: float, high: float, what: str, lift: str = "") -> float:
    """`value` a finite number within [low, high], else a UserError naming the limit."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise UserError(f"{what} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise UserError(f"{what} must be between {low:g} and {high:g}, got {value:g}{lift}")
    return value


def check_duration(seconds: float) -> None:
    """--duration: positive, and at most MAX_DURATION_SECONDS."""
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"--duration must be a positive number of seconds, got {seconds}")
    if seconds > MAX_DURATION_SECONDS:
        raise UserError(f"--duration {seconds:g} s is over the limit of {MAX_DURATION_SECONDS:g} s "
                        "(seconds, not milliseconds; say longer text in several runs)")


def check_piece_frames(frames: float) -> None:
    """One piece's length after --duration/--speed."""
    if frames > MAX_PIECE_SECONDS * FRAME_RATE_HZ:
        raise UserError(f"a piece of {frames / FRAME_RATE_HZ:.1f} s is over the limit of {MAX_PIECE_SECONDS:g} s "
                        "per piece of text (the models were trained on 30 s): ask for a shorter --duration, "
                        "or give more text for it")


def check_text_length(text: str, what: str = "text") -> None:
    if len(text) > MAX_TEXT_CHARACTERS:
        raise UserError(f"the {what} has {len(text):,} characters, over the limit of {MAX_TEXT_CHARACTERS:,} "
                        "(about 50 minutes of speech): split it into several runs")


def check_recording_seconds(seconds: float, name: str, limit: float = MAX_RECORDING_SECONDS,
                            lift: str = "cut it into shorter files") -> None:
    """A recording's length (from its header, before its samples are read)."""
    if seconds > limit:
        raise UserError(f"{name} is too long: {seconds:.1f} s, over the limit of {limit:g} s: {lift}")


def check_list_size(size: int, name: str) -> None:
    if size > MAX_LIST_BYTES:
        raise UserError(f"{name} is {size / 2**20:.0f} MiB, over the limit of {MAX_LIST_BYTES // 2**20} MiB for "
                        "a list file: split it into several")


def check_preset_values(preset) -> None:
    """Step counts and the ranges of guidance, temperatures and top-k (an InferencePreset)."""
    steps = [preset.t2s_steps, *preset.s2a_steps]
    if not preset.s2a_steps or any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS
                                   for n in steps):
        raise ConfigError(f"preset: every step count must be a whole number from 1 to {MAX_STEPS}, got "
                          f"t2s_steps {preset.t2s_steps} and s2a_steps {list(preset.s2a_steps)}")
    drafts = preset.t2s_candidates
    if isinstance(drafts, bool) or not isinstance(drafts, int) or not 1 <= drafts <= MAX_CANDIDATES:
        raise ConfigError(f"preset: t2s_candidates must be a whole number from 1 to {MAX_CANDIDATES}, got {drafts}")
    if preset.t2s_candidate_judge not in CANDIDATE_JUDGES:
        raise ConfigError(f"preset: t2s_candidate_judge must be one of {', '.join(CANDIDATE_JUDGES)}, "
                          f"got {preset.t2s_candidate_judge!r}")
    for name, (low, high) in PRESET_RANGES.items():
        try:
            check_range(getattr(preset, name), low, high, f"preset: {name}")
        except UserError as err:
            raise ConfigError(str(err)) from None


def check_model_sizes(cfg, where: str = "") -> None:
    """Every size of a model config (maskvox.config.ModelConfig or one of its sections) within its
    bound, every number finite: a ConfigError naming the key otherwise."""
    for field in dataclasses.fields(cfg):
        value, key = getattr(cfg, field.name), f"{where}{field.name}"
        if dataclasses.is_dataclass(value):
            check_model_sizes(value, key + ".")
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                _check_size(field.name, item, f"{key}[{index}]", _SIZE_KINDS)
        else:
            _check_size(field.name, value, key, _SIZE_KINDS)
    heads, hidden = getattr(cfg, "num_heads", None), getattr(cfg, "hidden_size", None)
    if isinstance(heads, int) and isinstance(hidden, int) and hidden % heads:
        raise ConfigError(f"config key '{where}hidden_size' ({hidden}) must be a multiple of num_heads ({heads})")


def check_sizes(values: dict, kinds: dict[str, tuple[int, int]], where: str) -> None:
    """The sizes named in `kinds` of a plain mapping (a transformers config)."""
    for name in kinds:
        if name in values:
            _check_size(name, values[name], f"{where}{name}", kinds)


def _check_size(name: str, value, key: str, kinds: dict[str, tuple[int, int]]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}' must be a finite number, got {value}")
    if name not in kinds or isinstance(value, bool):
        return
    low, high = kinds[name]
    if not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"config key '{key}' must be a whole number from {low:,} to {high:,}, got {value!r}")


def check_serve_text(text: str, what: str = "input") -> None:
    """A server request's text: at most MAX_SERVE_TEXT_CHARACTERS (the command line takes more)."""
    if len(text) > MAX_SERVE_TEXT_CHARACTERS:
        raise UserError(f"the {what} has {len(text):,} characters, over the server's limit of "
                        f"{MAX_SERVE_TEXT_CHARACTERS:,}: send it in several requests")
