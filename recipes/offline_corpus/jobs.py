"""Running the corpus's pieces of work a few at a time, with a progress bar, and naming outputs
by a hash of what made them (so that a finished file is kept on the next run)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from tqdm import tqdm

MIN_SECONDS = 0.1  # shorter output is no utterance


class NoAudio(Exception):
    """One piece of work gave no usable audio (an empty packaged clip, a text an engine fails
    on): it is left out and counted, and the build goes on."""


def content_key(*parts: Any) -> str:
    """8 hex digits of a hash over JSON-able parts: the settings and text that make one file."""
    key = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def run_missing(items: Sequence, work: Callable[[Any], None], workers: int, quiet: bool, desc: str,
                unit: str = "wav") -> None:
    """Run `work(item)` for each item, `workers` at a time (threads: the work is subprocesses or
    native code); the first failure cancels what is still queued and is raised."""
    progress = tqdm(total=len(items), desc=desc, unit=unit, disable=quiet or not items)
    with ThreadPoolExecutor(max(1, workers)) as pool, progress as bar:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update()
        except BaseException:
            for future in futures:  # stop quickly: do not start what is still queued
                future.cancel()
            raise
