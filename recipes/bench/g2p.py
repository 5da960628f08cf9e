"""Time the text front-end per language: first call (tools loading) and warm sentences.

    OMP_NUM_THREADS=1 python -m recipes.bench.g2p --cases tests/data/reference/g2p_cases.jsonl

Reads every non-error sentence of a `{lang, text}` JSONL file with `normalization` set as asked
and prints one JSON object: per language the first call's seconds, then, after one untimed
pass, the median and mean milliseconds per sentence over `--repeats` passes, and how many
answers equal the file's `phones` and `ids` (for the reference's cases: agreement with it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections import defaultdict

from maskvox.errors import TextError
from maskvox.text import TextFrontEnd

from ..common.cli import exit_status


def bench(cases_path: str, normalization: str, repeats: int) -> dict:
    by_lang: dict[str, list[dict]] = defaultdict(list)
    with open(cases_path, encoding="utf-8") as cases:
        for line in cases:
            record = json.loads(line)
            if "error" not in record and record["text"].strip():
                by_lang[record["lang"]].append(record)
    result = {"normalization": normalization, "repeats": repeats, "languages": {}}
    warnings.simplefilter("ignore")  # the unknown-phone warnings are part of the timed work
    for lang, records in by_lang.items():
        texts = [record["text"] for record in records]
        frontend = TextFrontEnd(normalization=normalization)
        start = time.perf_counter()
        _read(frontend, texts[0], lang)
        first = time.perf_counter() - start
        # One untimed pass: lazily loaded helpers (inflect, pykakasi) load here, and each answer
        # is compared with the record's phones and ids, when the record has them.
        same = sum(_read(frontend, record["text"], lang) == (record.get("phones"), record.get("ids")) for record in records)
        times = []
        for _ in range(repeats):
            for text in texts:
                start = time.perf_counter()
                _read(frontend, text, lang)
                times.append(1000 * (time.perf_counter() - start))
        result["languages"][lang] = {
            "sentences": len(texts), "same_as_record": same, "first_call_s": round(first, 3),
            "median_ms": round(statistics.median(times), 2), "mean_ms": round(statistics.mean(times), 2),
        }
    return result


def _read(frontend: TextFrontEnd, text: str, lang: str) -> tuple[str, list[int]] | None:
    try:
        result = frontend(text, lang)
    except TextError:
        return None  # punctuation-only sentences: the error is the answer, and it is timed too
    return result.phone_string, list(result.ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", required=True, help="JSONL of {lang, text}")
    parser.add_argument("--normalization", choices=["full", "reference"], default="reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    return exit_status(lambda: print(json.dumps(bench(args.cases, args.normalization, args.repeats), indent=1)))


if __name__ == "__main__":
    sys.exit(main())
