"""Speaker augmentation: more speakers from each synthetic voice.

A `Variant` changes three things, each its own knob:
- `formant` (a ratio): the vocal tract. sox `pitch` resamples and time-stretches back (the
  resampling trick), which scales the whole spectrum, formants and pitch alike, by the ratio;
  on an engine with an F0 knob (Pico) the pitch is then set back by the engine (F0 / ratio), so
  only the formants move.
- `f0` (a ratio): the voice's pitch alone, through the engine's F0 knob (Pico only).
- `tempo` (a ratio): the speaking rate, sox `tempo` (WSOLA: pitch and formants kept).
Each variant is a speaker of its own, named after its settings: `pico_en_US+fo108_f090_t110`
(formants x1.08, F0 x0.90, tempo x1.10); the identity variant is the voice's plain id.
"""

from __future__ import annotations

import math
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from maskvox.errors import UserError

# The grid variants are drawn from: up to about +-2 semitones of formant shift (beyond it voices
# sound processed), F0 +-15 %, tempo +-12 %.
FORMANTS = (0.89, 0.93, 0.96, 1.04, 1.08, 1.12)
F0S = (0.85, 0.92, 1.0, 1.08, 1.16)
TEMPOS = (0.88, 0.94, 1.0, 1.06, 1.12)


@dataclass(frozen=True, order=True)
class Variant:
    formant: float = 1.0
    f0: float = 1.0
    tempo: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.formant == 1.0 and self.f0 == 1.0 and self.tempo == 1.0

    @property
    def tag(self) -> str:
        """"" for the identity, else e.g. "+fo108_f090_t110" (percent, rounded)."""
        if self.is_identity:
            return ""
        parts = [f"{name}{round(value * 100):03d}" for name, value in
                 (("fo", self.formant), ("f", self.f0), ("t", self.tempo)) if value != 1.0]
        return "+" + "_".join(parts)

    def speaker(self, voice_id: str) -> str:
        return voice_id + self.tag

    def engine_f0(self, has_f0_knob: bool) -> float:
        """The F0 ratio to ask the engine for: the variant's own, with the formant shift's
        pitch change taken back out where the engine can (so the shift moves formants only)."""
        return self.f0 / self.formant if has_f0_knob else 1.0

    def sox_effects(self) -> list[str]:
        effects = []
        if self.formant != 1.0:
            effects += ["pitch", f"{1200 * math.log2(self.formant):.1f}"]
        if self.tempo != 1.0:
            effects += ["tempo", "-s", f"{self.tempo:g}"]
        return effects


def parse_tag(tag: str) -> Variant:
    """The inverse of Variant.tag: "+fo108_t094" -> Variant(1.08, 1.0, 0.94)."""
    values = {"fo": 1.0, "f": 1.0, "t": 1.0}
    for part in tag.removeprefix("+").split("_") if tag else []:
        name = part.rstrip("0123456789")
        if name not in values or not part[len(name):]:
            raise ValueError(f"not a variant tag: {tag!r}")
        values[name] = int(part[len(name):]) / 100
    return Variant(values["fo"], values["f"], values["t"])


def draw_variants(voice_id: str, count: int, has_f0_knob: bool, seed: int) -> list[Variant]:
    """The voice itself and `count - 1` distinct variants drawn with the seed. Every drawn
    variant changes the formants or the F0 (a tempo change alone is not another speaker)."""
    f0s = F0S if has_f0_knob else (1.0,)
    grid = [Variant(fo, f0, t) for fo in FORMANTS + (1.0,) for f0 in f0s for t in TEMPOS
            if fo != 1.0 or f0 != 1.0]
    rng = random.Random(f"{seed}:variants:{voice_id}")
    chosen: list[Variant] = []
    while len(chosen) < count - 1 and grid:
        # Spread the draws: no two variants of a voice share a formant ratio while others remain.
        used = {v.formant for v in chosen}
        fresh = [v for v in grid if v.formant not in used] or grid
        pick = rng.choice(fresh)
        chosen.append(pick)
        grid.remove(pick)
    return [Variant()] + sorted(chosen)


def apply_sox(variant: Variant, source: Path, target: Path) -> None:
    """target = source with the variant's sox effects (same rate, 16-bit mono)."""
    command = ["sox", "-G", str(source), "-b", "16", "-c", "1", str(target), *variant.sox_effects()]
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise UserError(f"sox failed ({' '.join(command[8:]) or 'copy'}): {message}")
