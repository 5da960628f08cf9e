"""What several `maskvox` subcommands share: their common options, messages and model loading.

Handlers import the heavy modules (torch, the pipeline) when they run, never at the top of a
module, so `maskvox --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..errors import UserError
from ..quantize import QUANTIZATIONS

if TYPE_CHECKING:
    from ..pipeline import Synthesizer


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that loads a model."""
    parser.add_argument(
        "--model", default=None, metavar="DIR|REPO",
        help="model folder in the official layout, or a hub repo id (default: the demo checkpoint shipped with maskvox)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the generating commands that share `load_synthesizer`."""
    parser.add_argument("--low-memory", action="store_true",
                        help="load each big model only for the stage that uses it, then release it, instead of "
                             "holding them all (8.2 GB at the official sizes); slower, same audio")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="int8: T2S and S2A with dynamic int8 linear layers (CPU only; faster, audio close "
                             "to fp32's but not identical)")


def add_decoding_arguments(parser: argparse.ArgumentParser, preset_help: str) -> None:
    """--preset and --precision, of the commands that generate with `load_synthesizer`."""
    parser.add_argument("--preset", default="default", metavar="NAME|FILE", help=preset_help)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="auto: bf16 on a GPU that has it, else fp32")


def check_batch_options(args: argparse.Namespace, list_option: str, single: tuple[str, ...], where: str) -> Path:
    """A batch form's checks before any work: --out-dir given, none of the one-item options
    `single` given (they come `where`), the folder writable, the preset valid; the folder."""
    from ..presets import load_preset

    if not args.out_dir:
        raise UserError(f"{list_option} needs --out-dir DIR")
    for dest in single:
        if getattr(args, dest) is not None:
            raise UserError(f"{option_name(dest)} does not go with {list_option} (give it {where})")
    out_dir = check_out_dir(args.out_dir)
    load_preset(args.preset)  # a bad preset fails before any item runs
    return out_dir


def check_one_item_options(args: argparse.Namespace, required: tuple[str, ...]) -> None:
    """The one-item form's options (`required`, by dest) all given, else one line pointing at --batch."""
    for dest in required:
        if getattr(args, dest) is None:
            raise UserError(f"{option_name(dest)} is required (or use --batch ITEMS.jsonl --out-dir DIR)")


def check_batch_size(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")


def option_name(dest: str) -> str:
    """`prompt_text` -> `--prompt-text`: an option as messages name it."""
    return "--" + dest.replace("_", "-")


def say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message)


def stderr_reporter(where: str) -> Callable[[str], None]:
    """A batch runner's `report`: each problem as one `maskvox: WHERE: ...` line on stderr."""
    return lambda message: print(f"maskvox: {where}: {message}", file=sys.stderr)


@contextlib.contextmanager
def warnings_on_stderr(quiet: bool) -> Iterator[None]:
    """Front-end warnings as `maskvox: warning: ...` lines (none with --quiet)."""
    from ..text import UnknownPhoneWarning

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        else:
            warnings.simplefilter("always", UnknownPhoneWarning)
            warnings.showwarning = lambda message, *_, **__: print(f"maskvox: warning: {message}", file=sys.stderr)
        yield


def load_synthesizer(args: argparse.Namespace, sampling: str, reader=None) -> Synthesizer:
    """`reader`: the maskvox.request.RequestReader that checked the request, so it is not read again."""
    from ..pipeline import Synthesizer
    from ..tokenizer import pick_device

    return Synthesizer.from_pretrained(args.model, preset=args.preset, device=pick_device(args.device),
                                       sampling=sampling, precision=args.precision, progress=not args.quiet,
                                       low_memory=args.low_memory, quantize=args.quantize, reader=reader)


def check_out_dir(path: str) -> Path:
    """A job's output folder: a folder (or one that can be made) that can be written, checked
    before any work."""
    from ..fileio import check_writable_folder

    out_dir = Path(path)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out-dir {out_dir} is a file")
    check_writable_folder(out_dir, f"--out-dir {out_dir}")
    return out_dir


def finish_batch(args: argparse.Namespace, ids: list[str], records: dict[str, dict], out_dir: Path,
                 noun: str) -> None:
    """Say how many of a batch's items are done; fail when any is not (its record says why)."""
    from ..jobs import RESULTS_FILE

    failed = sum(1 for id in ids if records[id]["status"] != "ok")
    say(args, f"{len(ids) - failed} of {len(ids)} {noun} done in {out_dir} (see {out_dir / RESULTS_FILE})")
    if failed:
        raise UserError(f"{failed} of {len(ids)} {noun} failed (their records in {out_dir / RESULTS_FILE} say why)")
