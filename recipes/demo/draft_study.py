"""Which of T2S's drafts to keep: every draft of each clone made whole and heard, beside each scorer's pick.

    OMP_NUM_THREADS=1 python -m recipes.demo.draft_study --model maskvox/assets/demo --drafts 8 \
        --prompt egs/clone/prompt.wav --prompt-text "$(cat egs/clone/prompt.txt)" \
        --sentences egs/clone/sentences.txt --out exp/drafts

A masked T2S samples, so one text and prompt give drafts that Whisper hears very differently;
`t2s_candidates` (maskvox/candidates.py) keeps the draft its scorer likes best. This study makes
`--drafts` drafts of each clone (draft 0 is the plain clone's: the item's own generator; draft k
the generator `t2s_candidates` would use), puts each through S2A and the decoder, and scores each
with every scorer the model can compute without the judge:

- `ctc_ids`: the aligner's CTC log-likelihood of the target's spoken phones over the centroids of
  the draft's semantic ids, per phone (what `t2s_candidates` uses);
- `ctc_audio`: the same over the semantic features of the draft's decoded audio (what the whole
  chain said, S2A and the decoder included);
- `t2s_pll`: T2S's own pseudo-log-likelihood of the draft: the mean log-probability of its ids at
  masked frames, over `PLL_MASKS` fixed masks of half the frames, conditioned on text and prompt;
- `ctc_sum`: `ctc_ids` + `ctc_audio`.

Then `maskvox eval` (Whisper base, resemblyzer) hears every draft, and the table gives, for the
first N drafts (N = 1, 2, 3, 4, 8, 16 up to `--drafts`), the WER (each clone's capped at 100 %) and
similarity of each scorer's pick, with Whisper's own pick (the ceiling; the judge, so not a
scorer). Resumable: drafts already written and scored are kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import check_writable_folder, write_json, write_text

from ..common.cli import exit_status
from .evaluate import run_maskvox_eval
from .prompt_eval import add_prompt_arguments, check_prompts, read_sentences

MAX_DRAFTS = 16
PLL_MASKS = 4
PLL_MASK_RATIO = 0.5
SCORERS = ("ctc_ids", "ctc_audio", "t2s_pll", "ctc_sum")


def t2s_pll(synth, phones, prompt_semantic, ids, plan, seed: int) -> float:
    """T2S's mean log-probability of (T,) `ids` at masked frames (half of them, `PLL_MASKS` masks
    drawn from `seed`), without guidance: the pseudo-log-likelihood of masked models."""
    import torch

    from maskvox.sampling import SamplerSettings

    settings = SamplerSettings(cfg=0.0)
    predict = synth.t2s.fast_predictor([phones], [prompt_semantic], [len(ids)], settings,
                                       None if plan is None else [plan])
    generator = torch.Generator().manual_seed(seed)
    t = 2 / math.pi * math.asin(PLL_MASK_RATIO)  # the training time whose mask probability is the ratio
    total, count = 0.0, 0
    for _ in range(PLL_MASKS):
        mask = (torch.rand(len(ids), generator=generator) < PLL_MASK_RATIO)[None]
        with torch.no_grad():
            log_probs = predict(ids[None], mask, t).float().log_softmax(-1)[0]
        chosen = log_probs.gather(-1, ids[:, None])[:, 0]
        total += float(chosen[mask[0]].sum())
        count += int(mask.sum())
    return total / max(count, 1)


def make_drafts(synth, prompt: str, prompt_text: str, sentence: str, language: str, seed: int,
                drafts: int) -> tuple[list, list[dict]]:
    """`drafts` whole clones of one sentence (one piece) and their scores."""
    from maskvox.aligner.frames import phone_roles
    from maskvox.audio import resample
    from maskvox.candidates import ctc_per_phone, draft_generators
    from maskvox.pipeline import frame_plans
    from maskvox.request import CloneRequest

    item = synth._prepare_sized(CloneRequest(prompt, prompt_text, sentence, language, seed=seed))
    jobs = synth._jobs(0, item)
    if len(jobs) != 1:
        raise UserError(f"'{sentence[:40]}...' is said in {len(jobs)} pieces; the study takes one-piece sentences")
    job, tokens = jobs[0], item.prompt
    generators = draft_generators(synth.mode.generators([job.seed], synth.device, synth._skip_reference_draws), drafts)
    owners = [(len(tokens.phones), tokens.frame_owners)] * drafts
    semantic, codes = synth.generate_tokens([job.phones] * drafts, [tokens.semantic] * drafts,
                                            [tokens.acoustic] * drafts, [job.frames] * drafts, generators,
                                            prompt_owners=owners)
    plan = None
    if synth.aligned_phones:
        plan = frame_plans(synth.t2s.frame_phones, [job.phones], owners[:1], [tokens.semantic], [job.frames])[0]
    silent, _ = phone_roles()
    spoken = [int(p) for p in job.phones[len(tokens.phones):] if int(p) not in silent]
    codec = synth.tokenizer.semantic_codec
    audios, scores = [], []
    for k in range(drafts):
        audio = synth.decode(codes[k])
        features = synth.semantic_features(resample(audio, 24000, 16000))
        centroids = codec.decode_ids(semantic[k][None].long())[0].float()
        score = {"ctc_ids": ctc_per_phone(synth.aligner, centroids, spoken),
                 "ctc_audio": ctc_per_phone(synth.aligner, features, spoken),
                 "t2s_pll": t2s_pll(synth, job.phones, tokens.semantic, semantic[k], plan, seed * 100 + k)}
        score["ctc_sum"] = score["ctc_ids"] + score["ctc_audio"]
        audios.append(audio)
        scores.append({key: round(value, 5) for key, value in score.items()})
    return audios, scores


def draft_id(sentence: int, draft: int) -> str:
    return f"s{sentence:03d}_d{draft}"


def draft_all(args, sentences: list[str], folders: list[Path]) -> None:
    """Every missing sentence's drafts, written and scored (`scores.jsonl`, one line a sentence)."""
    import torch
    from tqdm import tqdm

    from maskvox.audio import write_audio
    from maskvox.pipeline import Synthesizer

    synth = None
    for folder, prompt, prompt_text in zip(folders, args.prompt, args.prompt_text):
        done = read_scores(folder)
        todo = [n for n in range(len(sentences)) if n not in done]
        for n in tqdm(todo, desc=f"drafts of {Path(prompt).name}", disable=args.quiet):
            if synth is None:
                synth = Synthesizer.from_pretrained(args.model, preset=args.preset, device="cpu")
                if synth.aligner is None or synth.t2s is None:
                    raise UserError(f"{args.model}: the study needs a model with an aligner (the demo's)")
                # The study makes the drafts itself: the preset's own drafts would multiply them.
                synth.preset = dataclasses.replace(synth.preset, t2s_candidates=1)
            torch.manual_seed(0)
            audios, scores = make_drafts(synth, prompt, prompt_text, sentences[n], args.language,
                                         args.seed + n, args.drafts)
            for k, audio in enumerate(audios):
                write_audio(folder / "wavs" / f"{draft_id(n, k)}.wav", audio, 24000)
            with open(folder / "scores.jsonl", "a", encoding="utf-8") as file:
                file.write(json.dumps({"sentence": n, "scores": scores}) + "\n")


def read_scores(folder: Path) -> dict[int, list[dict]]:
    path = folder / "scores.jsonl"
    if not path.exists():
        return {}
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {line["sentence"]: line["scores"] for line in lines}


def picks(scores: list[list[dict]], heard: list[list[dict]], count: int) -> dict[str, dict]:
    """Each scorer's pick among the first `count` drafts of every sentence (ties: the earliest),
    with Whisper's own (`oracle`) and draft 0's (`plain`): mean capped WER and similarity."""
    choices = {"plain": lambda s, h: 0,
               "oracle": lambda s, h: min(range(count), key=lambda k: (min(h[k]["wer"], 1.0), k))}
    for scorer in SCORERS:
        choices[scorer] = lambda s, h, scorer=scorer: max(range(count), key=lambda k: (s[k][scorer], -k))
    figures = {}
    for name, choose in choices.items():
        kept = [h[choose(s, h)] for s, h in zip(scores, heard)]
        figures[name] = {"wer_capped": sum(min(item["wer"], 1.0) for item in kept) / len(kept),
                         "similarity": sum(item["similarity"] for item in kept) / len(kept)}
    return figures


def study(args) -> dict:
    check_prompts(args)
    if not 1 <= args.drafts <= MAX_DRAFTS:
        raise UserError(f"--drafts must be 1 to {MAX_DRAFTS}, got {args.drafts}")
    sentences = read_sentences(args.sentences)
    out = Path(args.out)
    check_writable_folder(out, "--out")
    folders = [out / f"prompt{index}" for index in range(len(args.prompt))]
    draft_all(args, sentences, folders)
    counts = [n for n in (1, 2, 3, 4, 8, 16) if n <= args.drafts]
    table = {count: [] for count in counts}
    for folder, prompt, prompt_text in zip(folders, args.prompt, args.prompt_text):
        meta = folder / "meta.lst"
        write_text(meta, "".join(f"{draft_id(n, k)}|{prompt_text}|{Path(prompt).resolve()}|{sentence}\n"
                                 for n, sentence in enumerate(sentences) for k in range(args.drafts)))
        run_maskvox_eval(meta, folder / "eval", folder / "wavs", args.asr, args.language)
        items = {}
        for line in (folder / "eval" / "items.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            items[item["id"]] = item
        scores = read_scores(folder)
        heard = [[items[draft_id(n, k)] for k in range(args.drafts)] for n in range(len(sentences))]
        for count in counts:
            table[count].append(picks([scores[n] for n in range(len(sentences))], heard, count))
    results = {"setup": {key: getattr(args, key) for key in ("model", "prompt", "sentences", "drafts", "seed", "preset")},
               "per_prompt": {str(count): rows for count, rows in table.items()}}
    write_json(out / "results.json", results)
    print(format_table(table, [Path(prompt).stem for prompt in args.prompt]))
    return results


def format_table(table: dict[int, list[dict]], prompts: list[str], names: list[str] | None = None,
                 labels: dict[str, str] | None = None) -> str:
    """Markdown: for each draft count, each pick's capped WER per prompt (`prompts` name the columns),
    their mean and its similarity. `names`: the picks in order (the study's scorers by default);
    `labels`: names to print instead."""
    names = names or ["plain", *SCORERS, "oracle"]
    labels = labels or {}
    lines = ["| drafts | pick | " + " | ".join(prompts) + " | mean (capped WER) | similarity |",
             "|---|---|" + "---|" * (len(prompts) + 2)]
    for count, rows in table.items():
        for name in names:
            wers = [row[name]["wer_capped"] for row in rows]
            similarity = sum(row[name]["similarity"] for row in rows) / len(rows)
            cells = " | ".join(f"{100 * w:.1f} %" for w in wers)
            lines.append(f"| {count} | {labels.get(name, name)} | {cells} | {100 * sum(wers) / len(wers):.1f} % | "
                         f"{similarity:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskvox.evaluation.asr import default_asr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder with an aligner and a k-means semantic codec")
    add_prompt_arguments(parser)
    parser.add_argument("--language", default="en")
    parser.add_argument("--drafts", type=int, default=8, help=f"drafts of each clone (1 to {MAX_DRAFTS})")
    parser.add_argument("--out", required=True)
    parser.add_argument("--asr", default=default_asr())
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(lambda: study(args))


if __name__ == "__main__":
    sys.exit(main())
