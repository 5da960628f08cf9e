"""T2S alone, without S2A or a vocoder: do its semantic ids say the text's phones?

    OMP_NUM_THREADS=1 python -m recipes.t2s.evaluate --model exp/demo3/model \
        --train data/tokens_demo3/t2s_train --heldout data/tokens_demo3/t2s_heldout --out exp/demo3/eval/t2s

A phone probe reads semantic ids: one row of phone logits per id (a linear layer over one-hot
ids, blank 0), fitted with CTC on the training shards' recorded ids and phones. It is then
greedy-decoded on held-out utterances of unseen voices in two forms:

- **recorded**: the ids of the recording itself (the most any T2S output can say);
- **generated**: the ids T2S writes for the same phones, from a prompt of the same voice (its
  next held-out utterance: its phones lead the target's, its ids are the prompt), at the
  recording's own length (no duration model: T2S alone is judged), preset `--preset`,
  seed `--seed` + item. A T2S with alignment help (`aligned_phones`) on held-out shards with
  frame phones is given them (`--frame-phones`): `spread`, as generation does (the prompt's
  alignment, the target's phones spread by their mean lengths); `recorded`, the target's own
  alignment too (durations as said); `none`, the model unhelped.

Phone error rate (PER) of both against the phones, pooled, and their ratio: near 1, the ids
T2S writes say the text as well as a recording's do, and what is not heard in a clone is lost
after T2S. Writes `--out`/results.json and one JSON line per item; seeds fixed.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.errors import UserError
from maskvox.fileio import write_json, write_text

from ..common.cli import exit_status, positive
from ..common.shards import TokenCorpus
from ..semantic_codec.probe import edit_distance, greedy_ctc, train_ctc_probe


def pick_pairs(items, per_speaker: int, min_frames: int = 100) -> list[tuple]:
    """(prompt, target) pairs: each speaker's first `per_speaker` utterances by id (from
    `min_frames`, 2 s, to 8 s), each prompted by the speaker's next one."""
    by_speaker = collections.defaultdict(list)
    for item in sorted(items, key=lambda item: item.id):
        if min_frames <= len(item.semantic) <= 400:
            by_speaker[item.speaker].append(item)
    pairs = []
    for speaker in sorted(by_speaker):
        utterances = by_speaker[speaker]
        pairs += [(utterances[i + 1], utterances[i]) for i in range(min(per_speaker, len(utterances) - 1))]
    return pairs


class UnitProbe(torch.nn.Module):
    """(B, T) ids -> (B, T, classes) phone logits: a table, one row per id."""

    def __init__(self, units: int, classes: int):
        super().__init__()
        self.table = torch.nn.Embedding(units, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids)


def fit_probe(corpus: TokenCorpus, units: int, items: int, steps: int, seed: int):
    """The probe and the phone renumbering (`compact_targets`) it was fitted with."""
    rng = np.random.default_rng(seed)
    chosen = [corpus.items[i] for i in sorted(rng.choice(len(corpus.items), min(items, len(corpus.items)), replace=False))]
    phones = sorted({int(p) for item in corpus.items for p in item.phones})
    index = {phone: n + 1 for n, phone in enumerate(phones)}
    targets = [np.array([index[int(p)] for p in item.phones]) for item in chosen]
    inputs = [torch.from_numpy(item.semantic.astype(np.int64)) for item in chosen]
    probe = train_ctc_probe(inputs, targets, lambda: UnitProbe(units, len(phones) + 1), steps, seed)
    return probe, index


def errors(probe, ids: torch.Tensor, target: np.ndarray) -> int:
    with torch.no_grad():
        return edit_distance(greedy_ctc(probe(ids[None])[0].log_softmax(-1)), target)


def frame_phones(t2s, how: str, phones: torch.Tensor, prompt, target) -> list[torch.Tensor] | None:
    """The frame owners (`FramePhones.plan`) a helped T2S is given for one pair, or None."""
    if how == "none":
        return None
    if t2s.frame_phones is None or prompt.frame_phones is None:
        raise UserError("--frame-phones needs a T2S with aligned_phones and held-out shards with frame phones "
                        "(recipes.token_shards.align)")
    prompt_owners = torch.from_numpy(prompt.frame_phones)
    if how == "recorded":
        shifted = np.where(target.frame_phones >= 0, target.frame_phones + len(prompt.phones), -1)
        return [torch.cat([prompt_owners, torch.from_numpy(shifted)])]
    return [t2s.frame_phones.plan(phones, len(prompt.phones), len(prompt.semantic), len(target.semantic),
                                  prompt_owners)]


def evaluate(args) -> dict:
    from maskvox.presets import load_preset
    from maskvox.sampling import make_generators
    from maskvox.t2s.model import load_t2s

    out = Path(args.out)  # made by the writes at the end: a failed run leaves nothing
    t2s = load_t2s(args.model)
    units = t2s.cfg.cond_codebook_size
    probe, index = fit_probe(TokenCorpus(args.train, need=("semantic", "phones")), units, args.probe_items,
                             args.probe_steps, args.seed)
    pairs = pick_pairs(TokenCorpus(args.heldout, need=("semantic", "phones")).items, args.per_speaker, args.min_frames)
    preset = load_preset(args.preset)
    settings = preset.sampler("t2s", "fast")
    rows = []
    for n, (prompt, target) in enumerate(tqdm(pairs, desc="T2S", disable=args.quiet)):
        if any(int(p) not in index for p in target.phones):
            continue  # a phone the probe never saw cannot be scored
        phones = torch.from_numpy(np.concatenate([prompt.phones, target.phones]).astype(np.int64))
        generated = t2s.generate([phones], [torch.from_numpy(prompt.semantic.astype(np.int64))],
                                 [len(target.semantic)], preset.t2s_steps, settings,
                                 generators=make_generators(args.seed + n, 1, "cpu"),
                                 frame_phones=frame_phones(t2s, args.frame_phones, phones, prompt, target))[0]
        reference = np.array([index[int(p)] for p in target.phones])
        recorded = torch.from_numpy(target.semantic.astype(np.int64))
        rows.append({"id": target.id, "speaker": target.speaker, "prompt": prompt.id, "phones": len(reference),
                     "errors_recorded": errors(probe, recorded, reference),
                     "errors_generated": errors(probe, generated.cpu(), reference),
                     "id_agreement": float((generated.cpu() == recorded).float().mean())})
    if not rows:
        raise UserError("no held-out pair to score (check --per-speaker and --min-frames)")
    phones = sum(r["phones"] for r in rows)
    recorded_per = sum(r["errors_recorded"] for r in rows) / max(1, phones)
    generated_per = sum(r["errors_generated"] for r in rows) / max(1, phones)
    results = {"model": str(args.model), "items": len(rows), "preset": args.preset, "seed": args.seed,
               "frame_phones": args.frame_phones,
               "per_recorded": recorded_per, "per_generated": generated_per,
               "per_ratio": generated_per / recorded_per if recorded_per else None,
               "id_agreement": float(np.mean([r["id_agreement"] for r in rows])) if rows else None}
    write_text(out / "items.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write_json(out / "results.json", results)
    ratio = "" if results["per_ratio"] is None else f" (ratio {results['per_ratio']:.2f})"
    print(f"T2S alone on {len(rows)} held-out utterances: probe PER {100 * recorded_per:.1f} % from the "
          f"recordings' ids, {100 * generated_per:.1f} % from T2S's{ratio}; "
          f"T2S's ids equal the recording's on {100 * results['id_agreement']:.1f} % of frames")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder with a T2S")
    parser.add_argument("--train", required=True, help="T2S training shards (phones + semantic ids): the probe's data")
    parser.add_argument("--heldout", required=True, help="held-out T2S shards (unseen voices)")
    parser.add_argument("--per-speaker", type=positive, default=5)
    parser.add_argument("--min-frames", type=positive, default=100, help="shortest target (50 frames a second)")
    parser.add_argument("--probe-items", type=positive, default=2000)
    parser.add_argument("--probe-steps", type=positive, default=1500)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frame-phones", choices=["none", "spread", "recorded"], default="none",
                        help="what a T2S with alignment help is given (default none)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
