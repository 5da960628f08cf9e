"""Which aligner judges T2S's drafts best: a draft study's saved drafts, each judge's pick beside Whisper's.

    OMP_NUM_THREADS=1 python -m recipes.demo.judge_study --study exp/drafts8 --drafts 8 \
        --judge maskvox/assets/demo --judge exp/demo3/judge_model

`t2s_candidate_judge: audio` (maskvox/candidates.py) keeps the draft whose decoded audio the model's
aligner reads the text's phones in best. A better phone recogniser should keep better drafts; this
scores a candidate aligner without making a clone: `recipes/demo/draft_study.py` saved every
draft's audio and Whisper's hearing of it (`--study`), and each `--judge` (a model folder with an
aligner and the semantic features it reads) reads every draft once. The table gives, for the
first N drafts, the mean capped WER and similarity of each judge's pick, beside the first draft's
and Whisper's own pick (the ceiling). Every judge must read the same semantic features (they are
computed once per draft).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import check_writable_folder, write_json

from ..common.cli import exit_status
from .draft_study import MAX_DRAFTS, format_table


def read_study(folder: Path, drafts: int) -> list[list[dict]]:
    """Each sentence's first `drafts` drafts of one prompt folder: id, sentence, wav path, WER, similarity."""
    meta = folder / "meta.lst"
    items = folder / "eval" / "items.jsonl"
    if not meta.is_file() or not items.is_file():
        raise UserError(f"{folder} is not a heard draft study folder (no meta.lst or eval/items.jsonl)")
    heard = {}
    for line in items.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        heard[item["id"]] = item
    sentences: dict[int, list[dict]] = {}
    for line in meta.read_text(encoding="utf-8").splitlines():
        draft_id, _, _, sentence = line.split("|", 3)
        number, draft = (int(part[1:]) for part in draft_id.split("_"))
        if draft < drafts and draft_id in heard:
            sentences.setdefault(number, []).append({
                "id": draft_id, "draft": draft, "sentence": sentence, "wav": folder / "wavs" / f"{draft_id}.wav",
                "wer": min(heard[draft_id]["wer"], 1.0), "similarity": heard[draft_id]["similarity"]})
    rows = [sorted(row, key=lambda d: d["draft"]) for _, row in sorted(sentences.items())]
    if not rows or any(len(row) != drafts for row in rows):
        raise UserError(f"{folder}: every sentence needs {drafts} heard drafts")
    return rows


def load_judges(folders: list[str]):
    """Each folder's aligner, and the reader of the semantic features they all read (the first's)."""
    from maskvox.aligner import Aligner
    from maskvox.checkpoint import load_model_config

    from ..aligner.evaluate import FeatureReader

    configs = [load_model_config(folder) for folder in folders]
    if any(cfg.semantic_features != configs[0].semantic_features for cfg in configs):
        raise UserError("every --judge must read the same semantic features")
    judges = [Aligner.from_pretrained(folder, "cpu", model_cfg=cfg) for folder, cfg in zip(folders, configs)]
    return judges, FeatureReader(folders[0], "cpu")


def judge_scores(rows: list[list[dict]], judges, features_of, phones_of) -> None:
    """Each draft's score by each judge (`draft["scores"]`, one per judge)."""
    from maskvox.candidates import heard_score

    for row in rows:
        phones = phones_of(row[0]["sentence"])
        for draft in row:
            features = features_of(draft["wav"])
            draft["scores"] = [heard_score(judge, features, phones) for judge in judges]


def picks(rows: list[list[dict]], count: int, judges: int) -> dict[str, dict]:
    """Mean capped WER and similarity of the first draft, each judge's pick among the first `count`
    drafts (ties: the earliest) and Whisper's."""
    choices = {"first": lambda row: 0, "whisper (ceiling)": lambda row: min(range(count), key=lambda k: (row[k]["wer"], k))}
    for index in range(judges):
        choices[f"judge {index}"] = lambda row, index=index: max(range(count),
                                                                  key=lambda k: (row[k]["scores"][index], -k))
    figures = {}
    for name, choose in choices.items():
        kept = [row[choose(row)] for row in rows]
        figures[name] = {"wer_capped": sum(d["wer"] for d in kept) / len(kept),
                         "similarity": sum(d["similarity"] for d in kept) / len(kept)}
    return figures


def study(args) -> dict:
    import torch

    from maskvox.request import RequestReader

    if not 1 <= args.drafts <= MAX_DRAFTS:
        raise UserError(f"--drafts must be 1 to {MAX_DRAFTS}, got {args.drafts}")
    if args.out:
        check_writable_folder(Path(args.out).parent, "--out")  # before the slow reading, not after it
    folders = sorted(Path(args.study).glob("prompt*"))
    if not folders:
        raise UserError(f"{args.study} holds no prompt folders of a draft study")
    rows = [read_study(folder, args.drafts) for folder in folders]
    judges, features_of = load_judges(args.judge)
    reader = RequestReader()
    with torch.inference_mode():
        for prompt_rows in rows:
            judge_scores(prompt_rows, judges, features_of, lambda text: reader.phones(text, args.language))
    counts = [n for n in (1, 2, 3, 4, 6, 8, 16) if n <= args.drafts]
    table = {count: [picks(prompt_rows, count, len(judges)) for prompt_rows in rows] for count in counts}
    results = {"setup": {"study": args.study, "drafts": args.drafts, "judges": args.judge},
               "per_prompt": {str(count): figures for count, figures in table.items()}}
    if args.out:
        write_json(Path(args.out), results)
    names = ["first", *(f"judge {index}" for index in range(len(judges))), "whisper (ceiling)"]
    print(format_table(table, [folder.name for folder in folders], names,
                       {f"judge {index}": folder for index, folder in enumerate(args.judge)}))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", required=True, help="a heard draft study's folder (recipes/demo/draft_study.py --out)")
    parser.add_argument("--judge", action="append", required=True, help="a model folder with an aligner (repeatable)")
    parser.add_argument("--drafts", type=int, default=8, help=f"the first N drafts of each clone (1 to {MAX_DRAFTS})")
    parser.add_argument("--language", default="en")
    parser.add_argument("--out", default="", help="results JSON")
    args = parser.parse_args(argv)
    return exit_status(lambda: study(args))


if __name__ == "__main__":
    sys.exit(main())
