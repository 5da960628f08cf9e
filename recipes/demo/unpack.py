"""Unpack a committed campaign milestone into a model folder, as the training recipes export it.

    python -m recipes.demo.unpack recipes/demo/milestones/acoustic_codec exp/demo3/model

A milestone (recipes/demo/milestones/NAME, packed by recipes.demo.export) holds some of the
official-layout modules in float16. Each one is written into the model folder in float32, with
its config sections merged into the folder's config.json and its other files (feature
statistics, an SSL model) copied as they are, so that later stages see the same model the campaign trained on: the
acoustic ids S2A learns come from the milestone codec, the semantic ids from the milestone
k-means codec.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file

from maskvox.checkpoint import CONFIG_FILE, OFFICIAL_FILES, load_model_config, write_model_folder
from maskvox.errors import UserError

from ..common.cli import exit_status

# The config sections that describe each official module.
SECTIONS = {
    "codec_encoder": ("acoustic_codec",),
    "codec_decoder": ("acoustic_codec",),
    "semantic_codec": ("semantic_codec", "semantic_features"),
    "t2s": ("t2s",),
    "s2a_1layer": ("s2a_1layer",),
    "s2a_full": ("s2a_full",),
    "duration": ("duration",),
    "aligner": ("aligner",),
}
TOP_LEVEL_NOT_COPIED = {CONFIG_FILE, "README.md"}  # merged, or describing the milestone only


def unpack(milestone: Path, model: Path) -> list[str]:
    """Write the milestone's modules into `model`; returns their official names."""
    if not (milestone / CONFIG_FILE).is_file():
        raise UserError(f"{milestone} is not a milestone folder (no {CONFIG_FILE})")
    present = [name for name, relative in OFFICIAL_FILES.items() if (milestone / relative).is_file()]
    if not present:
        raise UserError(f"{milestone} holds no model weights")
    source = load_model_config(milestone)

    def update(cfg) -> None:
        for name in present:
            for section in SECTIONS[name]:
                setattr(cfg, section, getattr(source, section))

    modules = {}
    for name in present:
        tensors = load_file(str(milestone / OFFICIAL_FILES[name]))
        modules[name] = {key: value.float() if value.is_floating_point() else value for key, value in tensors.items()}
    write_model_folder(model, modules, update)
    written = {OFFICIAL_FILES[name] for name in present} | TOP_LEVEL_NOT_COPIED
    for path in sorted(p for p in milestone.rglob("*") if p.is_file()):
        relative = path.relative_to(milestone)
        if relative.as_posix() not in written:  # e.g. feature statistics, an SSL model's files
            (model / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, model / relative)
    return present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("milestone", type=Path, help="milestone folder (recipes/demo/milestones/NAME)")
    parser.add_argument("model", type=Path, help="model folder to write into (created if missing)")
    args = parser.parse_args(argv)

    def work() -> None:
        names = unpack(args.milestone, args.model)
        print(f"{args.model}: {', '.join(names)} from {args.milestone}")

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
