"""Train (or fine-tune) the T2S model: phones + prompt semantic ids -> target semantic ids.

    python -m recipes.t2s.train --config recipes/t2s/configs/official.yaml \
        --set data.train_shards=data/tokens/train --set run.exp_dir=exp/t2s

    accelerate launch -m recipes.t2s.train ...      # or: torchrun --nproc_per_node N -m ...

Input: token shards with semantic and phone ids (`recipes.token_shards`). The objective is
the reference's (see `T2SModel.masked_loss`) plus middle spans (`data.span_ratio`) for
editing. Fine-tuning: `finetune.init_from` names a model folder or hub repo; a bigger
`model.phone_vocab_size` grows the phone table, `finetune.new_phone_ids` initialises rows
for new phones. Checkpoints export `t2s_model/model.safetensors` + config.json to `export_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from maskvox.checkpoint import write_model_folder
from maskvox.config import T2SConfig
from maskvox.errors import UserError
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
    """Whole utterances (phones, semantic ids) of at most `max_frames` frames."""

    def __init__(self, corpus: TokenCorpus, max_frames: int, phone_vocab_size: int):
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
        return torch.from_numpy(item.phones), torch.from_numpy(item.semantic)


def collate(pairs) -> dict:
    return {"phones": [p for p, _ in pairs], "semantic": [s for _, s in pairs]}


def build_model(cfg: T2STrainConfig, run: TrainingRun) -> T2SModel:
    model = T2SModel(cfg.model)
    if cfg.finetune.init_from and not run.checkpoints():
        # A model with alignment help (model.progress_embedding) may start from one without it:
        # its progress layer keeps its zeros, so it starts exactly where that model stood.
        fresh = {key: value for key, value in model.state_dict().items() if key.startswith("progress.")}

        def adapt(state):
            return {**fresh, **grow_phone_table(state, cfg.model.phone_vocab_size)}

        load_initial_weights(model, cfg.finetune.init_from, "t2s", adapt=adapt)
        if cfg.finetune.new_phone_ids:
            model.init_new_phones(cfg.finetune.new_phone_ids)
    return model


def train(cfg: T2STrainConfig) -> TrainingRun:
    # The data first: a bad corpus is reported before the run folder is created.
    corpus = TokenCorpus(cfg.data.train_shards, need=("semantic", "phones"))
    dataset = PhoneSemanticPairs(corpus, cfg.data.max_frames, cfg.model.phone_vocab_size)
    heldout = None
    if cfg.data.heldout_shards:
        heldout_corpus = TokenCorpus(cfg.data.heldout_shards, need=("semantic", "phones"))
        heldout = PhoneSemanticPairs(heldout_corpus, cfg.data.max_frames, cfg.model.phone_vocab_size)
    run = TrainingRun(cfg.run, full_config=cfg, find_unused_parameters=True)
    model = build_model(cfg, run)

    def export(weights) -> None:
        def update(model_cfg):
            model_cfg.t2s = cfg.model

        write_model_folder(cfg.export_dir or f"{cfg.run.exp_dir}/export", {"t2s": weights}, update)

    return train_token_model(run, model, dataset, collate, cfg.data, cfg.optim, export, heldout=heldout)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(T2STrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
