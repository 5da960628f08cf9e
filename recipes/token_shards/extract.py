"""Extract token shards from a manifest: semantic ids, acoustic ids (and, later, phones).

    python -m recipes.token_shards.extract --manifest data/corpus/train.jsonl \
        --model amphion/MaskGCT --out data/tokens/train

Utterances are taken `--shard-size` at a time; each shard is written atomically and
skipped when it already exists, so an interrupted run resumes where it stopped, and
several processes (torchrun) split the shards between them. Semantic and acoustic ids
are cut to the same number of frames. Phone ids come with the text front-end issue.
"""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from maskvox.tokenizer import SpeechTokenizer, pick_device

from ..common.cli import exit_status
from ..common.manifest import read_manifest
from ..common.shards import TokenItem, shard_path, write_shard


def extract(manifest: str, model: str, out: str, shard_size: int = 500, device: str = "auto",
            semantic: str = "yes", quiet: bool = False) -> int:
    items = read_manifest(manifest)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    shards = list(range(0, len(items), shard_size))
    todo = [n for n in range(len(shards)) if n % world == rank and not shard_path(out, n).exists()]
    if not todo:
        return 0
    tokenizer = SpeechTokenizer.from_pretrained(model, pick_device(device), semantic=semantic)
    os.makedirs(out, exist_ok=True)
    bar = tqdm(total=sum(len(items[shards[n] : shards[n] + shard_size]) for n in todo), disable=quiet, desc="tokens")
    for n in todo:
        tokens = []
        for utterance in items[shards[n] : shards[n] + shard_size]:
            codes = tokenizer.encode_file(utterance.audio)
            acoustic, ids = codes.acoustic_codes, codes.semantic_codes
            frames = len(acoustic) if ids is None else min(len(acoustic), len(ids))
            tokens.append(TokenItem(
                utterance.id, utterance.speaker, semantic=None if ids is None else ids[:frames], acoustic=acoustic[:frames]
            ))
            bar.update(1)
        write_shard(shard_path(out, n), tokens)
    bar.close()
    return len(todo)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest (id, audio, text, speaker, ...)")
    parser.add_argument("--model", required=True, help="model folder or hub repo with the codecs")
    parser.add_argument("--out", required=True, help="shard folder to write")
    parser.add_argument("--shard-size", type=positive, default=500, help="utterances per shard")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--semantic", choices=["yes", "no"], default="yes",
                        help="'no' writes acoustic ids only (no w2v-BERT needed)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(
        lambda: extract(args.manifest, args.model, args.out, args.shard_size, args.device, args.semantic, args.quiet)
    )


if __name__ == "__main__":
    sys.exit(main())
