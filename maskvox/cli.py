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
from .errors import UserError
from .fileio import check_output_path


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, metavar="DIR|REPO",
        help="model folder in the official layout, or a hub repo id (default: the demo checkpoint shipped with maskvox)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except UserError as err:
        print(f"maskvox: error: {err}", file=sys.stderr)
        return err.exit_code
    except MemoryError:
        print("maskvox: error: out of memory: use a shorter input or a smaller model", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("maskvox: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # CUDA out of memory comes as a RuntimeError subclass
        if type(err).__name__ == "OutOfMemoryError":
            print("maskvox: error: out of GPU memory: use a shorter input or --device cpu", file=sys.stderr)
            return 3
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
