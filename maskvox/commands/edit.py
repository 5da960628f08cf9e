"""`maskvox edit`: change words of a recording and keep the rest (masked regeneration), or a TSV of edits."""

from __future__ import annotations

import argparse
import json

from ..errors import UserError
from ..fileio import check_output_path
from .common import (add_memory_arguments, add_model_arguments, check_batch_options, finish_batch, load_synthesizer,
                     option_name, say, stderr_reporter, warnings_on_stderr)


def add_command(commands: argparse._SubParsersAction) -> None:
    edit = commands.add_parser("edit", help="change words of a recording and keep the rest (masked regeneration)")
    edit.add_argument("--audio", help="the recording (any format, rate, channels; the output keeps them)")
    edit.add_argument("--text", help="what the recording says")
    edit.add_argument("--new-text", help="what it should say: the same text with words substituted, inserted or deleted")
    edit.add_argument("--out", help="output audio (.wav or .flac), at the recording's rate")
    edit.add_argument("--span", nargs=2, type=float, metavar=("START", "END"),
                      help="regenerate these seconds of the recording instead of the aligned changed words")
    edit.add_argument("--tsv", metavar="FILE",
                      help="many edits: a RealEdit-style TSV (wav, orig_transcript, new_transcript, ...)")
    edit.add_argument("--audio-dir", metavar="DIR", help="with --tsv: where relative wav paths are (default: the TSV's folder)")
    edit.add_argument("--out-dir", metavar="DIR", help="with --tsv: one wav per row and results.jsonl (resumable)")
    edit.add_argument("--force", action="store_true", help="with --tsv: redo rows already done")
    edit.add_argument("--lang", default="en", help="language of the texts (default: en)")
    edit.add_argument("--seed", type=int, help="seed for a repeatable result (default: a random one, printed)")
    edit.add_argument("--preset", default="default", metavar="NAME|FILE", help="fast, default or high, or a preset file")
    edit.add_argument("--json", action="store_true",
                      help='print {"spans": [{"input": [start, end], "output": [start, end], "type": ..}, ...]}')
    add_memory_arguments(edit)
    add_model_arguments(edit)
    edit.set_defaults(handler=run, precision="auto")  # load_synthesizer reads a precision; edit offers none


def run(args: argparse.Namespace) -> None:
    if args.tsv:
        return _edit_batch(args)
    for dest in ("audio", "text", "new_text", "out"):
        if getattr(args, dest) is None:
            raise UserError(f"{option_name(dest)} is required (or use --tsv FILE --out-dir DIR)")
    from ..audio import write_audio
    from ..edit import EditRequest, check_edit_request
    from ..edit_batch import output_subtype

    out = check_output_path(args.out, (".wav", ".flac"), {"recording": args.audio})
    request = EditRequest(args.audio, args.text, args.new_text, args.lang, tuple(args.span) if args.span else None,
                          args.seed)
    with warnings_on_stderr(args.quiet):
        recording = check_edit_request(request)  # bad input fails before the models load
        synthesizer = load_synthesizer(args, "fast")
        result = synthesizer.edit(recording, request.text, request.new_text, request.language, request.span,
                                  request.seed)  # the recording as read: it is not read again
    write_audio(out, result.audio, result.sample_rate, output_subtype(out, result.subtype))
    if args.json:
        print(json.dumps({"out": str(out), **result.as_dict()}, ensure_ascii=False))
        return
    for span in result.spans:
        say(args, f"{span.type}: input {span.input[0]:.2f}-{span.input[1]:.2f} s -> output "
                  f"{span.output[0]:.2f}-{span.output[1]:.2f} s  '{span.old_words}' -> '{span.new_words}'")
    say(args, f"wrote {out}: {result.seconds:.2f} s (seed {result.seed}) in {result.timings['total']:.1f} s")


def _edit_batch(args: argparse.Namespace) -> None:
    from ..edit_batch import read_edit_tsv, run_edit_batch

    out_dir = check_batch_options(args, "--tsv", ("audio", "text", "new_text", "out", "span"), "per row in the TSV")
    items = read_edit_tsv(args.tsv, args.audio_dir, args.lang, args.seed)
    with warnings_on_stderr(args.quiet):
        records = run_edit_batch(items, out_dir, lambda: load_synthesizer(args, "fast"), args.force,
                                 progress=not args.quiet, report=stderr_reporter(args.tsv))
    finish_batch(args, [item.id for item in items], records, out_dir, "edits")
