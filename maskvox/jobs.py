"""Resumable jobs (clone and edit batches, dubbing, the evaluation recipes): one JSON record
per item, by id, in a JSON-lines file rewritten atomically after each step.

An item is done when its record says ok, the output file it names exists and, for a job whose
outputs depend on its settings, the record's fingerprint is that of the settings now. Outputs
are written whole (`maskvox.fileio.atomic_path`) before their record says ok, so a job
stopped at any moment loses at most the step in flight; run it again and it goes on.

A record costs one appended, fsync'd line, whatever the job's size; the file is compacted (one
line per id, in the job's order) when the job opens and when it finishes. A job holds a lock
on its folder: a second job on the same folder is refused, not interleaved. Light: no torch,
so readers of item lists can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable

from .errors import UserError, write_error
from .fileio import remove_stale_temporaries, write_text

RESULTS_FILE = "results.jsonl"  # the records of clone and edit batches
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # item ids name output files (use fullmatch)
LOCK_FILE = ".maskvox-job.lock"  # in a job's folder, held while the job runs
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def json_object_line(line: str, fields=None) -> dict:
    """One line of a JSON-lines list: an object (whose keys are all among `fields`, if given) of
    text that can be written back, or a UserError."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON ({err.msg})") from None
    except RecursionError:  # [[[[... thousands deep
        raise UserError("not valid JSON for a list (nested too deeply)") from None
    if not isinstance(record, dict):
        raise UserError("expected a JSON object")
    _check_text(record)
    unknown = sorted(set(record) - set(fields)) if fields is not None else []
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise UserError(f"unknown field{'s' if len(unknown) > 1 else ''} {names} (known: {', '.join(fields)})")
    return record


def _check_text(value) -> None:
    """JSON can escape a lone surrogate (`"\\udcff"`), which is no character: no record holding
    it could be written as UTF-8, so the line fails here, alone."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise UserError(f"a string holds a lone surrogate ({value[err.start]!r}), which is not text") from None


def check_item_id(value) -> str:
    """An item id from a list: it names output files, so letters, digits, '.', '_' or '-' only."""
    if not isinstance(value, str) or not value:
        raise UserError(f"'id' must be a non-empty string, not {value!r}")
    if not SAFE_ID.fullmatch(value):
        raise UserError(f"id {value!r} must be letters, digits, '.', '_' or '-', at most 128, starting with a "
                        "letter or digit (it names output files)")
    return value


def check_output_name(value: str, what: str) -> str:
    """A name taken from a file name (an edit row's wav stem): not empty, no control characters."""
    if not value or _CONTROL.search(value):
        raise UserError(f"{what} {value!r} cannot name an output file (empty, or control characters)")
    return value


def line_id(number: int) -> str:
    """The record id of a list line that has no id of its own (unreadable, or its id taken):
    a '/' no item id or file name holds, so it never collides with one."""
    return f"line/{number}"


class IdClaims:
    """The ids of a list file, each claimed by one line: a second claim is refused with one line
    naming the first, so records keyed by id never collide (the loser's record is `line_id`'s)."""

    def __init__(self) -> None:
        self.first_line_of: dict[str, int] = {}

    def claim(self, item_id: str, number: int, what: str = "id") -> str:
        if item_id in self.first_line_of:
            raise UserError(f"{what} '{item_id}' is already used on line {self.first_line_of[item_id]}")
        self.first_line_of[item_id] = number
        return item_id


def read_records(path: Path) -> dict[str, dict]:
    """A JSON-lines file of records with an `id` each, by id, the latest line of an id winning
    (none if there is no file)."""
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        try:
            record = json.loads(line)
            records[record["id"]] = record
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # the file is written atomically; a stray line is just ignored
    return records


def write_records(path: Path, records: Iterable[dict]) -> None:
    """Records as JSON lines, written atomically."""
    write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def fingerprint(settings) -> str:
    """A short digest of JSON-ready `settings`: what an output depends on."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class JobRecords:
    """The records of a job whose outputs sit beside its records file; a context manager that
    holds the folder's lock until the job ends (or its process dies).

    `output_field`: the record field naming an item's output file (relative to the folder).
    Opening the records removes what a killed write left of the records file and of the
    `outputs` named (only those: the folder may hold the user's own hidden files)."""

    def __init__(self, path: Path, output_field: str, outputs: Iterable[str] = ()):
        self.path, self.output_field = path, output_field
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(path.parent, err) from None
        self._lock = lock_folder(path.parent)
        remove_stale_temporaries(path.parent, [path.name, *outputs])
        self.by_id = read_records(path)
        if self.by_id:
            self.save()  # compacted, so an append never lands after a line a kill cut short

    def __enter__(self) -> "JobRecords":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        """Let another job use the folder."""
        self._lock.close()

    def done(self, item_id: str, fingerprint: str | None = None) -> bool:
        """Whether the item's record says ok, its output exists, and (if given) its fingerprint matches."""
        record = self.by_id.get(item_id)
        if not record or record.get("status") != "ok":
            return False
        if fingerprint is not None and record.get("fingerprint") != fingerprint:
            return False
        output = record.get(self.output_field)
        return isinstance(output, str) and (self.path.parent / output).is_file()

    def get(self, item_id: str) -> dict | None:
        return self.by_id.get(item_id)

    def __setitem__(self, item_id: str, record: dict) -> None:
        """Keep `record`, appended to the file at once (one line, fsync'd)."""
        self.by_id[item_id] = record
        try:
            with open(self.path, "a", encoding="utf-8") as records:
                records.write(json.dumps(record, ensure_ascii=False) + "\n")
                records.flush()
                os.fsync(records.fileno())
        except OSError as err:
            raise write_error(self.path, err) from None

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.by_id

    def save(self, first: Iterable[str] = ()) -> None:
        """Compact the file: one record per id, the ids of `first` in that order, then the others as
        they came (written atomically)."""
        first = [item_id for item_id in dict.fromkeys(first) if item_id in self.by_id]
        listed = set(first)  # once: a set per id would make compaction quadratic in the job's size
        rest = [item_id for item_id in self.by_id if item_id not in listed]
        write_records(self.path, [self.by_id[item_id] for item_id in first + rest])


def lock_folder(folder: Path):
    """An exclusive lock on `folder` for this process (released when the returned file is closed,
    or when the process dies); a UserError naming the holder when another job has it."""
    import fcntl

    try:
        handle = open(folder / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as err:
        raise write_error(folder / LOCK_FILE, err) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise UserError(f"{folder} is in use by another maskvox job ({holder}): wait for it to finish, "
                        "or give another folder") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle
