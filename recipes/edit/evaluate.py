"""Score speech editing (`Synthesizer.edit`) on held-out voices: edited words, voice, timing.

    OMP_NUM_THREADS=1 python -m recipes.edit.evaluate --manifest data/corpus_v2/heldout.jsonl \
        --model maskvox/assets/demo --voices flite_slt_d100 espeakng_en_us_m3_s175_p50 \
        --per-type 20 --out exp/edit/eval --seed 0

1. Edits (`edits.jsonl`), made with `random.Random(--seed)` from the English utterances of
   the voices that last 2-8 s and have at least 5 words: `--per-type` substitutions,
   insertions and deletions, the voices taken in turn and each utterance edited once. Each
   edit changes one word and never the first or the last: a substitution replaces a content
   word, an insertion puts a word before a content word, a deletion removes a content word
   that occurs once in the sentence. New words come from NEW_WORDS (common, plainly spelt
   English content words of 1-3 syllables) and never occur in the sentence already.
2. `out/<id>.wav` per edit and its record in `out/results.jsonl` (spans, timings, or the error
   of a failed edit), seed `--seed` + the edit's number; a UserError fails that edit alone.
   Then, as a control, `regenerated/<id>.wav` and `regenerated/results.jsonl`: each
   substitution's and deletion's input seconds regenerated with the original text (`span=` by
   hand, nothing changed), which tells a model that cannot say a word from an edit that
   misplaces it. Edits already done or failed are kept (maskvox.jobs), so a stopped run resumes.
3. Scores (`scores.jsonl`), with Whisper tiny.en transcripts normalised as for the WER
   (`maskvox.evaluation.wer.normalize_for_wer`):
   - edited word: a substitution or insertion scores when the new word is in the output's
     transcript. A deletion scores when the deleted word occurs fewer times in the output's
     transcript than in the original recording's; when the ASR does not hear the word in the
     original either, the deletion cannot be scored and is left out of its accuracy.
     Baseline: how often the ASR finds, in the original recording, the word the edit is
     about (the replaced or deleted word; for an insertion the word it goes before), i.e.
     how well the ASR hears an unchanged word at that place in that voice. Control: the
     old word heard in the regenerated recording. Floor: the new word heard in the original.
   - voice: resemblyzer cosine similarity between the edited region of the output (the
     spans' output seconds, widened to at least MIN_REGION_SECONDS around their centre,
     since a word is too short for a speaker embedding) and the rest of the output; also
     with at least LONG_REGION_SECONDS (one resemblyzer window, no zero padding).
     Baseline: the same with a region of the same length around the edit's input seconds
     in the original recording against the rest of the original.
   - timing: the wall time of each edit and the change of the recording's length.
4. `results.json` (per type and overall) and a markdown table on stdout.

`--rough-spans` gives each edit's region by hand, guessed from the characters before the
word, for trying the recipe on a model without an aligner; its word scores mean little.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from maskvox.errors import UserError
from maskvox.fileio import write_json
from maskvox.jobs import RESULTS_FILE, JobRecords, write_records

from ..common.cli import exit_status, positive
from ..common.manifest import Utterance, read_manifest

SHORTEST, LONGEST = 2.0, 8.0  # seconds of the recordings edited
MIN_WORDS = 5
EDIT_TYPES = ("substitution", "insertion", "deletion")
REGENERATED_TYPES = ("substitution", "deletion")  # an insertion's input seconds hold no word to say again
MIN_REGION_SECONDS = 1.0  # shortest region the speaker similarity is measured on
LONG_REGION_SECONDS = 1.6  # reported beside it: one resemblyzer window, so no zero padding
SIMILARITY_TARGET = 0.75
SCORING_RATE = 16000  # Whisper and resemblyzer both take 16 kHz

# Common English content words, 1-3 syllables, each with one obvious spelling (no homophones
# such as blue/blew), so that an ASR that hears the word writes it this way.
NEW_WORDS = (
    "garden", "river", "window", "morning", "yellow", "purple", "orange", "music", "paper", "table",
    "water", "doctor", "money", "coffee", "kitchen", "mountain", "winter", "summer", "happy", "simple",
    "market", "village", "island", "forest", "picture", "family", "animal", "number", "holiday", "camera",
    "bottle", "pocket", "rabbit", "monkey", "button", "silver", "golden", "teacher", "basket", "pencil",
    "letter", "dinner", "sister", "brother", "planet", "ocean", "station", "chicken", "lemon", "tiger",
    "candle", "jacket", "blanket", "funny", "green", "black", "house", "dog", "cat", "bread",
)

# Words that carry grammar rather than content: never chosen as the word to replace, delete
# or insert before (deleting "the" tests little, and the ASR often drops it anyway).
FUNCTION_WORDS = frozenset("""
a an the and or but nor so yet if then than that this these those there here what which who whom
whose when where why how all any both each few more most other some such no not only own same too
very can will just should would could may might must shall is are was were be been being am have
has had having do does did doing i me my we our you your he him his she her it its they them their
of at by for with about against between into through during before after above below to from up
down in out on off over under again further once as until while also because its it's one two
""".split())


@dataclass
class EditCase:
    id: str
    source: str  # the utterance edited
    wav: str
    text: str
    new_text: str
    type: str
    speaker: str
    language: str
    word_index: int  # in split_words(text): the word replaced or deleted, or the one inserted before
    old_word: str  # normalised; "" for an insertion
    new_word: str  # normalised; "" for a deletion
    next_word: str = ""  # for an insertion: the word it goes before (its baseline)


# -- 1. edits --------------------------------------------------------------------------------------

def usable_utterances(items: list[Utterance], voices: list[str]) -> dict[str, list[Utterance]]:
    """Each voice's English utterances of SHORTEST-LONGEST s with at least MIN_WORDS words, by id."""
    from maskvox.aligner import split_words, word_key

    by_voice: dict[str, list[Utterance]] = {voice: [] for voice in voices}
    for item in sorted(items, key=lambda item: item.id):
        spoken = [w for w in split_words(item.text) if word_key(w)]
        if (item.speaker in by_voice and item.language == "en" and SHORTEST <= item.duration <= LONGEST
                and len(spoken) >= MIN_WORDS):
            by_voice[item.speaker].append(item)
    return by_voice


def is_content_word(token: str) -> bool:
    """Plain letters only (no attached punctuation or digits, so the ASR check is exact),
    at least 3 of them, and not a function word."""
    return token.isascii() and token.isalpha() and len(token) >= 3 and token.lower() not in FUNCTION_WORDS


def make_edit(item: Utterance, edit_type: str, number: int, rng: random.Random) -> EditCase | None:
    """One edit of `edit_type` on `item`, or None when the sentence has no place for it."""
    from maskvox.aligner import split_words, word_key

    tokens = split_words(item.text)
    keys = [word_key(token) for token in tokens]
    spoken = [i for i, key in enumerate(keys) if key]
    inner = spoken[1:-1]  # neither the first nor the last spoken word
    if edit_type == "insertion":
        places = [i for i in spoken[1:] if is_content_word(tokens[i])]  # inserted before word i
    elif edit_type == "substitution":
        places = [i for i in inner if is_content_word(tokens[i])]
    else:
        places = [i for i in inner if is_content_word(tokens[i]) and keys.count(keys[i]) == 1]
    fresh = [word for word in NEW_WORDS if word not in keys]
    if not places:
        return None
    index = rng.choice(places)
    new_word = rng.choice(fresh) if edit_type != "deletion" else ""
    old_word = keys[index] if edit_type != "insertion" else ""
    new_tokens = list(tokens)
    if edit_type == "substitution":
        new_tokens[index] = new_word
    elif edit_type == "insertion":
        new_tokens.insert(index, new_word)
    else:
        del new_tokens[index]
    return EditCase(
        id=f"{edit_type[:3]}{number:02d}_{item.id}", source=item.id, wav=str(Path(item.audio).resolve()),
        text=item.text, new_text=" ".join(new_tokens), type=edit_type, speaker=item.speaker,
        language=item.language, word_index=index, old_word=old_word, new_word=new_word,
        next_word=keys[index] if edit_type == "insertion" else "",
    )


def make_edits(items: list[Utterance], voices: list[str], per_type: int, seed: int) -> list[EditCase]:
    """`per_type` edits of each type, voices in turn, each utterance edited at most once."""
    rng = random.Random(seed)
    queues = {}
    for voice, usable in usable_utterances(items, voices).items():
        if not usable:
            raise UserError(f"voice {voice} has no English utterance of {SHORTEST:g}-{LONGEST:g} s "
                            f"with {MIN_WORDS} words or more in the manifest")
        rng.shuffle(usable)
        queues[voice] = collections.deque(usable)
    cases = []
    for edit_type in EDIT_TYPES:
        for number in range(per_type):
            voice = voices[number % len(voices)]
            case = None
            while case is None:
                if not queues[voice]:
                    raise UserError(f"voice {voice} has too few usable utterances for {per_type} edits per type; "
                                    "lower --per-type or add voices")
                case = make_edit(queues[voice].popleft(), edit_type, number, rng)
            cases.append(case)
    return cases


def rough_span(case: EditCase, seconds: float) -> tuple[float, float]:
    """The edited word's seconds guessed from its characters' share of the recording (0.15 s
    of silence assumed at each end): a stand-in for the aligner, for trying the recipe."""
    from maskvox.aligner import split_words

    tokens = split_words(case.text)
    margin = 0.15
    weights = [len(token) + 1 for token in tokens]  # +1: the space after each word
    per_char = (seconds - 2 * margin) / sum(weights)
    start = margin + sum(weights[: case.word_index]) * per_char
    if case.type == "insertion":
        return max(0.0, start - 0.15), start + 0.15
    return max(0.0, start - 0.05), min(seconds, start + weights[case.word_index] * per_char + 0.05)


# -- 2. editing ------------------------------------------------------------------------------------

@dataclass
class EditJob:
    """One call of `Synthesizer.edit`."""

    id: str
    wav: str
    text: str
    new_text: str
    language: str
    span: tuple[float, float] | None
    seed: int


def edit_jobs(cases: list[EditCase], args) -> list[EditJob]:
    """The edits, edit n with seed --seed + n; regions found by the aligner unless --rough-spans."""
    import soundfile as sf

    def span(case):
        return rough_span(case, sf.info(case.wav).duration) if args.rough_spans else None

    return [EditJob(case.id, case.wav, case.text, case.new_text, case.language, span(case), args.seed + number)
            for number, case in enumerate(cases)]


def regeneration_jobs(cases: list[EditCase], records: dict[str, dict], jobs: list[EditJob]) -> list[EditJob]:
    """The control for substitutions and deletions: the same input seconds regenerated with
    the original text (nothing changed), so the old word should still be heard. It tells a
    model that cannot say a word from an edit that misplaces it."""
    seeds = {job.id: job.seed for job in jobs}
    return [EditJob(case.id, case.wav, case.text, case.text, case.language, edited_seconds(records[case.id], "input"),
                    seeds[case.id])
            for case in cases if case.type in REGENERATED_TYPES and records[case.id]["status"] == "ok"]


def run_jobs(jobs: list[EditJob], load_synthesizer, folder: Path, desc: str, quiet: bool) -> dict[str, dict]:
    """Each job's record (in <folder>/results.jsonl, appended after each job), running the ones not
    finished: ok with its wav, or failed (with the same seed it would fail again)."""
    with JobRecords(folder / RESULTS_FILE, "wav", [f"{job.id}.wav" for job in jobs]) as records:
        failed = {job.id for job in jobs if (records.get(job.id) or {}).get("status") == "failed"}
        todo = [job for job in jobs if not (records.done(job.id) or job.id in failed)]
        for job in tqdm(todo, desc=desc, disable=quiet):
            records[job.id] = run_job(load_synthesizer(), job, folder)
        records.save([job.id for job in jobs])
    return {job.id: records.get(job.id) for job in jobs}


def run_job(synthesizer, job: EditJob, folder: Path) -> dict:
    """Edit and write the wav; the record. A UserError fails this job only."""
    import soundfile as sf

    from maskvox.audio import write_audio
    from maskvox.edit_batch import output_subtype

    record = {"id": job.id, "seed": job.seed, "input_seconds": round(sf.info(job.wav).duration, 4),
              "span_given": None if job.span is None else [round(v, 4) for v in job.span]}
    clock = time.perf_counter()
    try:
        result = synthesizer.edit(job.wav, job.text, job.new_text, job.language, span=job.span, seed=job.seed)
    except UserError as err:
        record.update(status="failed", error=str(err))
    else:
        wav = folder / f"{job.id}.wav"
        write_audio(wav, result.audio, result.sample_rate, output_subtype(wav, result.subtype))
        record.update(status="ok", wav=wav.name, edit_seconds=round(time.perf_counter() - clock, 3), **result.as_dict())
    return record


# -- 3. scores -----------------------------------------------------------------------------------

def transcript_tokens(text: str) -> list[str]:
    from maskvox.evaluation.wer import normalize_for_wer

    return normalize_for_wer(text, "en").split()


def word_scores(case: EditCase, original_asr: str, output_asr: str | None) -> dict:
    """The edited-word check and its baseline on the original recording (see the module's
    docstring). `hit` is None when the output is missing or a deletion cannot be scored."""
    original, output = transcript_tokens(original_asr), transcript_tokens(output_asr or "")
    if case.type == "deletion":
        before = original.count(case.old_word)
        hit = None if output_asr is None or before == 0 else output.count(case.old_word) < before
        return {"hit": hit, "baseline_hit": before > 0, "chance_hit": None}
    unchanged = case.old_word if case.type == "substitution" else case.next_word
    return {"hit": None if output_asr is None else case.new_word in output,
            "baseline_hit": unchanged in original,
            # the new word heard in the recording that never said it: the check's floor
            "chance_hit": case.new_word in original}


def centred_region(start: float, end: float, total: float, length: float) -> tuple[float, float]:
    """`length` seconds (at most `total`) centred on [start, end), moved inside [0, total)."""
    length = min(length, total)
    low = (start + end) / 2 - length / 2
    low = min(max(low, 0.0), total - length)
    return low, low + length


def region_similarity(encoder, wav_16k, region: tuple[float, float]) -> float | None:
    """Cosine between the speaker embeddings of the region and of the rest of the audio."""
    import numpy as np

    from maskvox.evaluation.speaker import cosine_similarity

    a, b = (round(seconds * SCORING_RATE) for seconds in region)
    rest = np.concatenate([wav_16k[:a], wav_16k[b:]])
    if b - a == 0 or rest.size == 0:
        return None
    similarity = cosine_similarity(encoder.embed(wav_16k[a:b]), encoder.embed(rest))
    return similarity if math.isfinite(similarity) else None  # a silent piece embeds to zeros


def edited_seconds(record: dict, side: str) -> tuple[float, float]:
    """From the first span's start to the last one's end, on the input or the output side."""
    spans = record["spans"]
    return spans[0][side][0], spans[-1][side][1]


def voice_scores(encoder, record: dict, original, output, min_seconds: float, suffix: str) -> dict:
    """Similarity of the output's edited region (at least `min_seconds`) to the rest of the
    output, and of a region as long around the edit's input seconds to the rest of the original."""
    out_start, out_end = edited_seconds(record, "output")
    length = max(out_end - out_start, min_seconds)
    out_region = centred_region(out_start, out_end, output.size / SCORING_RATE, length)
    in_region = centred_region(*edited_seconds(record, "input"), original.size / SCORING_RATE,
                               out_region[1] - out_region[0])
    return {f"region_seconds{suffix}": round(out_region[1] - out_region[0], 3),
            f"similarity{suffix}": region_similarity(encoder, output, out_region),
            f"baseline_similarity{suffix}": region_similarity(encoder, original, in_region)}


def score_all(cases: list[EditCase], records: dict[str, dict], regenerated: dict[str, dict], out: Path,
              args) -> list[dict]:
    from maskvox.evaluation.asr import get_asr_backend
    from maskvox.evaluation.speaker import get_speaker_backend

    backend = get_asr_backend(args.asr)
    backend.check_languages({"en"})
    transcriber = backend.load(args.device)
    encoder = get_speaker_backend("resemblyzer").load(args.device, None)
    original_asr: dict[str, str] = {}  # by utterance
    return [score_one(case, records[case.id], regenerated.get(case.id), out, transcriber, encoder, original_asr)
            for case in tqdm(cases, desc="scores", disable=args.quiet)]


def score_one(case: EditCase, record: dict, regenerated: dict | None, out: Path, transcriber, encoder,
              original_asr: dict[str, str]) -> dict:
    from maskvox.audio import load_audio
    from maskvox.evaluation.wer import normalize_for_wer, word_errors

    def wer(text: str, heard: str) -> float:
        return word_errors(normalize_for_wer(text, "en"), normalize_for_wer(heard, "en")).wer

    original = load_audio(case.wav, SCORING_RATE)
    if case.source not in original_asr:
        original_asr[case.source] = transcriber.transcribe(original, "en")
    score = {"id": case.id, "type": case.type, "speaker": case.speaker, "status": record["status"],
             "original_asr": original_asr[case.source], "wer_original": wer(case.text, original_asr[case.source])}
    output_asr = None
    if record["status"] == "ok":
        output = load_audio(out / "out" / record["wav"], SCORING_RATE)
        output_asr = transcriber.transcribe(output, "en")
        score.update(
            output_asr=output_asr, wer_output=wer(case.new_text, output_asr),
            edit_seconds=record["edit_seconds"], length_change=record["seconds"] - record["input_seconds"],
            **voice_scores(encoder, record, original, output, MIN_REGION_SECONDS, ""),
            **voice_scores(encoder, record, original, output, LONG_REGION_SECONDS, "_long"),
        )
    score.update(word_scores(case, original_asr[case.source], output_asr))
    score["regenerated_hit"] = None
    if regenerated is not None and regenerated["status"] == "ok":
        heard = transcriber.transcribe(load_audio(out / "regenerated" / regenerated["wav"], SCORING_RATE), "en")
        score.update(regenerated_asr=heard, regenerated_hit=case.old_word in transcript_tokens(heard))
    return score


# -- 4. summary ------------------------------------------------------------------------------------

def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _fraction(flags) -> dict:
    """{hits, of, rate} over the flags that are not None."""
    flags = [bool(flag) for flag in flags if flag is not None]
    return {"hits": sum(flags), "of": len(flags), "rate": sum(flags) / len(flags) if flags else None}


def similarity_summary(done: list[dict], suffix: str) -> dict:
    at_target = lambda key: _fraction(  # noqa: E731
        None if s[key] is None else s[key] >= SIMILARITY_TARGET for s in done)
    return {f"similarity_mean{suffix}": _mean(s[f"similarity{suffix}"] for s in done),
            f"baseline_similarity_mean{suffix}": _mean(s[f"baseline_similarity{suffix}"] for s in done),
            f"similarity_at_target{suffix}": at_target(f"similarity{suffix}"),
            f"baseline_similarity_at_target{suffix}": at_target(f"baseline_similarity{suffix}"),
            f"region_seconds_mean{suffix}": _mean(s[f"region_seconds{suffix}"] for s in done)}


def summarize(scores: list[dict]) -> dict:
    groups = {edit_type: [s for s in scores if s["type"] == edit_type] for edit_type in EDIT_TYPES}
    groups["all"] = scores
    summary = {}
    for name, group in groups.items():
        done = [s for s in group if s["status"] == "ok"]
        summary[name] = {
            "n": len(group), "failed": len(group) - len(done),
            "word_accuracy": _fraction(s["hit"] for s in group),
            "baseline_word_accuracy": _fraction(s["baseline_hit"] for s in group),
            "chance_new_word_in_original": _fraction(s["chance_hit"] for s in group),
            "regenerated_word_accuracy": _fraction(s["regenerated_hit"] for s in group),
            **similarity_summary(done, ""),
            **similarity_summary(done, "_long"),
            "edit_seconds_mean": _mean(s["edit_seconds"] for s in done),
            "length_change_mean": _mean(s["length_change"] for s in done),
            "wer_output_mean": _mean(s["wer_output"] for s in done),
            "wer_original_mean": _mean(s["wer_original"] for s in group),
        }
    return summary


def _percent(fraction: dict) -> str:
    return "–" if fraction["rate"] is None else f"{100 * fraction['rate']:.0f} % ({fraction['hits']}/{fraction['of']})"


def _number(value: float | None, form: str = ".3f") -> str:
    return "–" if value is None else format(value, form)


def _wer(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def format_table(summary: dict) -> str:
    """Three markdown tables: the edited words, the voice, the timing."""
    words = ["| edit | n | failed | edited word right (ASR) | baseline: unchanged word heard in original | "
             "control: same text regenerated, word heard | floor: new word heard in original | "
             "WER output vs new text | WER original vs its text |", "|---|---|---|---|---|---|---|---|---|"]
    voice = [f"| edit | similarity edit vs rest (≥ {MIN_REGION_SECONDS:g} s) | baseline: original | ≥ 0.75 edit | "
             f"≥ 0.75 baseline | similarity (≥ {LONG_REGION_SECONDS:g} s) | baseline | ≥ 0.75 edit | ≥ 0.75 baseline |",
             "|---|---|---|---|---|---|---|---|---|"]
    timing = ["| edit | edit time | length change |", "|---|---|---|"]
    for name, s in summary.items():
        words.append(f"| {name} | {s['n']} | {s['failed']} | {_percent(s['word_accuracy'])} | "
                     f"{_percent(s['baseline_word_accuracy'])} | {_percent(s['regenerated_word_accuracy'])} | "
                     f"{_percent(s['chance_new_word_in_original'])} | {_wer(s['wer_output_mean'])} | "
                     f"{_wer(s['wer_original_mean'])} |")
        voice.append(f"| {name} | " + " | ".join(
            f"{_number(s[f'similarity_mean{x}'])} | {_number(s[f'baseline_similarity_mean{x}'])} | "
            f"{_percent(s[f'similarity_at_target{x}'])} | {_percent(s[f'baseline_similarity_at_target{x}'])}"
            for x in ("", "_long")) + " |")
        timing.append(f"| {name} | {_number(s['edit_seconds_mean'], '.1f')} s | "
                      f"{_number(s['length_change_mean'], '+.2f')} s |")
    return "\n\n".join("\n".join(table) for table in (words, voice, timing))


# -- the run ---------------------------------------------------------------------------------------

def check_setup(out: Path, setup: dict) -> None:
    """A run resumes only with the settings that made its edits."""
    path = out / "setup.json"
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in setup if before.get(key) != setup[key])
        if changed:
            raise UserError(f"{out} holds a run made with other settings ({', '.join(changed)}); use another --out")
    write_json(path, setup)


def check_model(model: str, rough_spans: bool) -> None:
    """Fail before any work when the model cannot find the edited words itself."""
    from maskvox.checkpoint import load_model_config

    if not rough_spans and load_model_config(model).aligner is None:
        raise UserError(f"the model {model} has no aligner to find the edited words "
                        "(train one with `python -m recipes.aligner.train`), or try the recipe with --rough-spans")


def evaluate(args) -> dict:
    from maskvox.pipeline import Synthesizer

    out = Path(args.out)
    items = read_manifest(args.manifest)
    known = {item.speaker for item in items}
    unknown = [voice for voice in args.voices if voice not in known]
    if unknown:
        raise UserError(f"voice(s) {', '.join(unknown)} not in {args.manifest}")
    cases = make_edits(items, args.voices, args.per_type, args.seed)
    check_model(args.model, args.rough_spans)
    # What makes the edits and their audio; the scoring may change between runs.
    setup = {"manifest": str(Path(args.manifest).resolve()), "model": args.model, "voices": args.voices,
             "per_type": args.per_type, "seed": args.seed, "preset": args.preset, "rough_spans": args.rough_spans}
    check_setup(out, setup)
    write_records(out / "edits.jsonl", [asdict(case) for case in cases])
    load_synthesizer = functools.cache(
        lambda: Synthesizer.from_pretrained(args.model, preset=args.preset, device=args.device))
    jobs = edit_jobs(cases, args)
    records = run_jobs(jobs, load_synthesizer, out / "out", "edits", args.quiet)
    regenerated = run_jobs(regeneration_jobs(cases, records, jobs), load_synthesizer, out / "regenerated",
                           "same-text regenerations", args.quiet)
    scores = score_all(cases, records, regenerated, out, args)
    write_records(out / "scores.jsonl", scores)
    scoring = {"asr": args.asr, "speaker": "resemblyzer", "min_region_seconds": MIN_REGION_SECONDS,
               "long_region_seconds": LONG_REGION_SECONDS, "similarity_target": SIMILARITY_TARGET}
    results = {"setup": setup, "scoring": scoring, "summary": summarize(scores)}
    write_json(out / "results.json", results)
    print(format_table(results["summary"]))
    return results


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr  # the same judge as `maskvox eval`

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest of the held-out voices")
    parser.add_argument("--model", required=True, help="model folder (official layout) with an aligner")
    parser.add_argument("--voices", nargs="+", required=True, help="English speakers of the manifest to edit")
    parser.add_argument("--per-type", type=positive, default=20, help="edits of each type (default 20)")
    parser.add_argument("--out", required=True, help="output folder (a stopped run resumes in it)")
    parser.add_argument("--seed", type=int, default=0, help="picks the edits; edit n is generated with seed + n")
    parser.add_argument("--asr", default=default_asr(),
                        help="ASR judge (default: whisper-base when installed, else whisper-tiny.en)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rough-spans", action="store_true",
                        help="give each edit's region by hand from the word's character position (no aligner needed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return exit_status(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
