"""Score zero-shot voice conversion (`Synthesizer.convert`) on held-out voices: words kept, voice taken, length.

    OMP_NUM_THREADS=1 python -m recipes.convert.evaluate --manifest data/corpus_v3/heldout.jsonl \
        --model maskvox/assets/demo --pairs 40 --out exp/convert/eval --seed 0 --pitch-shifts 0 2 4

1. Pairs (`pairs.jsonl`), made with `random.Random(--seed)` from the manifest's utterances
   (JSONL: id, audio, text, language, speaker) in languages the ASR reads, of `--voices` if
   given: a source of SOURCE_SECONDS and a prompt of PROMPT_SECONDS said by another speaker,
   the source speakers taken in turn, each utterance a source at most once and never its own
   pair's prompt.
2. Conversions: `out/shift_<s>/<id>.wav` and `results.jsonl` per `--pitch-shifts` value
   (`source_pitch_shift`, semitones; 0 is plain conversion), pair n with seed `--seed` + n; a
   UserError fails that pair alone, and a stopped run resumes (maskvox.jobs).
3. Scores (`scores.jsonl`):
   - words: WER (`maskvox.evaluation.wer`) against the source's text of the named ASR's
     transcript (default whisper-base) of the conversion, and of the source recording itself;
     the summary gives their means and the ratio (the issue asks for <= 1.5x).
   - voice: resemblyzer cosine similarity of the conversion to the prompt recording and to the
     source recording (which says the same words, so this side is favoured, if anything);
     `prompt_wins` when the first is higher. Baseline: the source against the prompt (how far
     apart the two voices are before conversion).
   - length: the conversion has exactly round(source seconds x 24000) samples.
4. `results.json` (per pitch shift) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import collections
import functools
import math
import random
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from maskvox.errors import UserError
from maskvox.fileio import write_json
from maskvox.jobs import RESULTS_FILE, JobRecords, write_records

from ..common.cli import exit_status, positive
from ..common.manifest import Utterance, read_manifest
from ..edit.evaluate import check_setup

SOURCE_SECONDS = (2.0, 12.0)
PROMPT_SECONDS = (3.0, 12.0)
SCORING_RATE = 16000  # Whisper and resemblyzer both take 16 kHz
OUTPUT_RATE = 24000
SIMILARITY_TARGET = 0.75
WER_RATIO_TARGET = 1.5
PROMPT_WINS_TARGET = 0.9


@dataclass
class Pair:
    id: str
    source: str  # audio path
    source_text: str
    source_speaker: str
    language: str
    prompt: str
    prompt_text: str
    prompt_speaker: str
    seed: int


def seconds_of(item: Utterance) -> float:
    import soundfile as sf

    return item.duration if item.duration > 0 else sf.info(item.audio).duration


def make_pairs(items: list[Utterance], count: int, seed: int, languages: tuple[str, ...] | None = None,
               voices: list[str] | None = None) -> list[Pair]:
    """`count` pairs (see the module's docstring); a UserError when the manifest has too few."""
    rng = random.Random(seed)
    usable = [item for item in sorted(items, key=lambda item: item.id)
              if item.text.strip() and (languages is None or item.language in languages)
              and (not voices or item.speaker in voices)]
    lengths = {item.id: seconds_of(item) for item in usable}
    sources: dict[str, collections.deque] = {}
    for item in usable:
        if SOURCE_SECONDS[0] <= lengths[item.id] <= SOURCE_SECONDS[1]:
            sources.setdefault(item.speaker, []).append(item)
    prompts = [item for item in usable if PROMPT_SECONDS[0] <= lengths[item.id] <= PROMPT_SECONDS[1]]
    if len({item.speaker for item in prompts} | set(sources)) < 2:
        raise UserError("voice conversion pairs need utterances of at least two speakers in the manifest")
    for speaker in sources:
        rng.shuffle(sources[speaker])
        sources[speaker] = collections.deque(sources[speaker])
    speakers = sorted(sources)
    pairs = []
    for number in range(count):
        speaker = next((speakers[(number + k) % len(speakers)] for k in range(len(speakers))
                        if sources[speakers[(number + k) % len(speakers)]]), None)
        others = [item for item in prompts if item.speaker != speaker]
        if speaker is None or not others:
            raise UserError(f"the manifest has too few usable utterances for {count} pairs; lower --pairs")
        source, prompt = sources[speaker].popleft(), rng.choice(others)
        pairs.append(Pair(f"p{number:03d}_{source.id}", source.audio, source.text, source.speaker, source.language,
                          prompt.audio, prompt.text, prompt.speaker, seed + number))
    return pairs


# -- 2. converting ---------------------------------------------------------------------------------

def run_pairs(pairs: list[Pair], shift: float, load_synthesizer, folder: Path, quiet: bool) -> dict[str, dict]:
    """Each pair's record in <folder>/results.jsonl, converting the ones not finished (a failed
    pair would fail again with the same seed)."""
    with JobRecords(folder / RESULTS_FILE, "wav", [f"{pair.id}.wav" for pair in pairs]) as records:
        failed = {pair.id for pair in pairs if (records.get(pair.id) or {}).get("status") == "failed"}
        todo = [pair for pair in pairs if not (records.done(pair.id) or pair.id in failed)]
        for pair in tqdm(todo, desc=f"convert (shift {shift:g})", disable=quiet):
            records[pair.id] = convert_pair(load_synthesizer(), pair, shift, folder)
        records.save([pair.id for pair in pairs])
    return {pair.id: records.get(pair.id) for pair in pairs}


def convert_pair(synthesizer, pair: Pair, shift: float, folder: Path) -> dict:
    import soundfile as sf

    from maskvox.audio import write_audio

    info = sf.info(pair.source)
    record = {"id": pair.id, "seed": pair.seed, "source_pitch_shift": shift,
              "expected_samples": round(info.frames * OUTPUT_RATE / info.samplerate)}
    try:
        result = synthesizer.convert(pair.source, pair.prompt, pair.prompt_text, pair.language, seed=pair.seed,
                                     source_pitch_shift=shift)
    except UserError as err:
        return {**record, "status": "failed", "error": str(err)}
    write_audio(folder / f"{pair.id}.wav", result.audio, result.sample_rate)
    return {**record, "status": "ok", "wav": f"{pair.id}.wav", **result.as_dict()}


# -- 3. scores -------------------------------------------------------------------------------------

class Scorer:
    """The ASR and the speaker encoder, with the transcripts and embeddings of recordings used
    by several pairs kept."""

    def __init__(self, asr: str, device: str):
        from maskvox.evaluation.asr import get_asr_backend
        from maskvox.evaluation.speaker import get_speaker_backend

        self.transcriber = get_asr_backend(asr).load(device)
        self.encoder = get_speaker_backend("resemblyzer").load(device, None)

    @functools.cache
    def audio(self, path: str):
        from maskvox.audio import load_audio

        return load_audio(path, SCORING_RATE)

    @functools.cache
    def heard(self, path: str, language: str) -> str:
        return self.transcriber.transcribe(self.audio(path), language)

    @functools.cache
    def embedding(self, path: str):
        return self.encoder.embed(self.audio(path))

    def similarity(self, a: str, b: str) -> float | None:
        from maskvox.evaluation.speaker import cosine_similarity

        value = cosine_similarity(self.embedding(a), self.embedding(b))
        return value if math.isfinite(value) else None  # a silent output embeds to zeros


def wer(text: str, heard: str, language: str) -> float:
    from maskvox.evaluation.wer import normalize_for_wer, word_errors

    return word_errors(normalize_for_wer(text, language), normalize_for_wer(heard, language)).wer


def score_pair(pair: Pair, record: dict, folder: Path, scorer: Scorer) -> dict:
    score = {"id": pair.id, "status": record["status"], "source_speaker": pair.source_speaker,
             "prompt_speaker": pair.prompt_speaker, "source_asr": scorer.heard(pair.source, pair.language),
             "baseline_similarity": scorer.similarity(pair.source, pair.prompt)}
    score["wer_source"] = wer(pair.source_text, score["source_asr"], pair.language)
    if record["status"] != "ok":
        return score
    output = str(folder / record["wav"])
    to_prompt, to_source = scorer.similarity(output, pair.prompt), scorer.similarity(output, pair.source)
    heard = scorer.heard(output, pair.language)
    return {**score, "output_asr": heard, "wer_output": wer(pair.source_text, heard, pair.language),
            "similarity_prompt": to_prompt, "similarity_source": to_source,
            "prompt_wins": None if None in (to_prompt, to_source) else to_prompt > to_source,
            "length_exact": record["samples"] == record["expected_samples"]}


# -- 4. summary ------------------------------------------------------------------------------------

def _mean(values) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.fmean(values) if values else None


def _share(flags) -> float | None:
    flags = [bool(flag) for flag in flags if flag is not None]
    return sum(flags) / len(flags) if flags else None


def summarize(scores: list[dict]) -> dict:
    done = [s for s in scores if s["status"] == "ok"]
    wer_output, wer_source = _mean(s["wer_output"] for s in done), _mean(s["wer_source"] for s in done)
    return {
        "n": len(scores), "failed": len(scores) - len(done),
        "wer_output_mean": wer_output, "wer_source_mean": wer_source,
        # (a source the ASR hears perfectly leaves no ratio)
        "wer_ratio": wer_output / wer_source if wer_output is not None and wer_source else None,
        "similarity_prompt_mean": _mean(s["similarity_prompt"] for s in done),
        "similarity_source_mean": _mean(s["similarity_source"] for s in done),
        "baseline_similarity_mean": _mean(s["baseline_similarity"] for s in scores),
        "similarity_prompt_at_target": _share(None if s["similarity_prompt"] is None
                                              else s["similarity_prompt"] >= SIMILARITY_TARGET for s in done),
        "prompt_wins": _share(s["prompt_wins"] for s in done),
        "length_exact": _share(s["length_exact"] for s in done),
    }


def _number(value, form: str = ".3f") -> str:
    return "–" if value is None else format(value, form)


def format_table(summaries: dict[str, dict]) -> str:
    lines = ["| pitch shift | n | failed | WER conversion | WER source | ratio (≤ 1.5) | sim. to prompt | "
             "sim. to source | source vs prompt | sim. to prompt ≥ 0.75 | prompt > source (≥ 90 %) | length exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for shift, s in summaries.items():
        percent = lambda value: "–" if value is None else f"{100 * value:.0f} %"  # noqa: E731
        lines.append(f"| {shift} | {s['n']} | {s['failed']} | {percent(s['wer_output_mean'])} | "
                     f"{percent(s['wer_source_mean'])} | {_number(s['wer_ratio'], '.2f')} | "
                     f"{_number(s['similarity_prompt_mean'])} | {_number(s['similarity_source_mean'])} | "
                     f"{_number(s['baseline_similarity_mean'])} | {percent(s['similarity_prompt_at_target'])} | "
                     f"{percent(s['prompt_wins'])} | {percent(s['length_exact'])} |")
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------------------------

def evaluate(args) -> dict:
    from maskvox.convert import check_pitch_shift
    from maskvox.evaluation.asr import get_asr_backend
    from maskvox.pipeline import Synthesizer

    out = Path(args.out)
    for shift in args.pitch_shifts:
        check_pitch_shift(shift)
    backend = get_asr_backend(args.asr)
    pairs = make_pairs(read_manifest(args.manifest), args.pairs, args.seed, backend.languages, args.voices)
    setup = {"manifest": str(Path(args.manifest).resolve()), "model": args.model, "pairs": args.pairs,
             "seed": args.seed, "preset": args.preset, "voices": args.voices}
    check_setup(out, setup)  # a run resumes only with the settings that made its conversions
    write_records(out / "pairs.jsonl", [asdict(pair) for pair in pairs])
    load_synthesizer = functools.cache(
        lambda: Synthesizer.from_pretrained(args.model, preset=args.preset, device=args.device))
    records = {shift: run_pairs(pairs, shift, load_synthesizer, out / f"shift_{shift:g}", args.quiet)
               for shift in args.pitch_shifts}
    scorer = Scorer(args.asr, args.device)
    summaries, all_scores = {}, []
    for shift, by_id in records.items():
        folder = out / f"shift_{shift:g}"
        scores = [score_pair(pair, by_id[pair.id], folder, scorer)
                  for pair in tqdm(pairs, desc=f"scores (shift {shift:g})", disable=args.quiet)]
        all_scores += [{"source_pitch_shift": shift, **score} for score in scores]
        summaries[f"{shift:g}"] = summarize(scores)
    write_records(out / "scores.jsonl", all_scores)
    scoring = {"asr": args.asr, "speaker": "resemblyzer", "similarity_target": SIMILARITY_TARGET,
               "wer_ratio_target": WER_RATIO_TARGET, "prompt_wins_target": PROMPT_WINS_TARGET}
    results = {"setup": setup, "scoring": scoring, "summary": summaries}
    write_json(out / "results.json", results)
    print(format_table(summaries))
    return results


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr  # the same judge as `maskvox eval`

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest of held-out utterances")
    parser.add_argument("--model", required=True, help="model folder (official layout)")
    parser.add_argument("--pairs", type=positive, default=40, help="source/prompt pairs (default 40)")
    parser.add_argument("--voices", nargs="+", help="only these speakers of the manifest (default: all)")
    parser.add_argument("--pitch-shifts", nargs="+", type=float, default=[0.0], metavar="SEMITONES",
                        help="source pitch shifts to compare (default: 0, plain conversion)")
    parser.add_argument("--out", required=True, help="output folder (a stopped run resumes in it)")
    parser.add_argument("--seed", type=int, default=0, help="picks the pairs; pair n is converted with seed + n")
    parser.add_argument("--asr", default=default_asr(),
                        help="ASR judge (default: whisper-base when installed, else whisper-tiny.en)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return exit_status(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
