"""`maskvox g2p`: text -> phones and phone ids (the T2S input), one text or many JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..errors import UserError
from ..fileio import check_output_path
from .common import warnings_on_stderr

if TYPE_CHECKING:
    from ..text import TextFrontEnd


def add_command(commands: argparse._SubParsersAction) -> None:
    g2p = commands.add_parser("g2p", help="text -> phones and phone ids (the T2S input)")
    g2p.add_argument("text", nargs="?", help="the text (or use --jsonl)")
    g2p.add_argument("--lang", help="language code: en, zh, ja, ko, fr, de (the default for --jsonl lines)")
    g2p.add_argument("--json", action="store_true", help="print one JSON object with 'phones' and 'ids'")
    g2p.add_argument("--jsonl", metavar="FILE", help="read many {lang, text} lines ('-' for stdin), write JSON lines")
    g2p.add_argument("--out", metavar="FILE", help="write the result here instead of standard output")
    g2p.add_argument("--normalization", choices=["full", "reference"], default="full",
                     help="full (default): read numbers, money, dates, times, abbreviations first; "
                          "reference: exactly the official front-end's cleaning")
    g2p.add_argument("--vocab", metavar="FILE", help="phone vocabulary JSON (default: the official 363 phones)")
    g2p.add_argument("--respell", action="append", default=[], metavar="WORD=SPELLING",
                     help="read WORD as SPELLING (may be inline phones, [[...]]); repeatable")
    g2p.add_argument("--quiet", action="store_true", help="no warnings about phones the vocabulary lacks")
    g2p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..fileio import write_text
    from ..text import SUPPORTED_LANGUAGES, PhoneVocabulary, TextFrontEnd

    if (args.text is None) == (args.jsonl is None):
        raise UserError("give the text, or --jsonl FILE, but not both")
    out = check_output_path(args.out, (".txt", ".json", ".jsonl")) if args.out else None
    vocabulary = PhoneVocabulary.load(args.vocab) if args.vocab else None
    frontend = TextFrontEnd(vocabulary, args.normalization, _parse_respellings(args.respell))
    failures = 0
    with warnings_on_stderr(args.quiet):
        if args.jsonl is not None:
            lines, failures = _g2p_jsonl(frontend, args)
        else:
            if not args.lang:
                raise UserError(f"--lang is required ({', '.join(SUPPORTED_LANGUAGES)})")
            result = frontend(args.text, args.lang)
            ids = list(result.ids)
            if args.json:
                lines = [json.dumps({"phones": result.phone_string, "ids": ids}, ensure_ascii=False)]
            else:
                lines = [result.phone_string, " ".join(map(str, ids))]
    if out:
        write_text(out, "".join(line + "\n" for line in lines))
    else:
        print("\n".join(lines))
    if failures:
        raise UserError(f"{failures} line(s) of {args.jsonl} could not be read (their records hold the error)")


def _parse_respellings(pairs: list[str]) -> dict[str, str]:
    respellings = {}
    for pair in pairs:
        word, sep, spelling = pair.partition("=")
        if not sep or not word.strip() or not spelling.strip():
            raise UserError(f"--respell wants WORD=SPELLING, got {pair!r}")
        respellings[word.strip()] = spelling.strip()
    return respellings


def _g2p_jsonl(frontend: TextFrontEnd, args: argparse.Namespace) -> tuple[list[str], int]:
    """One output line per input line; a bad line gets an 'error' record and the rest go on."""
    from tqdm import tqdm

    from ..fileio import decode_list_text, read_list_text
    from ..jobs import json_object_line
    from ..text import check_language

    if args.jsonl == "-":
        text = decode_list_text(sys.stdin.buffer.read(), "standard input")
    else:
        text = read_list_text(args.jsonl, "JSON-lines file")
    lines = text.split("\n")  # not splitlines: U+2028 and the like may sit inside a JSON string
    out, failures = [], 0
    for number, line in enumerate(tqdm(lines, desc="g2p", disable=args.quiet, file=sys.stderr), start=1):
        if not line.strip():
            continue
        try:
            record = json_object_line(line)
            if not isinstance(record.get("text"), str):
                raise UserError("expected a JSON object with a 'text' string")
            lang = check_language(record.get("lang") or args.lang or "")
            out.append(json.dumps(frontend(record["text"], lang).as_dict(), ensure_ascii=False))
        except UserError as error:
            failures += 1
            print(f"maskvox: {args.jsonl}:{number}: {error}", file=sys.stderr)
            out.append(json.dumps({"line": number, "error": str(error)}, ensure_ascii=False))
    return out, failures
