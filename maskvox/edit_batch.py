"""Batch speech editing over a tab-separated file in the RealEdit format, resumable.

Columns (a header line names them): `wav` (or `wav_fn`, as RealEdit spells it),
`orig_transcript`, `new_transcript`, `orig_masked_span`, `new_masked_span`, `type`. In a
multi-edit row RealEdit writes the transcripts after each edit separated by `|`: the first
is the recording's, the last the final text. The edits themselves are found again by the
word diff, so the span columns are kept in the results only as a record. Relative wav paths
are taken from `audio_dir` (default: the TSV's folder).

Output folder: `<wav stem>.wav` per row (the input's rate and sample format) and
`results.jsonl` (status, edited spans in seconds, error), a record appended after each row
(maskvox.jobs); a row already ok is not redone unless `force`. A bad row fails alone, with its line.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .audio import write_audio
from .batch import pending_items
from .edit import EditRequest
from .errors import UserError
from .fileio import read_list_text, resolve_relative
from .jobs import RESULTS_FILE, IdClaims, JobRecords, check_output_name, line_id

REQUIRED_COLUMNS = ("orig_transcript", "new_transcript")
RECORDED_COLUMNS = ("orig_masked_span", "new_masked_span", "type")


@dataclass
class EditItem:
    line: int
    id: str
    request: EditRequest | None  # None: the row could not be read
    error: str | None = None
    columns: dict | None = None


def read_edit_tsv(path: str | Path, audio_dir: str | Path | None = None, language: str = "en",
                  seed: int | None = None) -> list[EditItem]:
    path = Path(path)
    lines = read_list_text(path, "edit list").split("\n")
    try:
        rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as err:  # a NUL byte
        raise UserError(f"the edit list {path} is not a TSV text file: {err}") from None
    if not any(rows[0]):
        raise UserError(f"the edit list {path} is empty")
    header = [name.strip() for name in rows[0]]
    wav_column = "wav" if "wav" in header else "wav_fn" if "wav_fn" in header else None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if wav_column is None or missing:
        raise UserError(f"the edit list {path} needs a header line with the columns wav, "
                        f"{', '.join(REQUIRED_COLUMNS)} (missing: {', '.join((['wav'] if wav_column is None else []) + missing)})")
    folder = Path(audio_dir) if audio_dir is not None else path.parent
    items, claims = [], IdClaims()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        record = dict(zip(header, row))
        stem = None  # the row's id, once claimed; else line_id's, which no stem can equal
        try:
            if len(row) != len(header):
                raise UserError(f"{len(row)} columns, the header has {len(header)}")
            name = check_output_name(Path(record[wav_column]).stem, "the wav name")
            stem = claims.claim(name, number, f"the output name (from {record[wav_column]})")
            request = EditRequest(resolve_relative(record[wav_column], folder), record["orig_transcript"].split("|")[0],
                                  record["new_transcript"].split("|")[-1], language, seed=seed)
            items.append(EditItem(number, stem, request, columns=record))
        except UserError as err:
            items.append(EditItem(number, stem or line_id(number), None, str(err), record))
    if not items:
        raise UserError(f"the edit list {path} has no rows")
    return items


def run_edit_batch(items: list[EditItem], out_dir: Path, load_synthesizer: Callable, force: bool = False,
                   progress: bool = True,
                   report: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> dict[str, dict]:
    """Edit the rows not already done; returns every record by id."""
    from tqdm import tqdm

    with JobRecords(out_dir / RESULTS_FILE, "out", [f"{item.id}.wav" for item in items]) as records:
        todo = pending_items(items, records, force, report, lambda item, error: _record(item, "failed", error=error))
        synthesizer = load_synthesizer() if todo else None
        for item in tqdm(todo, desc="edit", unit="row", disable=not progress):
            records[item.id] = _edited(synthesizer, item, out_dir, report)
        records.save([item.id for item in items])
    return records.by_id


def _edited(synthesizer, item: EditItem, out_dir: Path, report: Callable[[str], None]) -> dict:
    """One row edited and written: its record, ok or failed. A row the synthesizer refuses fails
    alone; a write that fails stops the job (the next would too), and its row is not done."""
    try:
        result = synthesizer.edit(item.request.audio, item.request.text, item.request.new_text,
                                  item.request.language, seed=item.request.seed)
    except UserError as err:
        report(f"line {item.line} ({item.id}): {err}")
        return _record(item, "failed", error=str(err))
    out = out_dir / f"{item.id}.wav"
    write_audio(out, result.audio, result.sample_rate, output_subtype(out, result.subtype))
    return _record(item, "ok", out=f"{item.id}.wav", **result.as_dict())


def output_subtype(path: str | Path, subtype: str | None) -> str | None:
    """The input's sample format when the output's format can hold it (else soundfile's
    default), so kept samples are written back exactly."""
    import soundfile as sf

    extension = Path(path).suffix.lstrip(".").upper()
    return subtype if subtype and extension and sf.check_format(extension, subtype) else None


def _record(item: EditItem, status: str, out: str | None = None, error: str | None = None, **details) -> dict:
    request = item.request
    record = {"id": item.id, "line": item.line, "status": status, "out": out}
    if request is not None:
        record.update({"wav": str(Path(request.audio).resolve()), "text": request.text, "new_text": request.new_text,
                       "language": request.language})
    record.update({name: (item.columns or {}).get(name) for name in RECORDED_COLUMNS})
    return {**record, **details, "error": error}
