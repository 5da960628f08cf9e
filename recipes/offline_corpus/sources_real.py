"""Real human speech with transcripts, from Debian packages (see install_assets.sh).

- Asterisk core prompts (`asterisk-core-sounds-{en,es,fr}-g722`, 16 kHz G.722; transcripts in
  `asterisk-core-sounds-<lang>`): `/usr/share/asterisk/sounds/<lang>_<REGION>_<f|m>_<Name>/`.
  The folder names the speaker: en_US_f_Allison and es_MX_f_Allison are one woman (one speaker
  id, `asterisk_allison`, in two languages); fr_CA_f_June is another (`asterisk_june`).
- Fish Fillets NG dialogue (`fillets-ng-data{,-cs,-nl}`): `sound/<level>/<lang>/<id>.ogg` with
  `dialogId("<id>", "<font>", "<English>")` + `dialogStr("<native>")` in
  `script/<level>/dialogs_<lang>.lua`. The font names the character (see `fillets_speaker`).
- The LibriVox clips of `pocketsphinx-testdata` (5 utterances, one reader).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from maskvox.fileio import atomic_path

from .jobs import MIN_SECONDS, NoAudio

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ASTERISK_DOCS = Path("/usr/share/doc")
FILLETS_DIR = Path("/usr/share/games/fillets-ng")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
ASTERISK_LANGUAGES = ("en", "es", "fr")
FILLETS_LANGUAGES = ("cs", "nl")


@dataclass(frozen=True)
class RealClip:
    source: str  # "asterisk", "fillets" or "librivox"
    id: str
    path: Path  # the packaged recording
    text: str
    language: str
    speaker: str
    codec: str  # how to read it: "g722" (PyAV), else soundfile


# --- LibriVox -----------------------------------------------------------------------------


def librivox_entries(folder: Path = LIBRIVOX_DIR) -> list[tuple[str, Path, str]]:
    """(file id, wav, text) of the Sphinx test clips; [] when the package is not installed."""
    transcription = folder / "transcription"
    if not transcription.is_file():
        return []
    entries = []
    for line in transcription.read_text().splitlines():
        match = re.match(r"^(.*)\s+\((\S+)\)\s*$", line.strip())
        if not match:
            continue
        # Sphinx transcripts are lower case and wrapped in <s> ... </s>.
        words, file_id = re.sub(r"</?s>", " ", match.group(1)).split(), match.group(2)
        wav = folder / f"{file_id}.wav"
        if wav.is_file() and words:
            entries.append((file_id, wav, " ".join(words).capitalize() + "."))
    return entries


def librivox_clips(folder: Path = LIBRIVOX_DIR) -> list[RealClip]:
    return [RealClip("librivox", file_id, wav, text, "en", "librivox_austen", "wav")
            for file_id, wav, text in librivox_entries(folder)]


# --- Asterisk -----------------------------------------------------------------------------

STAGE_NOTE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# What a transcript may hold once its stage notes are gone: letters (any script), digits,
# spaces and plain punctuation. "*", "#", "@", "/" ... are read out as words ("star",
# "pound") that the text does not say, so such prompts are dropped.
SPOKEN_TEXT = re.compile(r"^[\w\s.,?!;:'\"’-]+$")


def clean_prompt(text: str) -> str:
    """A prompt's text without stage notes, "" when nothing speakable is left."""
    text = " ".join(STAGE_NOTE.sub(" ", text).split()).replace("’", "'")
    text = re.sub(r"\s+([.,?!;:])", r"\1", text).strip(" ,;:")
    if not re.search(r"[^\W\d_]", text) or not SPOKEN_TEXT.match(text) or "_" in text:
        return ""
    return text


def parse_asterisk_transcript(path: Path) -> dict[str, str]:
    """`name: text` lines of a core-sounds-<lang>.txt.gz -> {name: cleaned text}; comments
    (";"), blank lines and entries with nothing speakable are left out."""
    prompts = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = (part.strip() for part in line.split(":", 1))
            text = clean_prompt(text)
            if name and text:
                prompts[name] = text
    return prompts


def asterisk_speaker(folder_name: str) -> str | None:
    """`en_US_f_Allison` -> `asterisk_allison`; None for a name of another shape (the `en`,
    `en_US` links to the installed voice)."""
    match = re.fullmatch(r"[a-z]{2}_[A-Z]{2}_[fm]_([A-Za-z]+)", folder_name)
    return f"asterisk_{match.group(1).lower()}" if match else None


def asterisk_clips(sounds: Path = ASTERISK_SOUNDS, docs: Path = ASTERISK_DOCS,
                   languages=ASTERISK_LANGUAGES) -> list[RealClip]:
    clips = []
    for language in languages:
        transcript = docs / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
        folders = sorted(p for p in sounds.glob(f"{language}_*") if p.is_dir() and not p.is_symlink()) \
            if sounds.is_dir() else []
        if not transcript.is_file():
            continue
        prompts = parse_asterisk_transcript(transcript)
        for folder in folders:
            speaker = asterisk_speaker(folder.name)
            if speaker is None:
                continue
            # Some names differ in case only between the list and the files (digits/1F).
            files = {p.relative_to(folder).with_suffix("").as_posix().lower(): p for p in folder.rglob("*.g722")}
            for name, text in sorted(prompts.items()):
                audio = files.get(name.lower())
                if audio is not None:
                    clip_id = f"asterisk_{language}_{name.replace('/', '_')}"
                    clips.append(RealClip("asterisk", clip_id, audio, text, language, speaker, "g722"))
    return clips


# --- Fish Fillets -------------------------------------------------------------------------

LUA_DIALOG = re.compile(
    r'dialogId\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)'
    r'\s*dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)',
    re.S,
)
# Characters met in more than one level under one font: one actor each across levels.
FILLETS_CHARACTERS = {
    "font_small": "small", "font_big": "big", "font_parrot": "parrot", "font_robodog": "robodog",
    "font_snail": "snail", "font_pizla": "pizla", "font_crab": "crab", "font_elk": "elk",
    "font_linuxer1": "linuxer1", "font_linuxer2": "linuxer2",
    **{f"font_viking{k}": f"viking{k}" for k in range(1, 9)},
}
FILLETS_SKIPPED_FONTS = ("font_both",)  # both fish at once: two voices


def fillets_speaker(language: str, level: str, font: str) -> str | None:
    """The actor's id: the small and the big fish are one actor each through the whole game,
    and so are the named characters (parrot, vikings, ...); a colour font (white, cyan,
    lightgrey, statue, ...) voices a different character in each level, so it is per level.
    None for a line not to use (no font, or both fish speaking together)."""
    if not font or font in FILLETS_SKIPPED_FONTS:
        return None
    character = FILLETS_CHARACTERS.get(font)
    if character is None:
        character = f"{font.removeprefix('font_')}_{level}"
    return f"fillets_{language}_{character}"


def _lua_string(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def clean_dialogue(text: str) -> str:
    """A game line as spoken: typographic quotes made plain; "" when it holds a placeholder or
    code (%, \\, /, <, >, #, +, =, _) that the actors did not read as written."""
    text = " ".join(text.translate(str.maketrans({"„": '"', "“": '"', "”": '"', "’": "'", "‘": "'"})).split())
    if not re.search(r"[^\W\d_]", text) or re.search(r"[%\\/<>#+=_*@\[\]{}|]", text):
        return ""
    return text


def parse_fillets_script(path: Path) -> list[tuple[str, str, str, str]]:
    """(id, font, English, native) of each dialogId + dialogStr pair in a dialogs_<lang>.lua."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(m.group(1), m.group(2), _lua_string(m.group(3)), _lua_string(m.group(4)))
            for m in LUA_DIALOG.finditer(text)]


def fillets_lines(root: Path, language: str) -> list[tuple[str, str, str, str]]:
    """(level, id, font, cleaned native text) of every line of one language's scripts."""
    lines = []
    for script in sorted((root / "script").glob(f"*/dialogs_{language}.lua")):
        level = script.parent.name
        for dialog_id, font, _english, native in parse_fillets_script(script):
            lines.append((level, dialog_id, font, clean_dialogue(native)))
    return lines


def fillets_clips(root: Path = FILLETS_DIR, languages=FILLETS_LANGUAGES) -> list[RealClip]:
    clips = []
    for language in languages:
        for level, dialog_id, font, text in fillets_lines(root, language):
            audio = root / "sound" / level / language / f"{dialog_id}.ogg"
            speaker = fillets_speaker(language, level, font)
            if level == "share" or not text or speaker is None or not audio.is_file():
                continue
            clips.append(RealClip("fillets", f"fillets_{language}_{level}_{dialog_id}", audio, text, language,
                                  speaker, "ogg"))
    return clips


# --- reading and writing ------------------------------------------------------------------


def read_clip(clip: RealClip) -> tuple[np.ndarray, int]:
    """(samples,) float32 mono at the recording's own rate."""
    if clip.codec == "g722":
        import av

        with av.open(str(clip.path), format="g722") as container:
            stream = container.streams.audio[0]
            frames = [frame.to_ndarray() for frame in container.decode(stream)]
            rate = stream.rate
        pcm = np.concatenate(frames, axis=-1) if frames else np.zeros((1, 0), np.int16)
        samples = pcm.astype(np.float32).mean(axis=0) / 32768.0
        return samples, rate
    samples, rate = sf.read(str(clip.path), dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def write_clip(clip: RealClip, target: Path) -> None:
    """The recording as a mono 16-bit wav at its own rate (all the packaged rates are 16 kHz or
    more: G.722 16 kHz, ogg 22.05 / 44.1 kHz), written atomically."""
    samples, rate = read_clip(clip)
    if len(samples) < MIN_SECONDS * rate:  # two Dutch Fish Fillets clips are empty
        raise NoAudio(f"{clip.path}: {len(samples)} samples")
    with atomic_path(target) as tmp:
        sf.write(str(tmp), np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")
