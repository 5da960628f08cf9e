"""Where and how the big models run: device, precision, quantization, the models held (or
loaded for one stage at a time, in low memory), and the wall clock of each stage.

torch is imported where it is used: the Synthesizer's modules load without it, so naming
`maskvox.Synthesizer` costs nothing until models load."""

from __future__ import annotations

import contextlib
import gc
import time
from typing import TYPE_CHECKING, Callable

from .errors import ConfigError, UserError
from .quantize import QUANTIZATIONS

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def check_quantize(quantize: str, device: torch.device, exact: bool) -> None:
    """`exact`: the reference's computation is asked for (it runs in fp32)."""
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown quantization '{quantize}' (known: {', '.join(QUANTIZATIONS)})")
    if quantize == "int8" and device.type != "cpu":
        raise UserError("--quantize int8 runs on the CPU only (torch's dynamic int8 layers have no GPU kernels): "
                        "use --device cpu")
    if quantize == "int8" and exact:
        raise UserError("reference sampling runs in fp32, as the reference does: drop --quantize int8")


def resolve_precision(precision: str, device: torch.device, exact: bool) -> torch.dtype:
    """The compute dtype: `auto` is bf16 on a GPU that has it, else fp32 (always fp32 when `exact`)."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
    if precision == "auto":
        on_gpu = device.type == "cuda" and not exact
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    if precision != "fp32" and device.type != "cuda":
        raise UserError(f"--precision {precision} needs a CUDA device (the CPU path runs in fp32)")
    if precision != "fp32" and exact:
        raise UserError("reference sampling runs in fp32, as the reference does")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision on `device`, or nothing in fp32."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class StageClock:
    """Wall seconds per stage (a GPU is synchronised at both ends, so its queued work counts)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, into: dict[str, float] | None = None):
        """Time the block as `stage`: added to `totals` and, if given, to `into`."""
        self._sync()
        started = time.perf_counter()
        yield
        self._sync()
        self.add(stage, time.perf_counter() - started, into)

    def add(self, stage: str, seconds: float, into: dict[str, float] | None = None) -> None:
        for totals in (self.totals, into) if into is not None else (self.totals,):
            totals[stage] = totals.get(stage, 0.0) + seconds

    def _sync(self) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


class ModelHolder:
    """The big models by name. A built model is held for good; a model with a loader (low
    memory) is loaded on first use and dropped at the end of its stage, so the peak is the
    biggest stage's rather than every model's at once. `ready(name, model)` prepares each
    model as it comes in, again after every reload."""

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
            import torch

            gc.collect()  # modules can sit in reference cycles: free their weights now, before the next load
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()  # and hand the GPU memory back rather than keep it in torch's cache


class HeldTokenizer:
    """A synthesizer's codecs: its own acoustic codec (always held: it encodes the prompt and
    decodes the output) and the semantic path (features, codec) from the model holder."""

    def __init__(self, acoustic_codec, models: ModelHolder):
        self.acoustic_codec, self._models = acoustic_codec, models

    semantic_features = property(lambda self: self._models.get("semantic_features"))
    semantic_codec = property(lambda self: self._models.get("semantic_codec"))
