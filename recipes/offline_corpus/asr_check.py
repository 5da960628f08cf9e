"""The transcript check of real speech: a recogniser hears each real utterance, and a pair whose
transcript disagrees with it beyond a bound for its source is dropped.

Resumable: each result goes into `asr_check.jsonl` in the corpus folder (rewritten atomically
every few utterances), keyed by a hash of the wav, the text and the recogniser, so a stopped
run starts where it stopped and a changed transcript is heard again.

Agreement is measured after `normalize_for_wer` (lower case, punctuation gone) with numerals
spelt out (num2words, in the language) and accents folded (the Spanish Asterisk transcripts
are written without them: "numero", "contrasena"). WER counts words; CER counts characters
(spaces removed) and is the fairer measure for short prompts, where one split word ("log in"
for "login") makes a WER of 100 %, and for Czech and Dutch, where Whisper base slips on
word forms (the assets notes measure 26-28 % CER on Fish Fillets lines that are correct).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from .jobs import content_key

CACHE_NAME = "asr_check.jsonl"
SAVE_EVERY = 20  # results between two rewrites of the cache


@dataclass(frozen=True)
class Bound:
    """A pair is kept when its CER is at most `max_cer` or its WER at most `max_wer`; a
    reference of at most `short_words` words (an isolated word, heard without context) is
    kept up to `short_max_cer`."""

    max_cer: float
    max_wer: float
    short_words: int = 0
    short_max_cer: float = 0.0

    def keeps(self, wer: float, cer: float, words: int = 99) -> bool:
        if words <= self.short_words:
            return cer <= self.short_max_cer
        return cer <= self.max_cer or wer <= self.max_wer


# Measured with Whisper base (greedy, as maskvox's backend decodes) on a hash-mixed sample of 200
# real utterances (60 Asterisk, 140 Fish Fillets):
# - Asterisk (and LibriVox, read speech of the same kind): prompts of 3 words or more agree
#   closely (en median CER 0, es/fr median 0-2 %); every one above 25 % CER in the sample was an
#   isolated word or acronym ("papa" -> "Baba", "hoy" -> "Oye", "SIP" -> "C'est pas"), which
#   Whisper hears without context. So: CER <= 35 % (or WER <= 34 %) for prompts, and a loose
#   80 % for one- and two-word prompts, which drops only what shares almost nothing with its
#   text ("Majuscule" -> a sentence of eleven words).
# - Fish Fillets: the lines are acted, processed and often exclaimed; correct lines sit at median
#   CER 23 % (cs) / 35 % (nl), 90th percentile 61 % / 68 % (the assets notes' 26-28 % mean is
#   the same picture), so Whisper base cannot certify a line, only reject audio unrelated to its
#   text: CER > 75 % (8 % of the sample, mostly short exclamations, stylised voices and one
#   Whisper repetition loop). No line in the sample was clearly another line's recording.
BOUNDS = {
    "asterisk": Bound(max_cer=0.35, max_wer=0.34, short_words=2, short_max_cer=0.80),
    "librivox": Bound(max_cer=0.35, max_wer=0.34, short_words=2, short_max_cer=0.80),
    "fillets": Bound(max_cer=0.75, max_wer=0.0),
}
_NUM2WORDS_LANG = {"cs": "cz"}


def _spell_numbers(text: str, language: str) -> str:
    from num2words import num2words

    def spell(match):
        try:
            return " " + num2words(int(match.group()), lang=_NUM2WORDS_LANG.get(language, language)) + " "
        except (NotImplementedError, OverflowError, ValueError):
            return match.group()

    return re.sub(r"\d+", spell, text)


def fold(text: str, language: str) -> str:
    """The text as compared: numerals spelt out, normalize_for_wer, accents and apostrophes gone."""
    from maskvox.evaluation.wer import normalize_for_wer

    text = normalize_for_wer(_spell_numbers(text, language), language)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace("'", "").split())


def agreement(reference: str, hypothesis: str, language: str) -> tuple[float, float]:
    """(WER, CER) of the hypothesis against the reference transcript."""
    from maskvox.evaluation.wer import word_errors

    ref, hyp = fold(reference, language), fold(hypothesis, language)
    if not ref:
        return (0.0, 0.0) if not hyp else (1.0, 1.0)
    wer = word_errors(ref, hyp).wer
    cer = word_errors(" ".join(ref.replace(" ", "")), " ".join(hyp.replace(" ", ""))).wer
    return round(wer, 4), round(cer, 4)


def default_check_asr() -> str:
    """"whisper-base" when that recogniser and its weights are installed, else "none"."""
    try:
        from maskvox.evaluation.asr import get_asr_backend
        from maskvox.whisper_base import is_available

        get_asr_backend("whisper-base")
    except (ImportError, UserError):
        return "none"
    return "whisper-base" if is_available() else "none"


def load_transcriber(name: str, device: str = "cpu"):
    from maskvox.evaluation.asr import get_asr_backend

    return get_asr_backend(name).load(device)


def read_cache(folder: Path) -> dict[str, dict]:
    path = folder / CACHE_NAME
    records = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                records[record["id"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # written atomically; a stray line is just ignored
    return records


def write_cache(folder: Path, records: dict[str, dict]) -> None:
    with atomic_path(folder / CACHE_NAME) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for record in records.values():
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def check_key(item, asr: str) -> str:
    return content_key(Path(item.audio).name, item.text, item.language, asr)


def _audio_16k(path: str) -> np.ndarray:
    import soundfile as sf
    import soxr

    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != 16000:
        samples = soxr.resample(samples, rate, 16000)
    return np.ascontiguousarray(samples, dtype=np.float32)


def run_check(items: list, folder: Path, asr: str, load: Callable[[], object], quiet: bool = False,
              limit: int | None = None) -> dict[str, dict]:
    """Transcribe the items not yet in the cache (at most `limit` of them), saving as it goes;
    returns every valid record by utterance id. `load()` makes the transcriber, and is called
    only when something is left to hear."""
    from tqdm import tqdm

    records = read_cache(folder)
    valid = {item.id: records[item.id] for item in items
             if item.id in records and records[item.id].get("key") == check_key(item, asr)}
    # In an order mixed by hash, so that a run stopped early has checked a fair sample of every source.
    todo = sorted((item for item in items if item.id not in valid), key=lambda item: content_key(item.id))
    if limit is not None:
        todo = todo[:limit]
    if not todo:
        return valid
    transcriber = load()
    kept = dict(records)  # results of utterances outside `items` (another --languages) stay
    unsaved = 0
    try:
        for item in tqdm(todo, desc=f"checking transcripts ({asr})", unit="utt", disable=quiet):
            hypothesis = transcriber.transcribe(_audio_16k(item.audio), item.language)
            wer, cer = agreement(item.text, hypothesis, item.language)
            record = {"id": item.id, "key": check_key(item, asr), "asr": asr, "source": item.source,
                      "language": item.language, "text": item.text, "hypothesis": hypothesis, "wer": wer, "cer": cer}
            kept[item.id] = valid[item.id] = record
            unsaved += 1
            if unsaved >= SAVE_EVERY:
                write_cache(folder, kept)
                unsaved = 0
    finally:
        if unsaved:
            write_cache(folder, kept)
    return valid


def verdicts(items: list, records: dict[str, dict], bounds=BOUNDS) -> dict[str, bool | None]:
    """Per utterance id: True (transcript agrees), False (dropped), None (not checked yet)."""
    out = {}
    for item in items:
        record = records.get(item.id)
        words = len(fold(item.text, item.language).split())
        out[item.id] = None if record is None else bounds[item.source].keeps(record["wer"], record["cer"], words)
    return out
