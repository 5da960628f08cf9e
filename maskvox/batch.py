"""Clone batch jobs: many requests from a JSON-lines file, one wav each, resumable.

Items file, one JSON object per line (relative prompt paths are taken from the file's folder):

    {"id": "u1", "prompt": "p.wav", "prompt_text": "...", "text": "...", "language": "en",
     "prompt_language": "en", "duration": 3.0, "speed": 1.0, "seed": 7}     # the last five optional

Output folder: `<id>.wav` per item and `results.jsonl` (one record per item, in the items'
order: status ok/failed, lengths, seed, timings, error). Each wav is written whole before its
record is appended to the results file, so a stopped job loses at most the batch in flight;
run again and items already ok are kept (`force` redoes them; maskvox.jobs). A second job on
the same folder is refused while this one runs. A bad line fails alone, with its line number.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .audio import write_audio
from .errors import UserError
from .fileio import read_list_text, resolve_relative
from .jobs import RESULTS_FILE, IdClaims, JobRecords, check_item_id, json_object_line, line_id
from .pipeline import CloneRequest, Synthesizer
from .request import check_seed

ITEM_FIELDS = {"id", "prompt", "prompt_text", "text", "language", "prompt_language", "duration", "speed", "seed"}


@dataclass
class BatchItem:
    line: int
    id: str
    request: CloneRequest | None  # None: the line could not be read (a ConvertRequest in convert batches)
    error: str | None = None


def read_items(path: str | Path, default_language: str = "en", default_seed: int | None = None) -> list[BatchItem]:
    """The clone requests of an items file (`read_item_lines`)."""
    folder = Path(path).parent
    return read_item_lines(path, ITEM_FIELDS, lambda record: _request(record, folder, default_language, default_seed))


def read_item_lines(path: str | Path, fields: set[str], make_request: Callable[[dict], object]) -> list[BatchItem]:
    """Every non-empty line of a JSON-lines items file as an item, its request made by
    `make_request(record)`; a line that cannot be read becomes an item with an error, under its
    own id when it has one no earlier line claimed, else under `line_id` (ids are unique by
    construction: maskvox.jobs)."""
    path = Path(path)
    lines = read_list_text(path, "items file").split("\n")
    items, claims = [], IdClaims()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item_id = None
        try:
            record = json_object_line(line, sorted(fields))
            item_id = claims.claim(check_item_id(record.get("id")), number)
            items.append(BatchItem(number, item_id, make_request(record)))
        except UserError as err:
            items.append(BatchItem(number, item_id or line_id(number), None, str(err)))
    if not items:
        raise UserError(f"the items file {path} has no items")
    return items


def _request(record: dict, folder: Path, default_language: str, default_seed: int | None) -> CloneRequest:
    require_strings(record, ("prompt", "prompt_text", "text"))
    request = CloneRequest(
        prompt=resolve_relative(record["prompt"], folder),
        prompt_text=record["prompt_text"], text=record["text"],
        language=optional(record, "language", str) or default_language,
        prompt_language=optional(record, "prompt_language", str),
        duration=optional(record, "duration", (int, float)),
        speed=optional(record, "speed", (int, float)) or 1.0,
        seed=item_seed(record, default_seed),
    )
    request.length_request()  # the length controls in bounds: a bad item fails before any model loads
    return request


def require_strings(record: dict, names) -> None:
    for name in names:
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise UserError(f"'{name}' must be a non-empty string")


def item_seed(record: dict, default_seed: int | None) -> int:
    """The item's seed, else the job's, else a random one (recorded, so a rerun repeats it)."""
    seed = record.get("seed", default_seed)
    seed = secrets.randbelow(2**31) if seed is None else seed
    check_seed(seed)
    return seed


def optional(record: dict, name: str, kinds):
    value = record.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise UserError(f"'{name}' has the wrong type: {value!r}")
    return value


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

    with JobRecords(out_dir / RESULTS_FILE, "wav", [f"{item.id}.wav" for item in items]) as records:
        todo = pending_items(items, records, force, report, _failed)
        if todo:
            synthesizer = load_synthesizer()
            with tqdm(total=len(todo), desc="clone", unit="item", disable=not progress) as bar:
                for start in range(0, len(todo), batch_size):
                    group = todo[start : start + batch_size]
                    _run_group(synthesizer, group, out_dir, records, batch_size, report)
                    bar.update(len(group))
        records.save([item.id for item in items])  # the items file's order, then ids no longer listed
    return records.by_id


def pending_items(items: list, records: JobRecords, force: bool, report: Callable[[str], None],
                  failed: Callable[[object, str], dict]) -> list:
    """A batch's unreadable lines recorded as `failed(item, error)` (and reported); the readable
    items not done yet (all of them with `force`). Items: a line, an id, a request or an error."""
    for item in items:
        if item.error:
            report(f"line {item.line}: {item.error}")
            records[item.id] = failed(item, item.error)
    return [item for item in items if item.request is not None and (force or not records.done(item.id))]


def _run_group(synthesizer: Synthesizer, group: list[BatchItem], out_dir: Path, records: JobRecords,
               batch_size: int, report) -> None:
    # A request the synthesizer refuses (a bad prompt, a length out of bounds) fails alone; a
    # write that fails stops the job (the next would too), and its item is not done.
    results = synthesizer.clone_batch([item.request for item in group], batch_size=batch_size, return_errors=True)
    for item, result in zip(group, results):
        if isinstance(result, UserError):
            report(f"line {item.line} ({item.id}): {result}")
            records[item.id] = _failed(item, str(result))
            continue
        write_audio(out_dir / f"{item.id}.wav", result.audio, result.sample_rate)
        records[item.id] = {**_describe(item), "status": "ok", "wav": f"{item.id}.wav", **result.as_dict(),
                            "error": None}


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
