"""What corpus v3 makes: the real clips to decode and the synthetic utterances to synthesize,
each with the wav it goes to. Deterministic from the seed; a wav's name holds a hash of what
makes it, so a finished one is kept and one made otherwise is never mistaken for it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from . import sources_real as real
from .augment import Variant, apply_sox, draw_variants
from .jobs import MIN_SECONDS, NoAudio, content_key
from .split import is_held_out
from .text import clean_sentences, deal_texts, fortune_sentences, sentence_filter
from .voices import VOICES, EngineVoice, speak

LANGUAGES = ("en", "de", "es", "fr", "it", "cs", "nl")
REAL_SOURCES = ("asterisk", "fillets", "librivox")
SHORT_SHARE = 0.15  # of each speaker's sentences: 2-3 words, typically under 2 s
SYNTH_VERSION = 1  # part of every synthetic wav's hash: raise it when the synthesis changes
REAL_VERSION = 1  # the same for the decoded real clips
# Letters of the game-script sentences the French and Dutch voices read.
SCRIPT_LETTERS = {
    "fr": "A-Za-zàâæçéèêëîïôœùûüÿÀÂÆÇÉÈÊËÎÏÔŒÙÛÜŸ",
    "nl": "A-Za-zéëïöüèáóúÉËÏÖÜ",
}
SCRIPT_PACKAGE = "fillets-ng-data"


@dataclass(frozen=True)
class RealRoots:
    """Where the packaged real speech is (tests point these at small fake trees)."""

    asterisk_sounds: Path = real.ASTERISK_SOUNDS
    asterisk_docs: Path = real.ASTERISK_DOCS
    fillets: Path = real.FILLETS_DIR
    librivox: Path = real.LIBRIVOX_DIR


@dataclass(frozen=True)
class RealJob:
    clip: real.RealClip
    wav: Path

    @property
    def speaker(self) -> str:
        return self.clip.speaker

    def run(self) -> None:
        real.write_clip(self.clip, self.wav)


@dataclass(frozen=True)
class SynthJob:
    voice: EngineVoice
    variant: Variant
    text: str
    wav: Path
    key: str = field(compare=False, default="")

    @property
    def speaker(self) -> str:
        return self.variant.speaker(self.voice.id)

    def run(self) -> None:
        """Synthesize, apply the variant's sox effects, and put the wav in place atomically."""
        with atomic_path(self.wav) as tmp:
            effects = self.variant.sox_effects()
            raw = tmp.with_name(tmp.name + ".raw.wav") if effects else tmp
            try:
                speak(self.voice, self.text, raw, f0=self.variant.engine_f0(self.voice.has_f0_knob),
                      seed=int(self.key, 16))
                _check_audio(raw, f"{self.voice.id} on {self.text!r}")
                if effects:
                    apply_sox(self.variant, raw, tmp)
            except UserError as error:  # the engine failed on this text
                raise NoAudio(str(error)) from None
            finally:
                if effects and raw.exists():
                    os.unlink(raw)


def _check_audio(wav: Path, what: str) -> None:
    """NoAudio unless `wav` holds at least MIN_SECONDS of sound: festival exits 0 with an empty
    file on some texts ("SIOD ERROR" on Italian "ping-pong"), Pico with 0.12 s of silence on
    French "Eh !" (which the models' audio check then refuses)."""
    import numpy as np
    import soundfile as sf

    from maskvox.audio import SILENCE_PEAK

    try:
        samples, rate = sf.read(str(wav), dtype="float32")
    except (RuntimeError, OSError):  # LibsndfileError is a RuntimeError
        raise NoAudio(f"{what}: no readable audio") from None
    if len(samples) < MIN_SECONDS * rate:
        raise NoAudio(f"{what}: {len(samples)} samples")
    if np.abs(samples).max() < SILENCE_PEAK:
        raise NoAudio(f"{what}: silent")


# --- real ---------------------------------------------------------------------------------


def real_clips(languages, sources, roots: RealRoots) -> list[real.RealClip]:
    """The real clips of the chosen languages and sources; a UserError naming the packages
    when a chosen source is not installed."""
    clips, missing = [], []
    if "asterisk" in sources:
        wanted = [lang for lang in real.ASTERISK_LANGUAGES if lang in languages]
        found = real.asterisk_clips(roots.asterisk_sounds, roots.asterisk_docs, wanted)
        absent = [lang for lang in wanted if not any(c.language == lang for c in found)]
        missing += [p for lang in absent for p in (f"asterisk-core-sounds-{lang}", f"asterisk-core-sounds-{lang}-g722")]
        clips += found
    if "fillets" in sources:
        wanted = [lang for lang in real.FILLETS_LANGUAGES if lang in languages]
        found = real.fillets_clips(roots.fillets, wanted)
        absent = [lang for lang in wanted if not any(c.language == lang for c in found)]
        missing += [p for lang in absent for p in ("fillets-ng-data", f"fillets-ng-data-{lang}")]
        clips += found
    if "librivox" in sources and "en" in languages:
        found = real.librivox_clips(roots.librivox)
        missing += [] if found else ["pocketsphinx-testdata"]
        clips += found
    if missing:
        raise UserError(f"real speech not installed: apt-get install {' '.join(dict.fromkeys(missing))} "
                        f"(or run recipes/offline_corpus/install_assets.sh, or leave the source out with --sources)")
    return clips


def real_jobs(out: Path, clips: list[real.RealClip]) -> list[RealJob]:
    """wavs/<speaker>/<clip id>_<hash>.wav; the hash covers the recording (path, size) and how
    it is decoded."""
    jobs = []
    for clip in clips:
        digest = content_key(str(clip.path), clip.path.stat().st_size, clip.codec, REAL_VERSION)
        jobs.append(RealJob(clip, out / "wavs" / clip.speaker / f"{clip.id}_{digest}.wav"))
    return jobs


# --- text ---------------------------------------------------------------------------------


def script_sentences(language: str, roots: RealRoots) -> list[str]:
    """French or Dutch sentences from the Fish Fillets script. A line that a held-out actor
    speaks in this language is left out, so no held-out recording's sentence is read by a
    training voice (French has no recordings: every line is usable)."""
    lines = real.fillets_lines(roots.fillets, language)
    if not lines:
        raise UserError(f"no {language} Fish Fillets script in {roots.fillets / 'script'}: "
                        f"apt-get install {SCRIPT_PACKAGE}")
    usable = []
    for level, _id, font, text in lines:
        speaker = real.fillets_speaker(language, level, font)
        if speaker is not None and is_held_out(speaker):
            continue
        usable.append(text)
    return clean_sentences(usable, sentence_filter(SCRIPT_LETTERS[language]))


def text_pools(languages, roots: RealRoots) -> dict[str, list[str]]:
    """Each language's sentences for the synthetic voices: fortunes for en, de, es, it and cs,
    the Fish Fillets script for fr and nl (no French or Dutch fortunes in Debian)."""
    return {lang: script_sentences(lang, roots) if lang in SCRIPT_LETTERS else fortune_sentences(lang)
            for lang in languages}


# --- synthetic ----------------------------------------------------------------------------


def speakers_of(voice: EngineVoice, seed: int) -> list[Variant]:
    return draw_variants(voice.id, voice.variants, voice.has_f0_knob, seed)


def utterances_per_speaker(voice: EngineVoice, per_voice: int) -> int:
    return max(1, round(per_voice * voice.weight))


def synth_jobs(out: Path, voices, per_voice: int, seed: int, pools: dict[str, list[str]]) -> list[SynthJob]:
    """Every synthetic utterance: each voice's variants (speakers) read their own sentences,
    dealt from the language's pool, `per_voice * weight` each."""
    jobs = []
    for language in sorted({v.language for v in voices}):
        speakers = [(voice, variant) for voice in voices if voice.language == language
                    for variant in speakers_of(voice, seed)]
        counts = [(variant.speaker(voice.id), utterances_per_speaker(voice, per_voice)) for voice, variant in speakers]
        texts = deal_texts(pools[language], counts, seed, language, SHORT_SHARE)
        for voice, variant in speakers:
            speaker = variant.speaker(voice.id)
            for k, text in enumerate(texts[speaker]):
                digest = content_key(asdict(voice), asdict(variant), text, SYNTH_VERSION)
                wav = out / "wavs" / speaker / f"{speaker}_{k:04d}_{digest}.wav"
                jobs.append(SynthJob(voice, variant, text, wav, digest))
    return jobs


def chosen_voices(languages, sources, voices=VOICES) -> list[EngineVoice]:
    return [v for v in voices if v.language in languages and v.engine in sources]
