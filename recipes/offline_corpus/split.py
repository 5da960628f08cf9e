"""The fixed split of corpus v3: whole speakers held out, real and synthetic.

Real human speakers held out:
- `librivox_austen`: all 5 LibriVox clips (one reader), the English human test voice.
- `fillets_nl_small`: the Dutch small fish (a woman, ~44 min); the Dutch big fish (a man)
  stays in training, so Dutch has a real voice on both sides.
- `fillets_cs_linuxer1`, `fillets_cs_linuxer2`: two Czech side characters of one level
  (~2 min, 36 lines); the Czech small and big fish (~80 min) and the other side characters train.
- The Asterisk speakers both train: Allison (en and es: one woman, one speaker id, so she
  cannot be on both sides) and June (fr) are the only studio-quality en/es/fr human speech.

Synthetic voices held out, with every augmented variant of them (a variant of a held-out voice
is the same voice underneath): Pico en-GB, flite slt, festival pc (Italian) and czech_machac,
espeak-ng nl+m3. Pico de/es/fr/it, Piper joe and flite kal16/awb/rms speak their language
alone or nearly so and stay in training.
"""

from __future__ import annotations

from typing import Iterable

HELD_OUT_REAL = frozenset({"librivox_austen", "fillets_nl_small", "fillets_cs_linuxer1", "fillets_cs_linuxer2"})
HELD_OUT_VOICES = frozenset({"pico_en_GB", "flite_slt", "festival_pc", "festival_czech_machac",
                             "espeakng_nl_m3_s165_p50"})


def base_voice(speaker: str) -> str:
    """The engine voice under an augmented speaker id: `pico_en_US+fo108_t094` -> `pico_en_US`."""
    return speaker.split("+", 1)[0]


def is_held_out(speaker: str, held_real=HELD_OUT_REAL, held_voices=HELD_OUT_VOICES) -> bool:
    return speaker in held_real or base_voice(speaker) in held_voices


def split_by_speaker(items: Iterable, held_real=HELD_OUT_REAL, held_voices=HELD_OUT_VOICES) -> tuple[list, list]:
    """(train, heldout): every item of a held-out speaker (or of a held-out voice's variant)
    in heldout, all others in train; no speaker is on both sides."""
    train, heldout = [], []
    for item in items:
        (heldout if is_held_out(item.speaker, held_real, held_voices) else train).append(item)
    return train, heldout
