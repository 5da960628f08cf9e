"""`maskvox dub`: subtitle cues said in another language in each speaker's voice, each fitted to its slot.

The job settings are DubConfig's fields (maskvox.dub.config), and each is a flag generated from its
field: the name, the type, and the help, metavar and choices in the field's metadata. A flag not
given is None, which leaves the --config file's value (or DubConfig's default) standing.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import TYPE_CHECKING

from ..dub.config import DubConfig
from ..errors import UserError
from .common import check_out_dir, option_name, say, stderr_reporter, warnings_on_stderr

if TYPE_CHECKING:
    from ..dub.cues import Cue, CueError

FIELD_OPTIONS = ("help", "metavar", "choices")  # what a DubConfig field's metadata may give its flag


def add_command(commands: argparse._SubParsersAction) -> None:
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
    dub.add_argument("--config", metavar="FILE", help="a .yaml/.json of job settings (maskvox.dub.DubConfig); flags override")
    dub.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_job_flags(dub)
    dub.set_defaults(handler=run)


def add_job_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per DubConfig field: `batch_size: int | None` becomes `--batch-size N`, a bool a switch."""
    types = typing.get_type_hints(DubConfig)
    for setting in dataclasses.fields(DubConfig):
        options = {key: setting.metadata[key] for key in FIELD_OPTIONS if key in setting.metadata}
        parser.add_argument(option_name(setting.name), default=None, **_kind(setting.name, types[setting.name]),
                            **options)


def _kind(name: str, annotation: typing.Any) -> dict[str, typing.Any]:
    """argparse's action or type for a field of this type (`X | None`: X's)."""
    [kind] = [arg for arg in typing.get_args(annotation) or (annotation,) if arg is not type(None)]
    if kind is bool:
        return {"action": "store_true"}
    if kind in (int, float):
        return {"type": kind}
    if kind is str:
        return {}
    raise TypeError(f"DubConfig.{name}: no command-line flag for a {annotation}")


def run(args: argparse.Namespace) -> None:
    from ..dub.job import REPORT_FILE, run_dub_job

    config = dub_config(args)
    if not args.out_dir:
        raise UserError("--out-dir DIR is required")
    out_dir = check_out_dir(args.out_dir)
    cues, errors = _dub_cues(args)
    if config.engine == "ray":
        from ..dub.ray_engine import check_ray

        check_ray()  # before any work
    with warnings_on_stderr(args.quiet):
        summary = run_dub_job(cues, errors, out_dir, config, progress=not args.quiet, report=stderr_reporter("dub"))
    rate = f", {summary.cues_per_minute:.1f} cues/min" if summary.cues_per_minute else ""
    say(args, f"{summary.ok} of {summary.cues} cues done ({summary.generated_this_run} this run{rate}; "
              f"{summary.clamped} slot(s) outside 0.8-1.25x the natural length); wrote "
              f"{', '.join(summary.tracks + summary.subtitles)} in {out_dir}")
    if summary.ok < summary.cues:
        raise UserError(f"{summary.failed} cue(s) failed and {summary.skipped} were skipped "
                        f"(their records in {out_dir / REPORT_FILE} say why)")


def dub_config(args: argparse.Namespace) -> DubConfig:
    """The --config file's settings (or DubConfig's defaults) with the flags given put over them."""
    from ..config import load_config
    from ..presets import load_preset

    config = load_config(args.config, DubConfig) if args.config else DubConfig()
    given = {setting.name: getattr(args, setting.name) for setting in dataclasses.fields(DubConfig)
             if getattr(args, setting.name) is not None}
    config = dataclasses.replace(config, **given)  # checked again with the flags
    load_preset(config.preset)  # a bad preset fails before anything runs
    return config


def _dub_cues(args: argparse.Namespace) -> tuple[list[Cue], list[CueError]]:
    from ..dub.cues import read_manifest, read_speaker_map, read_srt_pair

    pair = ("srt", "target_srt", "audio")
    if args.manifest:
        for dest in (*pair, "speaker_map"):
            if getattr(args, dest) is not None:
                raise UserError(f"{option_name(dest)} does not go with --manifest")
        return read_manifest(args.manifest, args.source_lang, args.target_lang)
    missing = [option_name(dest) for dest in (*pair, "source_lang", "target_lang") if not getattr(args, dest)]
    if missing:
        raise UserError(f"give --manifest CUES.jsonl, or --srt, --target-srt, --audio, --source-lang and "
                        f"--target-lang (missing: {', '.join(missing)})")
    speaker_map = read_speaker_map(args.speaker_map) if args.speaker_map else None
    return read_srt_pair(args.srt, args.target_srt, args.audio, args.source_lang, args.target_lang, args.speaker,
                         speaker_map)
