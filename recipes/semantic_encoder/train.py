"""Train a small semantic encoder: transformers' Wav2Vec2-BERT, from scratch, with a phone CTC head.

    python -m recipes.semantic_encoder.train --config recipes/semantic_encoder/configs/demo.yaml \
        --set data.train_manifest=data/corpus_v2/train.jsonl --set run.exp_dir=exp/demo/semantic_encoder

w2v-BERT 2.0's weights cannot be had offline, so the demo uses the same architecture at a
small size, trained to recognise the phones of the text front-end (CTC; the padding id 1023
is the blank, the word separator `_` is not a target). Its hidden state after block `layer`
is the semantic feature, as block 17 is for w2v-BERT 2.0; its CTC head is the aligner that
speech editing uses.

Stage 1 caches every utterance's fbank input (the w2v-BERT front-end, 160 values per 20 ms)
and phone ids as float16/int16 .npy files, atomically, so it resumes. Stage 2 trains on
length-bucketed batches. The export writes `semantic_features/` into `export_dir`: the
encoder in transformers' format (config.json, model.safetensors, preprocessor_config.json),
`ctc_head.safetensors`, and `stats.npz`: the mean and variance of the `layer` features over
`stats_utterances` training utterances, which the semantic codec's input is normalised by.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maskvox.audio import SEMANTIC_RATE, load_audio
from maskvox.checkpoint import save_module, write_model_folder
from maskvox.config import SemanticFeaturesConfig
from maskvox.errors import TextError, UserError
from maskvox.fileio import atomic_path
from maskvox.text import TextFrontEnd
from maskvox.text.vocab import PAD_ID

from ..common.cli import forever, run_recipe
from ..common.manifest import Utterance, cache_stem, read_manifest
from ..common.token_training import TokenOptimConfig, warmup_adamw
from ..common.trainer import RunConfig, TrainingRun, optimize

FOLDER = "semantic_features"  # inside the model folder, named by config.json's semantic_features.model
CTC_BLANK = PAD_ID
WORD_SEPARATOR = "_"


@dataclass
class EncoderModelConfig:
    """Sizes of the Wav2Vec2BertConfig (the rest keeps w2v-BERT 2.0's values)."""

    hidden_size: int = 144
    num_hidden_layers: int = 6
    num_attention_heads: int = 4
    intermediate_size: int = 576
    conv_depthwise_kernel_size: int = 15
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.1
    mask_time_prob: float = 0.05  # SpecAugment during training, as w2v-BERT fine-tuning does
    position_embeddings_type: str = "relative_key"  # w2v-BERT 2.0's; "rotary" trains faster


@dataclass
class EncoderDataConfig:
    train_manifest: str = ""
    batch_size: int = 16
    max_frames: int = 500  # longer utterances (10 s) are left out
    cache: str = ""  # empty: <exp_dir>/inputs


@dataclass
class SemanticEncoderTrainConfig:
    model: EncoderModelConfig = field(default_factory=EncoderModelConfig)
    layer: int = 4  # the block whose output is the semantic feature
    stats_utterances: int = 400
    data: EncoderDataConfig = field(default_factory=EncoderDataConfig)
    # AdamW's own betas (not the token models').
    optim: TokenOptimConfig = field(default_factory=lambda: TokenOptimConfig(
        lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01, warmup_steps=300, grad_clip=5.0))
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # model folder (official layout); empty: <exp_dir>/export


def wav2vec2_bert_config(cfg: SemanticEncoderTrainConfig):
    from transformers import Wav2Vec2BertConfig

    if not 1 <= cfg.layer <= cfg.model.num_hidden_layers:
        raise UserError(f"layer {cfg.layer} is outside 1..{cfg.model.num_hidden_layers}")
    return Wav2Vec2BertConfig(
        **asdict(cfg.model), layerdrop=0.0, vocab_size=PAD_ID + 1, pad_token_id=CTC_BLANK,
        ctc_loss_reduction="mean", ctc_zero_infinity=True,
    )


def fbank_extractor():
    from transformers import SeamlessM4TFeatureExtractor

    return SeamlessM4TFeatureExtractor()  # w2v-BERT 2.0's own front-end settings


def ctc_targets(phone_ids: tuple[int, ...], separator_id: int) -> np.ndarray:
    return np.asarray([i for i in phone_ids if i != separator_id], dtype=np.int16)


def cache_paths(cache: Path, item: Utterance) -> tuple[Path, Path]:
    stem = cache_stem(item)
    return cache / f"{stem}.fbank.npy", cache / f"{stem}.phones.npy"


def cache_inputs(items: list[Utterance], cache: Path, quiet: bool) -> list[tuple[Path, Path]]:
    """Stage 1: the fbank input and CTC targets of each utterance; returns those usable."""
    cache.mkdir(parents=True, exist_ok=True)
    frontend, fbank = TextFrontEnd(), fbank_extractor()
    separator = frontend.vocabulary.ids[WORD_SEPARATOR]
    kept = []
    for item in tqdm(items, desc="inputs", disable=quiet):
        fbank_path, phones_path = cache_paths(cache, item)
        if not phones_path.exists():
            try:
                targets = ctc_targets(frontend(item.text, item.language).ids, separator)
            except TextError as error:
                tqdm.write(f"note: left out {item.id}: {error}")
                continue
            features = fbank([load_audio(item.audio, SEMANTIC_RATE)], sampling_rate=SEMANTIC_RATE,
                             return_tensors="np")["input_features"][0]
            with atomic_path(fbank_path) as tmp, open(tmp, "wb") as out:
                np.save(out, features.astype(np.float16))
            with atomic_path(phones_path) as tmp, open(tmp, "wb") as out:
                np.save(out, targets)
        kept.append((fbank_path, phones_path))
    return kept


class BucketedBatches(torch.utils.data.IterableDataset):
    """Padded batches of utterances of similar length, in a new random order each epoch."""

    def __init__(self, inputs: list[tuple[Path, Path]], batch_size: int, max_frames: int, seed: int):
        self.fbanks = [np.load(f, mmap_mode="r") for f, _ in inputs]
        self.targets = [np.load(p) for _, p in inputs]
        lengths = np.array([len(f) for f in self.fbanks])
        self.usable = [i for i in range(len(inputs)) if lengths[i] <= max_frames and 0 < len(self.targets[i]) < lengths[i]]
        if not self.usable:
            raise UserError(f"no utterance is at most {max_frames} frames long with fewer phones than frames")
        self.lengths, self.batch_size = lengths, batch_size
        self.generator = np.random.default_rng(seed)

    def epoch(self) -> list[list[int]]:
        order = self.generator.permutation(self.usable)
        chunk = 32 * self.batch_size
        batches = []
        for start in range(0, len(order), chunk):
            block = sorted(order[start : start + chunk], key=lambda i: self.lengths[i])
            batches += [block[i : i + self.batch_size] for i in range(0, len(block), self.batch_size)]
        return [batches[i] for i in self.generator.permutation(len(batches))]

    def collate(self, batch: list[int]) -> dict[str, torch.Tensor]:
        frames = max(self.lengths[i] for i in batch)
        phones = max(len(self.targets[i]) for i in batch)
        features = torch.ones(len(batch), frames, self.fbanks[batch[0]].shape[1])  # 1 is the front-end's pad value
        mask = torch.zeros(len(batch), frames, dtype=torch.long)
        labels = torch.full((len(batch), phones), -100, dtype=torch.long)
        for row, i in enumerate(batch):
            features[row, : self.lengths[i]] = torch.from_numpy(np.asarray(self.fbanks[i], dtype=np.float32))
            mask[row, : self.lengths[i]] = 1
            labels[row, : len(self.targets[i])] = torch.from_numpy(self.targets[i].astype(np.int64))
        return {"input_features": features, "attention_mask": mask, "labels": labels}

    def __iter__(self):
        for batch in self.epoch():
            yield self.collate(batch)


@torch.no_grad()
def layer_statistics(model, data: BucketedBatches, layer: int, utterances: int, device) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of hidden_states[layer] over the frames of the first `utterances` usable items."""
    model.eval()
    total, squares, count = 0.0, 0.0, 0
    for i in data.usable[:utterances]:
        batch = data.collate([i])
        hidden = model.wav2vec2_bert(
            input_features=batch["input_features"].to(device), output_hidden_states=True
        ).hidden_states[layer][0].double()
        total, squares, count = total + hidden.sum(0), squares + hidden.pow(2).sum(0), count + len(hidden)
    mean = total / count
    model.train()
    return mean.float().cpu().numpy(), (squares / count - mean.pow(2)).float().cpu().numpy()


def export_encoder(model, stats: tuple[np.ndarray, np.ndarray], cfg: SemanticEncoderTrainConfig) -> None:
    """`semantic_features/` of the model folder, replaced whole (written aside, then renamed)."""
    folder = Path(cfg.export_dir or f"{cfg.run.exp_dir}/export")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=folder))
    model.wav2vec2_bert.save_pretrained(str(staging), safe_serialization=True)
    fbank_extractor().save_pretrained(str(staging))
    save_module(model.lm_head, staging / "ctc_head.safetensors")
    np.savez(staging / "stats.npz", mean=stats[0], var=stats[1])
    final = folder / FOLDER
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)

    def update(model_cfg):
        model_cfg.semantic_features = SemanticFeaturesConfig(model=FOLDER, layer=cfg.layer, stats=f"{FOLDER}/stats.npz")

    write_model_folder(folder, {}, update)


def train(cfg: SemanticEncoderTrainConfig) -> TrainingRun:
    from transformers import Wav2Vec2BertForCTC

    run = TrainingRun(cfg.run, full_config=cfg)
    np.random.seed(cfg.run.seed)  # transformers' SpecAugment draws from numpy's global generator
    items = read_manifest(cfg.data.train_manifest)
    inputs = cache_inputs(items, Path(cfg.data.cache or f"{cfg.run.exp_dir}/inputs"), cfg.run.quiet)
    data = BucketedBatches(inputs, cfg.data.batch_size, cfg.data.max_frames, cfg.run.seed)
    model = Wav2Vec2BertForCTC(wav2vec2_bert_config(cfg))
    optimizer, scheduler = warmup_adamw(model.parameters(), cfg.optim)
    model, optimizer, scheduler = run.prepare(model, optimizer, scheduler)
    run.track_ema(model)
    run.resume()

    def export() -> None:
        best = run.weights_for_export(model)
        export_encoder(best, layer_statistics(best, data, cfg.layer, cfg.stats_utterances, run.device), cfg)

    def objective(batch) -> dict:
        return {"loss/ctc": model(**{key: value.to(run.device) for key, value in batch.items()}).loss}

    batches = forever(torch.utils.data.DataLoader(data, batch_size=None))
    return optimize(run, model, optimizer, scheduler, batches, objective, "loss/ctc", cfg.optim.grad_clip, export)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(SemanticEncoderTrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
