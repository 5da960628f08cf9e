"""The phone vocabulary: phone symbol <-> id, the official 363 ids plus any you add.

The official T2S embeds ids 0..362 (`reference/phone_vocab.json`) in a 1024-row table whose
last row (1023) is padding. A new language adds its phones after 362 (`extended`), and the T2S
fine-tuning recipe initialises those rows (`finetune.new_phone_ids`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import write_text

PAD_ID = 1023
PUNCTUATION_PHONES = frozenset(",.?!_:;'…")


@dataclass(frozen=True)
class PhoneVocabulary:
    """`ids[phone]`; `phones[id]` is the reverse map."""

    ids: dict[str, int]
    phones: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "phones", {index: phone for phone, index in self.ids.items()})
        if len(self.phones) != len(self.ids):
            raise UserError("phone vocabulary gives two phones the same id")
        if PAD_ID in self.phones:
            raise UserError(f"phone vocabulary uses the padding id {PAD_ID}")

    def __contains__(self, phone: str) -> bool:
        return phone in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def table_size(self) -> int:
        """Rows a T2S phone table needs for these ids and the padding row."""
        return max(max(self.ids.values()) + 1, PAD_ID + 1)

    def extended(self, new_phones: list[str]) -> tuple["PhoneVocabulary", list[int]]:
        """A copy with `new_phones` (the ones it lacks) appended; returns it and their ids."""
        ids = dict(self.ids)
        added = []
        next_id = max(ids.values()) + 1
        for phone in new_phones:
            if not phone or "|" in phone or phone.strip() != phone:
                raise UserError(f"not a valid phone symbol: {phone!r} (no spaces, no '|')")
            if phone in ids:
                continue
            if next_id == PAD_ID:
                next_id += 1  # the padding row stays where the official table has it
            ids[phone] = next_id
            added.append(next_id)
            next_id += 1
        return PhoneVocabulary(ids), added

    def save(self, path: str | Path) -> None:
        write_text(path, json.dumps({"vocab": self.ids}, ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "PhoneVocabulary":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read phone vocabulary {path}: {error}") from None
        ids = data.get("vocab", data) if isinstance(data, dict) else None
        if not isinstance(ids, dict) or not all(isinstance(i, int) and i >= 0 for i in ids.values()):
            raise UserError(f"phone vocabulary {path} is not a JSON object of phone -> id (under 'vocab')")
        return cls(ids)

    @classmethod
    def official(cls) -> "PhoneVocabulary":
        """The reference front-end's 363 phones."""
        text = resources.files("maskvox").joinpath("data/phone_vocab.json").read_text(encoding="utf-8")
        return cls(json.loads(text)["vocab"])
