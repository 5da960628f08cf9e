"""`maskvox clone`: new text in the voice of a prompt recording (zero-shot), or a batch of items."""

from __future__ import annotations

import argparse
import json
import time

from ..errors import UserError
from ..fileio import check_output_path
from .common import (add_decoding_arguments, add_memory_arguments, add_model_arguments, check_batch_options,
                     check_batch_size, check_one_item_options, finish_batch, load_synthesizer, say,
                     stderr_reporter, warnings_on_stderr)


def add_command(commands: argparse._SubParsersAction) -> None:
    clone = commands.add_parser("clone", help="say new text in the voice of a prompt recording (zero-shot)")
    clone.add_argument("--prompt", help="the prompt recording, 3-15 s (any format, rate, channels; longer is cut at a pause)")
    clone.add_argument("--prompt-text", help="what the prompt says")
    text = clone.add_mutually_exclusive_group()
    text.add_argument("--text", help="what to say")
    text.add_argument("--text-file", metavar="FILE", help="read what to say from a UTF-8 text file (long text is split)")
    clone.add_argument("--lang", default="en", help="language of the text: en, zh, ja, ko, fr, de (default: en)")
    clone.add_argument("--prompt-lang", help="language of the prompt (default: --lang)")
    clone.add_argument("--out", help="output audio (.wav or .flac), 24 kHz")
    clone.add_argument("--batch", metavar="ITEMS.jsonl",
                       help="many items, one JSON object per line (id, prompt, prompt_text, text, language, ...)")
    clone.add_argument("--out-dir", metavar="DIR", help="with --batch: one wav per item and results.jsonl (resumable)")
    clone.add_argument("--batch-size", type=int, default=8, help="pieces generated together (default: 8)")
    clone.add_argument("--force", action="store_true", help="with --batch: redo items already done")
    length = clone.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, metavar="SECONDS", help="the exact length of the output")
    length.add_argument("--speed", type=float, default=1.0, help="speaking-rate factor, 0.5 to 2 (> 1: faster)")
    clone.add_argument("--seed", type=int, help="seed for a repeatable result (default: a random one, printed)")
    add_decoding_arguments(clone, "fast, default (the reference's steps) or high; or a .yaml/.json of preset fields")
    clone.add_argument("--reference-sampling", action="store_true",
                       help="the reference pipeline's exact computation and random draws (fp32, one piece at a time)")
    add_memory_arguments(clone)
    clone.add_argument("--json", action="store_true", help="print the result's details as JSON")
    add_model_arguments(clone)
    clone.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    check_batch_size(args)
    if args.batch:
        return _clone_batch(args)
    check_one_item_options(args, ("prompt", "prompt_text", "out"))
    if args.text is None and args.text_file is None:
        raise UserError("give --text or --text-file")
    from ..audio import write_audio
    from ..modes import sampling_mode
    from ..pipeline import CloneRequest

    out = check_output_path(args.out, (".wav", ".flac"), {"prompt": args.prompt, "text file": args.text_file})
    text = args.text if args.text is not None else _read_text_file(args.text_file)
    request = CloneRequest(args.prompt, args.prompt_text, text, args.lang, args.prompt_lang, args.duration,
                           args.speed, args.seed)
    sampling = _sampling(args)
    reader = sampling_mode(sampling).reader()
    with warnings_on_stderr(args.quiet):
        reader.check(request)  # bad input fails before the models load; nothing is read twice
        synthesizer = load_synthesizer(args, sampling, reader)
        started = time.perf_counter()
        result = synthesizer.clone_batch([request], batch_size=args.batch_size)[0]
    write_audio(out, result.audio, result.sample_rate)
    if args.json:
        print(json.dumps({"out": str(out), **result.as_dict()}))
    else:
        say(args, f"wrote {out}: {result.seconds:.2f} s ({result.duration_source} length; seed {result.seed}; "
                  f"{len(result.pieces)} piece(s)) in {time.perf_counter() - started:.1f} s")


def _sampling(args: argparse.Namespace) -> str:
    return "reference" if args.reference_sampling else "fast"


def _read_text_file(path: str) -> str:
    from ..fileio import read_list_text
    from ..limits import check_text_length

    text = read_list_text(path, "text file")  # its size bounded before it is read
    check_text_length(text, "text file")
    return text


def _clone_batch(args: argparse.Namespace) -> None:
    from ..batch import read_items, run_clone_batch

    out_dir = check_batch_options(args, "--batch", ("prompt", "prompt_text", "text", "text_file", "out", "duration"),
                                  "per item in the items file")
    items = read_items(args.batch, args.lang, args.seed)
    with warnings_on_stderr(args.quiet):
        records = run_clone_batch(items, out_dir, lambda: load_synthesizer(args, _sampling(args)), args.batch_size,
                                  args.force, progress=not args.quiet, report=stderr_reporter(args.batch))
    finish_batch(args, [item.id for item in items], records, out_dir, "items")
