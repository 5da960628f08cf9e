"""Token shards: the training input of T2S, S2A and the duration model.

A shard folder holds `shard-00000.npz`, `shard-00001.npz`, ... Each shard packs many
utterances as concatenated int16 arrays with offsets (no pickles, memory-light):

    ids          (N,) str            utterance ids
    speakers     (N,) str
    semantic     (F,) int16          semantic ids, 50 Hz, all utterances end to end
    acoustic     (F, Q) int16        acoustic ids, frame-aligned with `semantic`
    frame_offsets  (N + 1,) int64    utterance i has frames [offsets[i], offsets[i+1])
    phones       (P,) int16          phone ids of the transcript
    phone_offsets  (N + 1,) int64
    frame_phones (F,) int16          each frame's position in its utterance's phone ids, -1 for
                                     silence (`recipes.token_shards.align`), frame-aligned too
    num_frames   (N,) int64          each utterance's length in 50 Hz frames (also without ids)
    languages    (N,) str            language of each transcript ("" if unknown)

`semantic`, `acoustic` and `phones` are each optional: a semantic-only corpus trains T2S, and
phones with `num_frames` alone (`extract --ids none`) train the duration model.
Shards are written atomically, so an interrupted extraction resumes shard by shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

SHARD_PATTERN = "shard-{:05d}.npz"


@dataclass
class TokenItem:
    id: str
    speaker: str = ""
    semantic: np.ndarray | None = None  # (T,) int
    acoustic: np.ndarray | None = None  # (T, Q) int
    phones: np.ndarray | None = None  # (L,) int
    language: str = ""
    frame_phones: np.ndarray | None = None  # (T,) int: position in `phones` of each frame, -1 silence
    num_frames: int = 0  # the utterance's length in frames; that of its ids when it has them

    def __post_init__(self):
        ids = self.semantic if self.semantic is not None else self.acoustic
        if ids is not None:
            self.num_frames = len(ids)


def shard_path(folder: str | Path, index: int) -> Path:
    return Path(folder) / SHARD_PATTERN.format(index)


def write_shard(path: str | Path, items: list[TokenItem]) -> None:
    """Pack `items` into one shard file (atomically). Every item must carry the same fields."""
    arrays: dict[str, np.ndarray] = {
        "ids": np.array([item.id for item in items], dtype=np.str_),
        "speakers": np.array([item.speaker for item in items], dtype=np.str_),
        "languages": np.array([item.language for item in items], dtype=np.str_),
        "num_frames": np.array([item.num_frames for item in items], dtype=np.int64),
    }
    has = {name: [getattr(item, name) is not None for item in items]
           for name in ("semantic", "acoustic", "phones", "frame_phones")}
    for name, flags in has.items():
        if any(flags) and not all(flags):
            raise ValueError(f"some items of {path} lack '{name}' ids")
    frames = None
    # A shard whose every utterance was left out (a language without a front-end) is written
    # empty, so that a resumed extraction skips it.
    for name in ("semantic", "acoustic", "frame_phones"):
        if items and all(has[name]):
            parts = [np.asarray(getattr(item, name)) for item in items]
            frames = [len(p) for p in parts] if frames is None else frames
            if [len(p) for p in parts] != frames:
                raise ValueError(f"{path}: the semantic ids, acoustic ids and frame phones are not frame-aligned")
            arrays[name] = np.concatenate(parts).astype(np.int16)
    if frames is not None:
        arrays["frame_offsets"] = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
    if items and all(has["phones"]):
        parts = [np.asarray(item.phones) for item in items]
        arrays["phones"] = np.concatenate(parts).astype(np.int16)
        arrays["phone_offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.savez(out, **arrays)


def write_shards(folder: str | Path, items: list[TokenItem], shard_size: int = 1000) -> list[Path]:
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = []
    for index, start in enumerate(range(0, len(items), shard_size)):
        paths.append(shard_path(folder, index))
        write_shard(paths[-1], items[start : start + shard_size])
    return paths


class TokenCorpus:
    """Every utterance of a shard folder, held in memory (ids are small: an hour of speech
    is about 2.3 MB of semantic + acoustic ids)."""

    def __init__(self, folder: str | Path, need: tuple[str, ...] = ()):
        folder = Path(folder)
        paths = sorted(folder.glob("shard-*.npz"))
        if not paths:
            raise UserError(f"no token shards (shard-*.npz) in {folder}: run the id extraction recipe first")
        self.items: list[TokenItem] = []
        for path in paths:
            self.items.extend(read_shard(path))
        for name in need:
            if any(getattr(item, name) is None for item in self.items):
                raise UserError(f"the shards in {folder} have no '{name}' ids, which this recipe needs")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> TokenItem:
        return self.items[index]

    def join_frame_phones(self, folder: str | Path) -> int:
        """Give each utterance the phone ids and frame owners that the aligned shards in `folder`
        (recipes.token_shards.align) hold for the same id and number of frames; returns how many
        were joined. The rest keep none (the aligner left them out, or their language has no
        front-end)."""
        aligned = {item.id: item for item in TokenCorpus(folder, need=("phones", "frame_phones")).items}
        joined = 0
        for item in self.items:
            match = aligned.get(item.id)
            if match is not None and match.num_frames == item.num_frames:
                item.phones, item.frame_phones = match.phones, match.frame_phones
                joined += 1
        return joined


def read_shard(path: Path) -> list[TokenItem]:
    """The utterances of one shard file."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    items = [TokenItem(str(i), str(s)) for i, s in zip(arrays["ids"], arrays["speakers"])]
    frames, phones = arrays.get("frame_offsets"), arrays.get("phone_offsets")
    for n, item in enumerate(items):
        if "languages" in arrays:  # older shards have neither languages nor num_frames
            item.language = str(arrays["languages"][n])
        if "num_frames" in arrays:
            item.num_frames = int(arrays["num_frames"][n])
        elif frames is not None:
            item.num_frames = int(frames[n + 1] - frames[n])
        if "semantic" in arrays:
            item.semantic = arrays["semantic"][frames[n] : frames[n + 1]].astype(np.int64)
        if "acoustic" in arrays:
            item.acoustic = arrays["acoustic"][frames[n] : frames[n + 1]].astype(np.int64)
        if "phones" in arrays:
            item.phones = arrays["phones"][phones[n] : phones[n + 1]].astype(np.int64)
        if "frame_phones" in arrays:
            item.frame_phones = arrays["frame_phones"][frames[n] : frames[n + 1]].astype(np.int64)
    return items
