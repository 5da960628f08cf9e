"""Clone a fixed list of sentences from fixed prompts and score the clones: the README's own use.

    OMP_NUM_THREADS=1 python -m recipes.demo.prompt_eval --model maskvox/assets/demo \
        --prompt egs/clone/prompt.wav --prompt-text "$(cat egs/clone/prompt.txt)" \
        --sentences egs/clone/sentences.txt --out exp/demo3/eval/readme_prompt

Each sentence of `--sentences` (one a line; `egs/clone/sentences.txt` holds 20 written for this
evaluation, so no model heard them) is cloned from each prompt at `--preset`, the predicted
length (times 1 / `--speed`), seed `--seed` + the sentence's number (0 for the first). `maskvox eval` (Whisper base by default,
resemblyzer) then scores the clones of each prompt: WER against the sentence and similarity to
the prompt. Prompts come in pairs of `--prompt` and `--prompt-text`, repeated in order; each
gets its own folder and row, and a last row gives the mean over prompts. Beside the plain mean,
each utterance's WER capped at 100 %: one clone that Whisper hears as a repetition loop (7x its
words) otherwise moves a 20-clone mean by 30 points. Wavs already written are kept, so a
stopped run resumes, and
`results.json` gathers the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import check_writable_folder, write_json, write_text

from ..common.cli import exit_status
from .evaluate import CloneJob, clone_missing, run_maskvox_eval
from .milestone_eval import capped_wer

MAX_SENTENCES = 500


def read_sentences(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read the sentences file {path}: {error}") from None
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences or len(sentences) > MAX_SENTENCES:
        raise UserError(f"{path}: expected 1 to {MAX_SENTENCES} sentences (one a line), found {len(sentences)}")
    if any("|" in sentence for sentence in sentences):
        raise UserError(f"{path}: a sentence holds '|', which the evaluation's list format uses as its separator")
    return sentences


def add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """--prompt / --prompt-text pairs and --sentences (`check_prompts` reads them)."""
    parser.add_argument("--prompt", action="append", required=True, help="prompt wav (repeatable, with --prompt-text)")
    parser.add_argument("--prompt-text", action="append", required=True, help="the prompt's transcript")
    parser.add_argument("--sentences", required=True, help="text file, one sentence a line")


def check_prompts(args) -> None:
    """Prompts given in pairs with their transcripts, each wav there."""
    if len(args.prompt) != len(args.prompt_text):
        raise UserError(f"{len(args.prompt)} --prompt but {len(args.prompt_text)} --prompt-text: give them in pairs")
    for prompt in args.prompt:
        if not Path(prompt).is_file():
            raise UserError(f"prompt {prompt} not found")


def evaluate(args) -> dict:
    from maskvox.duration.control import LengthRequest

    check_prompts(args)
    LengthRequest(speed=args.speed)  # refused here (0.5 to 2), not after the model has loaded
    sentences = read_sentences(args.sentences)
    out = Path(args.out)
    check_writable_folder(out, "--out")
    folders = [out / f"prompt{index}" for index in range(len(args.prompt))]
    jobs = [CloneJob(folder / "wavs" / f"s{n:03d}.wav", prompt, prompt_text, sentence, args.language,
                     args.prompt_language or args.language, args.seed + n, args.speed)
            for folder, prompt, prompt_text in zip(folders, args.prompt, args.prompt_text)
            for n, sentence in enumerate(sentences)]
    clone_missing(jobs, args.model, args.preset, args.quiet)
    rows = []
    for folder, prompt, prompt_text in zip(folders, args.prompt, args.prompt_text):
        meta = folder / "meta.lst"
        write_text(meta, "".join(f"s{n:03d}|{prompt_text}|{Path(prompt).resolve()}|{sentence}\n"
                                 for n, sentence in enumerate(sentences)))
        summary = run_maskvox_eval(meta, folder / "eval", folder / "wavs", args.asr, args.language)
        rows.append({"prompt": prompt, "clones": len(sentences), "wer_mean_per_utterance": summary["wer_mean_per_utterance"],
                     "wer_capped_mean": capped_wer(folder / "eval" / "items.jsonl", "wer"),
                     "wer_pooled": summary["wer_pooled"], "similarity_mean": summary["similarity_mean"]})
    setup = {"model": args.model, "sentences": args.sentences, "preset": args.preset, "seed": args.seed,
             "speed": args.speed, "asr": args.asr, "language": args.language}
    results = {"prompts": rows, "mean_of_prompts": mean_of_prompts(rows), "setup": setup}
    write_json(out / "results.json", results)
    print(format_table(rows, results["mean_of_prompts"]))
    return results


FIGURES = ("wer_mean_per_utterance", "wer_capped_mean", "wer_pooled", "similarity_mean")


def mean_of_prompts(rows: list[dict]) -> dict:
    """Each figure's mean over the prompts (None where a prompt has none)."""
    values = {key: [row[key] for row in rows] for key in FIGURES}
    return {key: None if None in column else sum(column) / len(column) for key, column in values.items()}


def format_table(rows: list[dict], mean: dict) -> str:
    def percent(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f} %"

    lines = ["| prompt | clones | WER (mean per utt.) | WER, each capped at 100 % | WER (pooled) | "
             "similarity to prompt |", "|---|---|---|---|---|---|"]
    for name, clones, row in [*((row["prompt"], row["clones"], row) for row in rows), ("mean of prompts", "", mean)]:
        wers = " | ".join(percent(row[key]) for key in ("wer_mean_per_utterance", "wer_capped_mean", "wer_pooled"))
        lines.append(f"| {name} | {clones} | {wers} | {row['similarity_mean']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr  # the same judge as `maskvox eval`

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (official layout) or hub repo")
    add_prompt_arguments(parser)
    parser.add_argument("--language", default="en", help="the sentences' language")
    parser.add_argument("--prompt-language", default="", help="the prompts' language (default: --language)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--asr", default=default_asr(), help="maskvox eval's ASR (default: Whisper base when installed)")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="speaking-rate factor on every clone's predicted length (> 1: faster), as maskvox clone's")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
