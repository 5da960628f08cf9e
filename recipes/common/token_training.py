"""The training loop of the masked token models (T2S, S2A): token shards in, official layout out.

Each model's `forward(batch, span_ratio)` is its masked objective and returns a dict with
`loss` (or pass another `objective`: the duration model's flow matching); this loop adds the
rest: AdamW with warm-up and inverse-square-root decay, gradient clipping, EMA, bf16 autocast
where the GPU has it, resumable checkpoints, fine-tuning from existing weights, and export to
a model folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from maskvox.checkpoint import load_module, official_file

from .cli import forever
from .trainer import TrainingRun, optimize


@dataclass
class TokenDataConfig:
    train_shards: str = ""  # folder of shard-*.npz (recipes.token_shards.extract)
    batch_size: int = 16
    max_frames: int = 1500  # T2S: longer utterances are skipped; S2A: random crops of this length
    span_ratio: float = 0.2  # share of items masked in a middle span (context both sides)
    num_workers: int = 0


@dataclass
class TokenOptimConfig:
    """AdamW with a linear warm-up, then lr * sqrt(warmup / step), and gradient clipping: the
    masked token models' (these defaults) and the CTC recipes' (their own defaults)."""

    lr: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.98)
    weight_decay: float = 0.01
    warmup_steps: int = 4000  # then lr * sqrt(warmup / step)
    grad_clip: float = 1.0


@dataclass
class FineTuneConfig:
    init_from: str = ""  # model folder or hub repo whose weights start the run (fresh runs only)
    new_phone_ids: list[int] = field(default_factory=list)  # T2S: rows to initialise for new phones


def warmup_inverse_sqrt(warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / max(warmup_steps, 1), (max(warmup_steps, 1) / step) ** 0.5)

    return factor


def warmup_adamw(parameters, optim: TokenOptimConfig):
    """The optimizer and scheduler `optim` describes."""
    optimizer = torch.optim.AdamW(parameters, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_inverse_sqrt(optim.warmup_steps))


def load_initial_weights(model: nn.Module, location: str, module_name: str, adapt=None) -> None:
    """Start from the `module_name` weights at `location`, strictly (after `adapt(state)`)."""
    load_module(model, official_file(location, module_name), adapt=adapt)


def train_token_model(
    run: TrainingRun,
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    collate: Callable,
    data: TokenDataConfig,
    optim: TokenOptimConfig,
    export: Callable[[nn.Module], None],
    objective: Callable[[nn.Module, object], dict] | None = None,
) -> TrainingRun:
    """Train until run.cfg.max_steps; `export(weights)` writes the model folder.

    `objective(model, batch)` returns a dict with `loss` (default: `model(batch, data.span_ratio)`).
    """
    objective = objective or (lambda model, batch: model(batch, data.span_ratio))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=data.batch_size, shuffle=True, collate_fn=collate,
        drop_last=len(dataset) >= data.batch_size, num_workers=data.num_workers,
    )
    optimizer, scheduler = warmup_adamw(model.parameters(), optim)
    model, optimizer, loader, scheduler = run.prepare(model, optimizer, loader, scheduler)
    run.track_ema(model)
    run.resume()

    def write() -> None:
        export(run.weights_for_export(model))

    def logged(batch) -> dict:
        return {f"train/{name}": value for name, value in objective(model, batch).items()}

    return optimize(run, model, optimizer, scheduler, forever(loader), logged, "train/loss", optim.grad_clip, write)
