"""Writing files atomically: a temporary file beside the target, then a rename.

Everything maskvox writes to disk goes through `atomic_path` so that a crash or a bad
input never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import UserError


def resolve_relative(path: str | os.PathLike, folder: Path) -> Path:
    """A path named in a list file: as it is if absolute (after ~), else under the list's folder."""
    path = Path(str(path).strip()).expanduser()
    return path if path.is_absolute() else folder / path


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...],
                      inputs: dict[str, str | os.PathLike | None] | None = None) -> Path:
    """The output path, checked before any slow work so that a bad --out fails at once: it
    ends in one of `suffixes`, is not a folder, is none of the command's `inputs` (what -> path:
    writing would destroy it), and its folder is (or can be made) writable."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"output {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise UserError(f"output {out} is a folder")
    for what, source in (inputs or {}).items():
        if source is not None and _same_file(out, Path(source)):
            raise UserError(f"output {out} is the {what}: writing it would destroy the input; give another file")
    folder = next((parent for parent in out.absolute().parents if parent.exists()), None)
    if folder is not None and not folder.is_dir():
        raise UserError(f"output {out}: {folder} is a file, not a folder")
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"output {out}: the folder {folder} is not writable")
    return out


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.exists() and second.exists() and first.samefile(second)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success.

    The temporary name keeps the target's suffix (unless `suffix` is given) so that
    libraries choosing a format from the extension (soundfile, numpy) still do so.
    On any exception the temporary file is removed and `target` is left untouched.
    """
    target = Path(target)
    if target.is_dir():  # os.replace would fail only after the work, with a traceback
        raise UserError(f"output {target} is a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private, and some writers (safetensors) replace it with a private
        # one of their own: the output gets the usual mode once it is written.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: Path, names: list[str] | None = None) -> int:
    """Remove what `atomic_path` leaves when a process is killed mid-write (SIGKILL skips its
    clean-up): hidden files named `.<target>.<random><suffix>`, for any target or for the
    target names given. Returns how many were removed."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(".*.*"):
        if path.is_file() and (names is None or any(path.name.startswith(f".{name}.") for name in names)):
            path.unlink()
            removed += 1
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
