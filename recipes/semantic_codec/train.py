"""Train the semantic codec: a VQ-VAE over normalised SSL features (w2v-BERT 2.0 layer 17),
or fit the demo's k-means codec over them (model.kind: kmeans).

    python -m recipes.semantic_codec.train --config recipes/semantic_codec/configs/official.yaml \
        --set data.train_manifest=data/corpus/train.jsonl --set run.exp_dir=exp/semantic_codec

Stage 1 extracts the features of every utterance once (frozen SSL model, first `layer`
blocks) into `data.feature_cache` as float16 .npy files, written atomically: an
interrupted extraction resumes where it stopped, and several processes split the work.
Stage 2 trains on random crops: L1 reconstruction (x `l1_weight`, as Amphion's RepCodec
family) + optional MSE + the quantizer's codebook and commitment losses. Checkpoints
export `semantic_codec/model.safetensors` and the config to `export_dir`.

With model.kind: kmeans, stage 2 is instead Lloyd's k-means over an even spread of at most
`data.kmeans_frames` cached frames (`data.kmeans_iterations` passes, seeded by run.seed); it
exports the centroids and writes `kmeans.json` (frames, code perplexity, mean squared distance
per pass) to the experiment folder. It takes minutes, so it is redone rather than resumed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from maskvox.audio import load_audio
from maskvox.checkpoint import write_model_folder
from maskvox.codecs.kmeans import KMeansCodec, fit_kmeans, nearest_centroid
from maskvox.codecs.pretrained import load_semantic_features
from maskvox.codecs.semantic import SemanticCodec
from maskvox.config import SemanticCodecConfig, SemanticFeaturesConfig
from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from ..common.manifest import Utterance, cache_stem, read_manifest
from ..common.cli import forever, run_recipe
from ..common.trainer import RunConfig, TrainingRun


@dataclass
class SemanticDataConfig:
    train_manifest: str = ""
    segment_frames: int = 100  # 2 s at 50 Hz
    batch_size: int = 16
    feature_cache: str = ""  # empty: <exp_dir>/features
    stats_items: int = 400  # utterances whose features give a new encoder layer's statistics
    kmeans_frames: int = 400_000  # model.kind kmeans: frames fitted (float32: 2 KB each at 512 wide)
    kmeans_iterations: int = 30


@dataclass
class SemanticOptimConfig:
    lr: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.99)
    weight_decay: float = 0.0
    lr_decay: float = 0.999996
    grad_clip: float = 1.0


@dataclass
class SemanticLossConfig:
    l1_weight: float = 32.0
    mse_weight: float = 0.0
    vq_weight: float = 1.0


@dataclass
class SemanticCodecTrainConfig:
    model: SemanticCodecConfig = field(default_factory=SemanticCodecConfig)
    features: SemanticFeaturesConfig = field(default_factory=SemanticFeaturesConfig)
    data: SemanticDataConfig = field(default_factory=SemanticDataConfig)
    optim: SemanticOptimConfig = field(default_factory=SemanticOptimConfig)
    loss: SemanticLossConfig = field(default_factory=SemanticLossConfig)
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # official-layout model folder; empty: <exp_dir>/export


def export_folder(cfg: SemanticCodecTrainConfig) -> str:
    return cfg.export_dir or f"{cfg.run.exp_dir}/export"


def feature_path(cache: Path, item: Utterance) -> Path:
    return cache / f"{cache_stem(item)}.npy"


def ensure_feature_stats(cfg: SemanticCodecTrainConfig, items: list[Utterance], run: TrainingRun) -> None:
    """Write the statistics file `features.stats` names, when it does not exist yet: mean and
    variance of the raw features of up to `data.stats_items` utterances (an even spread)."""
    if not cfg.features.stats:
        return  # the shipped w2v-BERT 2.0 layer-17 statistics
    path = Path(cfg.features.stats)
    path = path if path.is_absolute() else Path(export_folder(cfg)) / path
    if run.is_main and not path.exists():
        extractor = load_semantic_features(cfg.features, base=export_folder(cfg), device=str(run.device), normalize=False)
        step = max(1, len(items) // cfg.data.stats_items)
        total, squares, frames = 0.0, 0.0, 0
        for item in tqdm(items[::step][: cfg.data.stats_items], desc="feature statistics", disable=cfg.run.quiet):
            features = extractor([load_audio(item.audio, cfg.features.sample_rate)])[0][0].double()
            total, squares, frames = total + features.sum(0), squares + (features ** 2).sum(0), frames + len(features)
        mean = total / frames
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.savez(out, mean=mean.float().numpy(), var=(squares / frames - mean ** 2).float().numpy())
    run.accelerator.wait_for_everyone()


def extract_features(cfg: SemanticCodecTrainConfig, items: list[Utterance], cache: Path, run: TrainingRun) -> None:
    """Stage 1: features of every utterance, skipping those already cached."""
    world, rank = run.accelerator.num_processes, run.accelerator.process_index
    todo = [item for item in items[rank::world] if not feature_path(cache, item).exists()]
    if todo:
        # Relative paths name files of the model folder being built (the demo's own encoder).
        extractor = load_semantic_features(cfg.features, base=export_folder(cfg), device=str(run.device))
        rate = cfg.features.sample_rate
        for item in tqdm(todo, desc="features", disable=cfg.run.quiet or not run.is_main):
            features, _ = extractor([load_audio(item.audio, rate)])
            if features.shape[-1] != cfg.model.hidden_size:
                raise UserError(
                    f"the SSL model gives {features.shape[-1]}-dimensional features, "
                    f"model.hidden_size is {cfg.model.hidden_size}"
                )
            with atomic_path(feature_path(cache, item)) as tmp, open(tmp, "wb") as out:
                np.save(out, features[0].cpu().numpy().astype(np.float16))
    run.accelerator.wait_for_everyone()


class FeatureCrops(torch.utils.data.Dataset):
    """Random crops of `frames` frames (zero-padded if shorter) from cached features."""

    def __init__(self, paths: list[Path], frames: int):
        self.features = [np.load(p, mmap_mode="r") for p in paths]
        self.frames = frames

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features[index]
        length = features.shape[0]
        start = int(torch.randint(0, max(1, length - self.frames + 1), ()).item())
        crop = torch.from_numpy(np.asarray(features[start : start + self.frames], dtype=np.float32))
        mask = torch.ones(crop.shape[0])
        pad = self.frames - crop.shape[0]
        return F.pad(crop, (0, 0, 0, pad)), F.pad(mask, (0, pad))


def codebook_perplexity(codes: torch.Tensor, codebook_size: int) -> float:
    """exp(entropy) of the code histogram: how many codes are effectively in use."""
    probabilities = torch.bincount(codes.flatten(), minlength=codebook_size).float() / codes.numel()
    return float(torch.exp(-(probabilities * torch.log(probabilities + 1e-10)).sum()))


# Bounds checked before any frame is read: 2 M frames of 1024 values are 8 GB of float32.
MAX_KMEANS_FRAMES = 2_000_000
MAX_KMEANS_ITERATIONS = 500


def check_kmeans_config(cfg: SemanticCodecTrainConfig) -> None:
    if not cfg.model.codebook_size <= cfg.data.kmeans_frames <= MAX_KMEANS_FRAMES:
        raise UserError(
            f"data.kmeans_frames must be between model.codebook_size ({cfg.model.codebook_size}) "
            f"and {MAX_KMEANS_FRAMES}, got {cfg.data.kmeans_frames}")
    if not 1 <= cfg.data.kmeans_iterations <= MAX_KMEANS_ITERATIONS:
        raise UserError(f"data.kmeans_iterations must be between 1 and {MAX_KMEANS_ITERATIONS}, "
                        f"got {cfg.data.kmeans_iterations}")


def spread_frames(paths: list[Path], limit: int) -> torch.Tensor:
    """At most `limit` frames (N, D) taken at one even stride through all cached utterances."""
    lengths = [np.load(p, mmap_mode="r").shape[0] for p in paths]
    stride = max(1, -(-sum(lengths) // limit))
    frames, offset = [], 0
    for path, length in zip(paths, lengths):
        first = (-offset) % stride  # continue the stride across utterance boundaries
        frames.append(np.asarray(np.load(path, mmap_mode="r")[first::stride], dtype=np.float32))
        offset += length
    return torch.from_numpy(np.concatenate(frames)[:limit])


def fit_kmeans_codec(cfg: SemanticCodecTrainConfig, paths: list[Path], run: TrainingRun) -> None:
    """Stage 2 for model.kind kmeans: fit, export, and record the fit in kmeans.json."""
    frames = spread_frames(paths, cfg.data.kmeans_frames)
    if len(frames) < cfg.model.codebook_size:
        raise UserError(f"k-means of {cfg.model.codebook_size} codes needs at least as many frames; "
                        f"the manifest gives {len(frames)}")
    distances: list[float] = []
    centroids = fit_kmeans(frames, cfg.model.codebook_size, cfg.data.kmeans_iterations, cfg.run.seed,
                           history=distances, quiet=cfg.run.quiet)
    codec = KMeansCodec(cfg.model)
    codec.centroids.copy_(centroids)
    ids = nearest_centroid(frames, centroids)
    write_model_folder(export_folder(cfg), {"semantic_codec": codec}, partial(update_model_config, cfg))
    summary = {"frames": len(frames), "codes": cfg.model.codebook_size, "iterations": cfg.data.kmeans_iterations,
               "code_perplexity": codebook_perplexity(ids, cfg.model.codebook_size),
               "mean_squared_distance": distances}
    with atomic_path(Path(cfg.run.exp_dir) / "kmeans.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1) + "\n")


def update_model_config(cfg: SemanticCodecTrainConfig, model_cfg) -> None:
    model_cfg.semantic_codec = cfg.model
    model_cfg.semantic_features = cfg.features


def train(cfg: SemanticCodecTrainConfig) -> TrainingRun:
    if cfg.model.kind == "kmeans":
        check_kmeans_config(cfg)
    elif cfg.model.kind != "vq":
        raise UserError(f"model.kind must be vq or kmeans, not {cfg.model.kind!r}")
    run = TrainingRun(cfg.run, full_config=cfg)
    items = read_manifest(cfg.data.train_manifest)
    cache = Path(cfg.data.feature_cache or f"{cfg.run.exp_dir}/features")
    cache.mkdir(parents=True, exist_ok=True)
    ensure_feature_stats(cfg, items, run)
    extract_features(cfg, items, cache, run)
    if cfg.model.kind == "kmeans":
        if run.is_main:
            fit_kmeans_codec(cfg, [feature_path(cache, item) for item in items], run)
        return run
    dataset = FeatureCrops([feature_path(cache, item) for item in items], cfg.data.segment_frames)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.data.batch_size, shuffle=True, drop_last=len(dataset) >= cfg.data.batch_size
    )
    model = SemanticCodec(cfg.model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.optim.lr_decay)
    model, optimizer, loader, scheduler = run.prepare(model, optimizer, loader, scheduler)
    run.track_ema(model)
    run.resume()

    def export() -> None:
        write_model_folder(export_folder(cfg), {"semantic_codec": run.weights_for_export(model)},
                           partial(update_model_config, cfg))

    batches = forever(loader)
    model.train()
    for _ in run.steps():
        features, mask = next(batches)
        with run.accelerator.autocast():
            reconstruction, vq = model(features)
        frames = mask.sum().clamp(min=1)
        error = (reconstruction.float() - features) * mask[..., None]
        l1 = error.abs().mean(-1).sum() / frames
        mse = error.pow(2).mean(-1).sum() / frames
        vq_loss = vq.commitment_loss.sum() + vq.codebook_loss.sum()
        total = cfg.loss.l1_weight * l1 + cfg.loss.mse_weight * mse + cfg.loss.vq_weight * vq_loss
        grad_norm = run.backward(total, optimizer, model.parameters(), cfg.optim.grad_clip)
        scheduler.step()
        run.update_ema(model)
        run.log(**{
            "loss/l1": l1, "loss/mse": mse, "loss/vq": vq_loss, "loss/total": total, "grad_norm": grad_norm,
            "codebook_perplexity": codebook_perplexity(vq.codes[:, mask.bool()], cfg.model.codebook_size),
        })
        run.maybe_save(export)
    run.finish(export)
    return run


def main(argv: list[str] | None = None) -> int:
    return run_recipe(SemanticCodecTrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
