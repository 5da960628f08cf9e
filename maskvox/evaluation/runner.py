"""The evaluation run: read the items, score each one, write the report.

Items come from a Seed-TTS-eval `meta.lst` (with a folder of generated wavs, or scoring the
real recordings of its 5th field) or from the results JSONL of `maskvox clone --batch`.
Every input problem is found before a model is loaded, and nothing is written until every
item is scored.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AudioError, UserError
from ..fileio import check_writable_folder, read_list_text, resolve_relative
from ..jobs import json_object_line
from .errors import EvalInputError
from .wer import CorpusWer, WordErrors, normalize_for_wer, word_errors

if TYPE_CHECKING:  # numpy stays out of the command's import
    import numpy as np

SCORING_SAMPLE_RATE = 16000  # both the ASR and the speaker encoders take 16 kHz
OUTPUT_FILES = ("items.jsonl", "summary.json", "plot.png")
DEFAULT_SPEAKER = "resemblyzer"


@dataclass(frozen=True)
class EvalItem:
    """One utterance to score: `wav` should say `text` in the voice of `prompt`."""

    id: str
    wav: Path | None  # None when there is nothing to score (see `failure`)
    prompt: Path | None
    text: str
    language: str
    prompt_text: str = ""
    target_seconds: float | None = None  # the length the speech should have, if known
    failure: str | None = None  # why the item cannot be scored (generation failed, wav missing)


def _default_asr() -> str:
    from .asr import default_asr  # asr.py imports numpy: only when a config is made, not on import

    return default_asr()


@dataclass(frozen=True)
class EvalConfig:
    asr: str = field(default_factory=_default_asr)  # whisper-base when installed, else whisper-tiny.en
    speaker: str = DEFAULT_SPEAKER
    device: str = "auto"  # cpu, cuda, cuda:N or auto
    speaker_checkpoint: str | None = None


@dataclass
class ItemScore:
    """One line of items.jsonl. WER and duration error are fractions (0.1 = 10%)."""

    id: str
    status: str  # "ok" or "failed"
    wav: str | None
    prompt: str | None
    language: str
    text: str
    hypothesis: str | None = None
    text_normalized: str | None = None
    hypothesis_normalized: str | None = None
    wer: float | None = None
    reference_words: int | None = None
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    similarity: float | None = None
    seconds: float | None = None
    target_seconds: float | None = None
    duration_error: float | None = None  # |seconds - target_seconds| / target_seconds
    error: str | None = None

    def word_errors(self) -> WordErrors:
        return WordErrors(self.reference_words, self.substitutions, self.deletions, self.insertions)


@dataclass(frozen=True)
class LanguageWer:
    """The WER of one language's scored items (fractions)."""

    scored: int
    wer_mean_per_utterance: float
    wer_pooled: float


@dataclass(frozen=True)
class EvalSummary:
    items: int
    scored: int
    failed: int
    wer_mean_per_utterance: float | None  # Seed-TTS-eval's WER
    wer_pooled: float | None
    similarity_mean: float | None
    similarity_median: float | None
    duration_error_mean: float | None
    duration_items: int  # items with a target length
    asr: str
    speaker: str
    failures: dict[str, str] = field(default_factory=dict)  # id -> why
    # language -> its WER, for every language of the scored items (one entry, equal to the overall
    # figures, when the run has one language). Added after the other fields: old readers ignore it.
    per_language: dict[str, LanguageWer] = field(default_factory=dict)

    @classmethod
    def of(cls, scores: list[ItemScore], config: EvalConfig) -> "EvalSummary":
        scored = [s for s in scores if s.status == "ok"]
        corpus = CorpusWer.of([s.word_errors() for s in scored])
        per_language = {}
        for language in sorted({s.language for s in scored}):
            of_language = CorpusWer.of([s.word_errors() for s in scored if s.language == language])
            per_language[language] = LanguageWer(sum(s.language == language for s in scored),
                                                 of_language.mean_per_utterance, of_language.pooled)
        similarities = [s.similarity for s in scored]
        duration_errors = [s.duration_error for s in scored if s.duration_error is not None]
        return cls(
            items=len(scores), scored=len(scored), failed=len(scores) - len(scored),
            wer_mean_per_utterance=corpus.mean_per_utterance if corpus else None,
            wer_pooled=corpus.pooled if corpus else None,
            similarity_mean=statistics.fmean(similarities) if similarities else None,
            similarity_median=statistics.median(similarities) if similarities else None,
            duration_error_mean=statistics.fmean(duration_errors) if duration_errors else None,
            duration_items=len(duration_errors),
            asr=config.asr, speaker=config.speaker,
            failures={s.id: s.error for s in scores if s.status != "ok"},
            per_language=per_language,
        )


# --- reading the inputs -------------------------------------------------------------------------

def _numbered_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of a list file, split at '\\n' only (maskvox.fileio.read_list_text)."""
    if not path.is_file():
        raise EvalInputError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        text = read_list_text(path, what)
    except UserError as error:
        raise EvalInputError(str(error)) from None
    lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not lines:
        raise EvalInputError(f"{path} holds no items")
    return lines


def _audio_seconds(path: Path) -> float:
    import soundfile as sf

    try:
        return sf.info(str(path)).duration
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path} is not a readable audio file ({error})") from None


def _check_scorable_text(text: str, language: str, where: str) -> None:
    if not normalize_for_wer(text, language):
        raise EvalInputError(f"{where}: the target text has no words to score")


def read_meta_list(list_path: str | Path, wav_dir: str | Path | None, language: str,
                   ground_truth: bool = False) -> list[EvalItem]:
    """Items of a Seed-TTS-eval list: `utt|prompt_text|prompt_wav|target_text[|target_wav]`.

    Relative paths are relative to the list's folder. The speech scored is `wav_dir/utt.wav`,
    or with `ground_truth` the 5th field (the real recording of the target text); the 5th
    field's length is otherwise the target length. A line that does not fit stops the run
    with `file:line: problem`; a missing generated wav only fails its item.
    """
    if wav_dir is None and not ground_truth:
        raise EvalInputError("give the folder of generated wavs, or score the recordings (ground truth)")
    list_path = Path(list_path)
    folder = list_path.parent
    items, seen = [], set()
    for number, line in _numbered_lines(list_path, "list"):
        where = f"{list_path}:{number}"
        fields = line.split("|")
        if len(fields) not in (4, 5):
            raise EvalInputError(
                f"{where}: expected utt|prompt_text|prompt_wav|target_text[|target_wav], got {len(fields)} field(s)"
            )
        utt, prompt_text, prompt_wav, text = (f.strip() for f in fields[:4])
        if not utt or not prompt_wav:
            raise EvalInputError(f"{where}: the utterance id and the prompt wav must not be empty")
        if utt in seen:
            raise EvalInputError(f"{where}: utterance id {utt!r} appears twice")
        seen.add(utt)
        _check_scorable_text(text, language, where)
        prompt = resolve_relative(prompt_wav, folder)
        if not prompt.is_file():
            raise EvalInputError(f"{where}: prompt recording {prompt} does not exist")
        recording = resolve_relative(fields[4], folder) if len(fields) == 5 and fields[4].strip() else None
        if recording is not None and not recording.is_file():
            raise EvalInputError(f"{where}: target recording {recording} does not exist")
        if ground_truth:
            if recording is None:
                raise EvalInputError(f"{where}: --ground-truth needs the target recording as a 5th field")
            wav, target_seconds = recording, None
        else:
            wav = Path(wav_dir) / f"{utt}.wav"
            target_seconds = _audio_seconds(recording) if recording is not None else None
        failure = None if wav.is_file() else f"no generated wav {wav}"
        items.append(EvalItem(utt, wav, prompt, text, language, prompt_text, target_seconds, failure))
    if all(item.failure for item in items):
        raise EvalInputError(f"none of the {len(items)} generated wavs (<utt>.wav) is in {wav_dir}")
    return items


def read_results(results_path: str | Path, language: str = "en") -> list[EvalItem]:
    """Items of a results file of `maskvox clone --batch` or `maskvox edit --tsv`, read as maskvox
    writes it (maskvox.jobs): one record per id, the latest line of an id winning (a job running or
    stopped has appended a line per step), a last line cut short by a kill ignored. Records whose
    status is not "ok" are failed items. An edit's output is scored against its new text in the
    voice of the recording it edited; `language` is that of records that name none. Relative paths
    are relative to the file's folder."""
    results_path = Path(results_path)
    folder = results_path.parent
    lines = _numbered_lines(results_path, "results file")
    cut_short = not results_path.read_bytes().endswith(b"\n")
    records: dict[str, tuple[str, dict]] = {}
    for index, (number, line) in enumerate(lines):
        where = f"{results_path}:{number}"
        try:
            record = json_object_line(line)
        except UserError as error:
            if cut_short and index == len(lines) - 1:
                continue
            raise EvalInputError(f"{where}: {error}") from None
        if not isinstance(record.get("id"), str) or not record["id"]:
            raise EvalInputError(f"{where}: expected a JSON object with an 'id' string")
        records[record["id"]] = (where, record)
    return [_result_item(item_id, record, where, folder, language) for item_id, (where, record) in records.items()]


def _result_item(item_id: str, record: dict, where: str, folder: Path, default_language: str) -> EvalItem:
    edit = "new_text" in record  # an edit's record: "out" is the output, "wav" the recording edited
    text = record.get("new_text" if edit else "text")
    language = record.get("language") or (default_language if edit else None)
    if record.get("status") != "ok":  # a line the batch could not read has no text or language
        reason = record.get("error") or f"status {record.get('status')!r}"
        return EvalItem(item_id, None, None, str(text or ""), str(language or ""),
                        failure=f"generation failed: {reason}")
    if not isinstance(text, str) or not isinstance(language, str) or not language:
        raise EvalInputError(f"{where}: an 'ok' record needs 'text' and 'language' strings")
    _check_scorable_text(text, language, where)
    paths = {"wav": "out", "prompt": "wav"} if edit else {"wav": "wav", "prompt": "prompt"}
    for key in paths.values():
        if not isinstance(record.get(key), str) or not record[key]:
            raise EvalInputError(f"{where}: an 'ok' record needs a '{key}' path")
    wav, prompt = (resolve_relative(record[paths[name]], folder) for name in ("wav", "prompt"))
    if not prompt.is_file():
        raise EvalInputError(f"{where}: prompt recording {prompt} does not exist")
    target_seconds = record.get("target_seconds")
    if target_seconds is not None and not (isinstance(target_seconds, (int, float)) and target_seconds > 0):
        raise EvalInputError(f"{where}: 'target_seconds' must be a positive number")
    failure = None if wav.is_file() else f"no generated wav {wav}"
    return EvalItem(item_id, wav, prompt, text, language, record.get("prompt_text") or "", target_seconds, failure)


# --- scoring ------------------------------------------------------------------------------------

def resolve_device(device: str) -> str:
    if device == "cpu":
        return device
    if device != "auto" and device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise UserError(f"--device wants cpu, cuda, cuda:N or auto, not {device!r}")
    from maskvox.tokenizer import pick_device

    return pick_device(device)


class Scorer:
    """The named ASR and speaker encoder, loaded once; prompt embeddings cached by path."""

    def __init__(self, config: EvalConfig, languages: set[str]):
        from .asr import get_asr_backend
        from .speaker import get_speaker_backend

        asr_backend, speaker_backend = get_asr_backend(config.asr), get_speaker_backend(config.speaker)
        asr_backend.check_languages(languages)
        device = resolve_device(config.device)
        # The speaker model first: it may read a user's checkpoint file, which can be wrong.
        self.speaker_encoder = speaker_backend.load(device, config.speaker_checkpoint)
        self.transcriber = asr_backend.load(device)
        self._prompt_embeddings: dict[Path, np.ndarray] = {}

    def _prompt_embedding(self, prompt: Path) -> "np.ndarray":
        from ..audio import load_audio

        if prompt not in self._prompt_embeddings:
            try:
                wav = load_audio(prompt, SCORING_SAMPLE_RATE)
            except AudioError as error:
                raise AudioError(f"prompt: {error}") from None
            self._prompt_embeddings[prompt] = self.speaker_encoder.embed(wav)
        return self._prompt_embeddings[prompt]

    def score(self, item: EvalItem) -> ItemScore:
        from ..audio import load_audio
        from .speaker import cosine_similarity

        about = dict(id=item.id, wav=str(item.wav) if item.wav else None,
                     prompt=str(item.prompt) if item.prompt else None, language=item.language, text=item.text,
                     target_seconds=item.target_seconds)
        if item.failure:
            return ItemScore(status="failed", error=item.failure, **about)
        try:
            wav = load_audio(item.wav, SCORING_SAMPLE_RATE)
            prompt_embedding = self._prompt_embedding(item.prompt)
        except AudioError as error:  # an unreadable output fails its item, not the run
            return ItemScore(status="failed", error=str(error), **about)
        hypothesis = self.transcriber.transcribe(wav, item.language)
        reference_normalized = normalize_for_wer(item.text, item.language)
        hypothesis_normalized = normalize_for_wer(hypothesis, item.language)
        errors = word_errors(reference_normalized, hypothesis_normalized)
        seconds = wav.size / SCORING_SAMPLE_RATE
        target = item.target_seconds
        return ItemScore(
            status="ok", hypothesis=hypothesis, text_normalized=reference_normalized,
            hypothesis_normalized=hypothesis_normalized, wer=errors.wer, reference_words=errors.reference_words,
            substitutions=errors.substitutions, deletions=errors.deletions, insertions=errors.insertions,
            similarity=cosine_similarity(self.speaker_encoder.embed(wav), prompt_embedding),
            seconds=seconds, duration_error=abs(seconds - target) / target if target else None, **about,
        )


def evaluate(items: list[EvalItem], config: EvalConfig,
             show_progress: bool = False) -> tuple[list[ItemScore], EvalSummary]:
    """Load the named scorers and score every item (failed items are carried through)."""
    from tqdm import tqdm

    scorer = Scorer(config, {item.language for item in items if not item.failure})
    scores = [scorer.score(item) for item in tqdm(items, desc="eval", unit="item", disable=not show_progress,
                                                  file=sys.stderr)]
    return scores, EvalSummary.of(scores, config)


# --- the report ---------------------------------------------------------------------------------

def check_output_dir(out: str | os.PathLike) -> Path:
    """The report folder, checked before any work: a folder or a new path we can create."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"output folder {out} is a file")
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise UserError(f"output {out / name} is a folder")
    check_writable_folder(out, f"cannot create output folder {out}")
    return out


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_summary(summary: EvalSummary) -> str:
    """A Markdown table of the summary."""
    rows = [
        ("items scored", str(summary.scored)),
        ("items failed", str(summary.failed)),
        ("WER, mean per utterance (Seed-TTS-eval)", _percent(summary.wer_mean_per_utterance)),
        ("WER, pooled", _percent(summary.wer_pooled)),
    ]
    if len(summary.per_language) > 1:  # one language: its row would repeat the two above
        rows += [(f"WER {language} (n={wer.scored}), mean per utterance / pooled",
                  f"{_percent(wer.wer_mean_per_utterance)} / {_percent(wer.wer_pooled)}")
                 for language, wer in summary.per_language.items()]
    rows += [
        ("SIM, mean", _number(summary.similarity_mean)),
        ("SIM, median", _number(summary.similarity_median)),
        ("duration error, mean", f"{_percent(summary.duration_error_mean)} ({summary.duration_items} with a target)"),
        ("ASR", summary.asr),
        ("speaker model", summary.speaker),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def _plot(path: Path, scores: list[ItemScore], summary: EvalSummary) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend, Agg renders the PNG

    from ..fileio import atomic_path

    scored = [s for s in scores if s.status == "ok"]
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    wer_axes, sim_axes, duration_axes = figure.subplots(1, 3)
    wer_axes.hist([100 * s.wer for s in scored], bins=20, color="tab:blue")
    wer_axes.set(title=f"WER per item (mean {_percent(summary.wer_mean_per_utterance)})", xlabel="WER (%)",
                 ylabel="items")
    sim_axes.hist([s.similarity for s in scored], bins=20, color="tab:green")
    sim_axes.set(title=f"SIM to prompt (mean {_number(summary.similarity_mean)})", xlabel="cosine similarity")
    with_target = [s for s in scored if s.duration_error is not None]
    if with_target:
        duration_axes.scatter([s.target_seconds for s in with_target], [s.seconds for s in with_target], s=12)
        longest = max(max(s.target_seconds, s.seconds) for s in with_target)
        duration_axes.plot([0, longest], [0, longest], color="gray", linewidth=0.8)
        duration_axes.set(title=f"length (mean error {_percent(summary.duration_error_mean)})",
                          xlabel="target (s)", ylabel="output (s)")
    else:
        duration_axes.hist([s.seconds for s in scored], bins=20, color="tab:orange")
        duration_axes.set(title="output length (no targets)", xlabel="seconds")
    figure.suptitle(f"{summary.scored} items scored, {summary.failed} failed; ASR {summary.asr}, "
                    f"speaker {summary.speaker}")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def _json_ready(value):
    """NaN would make invalid JSON; no metric should be NaN, but never write one."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_report(out_dir: Path, scores: list[ItemScore], summary: EvalSummary) -> list[Path]:
    from ..fileio import write_json, write_text

    items_path, summary_path, plot_path = (out_dir / name for name in OUTPUT_FILES)
    lines = [json.dumps({k: _json_ready(v) for k, v in asdict(s).items()}, ensure_ascii=False) for s in scores]
    write_text(items_path, "".join(line + "\n" for line in lines))
    write_json(summary_path, {k: _json_ready(v) for k, v in asdict(summary).items()})
    _plot(plot_path, scores, summary)
    return [items_path, summary_path, plot_path]
