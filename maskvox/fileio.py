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

from .errors import UserError, write_error
from .limits import check_list_size


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
    check_writable_folder(out.absolute().parent, f"output {out}")
    return out


def check_writable_folder(folder: Path, what: str) -> None:
    """`folder` is a writable folder, or can be made in one (its nearest existing parent is
    one): checked before any slow work, so that an output that cannot be written fails at once."""
    folder = Path(folder).absolute()
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise UserError(f"{what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what}: the folder {existing} is not writable")


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
    A file system error (a read-only or full disk, a parent path that is a file) is a WriteError
    naming the target: one line, whatever wrote the file.
    """
    target = Path(target)
    if target.is_dir():  # os.replace would fail only after the work, with a traceback
        raise UserError(f"output {target} is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
            dir=target.parent,
        )
        os.close(fd)
    except OSError as err:
        raise write_error(target, err) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private, and some writers (safetensors) replace it with a private
        # one of their own: the output gets the usual mode once it is written.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as err:
        raise write_error(target, err) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_list_text(path: str | os.PathLike, what: str) -> str:
    """A list file (items, cues, edits, records) as text: UTF-8 (a byte-order mark dropped), its
    size bounded (maskvox.limits), line ends made '\\n'. Split it with `.split("\\n")`, never
    `str.splitlines`: that also breaks at form feeds and U+2028/U+2029/U+0085 inside a JSON
    string, and the line numbers in messages would no longer match the user's editor."""
    path = Path(path)
    try:
        check_list_size(path.stat().st_size, f"the {what} {path}")
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read the {what} {path}: {err.strerror or err}") from None
    return decode_list_text(data, f"the {what} {path}")


def decode_list_text(data: bytes, name: str) -> str:
    """`read_list_text` of bytes already read (standard input)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{name} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
