"""Errors a user can cause.

Each carries a one-line message; the command line prints that line and exits non-zero.
Bugs raise ordinary exceptions.
"""

import sys
from typing import Callable


# How torch's CPU allocator says it ran out (a plain RuntimeError, unlike CUDA's OutOfMemoryError).
_CPU_OUT_OF_MEMORY = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


def memory_kind(error: BaseException) -> str | None:
    """"memory" or "GPU memory" when `error` means the machine ran out (CUDA's comes as a
    RuntimeError subclass, torch.OutOfMemoryError; the CPU's as a RuntimeError), else None."""
    if isinstance(error, MemoryError):
        return "memory"
    if type(error).__name__ == "OutOfMemoryError":
        return "GPU memory"
    if isinstance(error, RuntimeError) and any(words in str(error) for words in _CPU_OUT_OF_MEMORY):
        return "memory"
    return None


class UserError(Exception):
    """A problem with what the user gave us: input files, arguments, checkpoints."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: the CLI prints it as is.
        super().__init__(" ".join(str(message).split()))


class WriteError(UserError):
    """An output that cannot be written: a read-only or full disk, a parent path that is a file."""


class AudioError(UserError):
    """Missing, unreadable or unusable audio."""


class ConfigError(UserError):
    """A configuration file or override that does not fit the typed config."""


class CheckpointError(UserError):
    """A checkpoint folder or file that is missing, incomplete or mismatched."""


class ModelNotAvailableError(CheckpointError):
    """A model that is neither in a local folder nor obtainable from the hub."""


class TextError(UserError):
    """Text the front-end cannot turn into phones."""


class UnsupportedLanguageError(TextError):
    """A language code the front-end has no G2P for."""


class NothingToPronounceError(TextError):
    """Text that is empty or holds nothing the language's G2P can read."""


class FrontEndUnavailableError(TextError):
    """A language whose G2P tools or data files are not installed (the message says how)."""


def write_error(target, error: OSError) -> WriteError:
    """The one line for a failed write of `target`."""
    return WriteError(f"cannot write {target}: {error.strerror or error}")


def exit_status_of(action: Callable[[], object]) -> int:
    """Run a small command's `action`: 0, or one `error: ...` line on stderr and a non-zero
    status (the UserError's own, 1 for a file system error)."""
    try:
        action()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
