"""Train the CTC phone aligner: a small convolutional head over frozen semantic features.

    python -m recipes.aligner.train --config recipes/aligner/configs/demo.yaml \
        --set data.train_manifest=data/corpus_v2/train.jsonl --set export_dir=exp/demo/model

The features are those the model folder `export_dir` names in its config.json
(`semantic_features`: w2v-BERT 2.0 layer 17 by default, or the demo encoder), so the head
learns on exactly what `maskvox.aligner.Aligner` will see. The targets are the spoken phones
of the transcript read word by word (`maskvox.aligner.transcript_words`), as the aligner reads
them; the padding id is the CTC blank.

Stage 1 extracts the normalised features of every utterance once into `data.feature_cache`
as float16 .npy files named as `recipes.semantic_codec` names them (so the semantic codec's
cache serves as it is), written atomically: an interrupted extraction resumes where it
stopped, and several processes split the work. Stage 2 trains with CTC on length-bucketed
(or random) batches. Checkpoints export `aligner/model.safetensors` and the `aligner`
section of config.json into `export_dir`, beside the models already there.
"""

from __future__ import annotations

import collections
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from maskvox.aligner import PhoneCTCHead, transcript_words
from maskvox.audio import load_audio
from maskvox.checkpoint import load_model_config, load_module, official_file, write_model_folder
from maskvox.codecs.pretrained import load_semantic_features
from maskvox.config import AlignerConfig, ModelConfig, save_config
from maskvox.errors import TextError, UserError
from maskvox.fileio import atomic_path
from maskvox.text import TextFrontEnd, UnknownPhoneWarning

from ..common.cli import forever, run_recipe
from ..common.manifest import Utterance, read_manifest
from ..common.token_training import TokenOptimConfig, warmup_adamw
from ..common.trainer import RunConfig, TrainingRun, optimize
from ..semantic_codec.train import feature_path
from ..token_shards.extract import report_unknown_phones


@dataclass
class AlignerDataConfig:
    train_manifest: str = ""
    batch_size: int = 16
    max_frames: int = 1000  # longer utterances (20 s) are left out
    bucketed: bool = True  # batches of similar lengths (less padding); False: random batches
    # Normalised features as float16 .npy, one encoder's only (point elsewhere for another encoder);
    # empty: <exp_dir>/features.
    feature_cache: str = ""


@dataclass
class AlignerTrainConfig:
    # feature_dim is taken from the extracted features, whatever is written here.
    model: AlignerConfig = field(default_factory=AlignerConfig)
    data: AlignerDataConfig = field(default_factory=AlignerDataConfig)
    # AdamW's own betas (not the token models').
    optim: TokenOptimConfig = field(default_factory=lambda: TokenOptimConfig(
        lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01, warmup_steps=200, grad_clip=5.0))
    run: RunConfig = field(default_factory=RunConfig)
    # The model folder whose semantic features the head reads, and where it is written;
    # empty: <exp_dir>/export (the official features: w2v-BERT 2.0 layer 17).
    export_dir: str = ""
    # A model folder whose aligner (of `model`'s sizes) the run starts from when it has no
    # checkpoint of its own: a committed milestone, so a fresh machine goes on from it.
    init_from: str = ""


def export_folder(cfg: AlignerTrainConfig) -> str:
    return cfg.export_dir or f"{cfg.run.exp_dir}/export"


# -- stage 1: targets and features ---------------------------------------------------------------

def phone_targets(items: list[Utterance], quiet: bool) -> dict[str, np.ndarray]:
    """The aligner's phone ids of each usable utterance (by id); the others are left out with a note."""
    frontend = TextFrontEnd()
    targets = {}
    unknown: collections.Counter = collections.Counter()
    for item in tqdm(items, desc="phones", disable=quiet):
        try:
            # A warning per word would flood a corpus run: count them, report once below.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnknownPhoneWarning)
                words = transcript_words(item.text, item.language, frontend)
        except TextError as error:
            tqdm.write(f"note: left out {item.id}: {error}")
            continue
        unknown.update((item.language, w.message.phone) for w in caught if isinstance(w.message, UnknownPhoneWarning))
        if words:
            targets[item.id] = np.asarray([phone for word in words for phone in word.phones], dtype=np.int64)
        else:
            tqdm.write(f"note: left out {item.id}: no spoken words in its transcript")
    report_unknown_phones(unknown)
    return targets


def extract_features(cfg: AlignerTrainConfig, items: list[Utterance], cache: Path, run: TrainingRun) -> None:
    """Features of every utterance not cached yet (this process's share of them)."""
    world, rank = run.accelerator.num_processes, run.accelerator.process_index
    todo = [item for item in items[rank::world] if not feature_path(cache, item).exists()]
    if todo:
        folder = export_folder(cfg)
        # A folder not written yet gets the official sizes when exported: w2v-BERT 2.0 features.
        features_cfg = (load_model_config(folder) if Path(folder).is_dir() else ModelConfig()).semantic_features
        # Relative paths in the config name files of the model folder itself (the demo's encoder).
        extractor = load_semantic_features(features_cfg, base=folder, device=str(run.device))
        for item in tqdm(todo, desc="features", disable=cfg.run.quiet or not run.is_main):
            features, _ = extractor([load_audio(item.audio, features_cfg.sample_rate)])
            with atomic_path(feature_path(cache, item)) as tmp, open(tmp, "wb") as out:
                np.save(out, features[0].cpu().numpy().astype(np.float16))
    run.accelerator.wait_for_everyone()


def ctc_min_frames(targets: np.ndarray) -> int:
    """The fewest frames a CTC path of `targets` needs: one per phone, plus a blank between repeats."""
    return len(targets) + int(np.sum(targets[1:] == targets[:-1]))


# -- stage 2: batches ------------------------------------------------------------------------------

class AlignerBatches(torch.utils.data.IterableDataset):
    """Padded batches of (features, phone targets), a new order each epoch."""

    def __init__(self, paths: list[Path], targets: list[np.ndarray], data: AlignerDataConfig, seed: int):
        self.features = [np.load(p, mmap_mode="r") for p in paths]
        widths = {f.shape[1] for f in self.features}
        if len(widths) > 1:
            raise UserError(f"the feature cache mixes feature widths {sorted(widths)}: "
                            "clear it or set data.feature_cache")
        self.feature_dim = widths.pop()
        self.targets = targets
        self.lengths = np.array([f.shape[0] for f in self.features])
        self.usable = [
            i for i, length in enumerate(self.lengths)
            if length <= data.max_frames and ctc_min_frames(targets[i]) <= length
        ]
        if not self.usable:
            raise UserError(f"no utterance is at most {data.max_frames} frames long with frames for all its phones")
        self.batch_size, self.bucketed = data.batch_size, data.bucketed
        self.generator = np.random.default_rng(seed)

    def epoch(self) -> list[list[int]]:
        order = self.generator.permutation(self.usable)
        if not self.bucketed:
            return [list(order[i : i + self.batch_size]) for i in range(0, len(order), self.batch_size)]
        # Sort within blocks of 32 batches: similar lengths together, yet a different mix each epoch.
        chunk = 32 * self.batch_size
        batches = []
        for start in range(0, len(order), chunk):
            block = sorted(order[start : start + chunk], key=lambda i: self.lengths[i])
            batches += [block[i : i + self.batch_size] for i in range(0, len(block), self.batch_size)]
        return [batches[i] for i in self.generator.permutation(len(batches))]

    def collate(self, batch: list[int]) -> dict[str, torch.Tensor]:
        frames = int(max(self.lengths[i] for i in batch))
        # Zero padding: the normalised features' mean, which is also what the convolutions pad with.
        features = torch.zeros(len(batch), frames, self.feature_dim)
        for row, i in enumerate(batch):
            features[row, : self.lengths[i]] = torch.from_numpy(np.asarray(self.features[i], dtype=np.float32))
        return {
            "features": features,
            "frame_lengths": torch.tensor([self.lengths[i] for i in batch]),
            "targets": torch.from_numpy(np.concatenate([self.targets[i] for i in batch])),
            "target_lengths": torch.tensor([len(self.targets[i]) for i in batch]),
        }

    def __iter__(self):
        for batch in self.epoch():
            yield self.collate(batch)


def ctc_loss(log_probs: torch.Tensor, batch: dict[str, torch.Tensor], blank: int) -> torch.Tensor:
    """Mean over the batch of each utterance's CTC loss divided by its phone count."""
    return F.ctc_loss(
        log_probs.float().transpose(0, 1), batch["targets"], batch["frame_lengths"], batch["target_lengths"],
        blank=blank, reduction="mean", zero_infinity=True,
    )


# -- the run ----------------------------------------------------------------------------------------

def load_training_data(cfg: AlignerTrainConfig, run: TrainingRun) -> AlignerBatches:
    items = read_manifest(cfg.data.train_manifest)
    targets = phone_targets(items, cfg.run.quiet or not run.is_main)
    items = [item for item in items if item.id in targets]
    if not items:
        raise UserError(f"{cfg.data.train_manifest}: no utterance has a transcript the front-end can read")
    cache = Path(cfg.data.feature_cache or f"{cfg.run.exp_dir}/features")
    cache.mkdir(parents=True, exist_ok=True)
    extract_features(cfg, items, cache, run)
    # Offset by the process index: with several processes, each trains on other batches.
    seed = cfg.run.seed + run.accelerator.process_index
    return AlignerBatches([feature_path(cache, item) for item in items], [targets[item.id] for item in items],
                          cfg.data, seed)


def new_head(cfg: AlignerTrainConfig, run: TrainingRun) -> PhoneCTCHead:
    """The head to train: from `init_from`'s aligner when the run has no checkpoint to resume."""
    model = PhoneCTCHead(cfg.model)
    if cfg.init_from and not run.checkpoints():
        load_module(model, official_file(cfg.init_from, "aligner"))
        if run.is_main and not cfg.run.quiet:
            print(f"starting from the aligner of {cfg.init_from}", file=sys.stderr)
    return model


def train(cfg: AlignerTrainConfig) -> TrainingRun:
    run = TrainingRun(cfg.run, full_config=cfg)
    data = load_training_data(cfg, run)
    cfg.model.feature_dim = data.feature_dim
    if run.is_main:  # again, now with the features' width
        save_config(cfg, run.exp_dir / "config.yaml")
    model = new_head(cfg, run)
    optimizer, scheduler = warmup_adamw(model.parameters(), cfg.optim)
    model, optimizer, scheduler = run.prepare(model, optimizer, scheduler)
    run.track_ema(model)
    run.resume()

    def export() -> None:
        def update(model_cfg):
            model_cfg.aligner = cfg.model

        write_model_folder(export_folder(cfg), {"aligner": run.weights_for_export(model)}, update)

    def objective(batch) -> dict:
        batch = {key: value.to(run.device) for key, value in batch.items()}
        # ctc_loss computes in float32 whatever the autocast (it casts the log-probabilities).
        return {"loss/ctc": ctc_loss(model(batch["features"]), batch, cfg.model.blank_id)}

    batches = forever(torch.utils.data.DataLoader(data, batch_size=None))
    return optimize(run, model, optimizer, scheduler, batches, objective, "loss/ctc", cfg.optim.grad_clip, export)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(AlignerTrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
