"""Inference presets: the decoding steps and guidance of T2S and S2A, by name or from a file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import SamplingDefaults, load_config
from .errors import ConfigError
from .limits import check_preset_values

if TYPE_CHECKING:
    from .sampling import SamplerSettings


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
    # T2S drafts per item, the one the aligner reads best kept (maskvox.candidates; 1: none).
    t2s_candidates: int = 1
    # What the aligner reads in each draft: "ids" (the drafts' semantic ids) or "audio" (each
    # draft through S2A and the decoder, then the semantic encoder: S2A's mistakes count too).
    t2s_candidate_judge: str = "ids"

    def __post_init__(self):
        check_preset_values(self)  # steps and ranges bounded (maskvox.limits)

    def sampler(self, stage: str, mode: str) -> SamplerSettings:
        from .sampling import SamplerSettings  # (torch comes with it)

        if stage == "t2s":
            return SamplerSettings(self.t2s_cfg, self.rescale_cfg, self.t2s_temperature, self.top_k_ratio, mode=mode)
        return SamplerSettings(self.s2a_cfg, self.rescale_cfg, self.s2a_temperature, self.top_k_ratio, mode=mode)

    def check_layers(self, layers: int) -> None:
        """An S2A step count for each acoustic layer of the model. A model that predicts fewer
        layers than the codec has (the demo's: the first 4 of 12) uses the first counts."""
        if len(self.s2a_steps) < layers:
            raise ConfigError(f"preset: {len(self.s2a_steps)} S2A step counts for {layers} acoustic layers")

    def s2a_layer_steps(self, layers: int) -> tuple[int, ...]:
        """The step counts of the first `layers` acoustic layers."""
        self.check_layers(layers)
        return tuple(self.s2a_steps[:layers])


PRESETS = {
    # Chosen on held-out voices (recipes/bench/RESULTS.md): T2S needs its guidance (without it
    # WER rose 63 %), S2A holds its quality without guidance at a third of the steps.
    "fast": InferencePreset(t2s_steps=8, s2a_steps=(8, 2) + (1,) * 10, s2a_cfg=0.0),
    "default": InferencePreset(),
    "high": InferencePreset(t2s_steps=50, s2a_steps=(50, 20) + (1,) * 10),
}


def load_preset(name_or_path: str | InferencePreset, model_sampling: SamplingDefaults | None = None) -> InferencePreset:
    """A named preset (fast, default, high), with a model's own sampling settings over it
    (`ModelConfig.sampling`), or a YAML/JSON file of InferencePreset fields, as it is."""
    if isinstance(name_or_path, InferencePreset):
        return name_or_path
    if name_or_path in PRESETS:
        preset = PRESETS[name_or_path]
        changes = model_sampling.changes(name_or_path, preset.t2s_steps) if model_sampling is not None else {}
        return replace(preset, **changes) if changes else preset
    if Path(name_or_path).suffix in (".yaml", ".yml", ".json"):
        return load_config(name_or_path, InferencePreset)
    raise ConfigError(f"unknown preset '{name_or_path}' (known: {', '.join(PRESETS)}, or a .yaml/.json file)")
