"""Extend the phone vocabulary for a new language, ready for T2S fine-tuning.

    python -m recipes.t2s.extend_vocab --texts data/es/train.jsonl --lang es --voice es \
        --out data/es/phone_vocab.json

Reads the texts (a JSONL manifest with `text`, or plain text, one sentence per line) with an
espeak-ng voice, collects the phones the vocabulary lacks, and writes a vocabulary with them
appended after the official ids (the padding id 1023 stays free). It prints the two settings
the fine-tuning config needs:

    model.phone_vocab_size: 1024        # the rows of the grown phone table
    finetune.new_phone_ids: [363, ...]  # the rows to initialise

Then extract token shards with `--vocab` set to the new file, and train with
`recipes/t2s/train.py` (`finetune.init_from` the official T2S).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import warnings
from pathlib import Path

from tqdm import tqdm

from maskvox.errors import TextError, UserError
from maskvox.text import PhoneVocabulary, TextFrontEnd

from ..common.cli import exit_status


def read_texts(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if path.suffix == ".jsonl":
        try:
            return [json.loads(line)["text"] for line in lines]
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path}: every line needs a JSON object with 'text' ({error})") from None
    return lines


def count_new_phones(frontend: TextFrontEnd, texts: list[str], lang: str, quiet: bool = False) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unknown phones are what we are collecting
        for text in tqdm(texts, desc="phones", disable=quiet):
            try:
                phone_string = frontend(text, lang).phone_string
            except TextError:
                continue
            counts.update(p for p in phone_string.replace("\n", "|").split("|") if p and p not in frontend.vocabulary)
    return counts


def extend_vocabulary(texts: str, lang: str, voice: str, out: str, base: str | None = None,
                      min_count: int = 1, quiet: bool = False) -> dict:
    vocabulary = PhoneVocabulary.load(base) if base else PhoneVocabulary.official()
    frontend = TextFrontEnd(vocabulary, normalization="reference", extra_espeak_voices={lang: voice})
    counts = count_new_phones(frontend, read_texts(texts), lang, quiet)
    kept = [phone for phone, count in counts.most_common() if count >= min_count]
    extended, new_ids = vocabulary.extended(kept)
    extended.save(out)
    return {
        "vocab": str(out),
        "new_phones": {phone: {"id": extended.ids[phone], "count": counts[phone]} for phone in kept},
        "model.phone_vocab_size": extended.table_size,
        "finetune.new_phone_ids": new_ids,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", required=True, help="JSONL manifest with 'text', or a text file")
    parser.add_argument("--lang", required=True, help="the new language's code, e.g. es")
    parser.add_argument("--voice", required=True, help="the espeak-ng voice that reads it, e.g. es")
    parser.add_argument("--out", required=True, help="the extended vocabulary JSON to write")
    parser.add_argument("--base", help="vocabulary to extend (default: the official 363 phones)")
    parser.add_argument("--min-count", type=int, default=1, help="keep phones seen at least this often")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def run():
        summary = extend_vocabulary(args.texts, args.lang, args.voice, args.out, args.base, args.min_count, args.quiet)
        print(json.dumps(summary, ensure_ascii=False, indent=1))

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
