"""The training loop of the masked token models (T2S, S2A): token shards in, official layout out.

Each model's `forward(batch, span_ratio)` is its masked objective and returns a dict with
`loss` (or pass another `objective`: the duration model's flow matching); this loop adds the
rest: AdamW with warm-up and inverse-square-root decay, gradient clipping, EMA, bf16 autocast
where the GPU has it, resumable checkpoints, fine-tuning from existing weights, and export to
a model folder.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

from maskvox.checkpoint import load_module, official_file
from maskvox.errors import UserError

from .cli import forever
from .trainer import TrainingRun, optimize


@dataclass
class TokenDataConfig:
    train_shards: str = ""  # folder of shard-*.npz (recipes.token_shards.extract)
    batch_size: int = 16
    max_frames: int = 1500  # T2S: longer utterances are skipped; S2A: random crops of this length
    span_ratio: float = 0.2  # share of items masked in a middle span (context both sides)
    num_workers: int = 0
    # Held-out shards (other speakers): at every save, the masked loss and accuracy of the
    # exported weights on `heldout_items` of them, with the same masks each time (seeded),
    # logged as heldout/loss and heldout/accuracy. Empty: none.
    heldout_shards: str = ""
    heldout_items: int = 200


@dataclass
class TokenOptimConfig:
    """AdamW with a linear warm-up, then lr * sqrt(warmup / step), and gradient clipping: the
    masked token models' (these defaults) and the CTC recipes' (their own defaults)."""

    lr: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.98)
    weight_decay: float = 0.01
    warmup_steps: int = 4000  # then lr * sqrt(warmup / step)
    grad_clip: float = 1.0
    # A run that starts from another's weights (finetune.init_from) can continue its decay:
    # lr * min(step / warmup, sqrt(warmup / (step + schedule_offset))), so the fresh optimizer
    # warms up to the rate the other run had reached instead of to the peak.
    schedule_offset: int = 0


@dataclass
class FineTuneConfig:
    init_from: str = ""  # model folder or hub repo whose weights start the run (fresh runs only)
    new_phone_ids: list[int] = field(default_factory=list)  # T2S: rows to initialise for new phones


def warmup_inverse_sqrt(warmup_steps: int, offset: int = 0) -> Callable[[int], float]:
    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / max(warmup_steps, 1), (max(warmup_steps, 1) / (step + offset)) ** 0.5)

    return factor


def warmup_adamw(parameters, optim: TokenOptimConfig):
    """The optimizer and scheduler `optim` describes."""
    optimizer = torch.optim.AdamW(parameters, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    schedule = warmup_inverse_sqrt(optim.warmup_steps, optim.schedule_offset)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def load_initial_weights(model: nn.Module, location: str, module_name: str, adapt=None) -> None:
    """Start from the `module_name` weights at `location`, strictly (after `adapt(state)`)."""
    load_module(model, official_file(location, module_name), adapt=adapt)


def spread_subset(dataset: torch.utils.data.Dataset, count: int) -> torch.utils.data.Dataset:
    """At most `count` items taken at an even stride: the same ones on every run."""
    stride = max(1, -(-len(dataset) // count))
    return torch.utils.data.Subset(dataset, list(range(0, len(dataset), stride))[:count])


@contextlib.contextmanager
def conditional_only(model: nn.Module) -> Iterator[None]:
    """No unconditional (CFG) draws while scoring: every item sees its context."""
    saved = model.cfg.cfg_scale
    model.cfg.cfg_scale = 0.0
    try:
        yield
    finally:
        model.cfg.cfg_scale = saved


@torch.no_grad()
def heldout_figures(model: nn.Module, dataset, collate: Callable, batch_size: int, seed: int = 0) -> dict:
    """Mean masked loss and accuracy over `dataset`, with masks drawn from `seed` (the training
    random state is left as it was), prompt prefixes only (no middle spans). A model of several
    acoustic layers (S2A) is also scored on each layer it predicts, with the same masks:
    heldout/accuracy_layer<l> (1-based), since the mixed figure hides the layer that matters."""
    from accelerate.utils import send_to_device

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    def batch_at(start: int):
        """Items start.. collated, on the model's device: training batches get there through the
        prepared loader, these are collated here."""
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        return send_to_device(collate(items), device)

    def mean_figures(*layer) -> dict[str, float]:
        """The loss, the accuracy and the loss's parts (`loss_*`) the model returns, averaged over `dataset`.
        Collated inside the seeded draws on every pass: the items' random crops come from the
        same generator as the masks, so each pass sees the same crops and masks, as every
        earlier held-out figure did."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            values = [model(batch_at(start), 0.0, *layer) for start in range(0, len(dataset), batch_size)]
        names = [name for name in values[0] if name in ("loss", "accuracy") or name.startswith("loss_")]
        return {name: sum(float(v[name]) for v in values) / len(values) for name in names}

    layers = getattr(model, "num_quantizer", 1)
    with conditional_only(model):
        # A regression model (the latent S2A) has a loss, perhaps its parts, and no accuracy.
        figures = {f"heldout/{name}": value for name, value in mean_figures().items()}
        if "heldout/accuracy" in figures:
            for layer in range(getattr(model, "first_layer", 0), layers if layers > 1 else 0):
                figures[f"heldout/accuracy_layer{layer + 1}"] = mean_figures(layer)["accuracy"]
    model.train(was_training)
    return figures


def train_token_model(
    run: TrainingRun,
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    collate: Callable,
    data: TokenDataConfig,
    optim: TokenOptimConfig,
    export: Callable[[nn.Module], None],
    objective: Callable[[nn.Module, object], dict] | None = None,
    heldout: torch.utils.data.Dataset | None = None,
) -> TrainingRun:
    """Train until run.cfg.max_steps; `export(weights)` writes the model folder.

    `objective(model, batch)` returns a dict with `loss` (default: `model(batch, data.span_ratio)`).
    `heldout`: items scored at every save (`heldout_figures`, at most `data.heldout_items`).
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

    if heldout is not None and data.heldout_items < 1:
        raise UserError(f"data.heldout_items must be at least 1, got {data.heldout_items}")
    scored = spread_subset(heldout, data.heldout_items) if heldout is not None else None

    def write() -> None:
        weights = run.weights_for_export(model)
        export(weights)
        if scored is not None:  # logged with the next record
            run.log(**heldout_figures(weights, scored, collate, data.batch_size))

    def logged(batch) -> dict:
        return {f"train/{name}": value for name, value in objective(model, batch).items()}

    return optimize(run, model, optimizer, scheduler, forever(loader), logged, "train/loss", optim.grad_clip, write)
