"""`maskvox eval`: WER, speaker similarity and length error of generated speech.

Importing this module is cheap (no numpy, torch or ASR); the handler imports what it needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The registries' names (asr.ASR_BACKENDS, speaker.SPEAKER_BACKENDS), here for the help text
# without importing them; the tests keep the two equal.
ASR_NAMES = ("whisper-base", "whisper-tiny.en", "pocketsphinx", "whisper-large-v3")
SPEAKER_NAMES = ("resemblyzer", "wavlm-ecapa")


def add_eval_command(subparsers) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "eval", help="score generated speech: WER, speaker similarity, length (Seed-TTS-eval style)",
        description="Transcribe each item with a named ASR (WER against its text, normalised as Seed-TTS-eval "
                    "does), compare its voice with the prompt's (cosine of speaker embeddings) and its length "
                    "with the target length; write items.jsonl, summary.json and plot.png to --out.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--list", metavar="META_LST",
                        help="Seed-TTS-eval list, lines utt|prompt_text|prompt_wav|target_text[|target_wav]; "
                             "paths relative to its folder; a line that does not fit stops the run (file:line)")
    source.add_argument("--results", metavar="JSONL",
                        help="results file of `maskvox clone --batch` or `maskvox edit --tsv`")
    parser.add_argument("--wav-dir", metavar="DIR", help="with --list: the generated speech, DIR/<utt>.wav")
    parser.add_argument("--ground-truth", action="store_true",
                        help="with --list: score the real recordings of the 5th field instead of generated speech "
                             "(the figures a perfect system would get)")
    parser.add_argument("--out", "--out-dir", dest="out", required=True, metavar="DIR",
                        help="report folder: items.jsonl, summary.json, plot.png")
    # No default here: asr.default_asr() picks it when the command runs (whisper-base when its
    # packages are installed), so that building the parser looks at nothing on disk.
    parser.add_argument("--asr", default=None,
                        help=f"ASR for the WER: {', '.join(ASR_NAMES)} (default whisper-base when installed, "
                             "else whisper-tiny.en; offline: whisper-base, whisper-tiny.en, pocketsphinx; "
                             "whisper-large-v3 needs its hub weights)")
    parser.add_argument("--speaker", default=SPEAKER_NAMES[0],
                        help=f"speaker model for SIM: {', '.join(SPEAKER_NAMES)} (default {SPEAKER_NAMES[0]}, "
                             "offline)")
    parser.add_argument("--speaker-checkpoint", metavar="FILE", help="weights file for the speaker model")
    parser.add_argument("--language", default="en",
                        help="language of the --list items, and of --results records that name none (default: en)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(handler=run_eval)
    return parser


def _read_items(args):
    from ..errors import UserError
    from .runner import read_meta_list, read_results

    if args.results:
        if args.wav_dir or args.ground_truth:
            raise UserError("--wav-dir and --ground-truth go with --list, not --results")
        return read_results(args.results, args.language)
    if bool(args.wav_dir) == args.ground_truth:
        raise UserError("with --list, give --wav-dir DIR (generated speech) or --ground-truth (the recordings)")
    if args.wav_dir and not Path(args.wav_dir).is_dir():
        raise UserError(f"--wav-dir {args.wav_dir} is not a folder")
    return read_meta_list(args.list, args.wav_dir, args.language, ground_truth=args.ground_truth)


def run_eval(args) -> None:
    from .asr import default_asr, get_asr_backend
    from .runner import EvalConfig, check_output_dir, evaluate, format_summary, write_report
    from .speaker import get_speaker_backend

    # Everything a user can get wrong is checked before a model loads.
    asr = args.asr or default_asr()
    get_asr_backend(asr)
    get_speaker_backend(args.speaker)
    out_dir = check_output_dir(args.out)
    items = _read_items(args)
    config = EvalConfig(asr=asr, speaker=args.speaker, device=args.device,
                        speaker_checkpoint=args.speaker_checkpoint)
    scores, summary = evaluate(items, config, show_progress=not args.quiet)
    written = write_report(out_dir, scores, summary)
    if args.quiet:
        return
    for item_id, reason in summary.failures.items():
        print(f"maskvox: warning: {item_id}: {reason}", file=sys.stderr)
    print(format_summary(summary))
    print(f"wrote {', '.join(str(path) for path in written)}")
