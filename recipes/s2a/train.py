"""Train (or fine-tune) an S2A model: semantic ids + acoustic prompt -> acoustic ids.

    python -m recipes.s2a.train --config recipes/s2a/configs/official_1layer.yaml \
        --set data.train_shards=data/tokens/train --set run.exp_dir=exp/s2a_1layer
    python -m recipes.s2a.train --config recipes/s2a/configs/official_full.yaml ...

    accelerate launch -m recipes.s2a.train ...      # or: torchrun --nproc_per_node N -m ...

Two models make the official S2A: `model.predict_layer_1: true` with `num_quantizer: 1`
(layer 1 alone) and the full model (12 layers, trained on layers 2-12 given layer 1). A
full model with `predict_layer_1: true` learns all 12 layers alone (the demo's: half the
training of two models); it is exported as `s2a_full` and the pipeline then needs no
`s2a_1layer`.
Input: token shards with semantic and acoustic ids, cut into random crops of
`data.max_frames`. The objective is the reference's (`S2AModel.masked_loss`) plus middle
spans (`data.span_ratio`). `model.target: latent` (a demo option, s2a/latent.py) regresses
the codec's continuous latent instead of classifying codes; `latent.codec` names the model
folder whose codec made the ids (its code -> latent table is copied into the model; a run
that starts from a latent S2A, `finetune.init_from`, keeps that model's table instead); with
`model.aligned_phones` each frame is also told its phone, from `phones.train_shards` (T2S's
aligned shards, joined by utterance id). Checkpoints export `s2a_model/s2a_model_{1layer,full}/` +
config.json to `export_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from maskvox.checkpoint import load_model_config, write_model_folder
from maskvox.config import S2AConfig
from maskvox.errors import UserError
from maskvox.frame_phones import fit_mean_frames
from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables
from maskvox.s2a.model import S2AModel, s2a_model_class

from ..common.cli import run_recipe
from ..common.shards import TokenCorpus
from ..common.token_training import (
    FineTuneConfig, TokenDataConfig, TokenOptimConfig, load_initial_weights, train_token_model,
)
from ..common.trainer import RunConfig, TrainingRun
from .soft_targets import codec_soft_targets


@dataclass
class SoftTargetConfig:
    """Learn the codes near each label too (recipes/s2a/soft_targets.py); weight 0: plain
    cross-entropy, as the reference trains."""

    weight: float = 0.0  # of the soft term; the label's own cross-entropy keeps 1 - weight
    neighbours: int = 4  # about this many codes share the mass with the label
    codec: str = ""  # model folder whose acoustic codec made the shards' ids


@dataclass
class LatentTargetConfig:
    """For `model.target: latent` (s2a/latent.py): where the code -> latent table and the
    latents' standardisation come from, when a run starts."""

    codec: str = ""  # model folder whose acoustic codec made the shards' ids ("": init_from's table)
    stats_items: int = 300  # training utterances whose latents give the per-dimension mean and std


@dataclass
class FramePhoneShardsConfig:
    """For `model.aligned_phones` (a latent S2A told each frame's phone): shards with frame
    phones (recipes.token_shards.align, T2S's), joined to the S2A shards by utterance id."""

    train_shards: str = ""
    heldout_shards: str = ""


@dataclass
class S2ATrainConfig:
    model: S2AConfig = field(default_factory=S2AConfig)
    data: TokenDataConfig = field(default_factory=lambda: TokenDataConfig(max_frames=500))
    optim: TokenOptimConfig = field(default_factory=TokenOptimConfig)
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    soft: SoftTargetConfig = field(default_factory=SoftTargetConfig)
    latent: LatentTargetConfig = field(default_factory=LatentTargetConfig)
    phones: FramePhoneShardsConfig = field(default_factory=FramePhoneShardsConfig)
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # official-layout model folder; empty: <exp_dir>/export


def module_name(cfg: S2AConfig) -> str:
    return "s2a_1layer" if cfg.num_quantizer == 1 else "s2a_full"


def starts_from_latent_model(cfg: S2ATrainConfig) -> bool:
    """Whether finetune.init_from holds a latent S2A: its code -> latent table and latent
    statistics are in its weights, so fine-tuning it needs no codec (a GPU lease carries less)."""
    if not cfg.finetune.init_from:
        return False
    return getattr(load_model_config(cfg.finetune.init_from), module_name(cfg.model)).target == "latent"


class AlignedCrops(torch.utils.data.Dataset):
    """Random crops of at most `max_frames` aligned semantic and acoustic frames, with the
    item's phone ids and the crop's frame owners (None for an item without them)."""

    def __init__(self, corpus: TokenCorpus, max_frames: int, num_quantizer: int):
        self.items = [item for item in corpus.items if len(item.semantic) > 0]
        layers = self.items[0].acoustic.shape[1] if self.items else 0
        if layers < num_quantizer:
            raise UserError(f"the shards hold {layers} acoustic layers, the model needs {num_quantizer}")
        self.max_frames, self.num_quantizer = max_frames, num_quantizer

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        start = int(torch.randint(0, max(1, len(item.semantic) - self.max_frames + 1), ()))
        end = start + self.max_frames
        aligned = item.frame_phones is not None
        return (torch.from_numpy(item.semantic[start:end]),
                torch.from_numpy(item.acoustic[start:end, : self.num_quantizer]),
                torch.from_numpy(item.phones) if aligned else None,
                torch.from_numpy(item.frame_phones[start:end]) if aligned else None)


def first_layers(state: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """A checkpoint of a model with more acoustic layers cut to its first `layers`: the layer
    embedding's rows and the per-layer token tables and heads above them are dropped (the demo's
    S2A predicts the first 4 layers only; see configs/demo.yaml)."""
    kept = {}
    for key, value in state.items():
        family, _, rest = key.partition(".")
        if family in ("token_emb", "to_logits") and int(rest.split(".")[0]) >= layers:
            continue
        kept[key] = value[:layers] if key == "layer_emb.weight" else value
    return kept


def adapted(state: dict[str, torch.Tensor], model: S2AModel) -> dict[str, torch.Tensor]:
    """Another S2A's weights for `model`: cut to its layers (`first_layers`); a latent model
    starting from a token model drops the code logits and keeps its own fresh head and tables."""
    state = first_layers(state, model.num_quantizer)
    if isinstance(model, S2ALatentModel):
        own = model.state_dict()
        state = {key: value for key, value in state.items() if key in own}
        state.update({key: value for key, value in own.items() if key not in state})
    return state


def collate(crops) -> dict:
    batch = {"semantic": [crop[0] for crop in crops], "acoustic": [crop[1] for crop in crops]}
    if any(crop[3] is not None for crop in crops):
        batch.update(phones=[crop[2] for crop in crops], frame_phones=[crop[3] for crop in crops])
    return batch


def corpus_with_phones(shards: str, phone_shards: str, aligned: bool, quiet: bool) -> TokenCorpus:
    """The S2A shards; for a model with `aligned_phones`, joined with the frame phones' shards."""
    corpus = TokenCorpus(shards, need=("semantic", "acoustic"))
    if aligned:
        if not phone_shards:
            raise UserError("model.aligned_phones needs phones.train_shards and phones.heldout_shards: "
                            "shards with frame phones (recipes.token_shards.align)")
        joined = corpus.join_frame_phones(phone_shards)
        if not quiet:
            print(f"{shards}: {joined} of {len(corpus)} utterances have frame phones ({phone_shards})")
    return corpus


def train(cfg: S2ATrainConfig) -> TrainingRun:
    # The data first: a bad corpus is reported before the run folder is created.
    if cfg.model.target == "latent" and not cfg.latent.codec and not starts_from_latent_model(cfg):
        raise UserError("model.target latent needs latent.codec: the model folder whose acoustic codec made the ids "
                        "(or finetune.init_from a latent S2A, whose code table and statistics it keeps)")
    aligned, quiet = cfg.model.aligned_phones, cfg.run.quiet
    corpus = corpus_with_phones(cfg.data.train_shards, cfg.phones.train_shards, aligned, quiet)
    dataset = AlignedCrops(corpus, cfg.data.max_frames, cfg.model.num_quantizer)
    heldout = None
    if cfg.data.heldout_shards:
        heldout_corpus = corpus_with_phones(cfg.data.heldout_shards, cfg.phones.heldout_shards, aligned, quiet)
        heldout = AlignedCrops(heldout_corpus, cfg.data.max_frames, cfg.model.num_quantizer)
    run = TrainingRun(cfg.run, full_config=cfg, find_unused_parameters=True)
    name = module_name(cfg.model)
    model = s2a_model_class(cfg.model)(cfg.model)
    fresh = not run.checkpoints()
    if cfg.finetune.init_from and fresh:
        load_initial_weights(model, cfg.finetune.init_from, name, adapt=lambda state: adapted(state, model))
    if isinstance(model, S2ALatentModel) and fresh:
        if cfg.latent.codec:  # else the tables came with init_from's weights
            from maskvox.codecs.pretrained import load_acoustic_codec

            sample = [torch.from_numpy(item.acoustic) for item in dataset.items[: cfg.latent.stats_items]]
            fit_latent_tables(model, load_acoustic_codec(cfg.latent.codec), sample)
        if model.frame_phones is not None:
            fit_mean_frames(model.frame_phones, [(item.phones, item.frame_phones) for item in dataset.items
                                                 if item.frame_phones is not None])

    def export(weights) -> None:
        def update(model_cfg):
            setattr(model_cfg, name, cfg.model)

        write_model_folder(cfg.export_dir or f"{cfg.run.exp_dir}/export", {name: weights}, update)

    objective = None
    if cfg.soft.weight > 0:
        if not 0 < cfg.soft.weight <= 1 or not cfg.soft.codec:
            raise UserError("soft.weight must lie in (0, 1] and soft.codec name the model folder of the codec")
        targets = codec_soft_targets(cfg.soft.codec, cfg.model.num_quantizer, cfg.soft.neighbours)

        def objective(model, batch):  # (held-out figures stay plain cross-entropy)
            return model(batch, cfg.data.span_ratio, None, targets, cfg.soft.weight)

    return train_token_model(run, model, dataset, collate, cfg.data, cfg.optim, export, objective, heldout=heldout)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(S2ATrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
