"""Train the total-duration predictor by conditional flow matching.

    python -m recipes.token_shards.extract --manifest data/corpus/train.jsonl --ids no \
        --out data/phones/train
    python -m recipes.duration.train --config recipes/duration/configs/default.yaml \
        --set data.train_shards=data/phones/train --set run.exp_dir=exp/duration

Each step pairs every target utterance with another utterance of the same speaker as the
prompt (`pairs.py`). Input: shards with phone ids, frame counts, speakers and languages; the
token shards of T2S serve as they are. Resumable; checkpoints export
`duration_model/model.safetensors` and its config into `export_dir` (a model folder, which
may already hold the other models).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from maskvox.checkpoint import write_model_folder
from maskvox.config import DurationConfig
from maskvox.duration.model import DurationModel

from ..common.cli import run_recipe
from ..common.token_training import TokenOptimConfig, train_token_model
from ..common.trainer import RunConfig, TrainingRun
from .pairs import SpeakerPairs, collate, usable_utterances


@dataclass
class DurationDataConfig:
    train_shards: str = ""  # shards with phones and frame counts (recipes.token_shards.extract)
    batch_size: int = 64
    max_phones: int = 600  # longer utterances are left out
    num_workers: int = 0


@dataclass
class DurationTrainConfig:
    model: DurationConfig = field(default_factory=DurationConfig)
    data: DurationDataConfig = field(default_factory=DurationDataConfig)
    optim: TokenOptimConfig = field(default_factory=lambda: TokenOptimConfig(lr=5e-4, warmup_steps=500))
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # model folder; empty: <exp_dir>/export


def flow_matching_objective(model, batch: dict) -> dict:
    return {"loss": model(batch["batch"], batch["frames"])}


def train(cfg: DurationTrainConfig) -> TrainingRun:
    dataset = SpeakerPairs(usable_utterances(cfg.data.train_shards, cfg.data.max_phones))
    run = TrainingRun(cfg.run, full_config=cfg)
    model = DurationModel(cfg.model)

    def export(weights) -> None:
        def update(model_cfg):
            model_cfg.duration = cfg.model

        write_model_folder(cfg.export_dir or f"{cfg.run.exp_dir}/export", {"duration": weights}, update)

    return train_token_model(run, model, dataset, collate, cfg.data, cfg.optim, export, flow_matching_objective)


def main(argv: list[str] | None = None) -> int:
    return run_recipe(DurationTrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
