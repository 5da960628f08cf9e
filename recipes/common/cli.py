"""The command line every training recipe has: --config FILE, --set key=value, --quiet."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Iterable, Iterator

from maskvox.config import apply_overrides, load_config
from maskvox.errors import UserError


def parse_config(config_class: type, description: str, argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", help="YAML or JSON training config (default: the official sizes)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set run.max_steps=1000 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, config_class) if args.config else config_class()
    cfg = apply_overrides(cfg, args.set)
    if args.quiet:
        cfg.run.quiet = True
    if not cfg.data.train_manifest:
        raise UserError("no training data: set data.train_manifest (a JSONL manifest)")
    return cfg


def run_recipe(config_class: type, train: Callable, doc: str, argv: list[str] | None = None) -> int:
    """Parse, train, and turn user errors into one line and exit status 2."""
    try:
        train(parse_config(config_class, doc.split("\n\n")[0], argv))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def forever(loader: Iterable) -> Iterator:
    """Batches from `loader`, epoch after epoch."""
    while True:
        yield from loader
