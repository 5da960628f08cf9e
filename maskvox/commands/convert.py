"""`maskvox convert`: what a recording says, with its timing and prosody, in the voice of a prompt
(zero-shot voice conversion), or a batch of source/prompt pairs."""

from __future__ import annotations

import argparse
import json

from ..fileio import check_output_path
from .common import (add_decoding_arguments, add_memory_arguments, add_model_arguments, check_batch_options,
                     check_batch_size, check_one_item_options, finish_batch, load_synthesizer, say,
                     stderr_reporter, warnings_on_stderr)


def add_command(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser(
        "convert", help="say what a recording says in the voice of a prompt recording (zero-shot voice conversion)",
        description="Zero-shot voice conversion: the source's words, timing and prosody in the prompt's voice. "
                    "The output (24 kHz) is exactly as long as the source; a source over 30 s less the prompt "
                    "is converted in crossfaded windows.")
    convert.add_argument("--source", help="the recording to convert (any format, rate, channels; up to 600 s)")
    convert.add_argument("--prompt", help="a recording of the voice to use, 3-15 s (longer is cut at a pause)")
    convert.add_argument("--prompt-text", help="what the prompt says (optional: only cuts a prompt over 15 s at a "
                                               "sentence end instead of the latest pause)")
    convert.add_argument("--lang", default="en", help="language of --prompt-text (default: en)")
    convert.add_argument("--out", help="output audio (.wav or .flac), 24 kHz, as long as the source")
    convert.add_argument("--batch", metavar="ITEMS.jsonl",
                         help="many pairs, one JSON object per line (id, source, prompt, prompt_text, language, seed, "
                              "source_pitch_shift)")
    convert.add_argument("--out-dir", metavar="DIR", help="with --batch: one wav per item and results.jsonl (resumable)")
    convert.add_argument("--force", action="store_true", help="with --batch: redo items already done")
    convert.add_argument("--batch-size", type=int, default=8,
                         help="windows of a long source generated together (default: 8)")
    convert.add_argument("--source-pitch-shift", type=float, default=0.0, metavar="SEMITONES",
                         help="shift the source's pitch and formants by this many semitones before reading it, so "
                              "less of its voice leaks into the output (default: 0, off; needs rubberband-cli)")
    convert.add_argument("--seed", type=int, help="seed for a repeatable result (default: a random one, printed)")
    add_decoding_arguments(convert, "fast, default (the reference's S2A steps) or high; or a .yaml/.json of preset "
                                    "fields (only the S2A fields matter here)")
    add_memory_arguments(convert)
    convert.add_argument("--json", action="store_true", help="print the result's details as JSON")
    add_model_arguments(convert)
    convert.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    check_batch_size(args)
    if args.batch:
        return _convert_batch(args)
    check_one_item_options(args, ("source", "prompt", "out"))
    from ..audio import write_audio
    from ..convert import ConvertRequest, check_convert_request
    from ..modes import sampling_mode

    out = check_output_path(args.out, (".wav", ".flac"), {"source": args.source, "prompt": args.prompt})
    request = ConvertRequest(args.source, args.prompt, args.prompt_text or "", args.lang, args.seed,
                             args.source_pitch_shift)
    reader = sampling_mode("fast").reader()
    with warnings_on_stderr(args.quiet):
        source = check_convert_request(request, reader)  # bad input fails before the models load; read once
        synthesizer = load_synthesizer(args, "fast", reader)
        result = synthesizer.convert(source, request.prompt, request.prompt_text, request.language, request.seed,
                                     request.source_pitch_shift, args.batch_size)
    write_audio(out, result.audio, result.sample_rate)
    if args.json:
        print(json.dumps({"out": str(out), **result.as_dict()}))
    else:
        say(args, f"wrote {out}: {result.seconds:.2f} s, as long as the source (seed {result.seed}; "
                  f"{len(result.windows)} window(s)) in {result.timings['total']:.1f} s")


def _convert_batch(args: argparse.Namespace) -> None:
    from ..convert_batch import read_convert_items, run_convert_batch

    out_dir = check_batch_options(args, "--batch", ("source", "prompt", "prompt_text", "out"),
                                  "per item in the items file")
    items = read_convert_items(args.batch, args.lang, args.seed, args.source_pitch_shift)
    with warnings_on_stderr(args.quiet):
        records = run_convert_batch(items, out_dir, lambda: load_synthesizer(args, "fast"), args.batch_size,
                                    args.force, progress=not args.quiet, report=stderr_reporter(args.batch))
    finish_batch(args, [item.id for item in items], records, out_dir, "items")
