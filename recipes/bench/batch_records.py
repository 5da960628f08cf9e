"""Time the records of a resumable job per item, at a small and a large job size, side by side.

    OMP_NUM_THREADS=1 python -m recipes.bench.batch_records --items 100 10000

Each size is one job in a fresh folder through `maskvox.jobs.JobRecords`, as `maskvox clone
--batch` keeps its records: a clone item's record (with a fake result: no model runs) appended
and fsync'd per item, the file compacted once when the job finishes. Prints one JSON object:
per size the seconds per record over the whole job and over its last 100 records, the finishing
compaction's seconds, and the ratio of the largest size's per-record time to the smallest's
(about 1 when a record costs O(1), whatever the job's size).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from maskvox.jobs import RESULTS_FILE, JobRecords

from ..common.cli import exit_status, positive

TAIL = 100  # the last records of a job, timed on their own


def fake_record(index: int) -> dict:
    """A clone item's record as `maskvox.batch` writes it, with made-up figures."""
    item_id = f"item{index:06d}"
    return {
        "id": item_id, "line": index + 1, "prompt": "/data/prompts/speaker.wav",
        "prompt_text": "We do not break. We never give in. We never back down.",
        "text": f"Sentence number {index} of the batch, long enough to look like a real one.",
        "language": "en", "prompt_language": "en", "seed": index, "status": "ok", "wav": f"{item_id}.wav",
        "seconds": 3.2, "target_seconds": 3.2, "natural_seconds": 3.1, "duration_source": "model", "pieces": 1,
        "prompt_seconds": 6.3, "timings": {"prompt": 0.01, "features": 0.2, "t2s": 1.1, "s2a": 0.9, "total": 2.4},
        "error": None,
    }


def time_job(items: int, folder: Path) -> dict:
    """One job of `items` records: seconds per record (all, and the last TAIL), and the compaction."""
    stamps = []
    with JobRecords(folder / RESULTS_FILE, "wav") as records:
        start = time.perf_counter()
        for index in range(items):
            records[f"item{index:06d}"] = fake_record(index)
            stamps.append(time.perf_counter())
        compact_start = time.perf_counter()
        records.save([f"item{index:06d}" for index in range(items)])
        compact_s = time.perf_counter() - compact_start
    tail = min(TAIL, items)
    tail_start = stamps[-tail - 1] if items > tail else start
    return {
        "items": items,
        "per_record_ms": round((stamps[-1] - start) / items * 1000, 4),
        f"per_record_last_{tail}_ms": round((stamps[-1] - tail_start) / tail * 1000, 4),
        "compact_at_finish_s": round(compact_s, 4),
        "file_bytes": (folder / RESULTS_FILE).stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=positive, nargs="+", default=[100, 10_000],
                        help="job sizes (default: 100 10000)")
    parser.add_argument("--dir", help="where the job folders go (default: a temporary folder; the disk matters: fsync)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    def run() -> None:
        sizes = sorted(set(args.items))
        with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
            jobs = [time_job(size, Path(scratch) / f"job{size}") for size in sizes]
        report = {"jobs": jobs,
                  "ratio_largest_to_smallest": round(jobs[-1]["per_record_ms"] / jobs[0]["per_record_ms"], 3)}
        text = json.dumps(report, indent=1)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
