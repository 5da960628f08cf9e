"""A dubbing job's tracks and subtitles, rebuilt from its cue wavs after every run.

Per source recording: `<stem>.dub.wav`, the ok cues placed at their slots on the source's
timeline (same rate, same number of samples), mixed with the background stem if given; and
`<stem>.<languages>.srt`, the target text timed to where each dubbed line is voiced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import ACOUSTIC_RATE, read_audio, resample, to_mono, write_audio
from ..errors import UserError
from ..prompt import FRAME_SECONDS, frame_levels_db, speech_frames
from .cues import Cue, write_retimed_srt
from .stretch import exact_length


def read_background(path: str | None, cues: list[Cue]) -> tuple[np.ndarray, int] | None:
    """The background stem (mono samples, rate), checked before any generation."""
    if path is None:
        return None
    if len({cue.audio for cue in cues}) > 1:
        raise UserError("--background goes with a job over one source recording; this one has several")
    data, rate = read_audio(path)
    return to_mono(data), rate


def write_tracks(cues: list[Cue], records: dict[str, dict], out_dir: Path, background, gain_db: float
                 ) -> tuple[list[str], list[str]]:
    """Per source recording, the dubbed track and the re-timed target SRT (ok cues only)."""
    tracks, subtitles = [], []
    names = output_names(cues)
    for source, group in _by_source(cues).items():
        done = [cue for cue in group if records.get(cue.id, {}).get("status") == "ok"]
        info = sf.info(str(source))
        track = np.zeros(info.frames, dtype=np.float32)
        timed = []
        for cue in done:
            wav, _ = sf.read(str(out_dir / records[cue.id]["wav"]), dtype="float32")
            first, placed = place_cue(track, wav, cue.start, cue.end, info.samplerate)
            timed.append((cue.target_text, *_voiced_span(placed, info.samplerate, first)))
        if background is not None:
            stem, rate = background
            track += exact_length(resample(stem, rate, info.samplerate), track.size) * 10 ** (gain_db / 20)
        track_name, srt_name = names[source]
        write_audio(out_dir / track_name, track, info.samplerate)
        write_retimed_srt(out_dir / srt_name, sorted(timed, key=lambda item: item[1]))
        tracks.append(track_name)
        subtitles.append(srt_name)
    return tracks, subtitles


def _by_source(cues: list[Cue]) -> dict[Path, list[Cue]]:
    groups: dict[Path, list[Cue]] = {}
    for cue in cues:
        groups.setdefault(cue.audio, []).append(cue)
    return groups


def output_names(cues: list[Cue]) -> dict[Path, tuple[str, str]]:
    """Per source recording: its track `<stem>.dub.wav` and subtitles `<stem>.<languages>.srt`,
    the stem numbered when two recordings share a file name."""
    names, taken = {}, set()
    for source, group in _by_source(cues).items():
        stem, number = source.stem, 2
        while stem in taken:
            stem, number = f"{source.stem}_{number}", number + 1
        taken.add(stem)
        languages = "-".join(sorted({cue.target_language for cue in group}))
        names[source] = (f"{stem}.dub.wav", f"{stem}.{languages}.srt")
    return names


def place_cue(track: np.ndarray, wav_24k: np.ndarray, start: float, end: float, rate: int
              ) -> tuple[int, np.ndarray]:
    """Add a cue into the track at its slot (resampled to the track's rate, cut to the track's
    end); returns the first sample and what was added."""
    first = round(start * rate)
    samples = min(round(end * rate), track.size) - first
    placed = exact_length(resample(wav_24k, ACOUSTIC_RATE, rate), samples)
    track[first : first + samples] += placed
    return first, placed


def _voiced_span(wav: np.ndarray, rate: int, first: int) -> tuple[float, float]:
    """Seconds (start, end) on the track where the placed cue is voiced; its whole slot if silent."""
    levels = frame_levels_db(wav, rate)
    slot = (first / rate, (first + wav.size) / rate)
    if levels.size == 0 or levels.max() < -60:
        return slot
    voiced = np.flatnonzero(speech_frames(levels))
    return slot[0] + voiced[0] * FRAME_SECONDS, min(slot[1], slot[0] + (voiced[-1] + 1) * FRAME_SECONDS)
