"""Extract token shards from a manifest: semantic ids, acoustic ids and phone ids.

    python -m recipes.token_shards.extract --manifest data/corpus/train.jsonl \
        --model amphion/MaskGCT --out data/tokens/train

Utterances are taken `--shard-size` at a time; each shard is written atomically and
skipped when it already exists, so an interrupted run resumes where it stopped, and
several processes (torchrun) split the shards between them. Semantic and acoustic ids
are cut to the same number of frames. Phone ids come from the text front-end
(`maskvox.text`) reading each utterance's `text` in its `language` (or `--lang`); an utterance
whose text cannot be read is left out, with a note naming it.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from tqdm import tqdm

from maskvox.errors import TextError, UserError
from maskvox.text import PhoneVocabulary, TextFrontEnd
from maskvox.tokenizer import SpeechTokenizer, pick_device

from ..common.cli import exit_status
from ..common.manifest import read_manifest
from ..common.shards import TokenItem, shard_path, write_shard


def phone_reader(phones: str, items, lang: str | None, vocab: str | None, normalization: str):
    """A function utterance -> phone ids (or None to leave it out), or None for no phones."""
    have_text = all(item.text and (item.language or lang) for item in items)
    if phones == "no" or (phones == "auto" and not have_text):
        return None
    if not have_text:
        raise UserError("--phones yes needs a text and a language (field 'language' or --lang) for every utterance")
    frontend = TextFrontEnd(PhoneVocabulary.load(vocab) if vocab else None, normalization)

    def read(item):
        try:
            return np.asarray(frontend(item.text, item.language or lang).ids, dtype=np.int64)
        except TextError as error:
            tqdm.write(f"note: left out {item.id}: {error}")
            return None

    return read


def extract(manifest: str, model: str, out: str, shard_size: int = 500, device: str = "auto",
            semantic: str = "yes", quiet: bool = False, phones: str = "auto", lang: str | None = None,
            vocab: str | None = None, normalization: str = "full") -> int:
    items = read_manifest(manifest)
    read_phones = phone_reader(phones, items, lang, vocab, normalization)
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
            bar.update(1)
            phone_ids = read_phones(utterance) if read_phones else None
            if read_phones and phone_ids is None:
                continue
            codes = tokenizer.encode_file(utterance.audio)
            acoustic, ids = codes.acoustic_codes, codes.semantic_codes
            frames = len(acoustic) if ids is None else min(len(acoustic), len(ids))
            tokens.append(TokenItem(
                utterance.id, utterance.speaker, semantic=None if ids is None else ids[:frames],
                acoustic=acoustic[:frames], phones=phone_ids,
            ))
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
    parser.add_argument("--phones", choices=["auto", "yes", "no"], default="auto",
                        help="phone ids of the transcripts: auto (when every utterance has text and language)")
    parser.add_argument("--lang", help="language of utterances whose manifest line has none")
    parser.add_argument("--vocab", help="phone vocabulary JSON (default: the official 363 phones)")
    parser.add_argument("--normalization", choices=["full", "reference"], default="full")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(lambda: extract(
        args.manifest, args.model, args.out, args.shard_size, args.device, args.semantic, args.quiet,
        args.phones, args.lang, args.vocab, args.normalization,
    ))


if __name__ == "__main__":
    sys.exit(main())
