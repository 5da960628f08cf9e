"""Train (or fine-tune) the T2S model: phones + prompt semantic ids -> target semantic ids.

    python -m recipes.t2s.train --config recipes/t2s/configs/official.yaml \
        --set data.train_shards=data/tokens/train --set run.exp_dir=exp/t2s

    accelerate launch -m recipes.t2s.train ...      # or: torchrun --nproc_per_node N -m ...

Input: token shards with semantic and phone ids (`recipes.token_shards`). The objective is
the reference's (see `T2SModel.masked_loss`) plus middle spans (`data.span_ratio`) for
editing. Fine-tuning: `finetune.init_from` names a model folder or hub repo; a bigger
`model.phone_vocab_size` grows the phone table, `finetune.new_phone_ids` initialises rows
for new phones. `model.aligned_phones` (alignment help, maskvox/frame_phones.py) needs shards with
frame phones (`recipes.token_shards.align`). Checkpoints export `t2s_model/model.safetensors` + config.json to `export_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from maskvox.checkpoint import write_model_folder
from maskvox.config import T2SConfig
from maskvox.errors import UserError
from maskvox.frame_phones import fit_mean_frames
from maskvox.t2s.model import T2SModel, grow_phone_table

from ..common.cli import run_recipe
from ..common.shards import TokenCorpus
from ..common.token_training import (
    FineTuneConfig, TokenDataConfig, TokenOptimConfig, load_initial_weights, train_token_model,
)
from ..common.trainer import RunConfig, TrainingRun


@dataclass
class T2STrainConfig:
    model: T2SConfig = field(default_factory=T2SConfig)
    data: TokenDataConfig = field(default_factory=TokenDataConfig)
    optim: TokenOptimConfig = field(default_factory=TokenOptimConfig)
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # official-layout model folder; empty: <exp_dir>/export


class PhoneSemanticPairs(torch.utils.data.Dataset):
    """Whole utterances (phones, semantic ids) of at most `max_frames` frames; with
    `frame_phones`, each frame's phone too (phones, semantic ids, owners)."""

    def __init__(self, corpus: TokenCorpus, max_frames: int, phone_vocab_size: int, frame_phones: bool = False):
        self.frame_phones = frame_phones
        self.items = [item for item in corpus.items if 0 < len(item.semantic) <= max_frames and len(item.phones)]
        if not self.items:
            raise UserError(f"no utterance has between 1 and {max_frames} frames and some phones")
        largest = max(int(item.phones.max()) for item in self.items)
        if largest >= phone_vocab_size:
            raise UserError(f"phone id {largest} is outside the phone table ({phone_vocab_size} rows)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        if self.frame_phones:
            return torch.from_numpy(item.phones), torch.from_numpy(item.semantic), torch.from_numpy(item.frame_phones)
        return torch.from_numpy(item.phones), torch.from_numpy(item.semantic)


def collate(items) -> dict:
    batch = {"phones": [item[0] for item in items], "semantic": [item[1] for item in items]}
    if len(items[0]) == 3:
        batch["frame_phones"] = [item[2] for item in items]
    return batch


def build_model(cfg: T2STrainConfig, run: TrainingRun) -> T2SModel:
    model = T2SModel(cfg.model)
    if cfg.finetune.init_from and not run.checkpoints():
        # A model with alignment help (model.progress_embedding) may start from one without it:
        # its progress layer keeps its zeros, so it starts exactly where that model stood.
        fresh = {key: value for key, value in model.state_dict().items()
                 if key.startswith(("progress.", "frame_phones."))}

        def adapt(state):
            return {**fresh, **grow_phone_table(state, cfg.model.phone_vocab_size)}

        load_initial_weights(model, cfg.finetune.init_from, "t2s", adapt=adapt)
        if cfg.finetune.new_phone_ids:
            model.init_new_phones(cfg.finetune.new_phone_ids)
    return model


def train(cfg: T2STrainConfig) -> TrainingRun:
    # The data first: a bad corpus is reported before the run folder is created.
    aligned = cfg.model.aligned_phones
    need = ("semantic", "phones", "frame_phones") if aligned else ("semantic", "phones")
    corpus = TokenCorpus(cfg.data.train_shards, need=need)
    dataset = PhoneSemanticPairs(corpus, cfg.data.max_frames, cfg.model.phone_vocab_size, aligned)
    heldout = None
    if cfg.data.heldout_shards:
        heldout_corpus = TokenCorpus(cfg.data.heldout_shards, need=need)
        heldout = PhoneSemanticPairs(heldout_corpus, cfg.data.max_frames, cfg.model.phone_vocab_size, aligned)
    run = TrainingRun(cfg.run, full_config=cfg, find_unused_parameters=True)
    model = build_model(cfg, run)
    if aligned and not run.checkpoints():
        # Generation spreads phones over frames by their mean lengths in these alignments.
        fit_mean_frames(model.frame_phones, [(item.phones, item.frame_phones) for item in dataset.items])

    def export(weights) -> None:
        def update(model_cfg):
            model_cfg.t2s = cfg.model

        write_model_folder(cfg.export_dir or f"{cfg.run.exp_dir}/export", {"t2s": weights}, update)

    return train_token_model(run, model, dataset, collate, cfg.data, cfg.optim, export, heldout=heldout)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(T2STrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
