"""A dubbing job's settings (DubConfig). Light: no torch, so `maskvox --help` can build the
`maskvox dub` flags from these fields; what needs the models imports them when it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError
from ..quantize import QUANTIZATIONS

ENGINES = ("local", "ray")
GPU_BATCH_SIZE = 8


@dataclass
class DubConfig:
    """How a dubbing job runs (`maskvox dub --config FILE`; flags override).

    Each field is a `maskvox dub` flag of the same name (maskvox.commands.dub): its metadata holds
    the flag's help, and its metavar and choices where it has them."""

    model: str | None = field(default=None, metadata={
        "metavar": "DIR|REPO",
        "help": "model folder in the official layout, or a hub repo id (default: the demo checkpoint shipped with "
                "maskvox)"})
    preset: str = field(default="default", metadata={
        "metavar": "NAME|FILE", "help": "fast, default or high, or a preset file"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:N or auto (default)"})
    # Synthesizer.from_pretrained's low_memory.
    low_memory: bool = field(default=False, metadata={
        "help": "load each big model only for the stage that uses it, then release it, instead of holding them all "
                "(8.2 GB at the official sizes); slower, same audio"})
    quantize: str = field(default="none", metadata={  # maskvox.quantize
        "choices": QUANTIZATIONS,
        "help": "int8: T2S and S2A with dynamic int8 linear layers (CPU only; faster, audio close to fp32's but "
                "not identical)"})
    # None: 8 on a GPU, 1 on a CPU, where the models are compute-bound and a batch only adds
    # padding (recipes/dub/RESULTS.md).
    batch_size: int | None = field(default=None, metadata={
        "help": "cues generated together (default: 8 on a GPU, 1 on a CPU)"})
    seed: int = field(default=0, metadata={
        "help": "the job's seed; each cue's comes from it and the cue's id (default: 0)"})
    force: bool = field(default=False, metadata={"help": "redo cues already done"})
    background: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "a stem (music, effects) mixed under the dubbed track"})
    background_gain_db: float = field(default=0.0, metadata={"help": "the stem's gain (default: 0)"})
    engine: str = field(default="local", metadata={
        "choices": ENGINES, "help": "local (default) or ray (pip install 'maskvox[ray]')"})
    ray_address: str | None = field(default=None, metadata={
        "help": "with --engine ray: an existing cluster (default: a local Ray instance)"})
    ray_actors: int = field(default=2, metadata={"help": "with --engine ray: model replicas (default: 2)"})
    ray_cpus_per_actor: float = field(default=1.0, metadata={"help": "may be fractional (default: 1)"})
    ray_gpus_per_actor: float = field(default=0.0, metadata={"help": "may be fractional (default: 0)"})

    def __post_init__(self):
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"the batch size must be at least 1, got {self.batch_size}")
        if self.quantize not in QUANTIZATIONS:
            raise UserError(f"unknown quantization '{self.quantize}' (known: {', '.join(QUANTIZATIONS)})")
        if self.engine not in ENGINES:
            raise UserError(f"unknown engine '{self.engine}' (known: {', '.join(ENGINES)})")
        if self.ray_actors < 1 or self.ray_cpus_per_actor < 0 or self.ray_gpus_per_actor < 0:
            raise UserError("Ray needs at least one actor and non-negative CPUs and GPUs per actor")

    def group_size(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if self.engine == "ray":
            on_gpu = self.ray_gpus_per_actor > 0
        else:
            from ..tokenizer import pick_device

            on_gpu = pick_device(self.device).startswith("cuda")
        return GPU_BATCH_SIZE if on_gpu else 1

    def identity(self) -> dict:
        """The settings that decide a cue's audio (the engine, batch size and low memory do not).
        quantize is named only when used, so jobs begun before it existed still resume."""
        identity = {"model": str(self.model), "preset": self.preset, "seed": self.seed}
        if self.quantize != "none":
            identity["quantize"] = self.quantize
        return identity

    def load_synthesizer(self):
        """The models this job generates with, on the device it names."""
        from ..pipeline import Synthesizer
        from ..tokenizer import pick_device

        return Synthesizer.from_pretrained(self.model, preset=self.preset, device=pick_device(self.device),
                                           low_memory=self.low_memory, quantize=self.quantize)
