"""Evaluate total-length prediction on held-out voices: the duration model(s) against the rule.

    python -m recipes.duration.evaluate --shards data/phones/heldout \
        --model exp/duration/export [--model OTHER ...] --out exp/eval/duration.json

Every utterance of the shards is a target, with `--prompts` other utterances of the same
speaker as prompts (drawn once from --seed, the same for every model). The error of a
prediction is |predicted - true| / true frames; the table gives its median over all pairs, over
short targets (< 2 s) and per language, for the reference's rule and for each model.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from tqdm import tqdm

from maskvox.duration.control import FRAME_RATE_HZ
from maskvox.duration.predictor import DurationPredictor, LengthQuery, query_rule_frames
from maskvox.tokenizer import pick_device

from ..common.cli import positive, report_status
from .pairs import fixed_pairs, usable_utterances

SHORT_SECONDS = 2.0


def percentage_errors(predicted: list[float], true: list[int]) -> list[float]:
    return [abs(p - t) / t for p, t in zip(predicted, true)]


def summarize(errors: list[float], pairs) -> dict:
    """Median error overall, on short targets and per language, with the counts."""
    def median_of(selected: list[float]) -> float | None:
        return statistics.median(selected) if selected else None

    short = [e for e, (_, target) in zip(errors, pairs) if target.num_frames < SHORT_SECONDS * FRAME_RATE_HZ]
    languages = sorted({target.language for _, target in pairs})
    return {
        "median_ape": median_of(errors),
        "median_ape_short": median_of(short),
        "p90_ape": statistics.quantiles(errors, n=10)[-1] if len(errors) > 1 else errors[0],
        "median_ape_by_language": {
            lang: median_of([e for e, (_, target) in zip(errors, pairs) if target.language == lang]) for lang in languages
        },
    }


def evaluate(shards: str, models: list[str], seed: int = 0, prompts: int = 1, steps: int = 8,
             device: str = "cpu", quiet: bool = False, temperature: float = 0.0, cfg_scale: float = 0.0) -> dict:
    pairs = fixed_pairs(usable_utterances(shards), seed, prompts)
    true = [target.num_frames for _, target in pairs]
    queries = [LengthQuery(prompt.phones.tolist(), prompt.num_frames, target.phones.tolist(), target.language)
               for prompt, target in pairs]
    rule = [query_rule_frames(query) for query in queries]
    results = {"rule": summarize(percentage_errors(rule, true), pairs)}
    for location in tqdm(models, desc="models", disable=quiet or len(models) < 2):
        predictor = DurationPredictor.from_pretrained(
            location, pick_device(device), steps=steps, temperature=temperature, cfg_scale=cfg_scale)
        predicted = predictor.natural_frames(queries, seed)
        results[location] = summarize(percentage_errors(predicted, true), pairs)
    short = sum(t < SHORT_SECONDS * FRAME_RATE_HZ for t in true)
    return {
        "pairs": len(pairs), "short_pairs": short, "speakers": len({t.speaker for _, t in pairs}),
        "seed": seed, "steps": steps, "temperature": temperature, "cfg_scale": cfg_scale, "results": results,
    }


def table(report: dict) -> str:
    rule = report["results"]["rule"]
    lines = [f"{report['pairs']} pairs ({report['short_pairs']} with targets < {SHORT_SECONDS:g} s), "
             f"{report['speakers']} held-out speakers",
             "| predictor | median APE | x rule | short median APE | x rule | p90 APE |", "|---|---|---|---|---|---|"]
    for name, row in report["results"].items():
        short = row["median_ape_short"]
        short_text = "-" if short is None else f"{short:.1%} | {short / rule['median_ape_short']:.2f}"
        lines.append(f"| {name} | {row['median_ape']:.1%} | {row['median_ape'] / rule['median_ape']:.2f} | "
                     f"{short_text} | {row['p90_ape']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", required=True, help="shards of held-out voices (phones and frame counts)")
    parser.add_argument("--model", action="append", default=[], help="model folder with a duration model (repeatable)")
    parser.add_argument("--prompts", type=positive, default=1, help="prompts per target utterance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=positive, default=8, help="ODE solver steps")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: the median prediction; 1: a sample")
    parser.add_argument("--cfg", type=float, default=0.0, help="classifier-free guidance scale")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def report() -> dict:
        return evaluate(args.shards, args.model, args.seed, args.prompts, args.steps, args.device, args.quiet,
                        args.temperature, args.cfg)

    return report_status(args.out, report, table)


if __name__ == "__main__":
    sys.exit(main())
