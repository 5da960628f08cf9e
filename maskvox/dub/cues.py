"""What to dub: cues read from a JSONL manifest or from a source/target SRT pair, and SRT output.

Manifest, one JSON object per line (relative paths are taken from the manifest's folder):

    {"id": "ep1_0001", "audio": "ep1.wav", "start": 12.5, "end": 15.25,
     "source_text": "...", "source_language": "en", "target_text": "...", "target_language": "fr",
     "speaker": "alice", "prompt": "alice.wav", "prompt_text": "..."}

`start` and `end` are seconds into `audio`, as numbers or SRT timestamps ("00:00:12,500").
The languages may be left out when the command gives defaults; `prompt` (a reference clip of
the speaker) and `prompt_text` (its transcript) are optional and go together. Every line is
checked before anything runs: a bad line becomes a `CueError` with its line number and the
other lines are still read. Cues of one speaker may overlap; two cues may not share an id.

SRT pair: the n-th cue of the target SRT is the translation of the n-th cue of the source SRT
(cues are matched by position, so both files must hold the same number); the time slot comes
from the source SRT. Cues are named `cue0001`, `cue0002`, ... by position, and all belong to
one speaker unless a speaker map names them.

Speaker map (`read_speaker_map`): cue positions (1 = the first cue, which a well-numbered SRT
also numbers 1) to speaker names; cues it does not name keep the default speaker. Either a
JSON object, {"1": "alice", "2": "bob"}, or one cue a line, its number, a tab (or spaces) and
the speaker's name, with blank lines and lines starting with '#' ignored:

    1	alice
    2	bob
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..audio import audio_seconds
from ..errors import AudioError, UserError
from ..fileio import read_list_text, resolve_relative, write_text
from ..jobs import IdClaims, check_item_id, json_object_line  # ids name output files, as clone items do
from ..limits import MIN_CUE_SECONDS
from ..text import check_language

MANIFEST_FIELDS = (
    "id", "audio", "start", "end", "source_text", "source_language", "target_text", "target_language",
    "speaker", "prompt", "prompt_text",
)
# Always needed; the languages are too unless the command gives a default.
_ALWAYS_REQUIRED = ("id", "audio", "start", "end", "source_text", "target_text", "speaker")
# A subtitle may end a little after the extracted audio does (the last cue at the video's end,
# an audio track a few milliseconds short): up to one video frame at 25 fps is let through.
AUDIO_END_TOLERANCE = 0.04

_TIMESTAMP_PATTERN = r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{3})"
_TIMESTAMP = re.compile(_TIMESTAMP_PATTERN)
# The times, then optionally anything (some tools add "X1:40 X2:600 Y1:20 Y2:50" positions).
_TIMING_LINE = re.compile(rf"^\s*{_TIMESTAMP_PATTERN}\s*-->\s*{_TIMESTAMP_PATTERN}(?:\s.*)?$")
_CUE_NUMBER = re.compile(r"^\s*[0-9]+\s*$")
# HTML-like styling (<i>, </b>, <font color="...">) and ASS override tags ({\an8}, {\i1}).
_TAGS = re.compile(r"</?\s*[A-Za-z][^<>]*>|\{\\[^{}]*\}")


@dataclass
class Cue:
    """One line to dub: its slot in the source audio, both texts and whose voice speaks it."""

    id: str
    audio: Path
    start: float
    end: float
    source_text: str
    source_language: str
    target_text: str
    target_language: str
    speaker: str
    prompt: Path | None  # a reference clip of the speaker ...
    prompt_text: str | None  # ... and its transcript: both or neither
    line: int  # manifest line, or the cue's position in the SRT pair

    @property
    def slot_seconds(self) -> float:
        return self.end - self.start


@dataclass
class CueError:
    """A cue that cannot be dubbed, and why; the others still are."""

    line: int
    id: str | None
    message: str


@dataclass
class SrtCue:
    index: int
    start: float
    end: float
    text: str
    line: int = 0  # where the block begins in its file, for messages


# --- manifest --------------------------------------------------------------------------------


def read_manifest(
    path: str | Path,
    default_source_language: str | None = None,
    default_target_language: str | None = None,
) -> tuple[list[Cue], list[CueError]]:
    """The manifest's good cues, in order, and an error for each line that is not one."""
    path = Path(path)
    defaults = {
        "source_language": _checked_default(default_source_language),
        "target_language": _checked_default(default_target_language),
    }
    numbered = [(number, line) for number, line in enumerate(read_list_text(path, "manifest").split("\n"), start=1)
                if line.strip()]
    if not numbered:
        raise UserError(f"the manifest {path} has no cues")
    lengths = _AudioLengths()
    cues, errors, claims = [], [], IdClaims()
    for number, line in numbered:
        cue_id = None  # set once this line has claimed its id (a line without one: maskvox.jobs.line_id)
        try:
            record = json_object_line(line, MANIFEST_FIELDS)
            # Ids are claimed even by lines that fail later: fixing such a line must not
            # turn up a duplicate on the next run.
            cue_id = claims.claim(check_item_id(record.get("id")), number)
            cues.append(_cue_from_record(record, cue_id, number, path.parent, defaults, lengths))
        except UserError as err:
            errors.append(CueError(number, cue_id, str(err)))
    return cues, errors


def _checked_default(language: str | None) -> str | None:
    # A bad default would fail every line; say so once.
    return None if language is None else check_language(language)


def _cue_from_record(record: dict, cue_id: str, number: int, folder: Path, defaults: dict[str, str | None],
                     lengths: _AudioLengths) -> Cue:
    required = _ALWAYS_REQUIRED + tuple(name for name, default in defaults.items() if default is None)
    missing = [name for name in required if name not in record]
    if missing:
        raise UserError(f"missing field{'s' if len(missing) > 1 else ''} {_quoted(missing)}")
    audio = resolve_relative(_required_text(record, "audio"), folder)
    start, end = _time_field(record, "start"), _time_field(record, "end")
    source_text, target_text = _required_text(record, "source_text"), _required_text(record, "target_text")
    speaker = _required_text(record, "speaker")
    source_language = _language_field(record, "source_language", defaults["source_language"])
    target_language = _language_field(record, "target_language", defaults["target_language"])
    prompt, prompt_text = _prompt_fields(record, folder, lengths)
    _check_slot(start, end, audio, lengths.seconds(audio))
    return Cue(cue_id, audio, start, end, source_text, source_language, target_text, target_language, speaker,
               prompt, prompt_text, number)


def _required_text(record: dict, name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"'{name}' must be a non-empty string, not {value!r}")
    return value.strip()


def _time_field(record: dict, name: str) -> float:
    value = record[name]
    if isinstance(value, str):
        return parse_timestamp(value)
    # bool is an int to Python, and json.loads takes NaN and Infinity: neither is a time.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"'{name}' must be seconds (a number) or a timestamp 'HH:MM:SS,mmm', not {value!r}")
    return float(value)


def _language_field(record: dict, name: str, default: str | None) -> str:
    value = record.get(name)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise UserError(f"'{name}' must be a language code such as 'en', not {value!r}")
    return check_language(value.strip())


def _prompt_fields(record: dict, folder: Path, lengths: _AudioLengths) -> tuple[Path | None, str | None]:
    given = [name for name in ("prompt", "prompt_text") if record.get(name) is not None]
    if not given:
        return None, None
    if len(given) == 1:
        raise UserError("'prompt' and 'prompt_text' go together (a clip and its transcript): give both or neither")
    prompt = resolve_relative(_required_text(record, "prompt"), folder)
    lengths.seconds(prompt)  # exists and is audio
    return prompt, _required_text(record, "prompt_text")


def _check_slot(start: float, end: float, audio: Path, audio_seconds: float) -> None:
    if start < 0:
        raise UserError(f"start {start:.3f} s is negative")
    if end <= start:
        raise UserError(f"end {end:.3f} s is not after start {start:.3f} s")
    if end - start < MIN_CUE_SECONDS:
        raise UserError(f"the cue is {end - start:.4f} s long, shorter than the {MIN_CUE_SECONDS * 1000:g} ms "
                        "it takes to say anything")
    if end > audio_seconds + AUDIO_END_TOLERANCE:
        raise UserError(f"the cue ends at {end:.3f} s but {audio} is only {audio_seconds:.3f} s long")


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


class _AudioLengths:
    """Audio lengths in seconds from the files' headers (no samples are read), remembered per
    file: a manifest usually names one long episode on every line."""

    def __init__(self) -> None:
        self._known: dict[Path, float | str] = {}  # the length, or why there is none

    def seconds(self, path: Path) -> float:
        if path not in self._known:
            try:
                self._known[path] = audio_seconds(path)
            except AudioError as err:
                self._known[path] = str(err)
        known = self._known[path]
        if isinstance(known, str):
            raise AudioError(known)
        return known


# --- SRT -------------------------------------------------------------------------------------


def parse_timestamp(text: str) -> float:
    """'HH:MM:SS,mmm' (or with a '.') in seconds."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if not match:
        raise UserError(f"{text!r} is not a timestamp 'HH:MM:SS,mmm'")
    return _timestamp_seconds(match.groups())


def _timestamp_seconds(parts: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(part) for part in parts)
    # Whole milliseconds first, so that 00:00:01,100 is exactly 1.1 rather than 1.1000000000000001.
    return (((hours * 60 + minutes) * 60 + seconds) * 1000 + millis) / 1000


def format_timestamp(seconds: float) -> str:
    """Seconds as an SRT timestamp, to the nearest millisecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a subtitle time must be finite and not negative, not {seconds!r}")
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole_seconds, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole_seconds:02d},{millis:03d}"


def parse_srt(text: str) -> tuple[list[SrtCue], list[CueError]]:
    """The cues of an SRT file's text, and an error (with its line number) for each block that
    is not a cue. Styling tags are dropped and a cue's lines are joined with spaces."""
    blocks = _parse_blocks(text)
    return ([block for block in blocks if isinstance(block, SrtCue)],
            [block for block in blocks if isinstance(block, CueError)])


def _parse_blocks(text: str) -> list[SrtCue | CueError]:
    """Every blank-line separated block, in order: a cue, or the error that stops it being one
    (kept in place so that a pair of files still lines up by position)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return [_parse_block(lines, first, position)
            for position, (first, lines) in enumerate(_split_blocks(text.split("\n")), start=1)]


def _split_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of its first line; any number of blank
    (or whitespace-only) lines separates them."""
    blocks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if blocks and blocks[-1][0] + len(blocks[-1][1]) == number:  # continues the block above
            blocks[-1][1].append(line)
        else:
            blocks.append((number, [line]))
    return blocks


def _parse_block(lines: list[str], first: int, position: int) -> SrtCue | CueError:
    # The cue number is optional (some tools leave it out); the timing line is not.
    has_number = bool(_CUE_NUMBER.match(lines[0]))
    index = int(lines[0]) if has_number else position
    timing_at = 1 if has_number else 0
    if timing_at == len(lines):
        return CueError(first, None, f"cue {index} has no timing line")
    match = _TIMING_LINE.match(lines[timing_at])
    if not match:
        seen = lines[timing_at].strip()
        seen = seen if len(seen) <= 60 else seen[:57] + "..."
        return CueError(first + timing_at, None,
                        f"expected a timing line 'HH:MM:SS,mmm --> HH:MM:SS,mmm', found {seen!r}")
    start, end = _timestamp_seconds(match.groups()[:4]), _timestamp_seconds(match.groups()[4:])
    if end < start:
        return CueError(first + timing_at, None, f"cue {index} ends before it starts")
    return SrtCue(index, start, end, _plain_text(lines[timing_at + 1:]), first)


def _plain_text(lines: list[str]) -> str:
    """A cue's lines as one line of speech: tags gone, whitespace single spaces."""
    return " ".join(" ".join(_TAGS.sub("", line) for line in lines).split())


def format_srt(cues: Iterable[SrtCue]) -> str:
    """SRT text: each cue's number, timing line and text, blocks separated by a blank line."""
    blocks = []
    for cue in cues:
        # A blank line inside the text would end the block early; drop such lines.
        text = "\n".join(line for line in cue.text.split("\n") if line.strip())
        blocks.append(f"{cue.index}\n{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}\n{text}\n")
    return "\n".join(blocks)


def write_retimed_srt(path: str | Path, cues_with_times: list[tuple[str, float, float]]) -> None:
    """An SRT of (text, start, end) triples, numbered from 1, written atomically."""
    cues = []
    for index, (text, start, end) in enumerate(cues_with_times, start=1):
        if end < start:
            raise ValueError(f"cue {index} ends ({end}) before it starts ({start})")
        cues.append(SrtCue(index, start, end, text))
    write_text(path, format_srt(cues))


# --- SRT pair --------------------------------------------------------------------------------


def read_srt_pair(
    source_srt: str | Path,
    target_srt: str | Path,
    audio: str | Path,
    source_language: str,
    target_language: str,
    speaker: str = "speaker",
    speaker_map: dict[int, str] | None = None,
) -> tuple[list[Cue], list[CueError]]:
    """Cues from a source SRT and its translation, matched by position, timed by the source.

    Problems with the whole input (a language, the audio, differing cue counts, a speaker map
    naming a cue that is not there) are a UserError; a bad cue is a CueError at its position.
    """
    source_srt, target_srt, audio = Path(source_srt), Path(target_srt), Path(audio)
    check_language(source_language)
    check_language(target_language)
    if not speaker.strip():
        raise UserError("the speaker name is empty")
    audio_seconds = _AudioLengths().seconds(audio)
    sources = _parse_blocks(read_list_text(source_srt, "source SRT"))
    targets = _parse_blocks(read_list_text(target_srt, "target SRT"))
    _check_counts(source_srt, sources, target_srt, targets)
    speaker_map = speaker_map or {}
    _check_speaker_map(speaker_map, len(sources))
    cues, errors = [], []
    for position, (source, target) in enumerate(zip(sources, targets), start=1):
        cue_id = f"cue{position:04d}"
        try:
            _check_pair(source, source_srt, target, target_srt)
            _check_slot(source.start, source.end, audio, audio_seconds)
            cues.append(Cue(cue_id, audio, source.start, source.end, source.text, source_language, target.text,
                            target_language, speaker_map.get(position, speaker).strip(), None, None, position))
        except UserError as err:
            errors.append(CueError(position, cue_id, str(err)))
    return cues, errors


def _check_counts(source_srt: Path, sources: list, target_srt: Path, targets: list) -> None:
    if not sources:
        raise UserError(f"the source SRT {source_srt} has no cues")
    if len(sources) == len(targets):
        return
    malformed = sum(isinstance(block, CueError) for block in sources + targets)
    hint = (f"; {malformed} block{'s are' if malformed > 1 else ' is'} malformed (a blank line inside a cue's "
            "text splits it in two)") if malformed else ""
    raise UserError(f"the source SRT {source_srt} has {len(sources)} cues but the target SRT {target_srt} has "
                    f"{len(targets)}: cues are matched by position, so the counts must match{hint}")


def _check_pair(source: SrtCue | CueError, source_srt: Path, target: SrtCue | CueError, target_srt: Path) -> None:
    for block, srt in ((source, source_srt), (target, target_srt)):
        if isinstance(block, CueError):
            raise UserError(f"{srt} line {block.line}: {block.message}")
        if not block.text:
            which = "source" if block is source else "target"
            raise UserError(f"{srt} line {block.line}: the {which} text is empty")


def _check_speaker_map(speaker_map: dict[int, str], count: int) -> None:
    for position, name in speaker_map.items():
        if not 1 <= position <= count:
            raise UserError(f"the speaker map names cue {position}, but the cues are numbered 1 to {count}")
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"the speaker map gives cue {position} no speaker name")


def read_speaker_map(path: str | Path) -> dict[int, str]:
    """Cue position (from 1) -> speaker name, from a JSON object or 'number<TAB>name' lines."""
    path = Path(path)
    text = read_list_text(path, "speaker map")
    if text.lstrip().startswith("{"):
        return _speaker_map_from_json(text, path)
    return _speaker_map_from_lines(text, path)


def _speaker_map_from_json(text: str, path: Path) -> dict[int, str]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"the speaker map {path} is not valid JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise UserError(f"the speaker map {path} is not valid JSON (nested too deeply)") from None
    if not isinstance(record, dict):
        raise UserError(f"the speaker map {path} must be a JSON object such as {{\"1\": \"alice\"}}")
    return {_cue_position(key, f"the speaker map {path}"): _speaker_name(name, f"the speaker map {path}, cue {key}")
            for key, name in record.items()}


def _speaker_map_from_lines(text: str, path: Path) -> dict[int, str]:
    speakers: dict[int, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"the speaker map {path} line {number}"
        fields = line.strip().split(None, 1)  # the name keeps its inner spaces
        if len(fields) < 2:
            raise UserError(f"{where}: expected a cue number, a tab and a speaker name")
        position = _cue_position(fields[0], where)
        if position in speakers:
            raise UserError(f"{where}: cue {position} is named twice")
        speakers[position] = _speaker_name(fields[1], where)
    return speakers


def _cue_position(key: str, where: str) -> int:
    if not _CUE_NUMBER.match(key) or int(key) < 1:
        raise UserError(f"{where}: {key!r} is not a cue number (1 is the first cue)")
    return int(key)


def _speaker_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: the speaker name must be a non-empty string, not {name!r}")
    return name.strip()
