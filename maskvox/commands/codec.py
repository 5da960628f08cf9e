"""`maskvox codec encode|decode|roundtrip`: speech <-> tokens with the codecs."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from ..fileio import check_output_path
from .common import add_model_arguments, say

if TYPE_CHECKING:
    from ..tokenizer import SpeechTokenizer


def add_command(commands: argparse._SubParsersAction) -> None:
    codec = commands.add_parser("codec", help="speech <-> tokens with the codecs")
    actions = codec.add_subparsers(dest="codec_command", metavar="ACTION", required=True)

    encode = actions.add_parser("encode", help="audio file -> code file (.npz)")
    encode.add_argument("audio", help="input audio (any format soundfile reads, any rate, any channels)")
    encode.add_argument("out", help="output code file (.npz)")
    encode.add_argument(
        "--semantic", choices=["auto", "yes", "no"], default="auto",
        help="include semantic ids: auto (if the model has a semantic codec and w2v-BERT is available), yes, no",
    )
    add_model_arguments(encode)
    encode.set_defaults(handler=encode_file)

    decode = actions.add_parser("decode", help="code file (.npz) -> 24 kHz audio")
    decode.add_argument("codes", help="code file written by `maskvox codec encode`")
    decode.add_argument("out", help="output audio (.wav or .flac)")
    add_model_arguments(decode)
    decode.set_defaults(handler=decode_file)

    roundtrip = actions.add_parser("roundtrip", help="audio -> tokens -> audio, to hear what the codec keeps")
    roundtrip.add_argument("audio", help="input audio")
    roundtrip.add_argument("out", help="output audio (.wav or .flac), 24 kHz")
    add_model_arguments(roundtrip)
    roundtrip.set_defaults(handler=roundtrip_file, semantic="no")


def _tokenizer(args: argparse.Namespace, semantic: str) -> SpeechTokenizer:
    from ..checkpoint import default_model_location
    from ..tokenizer import SpeechTokenizer, pick_device

    location = args.model or default_model_location()
    tokenizer = SpeechTokenizer.from_pretrained(location, device=pick_device(args.device), semantic=semantic)
    if semantic == "auto" and not tokenizer.has_semantic:
        say(args, f"note: no semantic ids ({tokenizer.semantic_note})")
    return tokenizer


def encode_file(args: argparse.Namespace) -> None:
    from ..tokenizer import read_codec_input

    out = check_output_path(args.out, (".npz",), {"input audio": args.audio})
    wav = read_codec_input(args.audio)  # checked before the models load
    tokens = _tokenizer(args, args.semantic).encode(wav)
    tokens.save(out)
    semantic = "with" if tokens.semantic_codes is not None else "without"
    say(args, f"wrote {out}: {tokens.acoustic_codes.shape[0]} frames ({tokens.seconds:.2f} s), "
              f"{tokens.acoustic_codes.shape[1]} acoustic layers, {semantic} semantic ids")


def decode_file(args: argparse.Namespace) -> None:
    from ..audio import write_audio
    from ..tokenizer import SpeechTokens

    out = check_output_path(args.out, (".wav", ".flac"), {"code file": args.codes})
    tokens = SpeechTokens.load(args.codes)
    wav = _tokenizer(args, "no").decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    say(args, f"wrote {out}: {wav.size / tokens.sample_rate:.2f} s at {tokens.sample_rate} Hz")


def roundtrip_file(args: argparse.Namespace) -> None:
    from ..audio import write_audio

    from ..tokenizer import read_codec_input

    out = check_output_path(args.out, (".wav", ".flac"), {"input audio": args.audio})
    wav = read_codec_input(args.audio)  # checked before the models load
    tokenizer = _tokenizer(args, "no")
    start = time.perf_counter()  # the codecs' time, not the model load's
    tokens = tokenizer.encode(wav)
    wav = tokenizer.decode(tokens)
    write_audio(out, wav, tokens.sample_rate)
    elapsed = time.perf_counter() - start
    say(args, f"wrote {out}: {tokens.seconds:.2f} s of audio through {tokens.acoustic_codes.shape[1]} x "
              f"{tokens.acoustic_codes.shape[0]} codes in {elapsed:.1f} s")
