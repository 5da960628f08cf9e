"""The `maskvox` command: thin subcommands over the Python API, one module each.

Errors a user can cause print one line (`maskvox: error: ...`) and exit with status 2;
nothing partial is written. Each module imports what its handler needs when the handler runs,
so importing this package, or `maskvox --help`, loads no torch.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import UserError, memory_kind
from ..evaluation.cli import add_eval_command
from ..gui import add_gui_command
from . import clone, codec, convert, dub, duration, edit, g2p, serve
from .common import add_memory_arguments, add_model_arguments

OUT_OF_MEMORY_ADVICE = {
    "memory": "lower --batch-size, use shorter text or a smaller model",
    "GPU memory": "lower --batch-size, use shorter text, --precision bf16 or --device cpu",
}


class Parser(argparse.ArgumentParser):
    """argparse's parser, but an argument error is one line (and where to read more), not the
    whole usage block; every subcommand's parser is one too (add_subparsers takes this class)."""

    def error(self, message: str):
        self.exit(2, f"maskvox: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="maskvox", description="Masked generative zero-shot text-to-speech.")
    parser.add_argument("--version", action="version", version=f"maskvox {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (codec, g2p, duration, clone, edit, convert, dub, serve):
        command.add_command(commands)
    add_eval_command(commands)
    gui = add_gui_command(commands)  # maskvox.gui leaves the model and memory options to the command line
    add_model_arguments(gui)
    add_memory_arguments(gui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except UserError as err:
        print(f"maskvox: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("maskvox: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the file system said no where no UserError was made of it
        where = f" {err.filename}" if err.filename else ""
        print(f"maskvox: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except Exception as err:
        kind = memory_kind(err)
        if kind is None:
            raise
        print(f"maskvox: error: out of {kind}: {OUT_OF_MEMORY_ADVICE[kind]}", file=sys.stderr)
        return 3
    return 0
