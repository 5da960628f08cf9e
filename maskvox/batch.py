"""Clone batch jobs: many requests from a JSON-lines file, one wav each, resumable.

Items file, one JSON object per line (relative prompt paths are taken from the file's folder):

    {"id": "u1", "prompt": "p.wav", "prompt_text": "...", "text": "...", "language": "en",
     "prompt_language": "en", "duration": 3.0, "speed": 1.0, "seed": 7}     # the last five optional

Output folder: `<id>.wav` per item and `results.jsonl` (one record per item, in the items'
order: status ok/failed, lengths, seed, timings, error). The results file is rewritten
atomically after every batch and each wav is written whole before its record says ok, so
a stopped job loses at most the batch in flight; run again and items already ok are kept
(`force` redoes them). A bad line fails alone, with its line number.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .audio import write_audio
from .errors import UserError
from .fileio import resolve_relative, write_text
from .pipeline import CloneRequest, Synthesizer

RESULTS_FILE = "results.jsonl"
ITEM_FIELDS = {"id", "prompt", "prompt_text", "text", "language", "prompt_language", "duration", "speed", "seed"}
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class BatchItem:
    line: int
    id: str
    request: CloneRequest | None  # None: the line could not be read
    error: str | None = None


def read_items(path: str | Path, default_language: str = "en", default_seed: int | None = None) -> list[BatchItem]:
    """Every non-empty line as an item; a line that cannot be read becomes an item with an error."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read the items file {path}: {getattr(err, 'strerror', None) or err}") from None
    items, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item_id, request = _parse_line(line, path.parent, default_language, default_seed)
            if item_id in seen:
                raise UserError(f"id '{item_id}' appears twice")
            seen.add(item_id)
            items.append(BatchItem(number, item_id, request))
        except UserError as err:
            items.append(BatchItem(number, f"line{number}", None, str(err)))
    if not items:
        raise UserError(f"the items file {path} has no items")
    return items


def json_object_line(line: str, fields) -> dict:
    """One line of a JSON-lines list: an object whose keys are all among `fields`, or a UserError."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise UserError("expected a JSON object")
    unknown = sorted(set(record) - set(fields))
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise UserError(f"unknown field{'s' if len(unknown) > 1 else ''} {names} (known: {', '.join(fields)})")
    return record


def _parse_line(line: str, folder: Path, default_language: str, default_seed: int | None) -> tuple[str, CloneRequest]:
    record = json_object_line(line, sorted(ITEM_FIELDS))
    for name in ("id", "prompt", "prompt_text", "text"):
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise UserError(f"'{name}' must be a non-empty string")
    if not SAFE_ID.match(record["id"]):
        raise UserError(f"id '{record['id']}' must be letters, digits, '.', '_' or '-' (it names the output file)")
    seed = record.get("seed", default_seed)
    request = CloneRequest(
        prompt=resolve_relative(record["prompt"], folder),
        prompt_text=record["prompt_text"], text=record["text"],
        language=_optional(record, "language", str) or default_language,
        prompt_language=_optional(record, "prompt_language", str),
        duration=_optional(record, "duration", (int, float)),
        speed=_optional(record, "speed", (int, float)) or 1.0,
        seed=secrets.randbelow(2**31) if seed is None else seed,
    )
    return record["id"], request


def _optional(record: dict, name: str, kinds):
    value = record.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise UserError(f"'{name}' has the wrong type: {value!r}")
    return value


def read_results(folder: Path) -> dict[str, dict]:
    """The records of an earlier run, by id (none if there was no run)."""
    return read_records(folder / RESULTS_FILE)


def read_records(path: Path) -> dict[str, dict]:
    """A JSON-lines file of records with an `id` each, by id (none if there is no file)."""
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            records[record["id"]] = record
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # the file is written atomically; a stray line is just ignored
    return records


def write_records(path: Path, records: list[dict]) -> None:
    """Records as JSON lines, written atomically."""
    write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def run_clone_batch(
    items: list[BatchItem],
    out_dir: Path,
    load_synthesizer: Callable[[], Synthesizer],
    batch_size: int = 8,
    force: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> dict[str, dict]:
    """Run the items not already done; returns every record by id."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    records = read_results(out_dir)
    for item in items:
        if item.error:
            report(f"line {item.line}: {item.error}")
            records[item.id] = _failed(item, item.error)
    todo = [item for item in items if item.request is not None and (force or not _done(records.get(item.id), out_dir))]
    if todo:
        synthesizer = load_synthesizer()
        with tqdm(total=len(todo), desc="clone", unit="item", disable=not progress) as bar:
            for start in range(0, len(todo), batch_size):
                group = todo[start : start + batch_size]
                _run_group(synthesizer, group, out_dir, records, batch_size, report)
                write_results(out_dir, items, records)
                bar.update(len(group))
    write_results(out_dir, items, records)
    return records


def _run_group(synthesizer: Synthesizer, group: list[BatchItem], out_dir: Path, records: dict, batch_size: int,
               report) -> None:
    ready = []
    for item in group:
        try:
            synthesizer.prepare(item.request)  # checks it; the prompt is cached for the batch
            ready.append(item)
        except UserError as err:
            report(f"line {item.line} ({item.id}): {err}")
            records[item.id] = _failed(item, str(err))
    if not ready:
        return
    results = synthesizer.clone_batch([item.request for item in ready], batch_size=batch_size)
    for item, result in zip(ready, results):
        write_audio(out_dir / f"{item.id}.wav", result.audio, result.sample_rate)
        records[item.id] = {**_describe(item), "status": "ok", "wav": f"{item.id}.wav", **result.as_dict(),
                            "error": None}


def _done(record: dict | None, out_dir: Path) -> bool:
    return bool(record) and record.get("status") == "ok" and (out_dir / str(record.get("wav"))).is_file()


def _describe(item: BatchItem) -> dict:
    request = item.request
    described = {"id": item.id, "line": item.line}
    if request is not None:
        described.update({
            "prompt": str(Path(request.prompt).resolve()), "prompt_text": request.prompt_text, "text": request.text,
            "language": request.language, "prompt_language": request.prompt_language or request.language,
            "seed": request.seed,
        })
    return described


def _failed(item: BatchItem, error: str) -> dict:
    return {**_describe(item), "status": "failed", "wav": None, "error": error}


def write_results(out_dir: Path, items: list[BatchItem], records: dict[str, dict]) -> None:
    """All records, the items file's first, in its order; then records of ids no longer listed."""
    listed = [item.id for item in items]
    order = [i for i in listed if i in records] + [i for i in records if i not in set(listed)]
    write_records(out_dir / RESULTS_FILE, [records[i] for i in order])
