"""The dubbing job: each cue said in the target language, in its speaker's voice, fitted to its slot.

The cues are planned in fixed groups of `batch_size` (`tasks`), generated group by group by an
engine (`engine`: here, or over Ray actors; `generator`), then the tracks and subtitles are
rebuilt from the cue wavs (`tracks`). Each cue's wav is written whole, then its record is
appended to `report.jsonl` (maskvox.jobs): a crash or SIGKILL loses at most the group in
flight, and a second job on the same folder is refused while this one runs. A cue is done when its record says ok, its wav exists and its fingerprint
(everything that decides its audio) is unchanged; done cues are never redone unless `force` is set.

Outputs in the job folder:
    cues/<id>.wav           each cue at 24 kHz, exactly its slot long
    <stem>.dub.wav          per source recording: the dubbed track on its timeline (same rate,
                            same number of samples), mixed with the background stem if given
    <stem>.<lang>.srt       the target text, timed to where each dubbed line is voiced
    report.jsonl            one record per cue: id, status ok/failed/skipped, slot_s, natural_s,
                            target_s, final_s, stretch, error, ...
    summary.json            counts and throughput
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..audio import ACOUSTIC_RATE, write_audio
from ..fileio import remove_stale_temporaries, write_json
from ..jobs import JobRecords, line_id
from .config import DubConfig
from .cues import Cue, CueError
from .engine import Engine, make_engine
from .tasks import CueOutput, CueTask, fixed_groups, plan_tasks
from .tracks import output_names, read_background, write_tracks

REPORT_FILE = "report.jsonl"
SUMMARY_FILE = "summary.json"
CUE_FOLDER = "cues"


@dataclass
class DubSummary:
    cues: int
    ok: int
    failed: int
    skipped: int
    generated_this_run: int
    seconds: float
    cues_per_minute: float | None
    clamped: int  # cues whose slot was outside 0.8-1.25x their natural length
    tracks: list[str] = field(default_factory=list)
    subtitles: list[str] = field(default_factory=list)


def run_dub_job(
    cues: list[Cue],
    cue_errors: list[CueError],
    out_dir: str | Path,
    config: DubConfig,
    engine: Engine | None = None,
    progress: bool = True,
    report: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> DubSummary:
    """Dub every cue not already done (with `engine`, default: `make_engine(config)`), then
    rebuild the tracks, subtitles and summary."""
    from tqdm import tqdm

    started = time.perf_counter()
    out_dir = Path(out_dir)
    background = read_background(config.background, cues)
    with _open_report(out_dir, cues) as records:
        tasks = plan_tasks(cues, config.seed)
        identity = config.identity()
        for error in cue_errors:
            report(f"line {error.line}: {error.message}")
            records[_error_id(error)] = {"id": _error_id(error), "line": error.line, "status": "skipped",
                                         "error": error.message}
        cue_of = {cue.id: cue for cue in cues}
        todo_groups = [
            [task for task in group if config.force or not records.done(task.id, task.fingerprint(identity))]
            for group in fixed_groups(tasks, config.group_size())
        ]
        todo_groups = [group for group in todo_groups if group]
        generated = 0
        if todo_groups:
            engine = engine or make_engine(config)
            task_of = {task.id: task for group in todo_groups for task in group}
            total = sum(len(group) for group in todo_groups)
            with tqdm(total=total, desc="dub", unit="cue", disable=not progress) as bar:
                for outputs in engine(todo_groups):
                    for output in outputs:
                        records[output.id] = _record(cue_of[output.id], task_of[output.id], output, identity, out_dir)
                        if output.error:
                            report(f"cue {output.id}: {output.error}")
                    generated += len(outputs)
                    bar.update(len(outputs))
        _save_report(records)
        tracks, subtitles = write_tracks(cues, records.by_id, out_dir, background, config.background_gain_db)
        return _summarize(cues, cue_errors, records.by_id, out_dir, generated, time.perf_counter() - started,
                          tracks, subtitles)


def _open_report(out_dir: Path, cues: list[Cue]) -> JobRecords:
    """The cue records, once what an earlier run killed mid-write left is removed: temporaries of
    the report, summary, tracks and subtitles, and any in the cue folder (it holds only the job's wavs)."""
    tracks_and_subtitles = [name for names in output_names(cues).values() for name in names]
    records = JobRecords(out_dir / REPORT_FILE, "wav", [SUMMARY_FILE, *tracks_and_subtitles])
    remove_stale_temporaries(out_dir / CUE_FOLDER)
    return records


def _error_id(error: CueError) -> str:
    return error.id or line_id(error.line)


def _record(cue: Cue, task: CueTask, output: CueOutput, identity: dict, out_dir: Path) -> dict:
    record = {
        "id": cue.id, "line": cue.line, "status": "failed", "speaker": cue.speaker, "audio": str(cue.audio),
        "start": cue.start, "end": cue.end, "slot_s": round(task.slot_seconds, 4),
        "natural_s": _rounded(output.natural_s), "target_s": _rounded(output.target_s), "final_s": None,
        "stretch": None, "seed": task.seed, "wav": None, "generate_s": round(output.generate_s, 3),
        "fingerprint": task.fingerprint(identity), "error": output.error,
    }
    if output.audio is not None:
        wav = f"{CUE_FOLDER}/{cue.id}.wav"
        write_audio(out_dir / wav, output.audio, ACOUSTIC_RATE)
        # stretch: final length / generated length (1 = none; > 1 lengthened).
        record.update(status="ok", wav=wav, final_s=round(output.audio.size / ACOUSTIC_RATE, 4),
                      stretch=round(output.audio.size / ACOUSTIC_RATE / output.generated_s, 4))
    return record


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _save_report(records: JobRecords) -> None:
    """The records in the cues' order: by manifest line, then id."""
    records.save(sorted(records.by_id, key=lambda cue_id: (records.by_id[cue_id].get("line", 0), cue_id)))


def _summarize(cues, cue_errors, records, out_dir, generated, seconds, tracks, subtitles) -> DubSummary:
    own = [records[cue.id] for cue in cues if cue.id in records]
    ok = [record for record in own if record["status"] == "ok"]
    # Unclamped, the length asked is the slot rounded to a 20 ms frame.
    clamped = sum(1 for record in ok if abs(record["target_s"] - record["slot_s"]) > 0.0101)
    summary = DubSummary(
        cues=len(cues) + len(cue_errors), ok=len(ok), failed=sum(1 for r in own if r["status"] == "failed"),
        skipped=len(cue_errors), generated_this_run=generated, seconds=round(seconds, 2),
        cues_per_minute=round(generated / seconds * 60, 2) if generated else None, clamped=clamped,
        tracks=tracks, subtitles=subtitles,
    )
    write_json(out_dir / SUMMARY_FILE, asdict(summary))
    return summary
