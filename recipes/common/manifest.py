"""Manifests: one JSON object per line, {id, audio, text, language, speaker, duration}.

Relative audio paths are taken relative to the manifest's folder, so a corpus folder
can be moved as a whole.
"""

from __future__ import annotations

import hashlib

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import atomic_path


@dataclass
class Utterance:
    id: str
    audio: str
    text: str = ""
    language: str = ""
    speaker: str = ""
    duration: float = 0.0  # seconds


REQUIRED = ("id", "audio")


def cache_stem(item: Utterance) -> str:
    """A cache file name for `item`: its id, plus a hash of its audio path that keeps two
    corpora with equal ids apart."""
    digest = hashlib.sha1(str(Path(item.audio).resolve()).encode()).hexdigest()[:8]
    return f"{item.id}.{digest}"


def read_manifest(path: str | Path) -> list[Utterance]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"manifest {path} does not exist")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{number}: not valid JSON ({err.msg})") from None
        missing = [key for key in REQUIRED if key not in record]
        if missing:
            raise UserError(f"{path}:{number}: missing field '{missing[0]}'")
        known = {key: record[key] for key in Utterance.__dataclass_fields__ if key in record}
        item = Utterance(**known)
        if not Path(item.audio).is_absolute():
            item.audio = str(path.parent / item.audio)
        items.append(item)
    if not items:
        raise UserError(f"manifest {path} has no utterances")
    return items


def write_manifest(path: str | Path, items: list[Utterance], relative_to: str | Path | None = None) -> None:
    """Write atomically; audio paths are made relative to `relative_to` (default: the manifest's folder)."""
    base = Path(relative_to or Path(path).parent).resolve()
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for item in items:
            record = asdict(item)
            audio = Path(record["audio"]).resolve()
            if audio.is_relative_to(base):
                record["audio"] = str(audio.relative_to(base))
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
