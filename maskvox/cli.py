"""The `maskvox` command: thin subcommands over the Python API.

Errors a user can cause print one line (`maskvox: error: ...`) and exit with status 2;
nothing partial is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
import time
from pathlib import Path

from . import __version__
from .errors import UserError, memory_kind
from .evaluation.cli import add_eval_command
from .fileio import check_output_path
from .gui import add_gui_command
from .quantize import QUANTIZATIONS

OUT_OF_MEMORY_ADVICE = {
    "memory": "lower --batch-size, use shorter text or a smaller model",
    "GPU memory": "lower --batch-size, use shorter text, --precision bf16 or --device cpu",
}


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, metavar="DIR|REPO",
        help="model folder in the official layout, or a hub repo id (default: the demo checkpoint shipped with maskvox)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _memory_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the generating commands that share `_synthesizer`."""
    parser.add_argument("--low-memory", action="store_true",
                        help="load each big model only for the stage that uses it, then release it, instead of "
                             "holding them all (8.2 GB at the official sizes); slower, same audio")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="int8: T2S and S2A with dynamic int8 linear layers (CPU only; faster, audio close "
                             "to fp32's but not identical)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskvox", description="Masked generative zero-shot text-to-speech.")
    parser.add_argument("--version", action="version", version=f"maskvox {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    codec = commands.add_parser("codec", help="speech <-> tokens with the codecs")
    codec_commands = codec.add_subparsers(dest="codec_command", metavar="ACTION", required=True)
    encode = codec_commands.add_parser("encode", help="audio file -> code file (.npz)")
    encode.add_argument("audio", help="input audio (any format soundfile reads, any rate, any channels)")
    encode.add_argument("out", help="output code file (.npz)")
    encode.add_argument(
        "--semantic", choices=["auto", "yes", "no"], default="auto",
        help="include semantic ids: auto (if the model has a semantic codec and w2v-BERT is available), yes, no",
    )
    _model_argument(encode)
    encode.set_defaults(handler=_codec_encode)

    decode = codec_commands.add_parser("decode", help="code file (.npz) -> 24 kHz audio")
    decode.add_argument("codes", help="code file written by `maskvox codec encode`")
    decode.add_argument("out", help="output audio (.wav or .flac)")
    _model_argument(decode)
    decode.set_defaults(handler=_codec_decode)

    roundtrip = codec_commands.add_parser("roundtrip", help="audio -> tokens -> audio, to hear what the codec keeps")
    roundtrip.add_argument("audio", help="input audio")
    roundtrip.add_argument("out", help="output audio (.wav or .flac), 24 kHz")
    _model_argument(roundtrip)
    roundtrip.set_defaults(handler=_codec_roundtrip, semantic="no")

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
    g2p.set_defaults(handler=_g2p)

    duration = commands.add_parser("duration", help="how long the target text will be, spoken in the prompt's voice")
    duration.add_argument("--prompt", required=True, help="the prompt recording (any format, rate, channels)")
    duration.add_argument("--prompt-text", required=True, help="what the prompt says")
    duration.add_argument("--text", required=True, help="the target text")
    duration.add_argument("--lang", default="en", help="language of the target text (default: en)")
    duration.add_argument("--prompt-lang", help="language of the prompt text (default: --lang)")
    length = duration.add_mutually_exclusive_group()
    length.add_argument("--speed", type=float, default=1.0, help="speaking-rate factor, 0.5 to 2 (> 1: faster, shorter)")
    length.add_argument("--duration", type=float, metavar="SECONDS", help="the exact target length")
    duration.add_argument("--json", action="store_true", help='print {"seconds", "rule_seconds", "source", "frames"}')
    _model_argument(duration)
    duration.set_defaults(handler=_duration)

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
    clone.add_argument("--preset", default="default", metavar="NAME|FILE",
                       help="fast, default (the reference's steps) or high; or a .yaml/.json of preset fields")
    clone.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                       help="auto: bf16 on a GPU that has it, else fp32")
    clone.add_argument("--reference-sampling", action="store_true",
                       help="the reference pipeline's exact computation and random draws (fp32, one piece at a time)")
    _memory_arguments(clone)
    clone.add_argument("--json", action="store_true", help="print the result's details as JSON")
    _model_argument(clone)
    clone.set_defaults(handler=_clone)

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
    _memory_arguments(edit)
    _model_argument(edit)
    edit.set_defaults(handler=_edit, precision="auto")

    _add_dub_command(commands)
    add_eval_command(commands)
    gui = add_gui_command(commands)
    _model_argument(gui)
    _memory_arguments(gui)
    return parser


def _add_dub_command(commands) -> None:
    dub = commands.add_parser(
        "dub", help="dub subtitle cues into another language in each speaker's voice, each fitted to its slot")
    dub.add_argument("--manifest", metavar="CUES.jsonl",
                     help="one cue per line: id, audio, start, end, source_text, target_text, speaker, ...")
    dub.add_argument("--srt", metavar="SOURCE.srt", help="the source subtitles (their times are the slots)")
    dub.add_argument("--target-srt", metavar="TARGET.srt", help="with --srt: the translation, cue by cue")
    dub.add_argument("--audio", metavar="SOURCE.wav", help="with --srt: the source recording")
    dub.add_argument("--speaker-map", metavar="FILE", help="with --srt: cue number -> speaker (JSON or 'n<TAB>name')")
    dub.add_argument("--speaker", default="speaker", help="with --srt: the speaker of cues the map does not name")
    dub.add_argument("--source-lang", help="language of the source text (needed with --srt; a default for --manifest)")
    dub.add_argument("--target-lang", help="language of the target text (likewise)")
    dub.add_argument("--out-dir", metavar="DIR", help="cue wavs, dubbed tracks, re-timed SRT, report.jsonl (resumable)")
    dub.add_argument("--config", metavar="FILE", help="a .yaml/.json of job settings (maskvox.dub.job.DubConfig); flags override")
    dub.add_argument("--batch-size", type=int, help="cues generated together (default: 8 on a GPU, 1 on a CPU)")
    dub.add_argument("--seed", type=int, help="the job's seed; each cue's comes from it and the cue's id (default: 0)")
    dub.add_argument("--force", action="store_true", default=None, help="redo cues already done")
    dub.add_argument("--background", metavar="FILE", help="a stem (music, effects) mixed under the dubbed track")
    dub.add_argument("--background-gain-db", type=float, help="the stem's gain (default: 0)")
    dub.add_argument("--engine", choices=["local", "ray"], help="local (default) or ray (pip install 'maskvox[ray]')")
    dub.add_argument("--ray-address", help="with --engine ray: an existing cluster (default: a local Ray instance)")
    dub.add_argument("--ray-actors", type=int, help="with --engine ray: model replicas (default: 2)")
    dub.add_argument("--ray-cpus-per-actor", type=float, help="may be fractional (default: 1)")
    dub.add_argument("--ray-gpus-per-actor", type=float, help="may be fractional (default: 0)")
    dub.add_argument("--preset", metavar="NAME|FILE", help="fast, default or high, or a preset file")
    _model_argument(dub)
    _memory_arguments(dub)
    # None: not given, so the --config file's value (or DubConfig's default) stands.
    dub.set_defaults(handler=_dub, device=None, low_memory=None, quantize=None)


def _say(args, message: str) -> None:
    if not args.quiet:
        print(message)


def _tokenizer(args, semantic: str):
    from .checkpoint import default_model_location
    from .tokenizer import SpeechTokenizer, pick_device

    location = args.model or default_model_location()
    tokenizer = SpeechTokenizer.from_pretrained(location, device=pick_device(args.device), semantic=semantic)
    if semantic == "auto" and not tokenizer.has_semantic:
        _say(args, f"note: no semantic ids ({tokenizer.semantic_note})")
    return tokenizer


def _codec_encode(args) -> None:
    out = check_output_path(args.out, (".npz",))
    tokenizer = _tokenizer(args, args.semantic)
    tokens = tokenizer.encode_file(args.audio)
    tokens.save(out)
    semantic = "with" if tokens.semantic_codes is not None else "without"
    _say(args, f"wrote {out}: {tokens.acoustic_codes.shape[0]} frames ({tokens.seconds:.2f} s), "
               f"{tokens.acoustic_codes.shape[1]} acoustic layers, {semantic} semantic ids")


def _codec_decode(args) -> None:
    from .audio import write_audio
    from .tokenizer import SpeechTokens

    out = check_output_path(args.out, (".wav", ".flac"))
    tokens = SpeechTokens.load(args.codes)
    wav = _tokenizer(args, "no").decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    _say(args, f"wrote {out}: {wav.size / tokens.sample_rate:.2f} s at {tokens.sample_rate} Hz")


def _codec_roundtrip(args) -> None:
    from .audio import write_audio

    out = check_output_path(args.out, (".wav", ".flac"))
    tokenizer = _tokenizer(args, "no")
    start = time.perf_counter()
    tokens = tokenizer.encode_file(args.audio)
    wav = tokenizer.decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    elapsed = time.perf_counter() - start
    _say(args, f"wrote {out}: {tokens.seconds:.2f} s of audio through {tokens.acoustic_codes.shape[1]} x "
               f"{tokens.acoustic_codes.shape[0]} codes in {elapsed:.1f} s")


@contextlib.contextmanager
def _warnings_on_stderr(quiet: bool):
    """Front-end warnings as `maskvox: warning: ...` lines (none with --quiet)."""
    from .text import UnknownPhoneWarning

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        else:
            warnings.simplefilter("always", UnknownPhoneWarning)
            warnings.showwarning = lambda message, *_, **__: print(f"maskvox: warning: {message}", file=sys.stderr)
        yield


def _parse_respellings(pairs: list[str]) -> dict[str, str]:
    respellings = {}
    for pair in pairs:
        word, sep, spelling = pair.partition("=")
        if not sep or not word.strip() or not spelling.strip():
            raise UserError(f"--respell wants WORD=SPELLING, got {pair!r}")
        respellings[word.strip()] = spelling.strip()
    return respellings


def _g2p_jsonl(frontend, args) -> tuple[list[str], int]:
    """One output line per input line; a bad line gets an 'error' record and the rest go on."""
    from tqdm import tqdm

    from .text import check_language

    if args.jsonl == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(args.jsonl).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {args.jsonl}: {error}") from None
    out, failures = [], 0
    for number, line in enumerate(tqdm(lines, desc="g2p", disable=args.quiet, file=sys.stderr), start=1):
        if not line.strip():
            continue
        try:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"not valid JSON ({error.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise UserError("expected a JSON object with a 'text' string")
            lang = check_language(record.get("lang") or args.lang or "")
            out.append(json.dumps(frontend(record["text"], lang).as_dict(), ensure_ascii=False))
        except UserError as error:
            failures += 1
            print(f"maskvox: {args.jsonl}:{number}: {error}", file=sys.stderr)
            out.append(json.dumps({"line": number, "error": str(error)}, ensure_ascii=False))
    return out, failures


def _g2p(args) -> None:
    from .fileio import write_text
    from .text import SUPPORTED_LANGUAGES, PhoneVocabulary, TextFrontEnd

    if (args.text is None) == (args.jsonl is None):
        raise UserError("give the text, or --jsonl FILE, but not both")
    out = check_output_path(args.out, (".txt", ".json", ".jsonl")) if args.out else None
    vocabulary = PhoneVocabulary.load(args.vocab) if args.vocab else None
    frontend = TextFrontEnd(vocabulary, args.normalization, _parse_respellings(args.respell))
    failures = 0
    with _warnings_on_stderr(args.quiet):
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


def _duration(args) -> None:
    from .audio import SEMANTIC_RATE, check_audio, load_audio
    from .checkpoint import default_model_location
    from .duration.control import FRAME_RATE_HZ, LengthRequest
    from .duration.predictor import DurationPredictor, LengthQuery
    from .text import TextFrontEnd
    from .tokenizer import pick_device

    request = LengthRequest(seconds=args.duration, speed=args.speed)  # checked before the slow steps
    prompt = check_audio(load_audio(args.prompt, SEMANTIC_RATE), SEMANTIC_RATE, f"prompt {args.prompt}", min_seconds=1.0)
    frontend = TextFrontEnd()
    with _warnings_on_stderr(args.quiet):
        prompt_ids = frontend(args.prompt_text, args.prompt_lang or args.lang).ids
        target_ids = frontend(args.text, args.lang).ids
    predictor = DurationPredictor.from_pretrained(args.model or default_model_location(), pick_device(args.device))
    query = LengthQuery(prompt_ids, prompt.size / SEMANTIC_RATE * FRAME_RATE_HZ, target_ids, args.lang)
    [estimate] = predictor.estimate([query], request)
    if args.json:
        print(json.dumps(estimate.as_dict()))
    else:
        rule = "" if estimate.source == "rule" else f"; the rule says {estimate.rule_seconds:.2f} s"
        print(f"{estimate.seconds:.2f} s ({estimate.source}{rule})")


def _clone(args) -> None:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.batch:
        return _clone_batch(args)
    for flag in ("prompt", "prompt_text", "out"):
        if getattr(args, flag) is None:
            raise UserError(f"--{flag.replace('_', '-')} is required (or use --batch ITEMS.jsonl --out-dir DIR)")
    if args.text is None and args.text_file is None:
        raise UserError("give --text or --text-file")
    from .audio import write_audio
    from .pipeline import CloneRequest, check_request

    out = check_output_path(args.out, (".wav", ".flac"))
    text = args.text if args.text is not None else _read_text_file(args.text_file)
    request = CloneRequest(args.prompt, args.prompt_text, text, args.lang, args.prompt_lang, args.duration,
                           args.speed, args.seed)
    sampling = "reference" if args.reference_sampling else "fast"
    with _warnings_on_stderr(args.quiet):
        check_request(request, sampling)  # bad input fails before the models load
        synthesizer = _synthesizer(args, sampling)
        started = time.perf_counter()
        result = synthesizer.clone_batch([request], batch_size=args.batch_size)[0]
    write_audio(out, result.audio, result.sample_rate)
    if args.json:
        print(json.dumps({"out": str(out), **result.as_dict()}))
    else:
        _say(args, f"wrote {out}: {result.seconds:.2f} s ({result.duration_source} length; seed {result.seed}; "
                   f"{len(result.pieces)} piece(s)) in {time.perf_counter() - started:.1f} s")


def _synthesizer(args, sampling: str):
    from .pipeline import Synthesizer
    from .tokenizer import pick_device

    return Synthesizer.from_pretrained(args.model, preset=args.preset, device=pick_device(args.device),
                                       sampling=sampling, precision=args.precision, progress=not args.quiet,
                                       low_memory=args.low_memory, quantize=args.quantize)


def _read_text_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read the text file {path}: {getattr(err, 'strerror', None) or err}") from None


def _clone_batch(args) -> None:
    from .batch import RESULTS_FILE, read_items, run_clone_batch
    from .pipeline import load_preset

    if not args.out_dir:
        raise UserError("--batch needs --out-dir DIR")
    for flag in ("prompt", "prompt_text", "text", "text_file", "out", "duration"):
        if getattr(args, flag) is not None:
            raise UserError(f"--{flag.replace('_', '-')} does not go with --batch (give it per item in the items file)")
    out_dir = _out_dir(args.out_dir)
    load_preset(args.preset)
    items = read_items(args.batch, args.lang, args.seed)
    sampling = "reference" if args.reference_sampling else "fast"
    with _warnings_on_stderr(args.quiet):
        records = run_clone_batch(items, out_dir, lambda: _synthesizer(args, sampling), args.batch_size, args.force,
                                  progress=not args.quiet,
                                  report=lambda message: print(f"maskvox: {args.batch}: {message}", file=sys.stderr))
    failed = sum(1 for item in items if records[item.id]["status"] != "ok")
    _say(args, f"{len(items) - failed} of {len(items)} items done in {out_dir} (see {out_dir / RESULTS_FILE})")
    if failed:
        raise UserError(f"{failed} of {len(items)} items failed (their records in {out_dir / RESULTS_FILE} say why)")


def _out_dir(path: str) -> Path:
    out_dir = Path(path)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out-dir {out_dir} is a file")
    return out_dir


def _edit(args) -> None:
    if args.tsv:
        return _edit_batch(args)
    for flag in ("audio", "text", "new_text", "out"):
        if getattr(args, flag) is None:
            raise UserError(f"--{flag.replace('_', '-')} is required (or use --tsv FILE --out-dir DIR)")
    from .audio import write_audio
    from .edit import EditRequest, check_edit_request
    from .edit_batch import output_subtype

    out = check_output_path(args.out, (".wav", ".flac"))
    request = EditRequest(args.audio, args.text, args.new_text, args.lang, tuple(args.span) if args.span else None,
                          args.seed)
    with _warnings_on_stderr(args.quiet):
        check_edit_request(request)  # bad input fails before the models load
        synthesizer = _synthesizer(args, "fast")
        result = synthesizer.edit(request.audio, request.text, request.new_text, request.language, request.span,
                                  request.seed)
    write_audio(out, result.audio, result.sample_rate, output_subtype(out, result.subtype))
    if args.json:
        print(json.dumps({"out": str(out), **result.as_dict()}, ensure_ascii=False))
        return
    for span in result.spans:
        _say(args, f"{span.type}: input {span.input[0]:.2f}-{span.input[1]:.2f} s -> output "
                   f"{span.output[0]:.2f}-{span.output[1]:.2f} s  '{span.old_words}' -> '{span.new_words}'")
    _say(args, f"wrote {out}: {result.seconds:.2f} s (seed {result.seed}) in {result.timings['total']:.1f} s")


def _edit_batch(args) -> None:
    from .batch import RESULTS_FILE
    from .edit_batch import read_edit_tsv, run_edit_batch
    from .pipeline import load_preset

    if not args.out_dir:
        raise UserError("--tsv needs --out-dir DIR")
    for flag in ("audio", "text", "new_text", "out", "span"):
        if getattr(args, flag) is not None:
            raise UserError(f"--{flag.replace('_', '-')} does not go with --tsv (give it per row in the TSV)")
    out_dir = _out_dir(args.out_dir)
    load_preset(args.preset)
    items = read_edit_tsv(args.tsv, args.audio_dir, args.lang, args.seed)
    with _warnings_on_stderr(args.quiet):
        records = run_edit_batch(items, out_dir, lambda: _synthesizer(args, "fast"), args.force,
                                 progress=not args.quiet,
                                 report=lambda message: print(f"maskvox: {args.tsv}: {message}", file=sys.stderr))
    failed = sum(1 for item in items if records[item.id]["status"] != "ok")
    _say(args, f"{len(items) - failed} of {len(items)} edits done in {out_dir} (see {out_dir / RESULTS_FILE})")
    if failed:
        raise UserError(f"{failed} of {len(items)} edits failed (their records in {out_dir / RESULTS_FILE} say why)")


def _dub(args) -> None:
    from .dub.job import REPORT_FILE, run_dub_job

    config = _dub_config(args)
    if not args.out_dir:
        raise UserError("--out-dir DIR is required")
    out_dir = _out_dir(args.out_dir)
    cues, errors = _dub_cues(args)
    if config.engine == "ray":
        from .dub.ray_engine import check_ray

        check_ray()  # before any work
    with _warnings_on_stderr(args.quiet):
        summary = run_dub_job(cues, errors, out_dir, config, progress=not args.quiet,
                              report=lambda message: print(f"maskvox: dub: {message}", file=sys.stderr))
    rate = f", {summary.cues_per_minute:.1f} cues/min" if summary.cues_per_minute else ""
    _say(args, f"{summary.ok} of {summary.cues} cues done ({summary.generated_this_run} this run{rate}; "
               f"{summary.clamped} slot(s) outside 0.8-1.25x the natural length); wrote "
               f"{', '.join(summary.tracks + summary.subtitles)} in {out_dir}")
    if summary.ok < summary.cues:
        raise UserError(f"{summary.failed} cue(s) failed and {summary.skipped} were skipped "
                        f"(their records in {out_dir / REPORT_FILE} say why)")


def _dub_config(args):
    from .config import load_config
    from .dub.job import DubConfig
    from .pipeline import load_preset

    config = load_config(args.config, DubConfig) if args.config else DubConfig()
    flags = ("model", "preset", "device", "low_memory", "quantize", "batch_size", "seed", "force", "background",
             "background_gain_db", "engine", "ray_address", "ray_actors", "ray_cpus_per_actor", "ray_gpus_per_actor")
    overrides = {flag: getattr(args, flag) for flag in flags if getattr(args, flag) is not None}
    config = DubConfig(**{**vars(config), **overrides})  # checked again with the overrides
    load_preset(config.preset)  # a bad preset fails before anything runs
    return config


def _dub_cues(args):
    from .dub.cues import read_manifest, read_speaker_map, read_srt_pair

    pair = ("srt", "target_srt", "audio")
    if args.manifest:
        for flag in (*pair, "speaker_map"):
            if getattr(args, flag) is not None:
                raise UserError(f"--{flag.replace('_', '-')} does not go with --manifest")
        return read_manifest(args.manifest, args.source_lang, args.target_lang)
    missing = [f"--{flag.replace('_', '-')}" for flag in (*pair, "source_lang", "target_lang") if not getattr(args, flag)]
    if missing:
        raise UserError(f"give --manifest CUES.jsonl, or --srt, --target-srt, --audio, --source-lang and "
                        f"--target-lang (missing: {', '.join(missing)})")
    speaker_map = read_speaker_map(args.speaker_map) if args.speaker_map else None
    return read_srt_pair(args.srt, args.target_srt, args.audio, args.source_lang, args.target_lang, args.speaker,
                         speaker_map)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except UserError as err:
        print(f"maskvox: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("maskvox: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        kind = memory_kind(err)
        if kind is None:
            raise
        print(f"maskvox: error: out of {kind}: {OUT_OF_MEMORY_ADVICE[kind]}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
