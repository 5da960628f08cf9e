"""The `maskvox` command: thin subcommands over the Python API.

Errors a user can cause print one line (`maskvox: error: ...`) and exit with status 2;
nothing partial is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .errors import UserError


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


def _check_output(path: str, suffixes: tuple[str, ...]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"output {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise UserError(f"output {out} is a folder")
    return out


def _codec_encode(args) -> None:
    out = _check_output(args.out, (".npz",))
    tokenizer = _tokenizer(args, args.semantic)
    tokens = tokenizer.encode_file(args.audio)
    tokens.save(out)
    semantic = "with" if tokens.semantic_codes is not None else "without"
    _say(args, f"wrote {out}: {tokens.acoustic_codes.shape[0]} frames ({tokens.seconds:.2f} s), "
               f"{tokens.acoustic_codes.shape[1]} acoustic layers, {semantic} semantic ids")


def _codec_decode(args) -> None:
    from .audio import write_audio
    from .tokenizer import SpeechTokens

    out = _check_output(args.out, (".wav", ".flac"))
    tokens = SpeechTokens.load(args.codes)
    wav = _tokenizer(args, "no").decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    _say(args, f"wrote {out}: {wav.size / tokens.sample_rate:.2f} s at {tokens.sample_rate} Hz")


def _codec_roundtrip(args) -> None:
    from .audio import write_audio

    out = _check_output(args.out, (".wav", ".flac"))
    tokenizer = _tokenizer(args, "no")
    start = time.perf_counter()
    tokens = tokenizer.encode_file(args.audio)
    wav = tokenizer.decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    elapsed = time.perf_counter() - start
    _say(args, f"wrote {out}: {tokens.seconds:.2f} s of audio through {tokens.acoustic_codes.shape[1]} x "
               f"{tokens.acoustic_codes.shape[0]} codes in {elapsed:.1f} s")


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
