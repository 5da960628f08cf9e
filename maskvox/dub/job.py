"""The dubbing job: each cue said in the target language, in its speaker's voice, fitted to its slot.

Per cue, the prompt is the speaker's reference clip when the cue names one, else the cue's own
source audio with its source text (or, when that is shorter than a prompt may be, the speaker's
longest cue in the same recording). The models are asked for the slot's length clamped to
0.8-1.25x the duration model's natural length for the line, so nobody speaks absurdly fast or
slow; a pitch-preserving stretch (`stretch.fit_to_length`) then lands the line exactly on its slot.

Cues are generated in fixed groups of `batch_size` (sorted by slot length, so a group pads
little). The groups never depend on what an earlier run finished, so a resumed job generates
exactly what an uninterrupted one would. After each group, its wavs are written, then
`report.jsonl` is rewritten (both atomically): a crash or SIGKILL loses at most the group in
flight. A cue is done when its record says ok, its wav exists and its fingerprint (everything
that decides its audio) is unchanged; done cues are never redone unless `force` is set.

Outputs in the job folder:
    cues/<id>.wav           each cue at 24 kHz, exactly its slot long
    <stem>.dub.wav          per source recording: the dubbed track on its timeline (same rate,
                            same number of samples), mixed with the background stem if given
    <stem>.<lang>.srt       the target text, timed to where each dubbed line is voiced
    report.jsonl            one record per cue: id, status ok/failed/skipped, slot_s, natural_s,
                            target_s, final_s, stretch, error, ...
    summary.json            counts and throughput
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf

from ..audio import ACOUSTIC_RATE, read_audio, resample, to_mono, write_audio
from ..errors import UserError
from ..batch import read_records, write_records
from ..fileio import remove_stale_temporaries, write_json
from ..pipeline import CloneRequest
from ..prompt import FRAME_SECONDS, MIN_PROMPT_SECONDS, frame_levels_db, speech_frames
from ..quantize import QUANTIZATIONS
from .cues import Cue, CueError, write_retimed_srt
from .stretch import exact_length, fit_to_length

REPORT_FILE = "report.jsonl"
SUMMARY_FILE = "summary.json"
CUE_FOLDER = "cues"
LENGTH_CLAMP = (0.8, 1.25)  # the length asked of the models, x the line's natural length
ENGINES = ("local", "ray")
GPU_BATCH_SIZE = 8


@dataclass
class DubConfig:
    """How a dubbing job runs (`maskvox dub --config FILE`; flags override)."""

    model: str | None = None  # model folder or hub repo (default: the shipped demo)
    preset: str = "default"
    device: str = "auto"
    low_memory: bool = False  # each big model held for its stage only (Synthesizer.from_pretrained)
    quantize: str = "none"  # none or int8: T2S and S2A with int8 linear layers on the CPU (maskvox.quantize)
    # Cues generated together; None: 8 on a GPU, 1 on a CPU, where the models are compute-bound
    # and a batch only adds padding (recipes/dub/RESULTS.md).
    batch_size: int | None = None
    seed: int = 0  # each cue's seed is derived from this and its id
    force: bool = False  # redo cues already done
    background: str | None = None  # a stem (music, effects) mixed under the dubbed track
    background_gain_db: float = 0.0
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # an existing Ray cluster (default: a local instance)
    ray_actors: int = 2  # model replicas
    ray_cpus_per_actor: float = 1.0  # may be fractional
    ray_gpus_per_actor: float = 0.0  # may be fractional

    def __post_init__(self):
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"the batch size must be at least 1, got {self.batch_size}")
        if self.quantize not in QUANTIZATIONS:
            raise UserError(f"unknown quantization '{self.quantize}' (known: {', '.join(QUANTIZATIONS)})")
        if self.engine not in ENGINES:
            raise UserError(f"unknown engine '{self.engine}' (known: {', '.join(ENGINES)})")
        if self.ray_actors < 1 or self.ray_cpus_per_actor < 0 or self.ray_gpus_per_actor < 0:
            raise UserError("Ray needs at least one actor and non-negative CPUs and GPUs per actor")

    def group_size(self) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if self.engine == "ray":
            on_gpu = self.ray_gpus_per_actor > 0
        else:
            from ..tokenizer import pick_device

            on_gpu = pick_device(self.device).startswith("cuda")
        return GPU_BATCH_SIZE if on_gpu else 1

    def identity(self) -> dict:
        """The settings that decide a cue's audio (the engine, batch size and low memory do not).
        quantize is named only when used, so jobs begun before it existed still resume."""
        identity = {"model": str(self.model), "preset": self.preset, "seed": self.seed}
        if self.quantize != "none":
            identity["quantize"] = self.quantize
        return identity

    def load_synthesizer(self):
        """The models this job generates with, on the device it names."""
        from ..pipeline import Synthesizer
        from ..tokenizer import pick_device

        return Synthesizer.from_pretrained(self.model, preset=self.preset, device=pick_device(self.device),
                                           low_memory=self.low_memory, quantize=self.quantize)


# --- what each cue asks of the models ------------------------------------------------------------


@dataclass(frozen=True)
class PromptClip:
    """Where a cue's voice comes from: a stretch of a recording (or all of it) and its text."""

    audio: str
    start: float | None  # None: the whole file
    end: float | None
    text: str
    language: str

    def source(self) -> str | tuple[np.ndarray, int]:
        """What a CloneRequest takes: the file itself (the Synthesizer caches its tokens by
        path), or the samples of the stretch."""
        if self.start is None:
            return self.audio
        return read_slice(self.audio, self.start, self.end)


@dataclass(frozen=True)
class CueTask:
    """One cue, planned: plain data, so Ray can ship it to an actor."""

    id: str
    seed: int
    prompt: PromptClip
    text: str
    language: str
    slot_seconds: float

    @property
    def slot_samples(self) -> int:
        return round(self.slot_seconds * ACOUSTIC_RATE)

    def clone_request(self) -> CloneRequest:
        return CloneRequest(self.prompt.source(), self.prompt.text, self.text, self.language, self.prompt.language,
                            duration=self.slot_seconds, duration_clamp=LENGTH_CLAMP, seed=self.seed)

    def fingerprint(self, identity: dict) -> str:
        text = json.dumps({"task": asdict(self), **identity}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_slice(path: str | Path, start: float, end: float) -> tuple[np.ndarray, int]:
    """Seconds start..end of a recording, mono, without reading the rest (cut at the file's end)."""
    data, rate = read_audio(path, start, end)
    return to_mono(data), rate


def cue_seed(job_seed: int, cue_id: str) -> int:
    """A cue's seed: from the job's seed and the cue's id, so it never depends on the cue's order."""
    return int.from_bytes(hashlib.sha256(f"{job_seed}:{cue_id}".encode()).digest()[:4], "big") >> 1


def plan_tasks(cues: list[Cue], job_seed: int) -> list[CueTask]:
    longest = _longest_cue_per_speaker(cues)
    return [
        CueTask(cue.id, cue_seed(job_seed, cue.id), _prompt_clip(cue, longest.get((cue.speaker, cue.audio))),
                cue.target_text, cue.target_language, cue.slot_seconds)
        for cue in cues
    ]


def _prompt_clip(cue: Cue, longest: Cue | None) -> PromptClip:
    if cue.prompt is not None:
        return PromptClip(str(cue.prompt), None, None, cue.prompt_text, cue.source_language)
    # A cue shorter than a prompt may be borrows the voice from the speaker's longest cue.
    own = cue if cue.slot_seconds >= MIN_PROMPT_SECONDS or longest is None else longest
    return PromptClip(str(own.audio), own.start, own.end, own.source_text, own.source_language)


def _longest_cue_per_speaker(cues: list[Cue]) -> dict[tuple[str, Path], Cue]:
    longest: dict[tuple[str, Path], Cue] = {}
    for cue in cues:
        key = (cue.speaker, cue.audio)
        if key not in longest or cue.slot_seconds > longest[key].slot_seconds:
            longest[key] = cue
    return longest


def fixed_groups(tasks: list[CueTask], batch_size: int) -> list[list[CueTask]]:
    """Groups of similar slot lengths that depend only on the job, never on what is done."""
    ordered = sorted(tasks, key=lambda task: (task.slot_seconds, task.id))
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]


# --- generation (the local engine's, or inside each Ray actor) -----------------------------------


@dataclass
class CueOutput:
    id: str
    audio: np.ndarray | None  # (slot_samples,) float32 at 24 kHz; None when it failed
    error: str | None = None
    natural_s: float | None = None  # the duration model's length for the line
    target_s: float | None = None  # the length asked of the models (the slot, clamped)
    generated_s: float | None = None
    generate_s: float = 0.0  # this cue's share of the group's wall time


class CueGenerator:
    """Generates groups of cues with one Synthesizer."""

    def __init__(self, synthesizer):
        self.synthesizer = synthesizer

    def generate(self, tasks: list[CueTask]) -> list[CueOutput]:
        started = time.perf_counter()
        outputs: dict[str, CueOutput] = {}
        requests, ready = [], []
        for task in tasks:
            try:
                requests.append(task.clone_request())
                ready.append(task)
            except UserError as err:
                outputs[task.id] = CueOutput(task.id, None, str(err))
        results = self.synthesizer.clone_batch(requests, batch_size=max(1, len(requests)), return_errors=True)
        for task, result in zip(ready, results):
            outputs[task.id] = self._fitted(task, result)
        share = (time.perf_counter() - started) / max(1, len(tasks))
        for output in outputs.values():
            output.generate_s = share
        return [outputs[task.id] for task in tasks]

    @staticmethod
    def _fitted(task: CueTask, result) -> CueOutput:
        if isinstance(result, UserError):
            return CueOutput(task.id, None, str(result))
        try:
            audio = fit_to_length(result.audio, result.sample_rate, task.slot_samples)
        except UserError as err:
            return CueOutput(task.id, None, str(err))
        return CueOutput(task.id, audio, None, result.natural_seconds, result.target_seconds, result.seconds)


Engine = Callable[[list[list[CueTask]]], Iterable[list[CueOutput]]]  # groups in, outputs per group out


def make_engine(config: DubConfig) -> Engine:
    """The engine `config.engine` names, loading `config.model` (once per process or actor)."""
    if config.engine == "ray":
        from .ray_engine import ray_engine

        return ray_engine(config)

    return local_engine(config.load_synthesizer)


def local_engine(load_synthesizer: Callable[[], object]) -> Engine:
    """Groups generated one after the other in this process."""

    def run(groups: list[list[CueTask]]) -> Iterator[list[CueOutput]]:
        generator = CueGenerator(load_synthesizer())
        for group in groups:
            yield generator.generate(group)

    return run


# --- the job -----------------------------------------------------------------------------------


@dataclass
class DubSummary:
    cues: int
    ok: int
    failed: int
    skipped: int
    generated_this_run: int
    seconds: float
    cues_per_minute: float | None
    clamped: int  # cues whose slot was outside 0.8-1.25x their natural length
    tracks: list[str] = field(default_factory=list)
    subtitles: list[str] = field(default_factory=list)


def run_dub_job(
    cues: list[Cue],
    cue_errors: list[CueError],
    out_dir: str | Path,
    config: DubConfig,
    engine: Engine | None = None,
    progress: bool = True,
    report: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> DubSummary:
    """Dub every cue not already done (with `engine`, default: `make_engine(config)`), then
    rebuild the tracks, subtitles and summary."""
    from tqdm import tqdm

    started = time.perf_counter()
    out_dir = Path(out_dir)
    background = _read_background(config, cues)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir, cues)
    tasks = plan_tasks(cues, config.seed)
    identity = config.identity()
    records = read_records(out_dir / REPORT_FILE)
    for error in cue_errors:
        report(f"line {error.line}: {error.message}")
        records[_error_id(error)] = {"id": _error_id(error), "line": error.line, "status": "skipped",
                                     "error": error.message}
    cue_of = {cue.id: cue for cue in cues}
    todo_groups = [
        [task for task in group if config.force or not _done(records.get(task.id), task, identity, out_dir)]
        for group in fixed_groups(tasks, config.group_size())
    ]
    todo_groups = [group for group in todo_groups if group]
    generated = 0
    if todo_groups:
        engine = engine or make_engine(config)
        task_of = {task.id: task for group in todo_groups for task in group}
        total = sum(len(group) for group in todo_groups)
        with tqdm(total=total, desc="dub", unit="cue", disable=not progress) as bar:
            for outputs in engine(todo_groups):
                for output in outputs:
                    task = task_of[output.id]
                    records[output.id] = _record(cue_of[output.id], task, output, identity, out_dir)
                    if output.error:
                        report(f"cue {output.id}: {output.error}")
                _write_report(out_dir, records)
                generated += len(outputs)
                bar.update(len(outputs))
    _write_report(out_dir, records)
    tracks, subtitles = write_tracks(cues, records, out_dir, background, config.background_gain_db)
    return _summarize(cues, cue_errors, records, out_dir, generated, time.perf_counter() - started, tracks, subtitles)


def _remove_stale_temporaries(out_dir: Path, cues: list[Cue]) -> None:
    """What an earlier run killed mid-write left (the cue folder holds only the job's wavs)."""
    remove_stale_temporaries(out_dir / CUE_FOLDER)
    outputs = [name for names in output_names(cues).values() for name in names]
    remove_stale_temporaries(out_dir, [REPORT_FILE, SUMMARY_FILE, *outputs])


def _error_id(error: CueError) -> str:
    return error.id or f"line{error.line}"


def _done(record: dict | None, task: CueTask, identity: dict, out_dir: Path) -> bool:
    return (bool(record) and record.get("status") == "ok" and record.get("fingerprint") == task.fingerprint(identity)
            and (out_dir / CUE_FOLDER / f"{task.id}.wav").is_file())


def _record(cue: Cue, task: CueTask, output: CueOutput, identity: dict, out_dir: Path) -> dict:
    record = {
        "id": cue.id, "line": cue.line, "status": "failed", "speaker": cue.speaker, "audio": str(cue.audio),
        "start": cue.start, "end": cue.end, "slot_s": round(task.slot_seconds, 4),
        "natural_s": _rounded(output.natural_s), "target_s": _rounded(output.target_s), "final_s": None,
        "stretch": None, "seed": task.seed, "wav": None, "generate_s": round(output.generate_s, 3),
        "fingerprint": task.fingerprint(identity), "error": output.error,
    }
    if output.audio is not None:
        wav = f"{CUE_FOLDER}/{cue.id}.wav"
        write_audio(out_dir / wav, output.audio, ACOUSTIC_RATE)
        # stretch: final length / generated length (1 = none; > 1 lengthened).
        record.update(status="ok", wav=wav, final_s=round(output.audio.size / ACOUSTIC_RATE, 4),
                      stretch=round(output.audio.size / ACOUSTIC_RATE / output.generated_s, 4))
    return record


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _write_report(out_dir: Path, records: dict[str, dict]) -> None:
    write_records(out_dir / REPORT_FILE, sorted(records.values(), key=lambda record: (record.get("line", 0), record["id"])))


# --- the tracks and subtitles ------------------------------------------------------------------------


def _read_background(config: DubConfig, cues: list[Cue]) -> tuple[np.ndarray, int] | None:
    """The background stem, checked before any generation."""
    if config.background is None:
        return None
    if len({cue.audio for cue in cues}) > 1:
        raise UserError("--background goes with a job over one source recording; this one has several")
    data, rate = read_audio(config.background)
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


def _summarize(cues, cue_errors, records, out_dir, generated, seconds, tracks, subtitles) -> DubSummary:
    own = [records[cue.id] for cue in cues if cue.id in records]
    ok = [record for record in own if record["status"] == "ok"]
    # Unclamped, the length asked is the slot rounded to a 20 ms frame.
    clamped = sum(1 for record in ok if abs(record["target_s"] - record["slot_s"]) > 0.0101)
    summary = DubSummary(
        cues=len(cues) + len(cue_errors), ok=len(ok), failed=sum(1 for r in own if r["status"] == "failed"),
        skipped=len(cue_errors), generated_this_run=generated, seconds=round(seconds, 2),
        cues_per_minute=round(generated / seconds * 60, 2) if generated else None, clamped=clamped,
        tracks=tracks, subtitles=subtitles,
    )
    write_json(out_dir / SUMMARY_FILE, asdict(summary))
    return summary
