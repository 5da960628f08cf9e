"""Landing a generated line on its subtitle slot: a pitch-preserving time-stretch.

The dubbing job asks the models for a length already close to the slot (clamped to 0.8-1.25x
the line's natural length), so the stretch left to do is small; Rubber Band (Debian's
`rubberband-cli`, through `pyrubberband`) does it without changing the pitch, and the result
is cut or padded by the few samples Rubber Band's own rounding leaves.
"""

from __future__ import annotations

import shutil

import numpy as np

from ..errors import UserError

RUBBERBAND = "rubberband"


def check_rubberband() -> None:
    if shutil.which(RUBBERBAND) is None:
        raise UserError("maskvox dub needs Rubber Band's command-line tool to fit lines to their slots: "
                        "apt-get install rubberband-cli")


def fit_to_length(wav: np.ndarray, rate: int, samples: int) -> np.ndarray:
    """`wav` (n,) stretched, pitch kept, to exactly `samples` samples (float32)."""
    if samples < 1:
        raise ValueError("a slot needs at least one sample")
    wav = np.asarray(wav, dtype=np.float32)
    if wav.size == samples:
        return wav.copy()
    check_rubberband()
    import pyrubberband

    # --fine: Rubber Band 3's finer engine; tempo > 1 shortens.
    stretched = pyrubberband.time_stretch(wav, rate, wav.size / samples, rbargs={"--fine": ""}).astype(np.float32)
    return exact_length(stretched, samples)


def exact_length(wav: np.ndarray, samples: int) -> np.ndarray:
    """Cut, or pad with silence, to `samples` samples."""
    if wav.size >= samples:
        return wav[:samples]
    return np.concatenate([wav, np.zeros(samples - wav.size, dtype=wav.dtype)])
