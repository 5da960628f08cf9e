"""The command line every training recipe has: --config FILE, --set key=value, --quiet."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Iterable, Iterator

from maskvox.config import apply_overrides, load_config
from maskvox.errors import UserError
from maskvox.fileio import check_output_path, write_json


def parse_config(config_class: type, description: str, argv: list[str] | None = None):
    """The config from --config and --set; its `data` must name the training input
    (`train_manifest`, `train_shards` or `train_cache`)."""
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
    kinds = {"train_shards": "a folder of token shards", "train_cache": "a teacher cache folder",
             "train_manifest": "a JSONL manifest"}
    source = next((name for name in kinds if hasattr(cfg.data, name)), "train_manifest")
    if not getattr(cfg.data, source):
        kind = kinds[source]
        raise UserError(f"no training data: set data.{source} ({kind})")
    return cfg


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def exit_status(action: Callable[[], object]) -> int:
    """Run `action`: 0 when it succeeds; a user error becomes one line on stderr and its exit status."""
    try:
        action()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def report_status(out: str | None, make_report: Callable[[], dict], table: Callable[[dict], str]) -> int:
    """An evaluation's run: check `out` (.json) first, print the report's table, write the
    report to `out`; the exit status as `exit_status` gives it."""

    def run() -> None:
        if out:
            check_output_path(out, (".json",))
        report = make_report()
        print(table(report))
        if out:
            write_json(out, report)

    return exit_status(run)


def run_recipe(config_class: type, train: Callable, doc: str, argv: list[str] | None = None) -> int:
    """Parse, train, and turn user errors into one line and exit status 2."""
    return exit_status(lambda: train(parse_config(config_class, doc.split("\n\n")[0], argv)))


def forever(loader: Iterable) -> Iterator:
    """Batches from `loader`, epoch after epoch; an epoch with no batch is an error, not a hang."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise UserError("the training data gives no batch: fewer items than data.batch_size?")
