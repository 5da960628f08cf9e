"""Registered voices: a folder of `NAME.wav` + `NAME.txt` (the transcript), optionally
`NAME.lang` (the transcript's language, default en). Clients name a voice; they never give a
path. Each voice's prompt is tokenized on first use and then served from the Synthesizer's
prompt cache (keyed by the file's path, size and time of change, so an edited file is read again)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..jobs import SAFE_ID

MAX_TRANSCRIPT_BYTES = 64 * 2**10  # a 15 s prompt's transcript is a few hundred bytes


class UnknownVoiceError(UserError):
    """A voice name that is not registered (404, not 400: the name is well formed)."""


@dataclass(frozen=True)
class Voice:
    name: str
    prompt: Path
    transcript: str
    language: str

    def as_dict(self) -> dict:
        return {"name": self.name, "language": self.language, "transcript": self.transcript}


class VoiceRegistry:
    """The voices of `folder` (None: none). The folder is listed on every call, so voices added
    while the server runs are found; a voice's transcript is read when it is used."""

    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None and not self.folder.is_dir():
            raise UserError(f"--voices {self.folder} is not a folder")

    def names(self) -> list[str]:
        if self.folder is None:
            return []
        return sorted(path.stem for path in self.folder.glob("*.wav")
                      if SAFE_ID.fullmatch(path.stem) and path.is_file() and path.with_suffix(".txt").is_file())

    def list(self) -> list[Voice]:
        voices = []
        for name in self.names():
            try:
                voices.append(self.get(name))
            except UserError:  # a broken voice is left out of the list; using it says why
                continue
        return voices

    def get(self, name: str) -> Voice:
        """The voice called `name`: UserError for a name that could be a path, UnknownVoiceError
        for one that is not registered."""
        if not isinstance(name, str) or not SAFE_ID.fullmatch(name):
            raise UserError(f"voice names are 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or "
                            f"digit; got {name!r:.80}")
        prompt = None if self.folder is None else self.folder / f"{name}.wav"
        if prompt is None or not prompt.is_file() or not prompt.with_suffix(".txt").is_file():
            raise UnknownVoiceError(f"no voice called {name!r} (GET /voices lists them)")
        transcript = _read_small(prompt.with_suffix(".txt"), name)
        if not transcript:
            raise UserError(f"voice {name!r} has an empty transcript")
        language_file = prompt.with_suffix(".lang")
        language = _read_small(language_file, name) if language_file.is_file() else "en"
        return Voice(name, prompt, transcript, language or "en")


def _read_small(path: Path, name: str) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_TRANSCRIPT_BYTES + 1)
    except OSError as err:
        raise UserError(f"voice {name!r}: cannot read {path.name}: {err.strerror or err}") from None
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise UserError(f"voice {name!r}: {path.name} is over {MAX_TRANSCRIPT_BYTES // 1024} KiB")
    try:
        return " ".join(data.decode("utf-8-sig").split())
    except UnicodeDecodeError:
        raise UserError(f"voice {name!r}: {path.name} is not UTF-8 text") from None
