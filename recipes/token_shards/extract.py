"""Extract token shards from a manifest: semantic ids, acoustic ids and phone ids.

    python -m recipes.token_shards.extract --manifest data/corpus/train.jsonl \
        --model amphion/MaskGCT --out data/tokens/train

Utterances are taken `--shard-size` at a time; each shard is written atomically and
skipped when it already exists, so an interrupted run resumes where it stopped, and
several processes (torchrun) split the shards between them. Semantic and acoustic ids
are cut to the same number of frames. `--ids semantic` writes semantic ids without acoustic
ids (T2S's input; no acoustic codec is loaded). `--feature-cache` takes the semantic ids from
the features the semantic codec recipe cached (float16) instead of running the SSL model again.
`--ids no` writes only phone ids and each utterance's length in frames (from the audio file's
header; no model needed): the duration model's input.
Phone ids come from the text front-end
(`maskvox.text`) reading each utterance's `text` in its `language` (or `--lang`); an utterance
whose text cannot be read, or whose audio cannot be encoded (silent, too short, unreadable), is
left out, with a note naming it.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings

from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from maskvox.audio import load_audio
from maskvox.duration.control import FRAME_RATE_HZ
from maskvox.errors import TextError, UserError
from maskvox.text import PhoneVocabulary, TextFrontEnd, UnknownPhoneWarning
from maskvox.tokenizer import SpeechTokenizer, pick_device

from ..common.cli import exit_status, positive
from ..common.manifest import Utterance, cache_stem, read_manifest
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
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnknownPhoneWarning)
                ids = frontend(item.text, item.language or lang).ids
        except TextError as error:
            tqdm.write(f"note: left out {item.id}: {error}")
            return None
        for warning in caught:
            if isinstance(warning.message, UnknownPhoneWarning):
                read.unknown_phones[(item.language or lang, warning.message.phone)] += 1
        return np.asarray(ids, dtype=np.int64)

    # A per-word warning would flood a corpus run: count them, and report once at the end.
    read.unknown_phones = collections.Counter()
    return read


def report_unknown_phones(counts: collections.Counter) -> None:
    if counts:
        listed = ", ".join(f"{phone!r} ({lang}) x{count}" for (lang, phone), count in counts.most_common())
        print(f"note: phones not in the vocabulary, left out of the ids: {listed}", file=sys.stderr)


def audio_frames(path: str) -> int:
    """The length of an audio file in 50 Hz frames, from its header."""
    try:
        return round(soundfile.info(path).duration * FRAME_RATE_HZ)
    except (OSError, RuntimeError) as error:  # soundfile raises RuntimeError subclasses
        raise UserError(f"cannot read audio {path}: {error}") from None


class SemanticIds:
    """Utterance -> its semantic ids (T,), with no acoustic codec: the T2S corpus."""

    def __init__(self, model: str, device: str, feature_cache: str | None = None):
        from maskvox.checkpoint import load_model_config
        from maskvox.codecs.pretrained import load_semantic_codec, load_semantic_features

        cfg = load_model_config(model)
        self.codec = load_semantic_codec(model, cfg, device)
        self.features = load_semantic_features(cfg.semantic_features, model, device)
        self.rate = cfg.semantic_features.sample_rate
        self.cache = Path(feature_cache) if feature_cache else None

    @torch.no_grad()
    def __call__(self, utterance: Utterance) -> np.ndarray:
        cached = self.cache / f"{cache_stem(utterance)}.npy" if self.cache else None
        if cached is not None and cached.exists():
            features = torch.from_numpy(np.load(cached).astype(np.float32))[None]
        else:
            features, _ = self.features([load_audio(utterance.audio, self.rate)])
        return self.codec.quantize(features)[0][0].cpu().numpy()


def extract(manifest: str, model: str | None, out: str, shard_size: int = 500, device: str = "auto",
            semantic: str = "yes", quiet: bool = False, phones: str = "auto", lang: str | None = None,
            vocab: str | None = None, normalization: str = "full", ids: str = "yes",
            feature_cache: str | None = None, stride: int = 1) -> int:
    items = read_manifest(manifest)[::stride]
    if ids == "no" and phones == "no":
        raise UserError("--ids no --phones no would write nothing")
    if ids != "no" and not model:
        raise UserError("--model is needed to extract semantic and acoustic ids (or give --ids no)")
    if feature_cache and (ids == "no" or semantic == "no"):
        raise UserError("--feature-cache gives semantic ids: it needs --ids yes or semantic, and --semantic yes")
    if feature_cache and not os.path.isdir(feature_cache):
        raise UserError(f"--feature-cache {feature_cache} is not a folder")
    read_phones = phone_reader("yes" if ids == "no" else phones, items, lang, vocab, normalization)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    shards = list(range(0, len(items), shard_size))
    todo = [n for n in range(len(shards)) if n % world == rank and not shard_path(out, n).exists()]
    if not todo:
        return 0
    # With a feature cache, the semantic ids come from it and the tokenizer gives acoustic ids only.
    cached_semantic = ids == "semantic" or bool(feature_cache)
    semantic_ids = SemanticIds(model, pick_device(device), feature_cache) if cached_semantic else None
    tokenizer = None
    if ids == "yes":
        tokenizer = SpeechTokenizer.from_pretrained(model, pick_device(device), "no" if feature_cache else semantic)
    os.makedirs(out, exist_ok=True)
    bar = tqdm(total=sum(len(items[shards[n] : shards[n] + shard_size]) for n in todo), disable=quiet, desc="tokens")
    for n in todo:
        tokens = []
        for utterance in items[shards[n] : shards[n] + shard_size]:
            bar.update(1)
            phone_ids = read_phones(utterance) if read_phones else None
            if read_phones and phone_ids is None:
                continue
            language = utterance.language or lang or ""
            if ids == "semantic":
                tokens.append(TokenItem(utterance.id, utterance.speaker, semantic=semantic_ids(utterance),
                                        phones=phone_ids, language=language))
                continue
            if tokenizer is None:
                tokens.append(TokenItem(utterance.id, utterance.speaker, phones=phone_ids, language=language,
                                        num_frames=audio_frames(utterance.audio)))
                continue
            try:
                codes = tokenizer.encode_file(utterance.audio)
            except UserError as error:  # silent, too short, unreadable: one bad file must not stop a corpus
                tqdm.write(f"note: left out {utterance.id}: {error}")
                continue
            acoustic = codes.acoustic_codes
            semantic_codes = semantic_ids(utterance) if semantic_ids is not None else codes.semantic_codes
            frames = len(acoustic) if semantic_codes is None else min(len(acoustic), len(semantic_codes))
            tokens.append(TokenItem(
                utterance.id, utterance.speaker, semantic=None if semantic_codes is None else semantic_codes[:frames],
                acoustic=acoustic[:frames], phones=phone_ids, language=language,
            ))
        write_shard(shard_path(out, n), tokens)
    bar.close()
    if read_phones and not quiet:
        report_unknown_phones(read_phones.unknown_phones)
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSONL manifest (id, audio, text, speaker, ...)")
    parser.add_argument("--model", help="model folder or hub repo with the codecs (not needed with --ids no)")
    parser.add_argument("--out", required=True, help="shard folder to write")
    parser.add_argument("--shard-size", type=positive, default=500, help="utterances per shard")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--semantic", choices=["yes", "no"], default="yes",
                        help="'no' writes acoustic ids only (no w2v-BERT needed)")
    parser.add_argument("--ids", choices=["yes", "semantic", "no"], default="yes",
                        help="'semantic': semantic ids only (T2S's input); 'no': phone ids and frame counts "
                             "only, no model (the duration model's input)")
    parser.add_argument("--feature-cache", help="the semantic codec recipe's feature cache: semantic ids from it")
    parser.add_argument("--stride", type=positive, default=1,
                        help="take every N-th utterance of the manifest (a small held-out set)")
    parser.add_argument("--phones", choices=["auto", "yes", "no"], default="auto",
                        help="phone ids of the transcripts: auto (when every utterance has text and language)")
    parser.add_argument("--lang", help="language of utterances whose manifest line has none")
    parser.add_argument("--vocab", help="phone vocabulary JSON (default: the official 363 phones)")
    parser.add_argument("--normalization", choices=["full", "reference"], default="full")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return exit_status(lambda: extract(
        args.manifest, args.model, args.out, args.shard_size, args.device, args.semantic, args.quiet,
        args.phones, args.lang, args.vocab, args.normalization, args.ids, args.feature_cache, args.stride,
    ))


if __name__ == "__main__":
    sys.exit(main())
