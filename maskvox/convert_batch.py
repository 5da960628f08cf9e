"""Voice conversion batch jobs: many source/prompt pairs from a JSON-lines file, one wav each, resumable.

Items file, one JSON object per line (relative paths are taken from the file's folder):

    {"id": "u1", "source": "speech.wav", "prompt": "voice.wav", "prompt_text": "...",
     "language": "en", "seed": 7, "source_pitch_shift": 0}        # the last four optional

Output folder: `<id>.wav` (24 kHz, as long as its source) per item and `results.jsonl` (one
record per item, in the items' order: status ok/failed, lengths, windows, seed, timings,
error), as `clone --batch` writes them (maskvox.batch, maskvox.jobs): a record is appended after
each wav is written whole, items already ok are kept on a second run (`force` redoes them), a
second job on the same folder is refused, and a bad line or a bad recording fails alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .audio import write_audio
from .batch import BatchItem, item_seed, optional, pending_items, read_item_lines, require_strings
from .convert import ConvertRequest, check_pitch_shift
from .errors import UserError
from .fileio import resolve_relative
from .jobs import RESULTS_FILE, JobRecords

ITEM_FIELDS = {"id", "source", "prompt", "prompt_text", "language", "seed", "source_pitch_shift"}


def read_convert_items(path: str | Path, default_language: str = "en", default_seed: int | None = None,
                       default_pitch_shift: float = 0.0) -> list[BatchItem]:
    folder = Path(path).parent

    def request(record: dict) -> ConvertRequest:
        require_strings(record, ("source", "prompt"))
        shift = optional(record, "source_pitch_shift", (int, float))
        shift = default_pitch_shift if shift is None else shift
        check_pitch_shift(shift)
        return ConvertRequest(resolve_relative(record["source"], folder), resolve_relative(record["prompt"], folder),
                              optional(record, "prompt_text", str) or "",
                              optional(record, "language", str) or default_language,
                              item_seed(record, default_seed), shift)

    return read_item_lines(path, ITEM_FIELDS, request)


def run_convert_batch(items: list[BatchItem], out_dir: Path, load_synthesizer: Callable, batch_size: int = 8,
                      force: bool = False, progress: bool = True,
                      report: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> dict[str, dict]:
    """Convert the items not already done; returns every record by id. An item the synthesizer
    refuses fails alone; a write that fails stops the job (the next would too)."""
    from tqdm import tqdm

    with JobRecords(out_dir / RESULTS_FILE, "wav", [f"{item.id}.wav" for item in items]) as records:
        todo = pending_items(items, records, force, report, lambda item, error: _record(item, "failed", error=error))
        synthesizer = load_synthesizer() if todo else None
        for item in tqdm(todo, desc="convert", unit="item", disable=not progress):
            request = item.request
            try:
                result = synthesizer.convert(request.source, request.prompt, request.prompt_text, request.language,
                                             request.seed, request.source_pitch_shift, batch_size)
            except UserError as err:
                report(f"line {item.line} ({item.id}): {err}")
                records[item.id] = _record(item, "failed", error=str(err))
                continue
            write_audio(out_dir / f"{item.id}.wav", result.audio, result.sample_rate)
            records[item.id] = _record(item, "ok", wav=f"{item.id}.wav", **result.as_dict())
        records.save([item.id for item in items])
    return records.by_id


def _record(item: BatchItem, status: str, wav: str | None = None, error: str | None = None, **details) -> dict:
    record = {"id": item.id, "line": item.line, "status": status, "wav": wav}
    request = item.request
    if request is not None:
        record.update({"source": str(Path(request.source).resolve()), "prompt": str(Path(request.prompt).resolve()),
                       "prompt_text": request.prompt_text, "language": request.language})
    return {**record, **details, "seed": None if request is None else request.seed, "error": error}
