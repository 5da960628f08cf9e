"""The training run every recipe shares: devices, resuming, logging, EMA, loss curves.

Built on `accelerate`, so one script runs on a CPU, one GPU, or several processes
(`accelerate launch` or `torchrun`). A run lives in `exp_dir`:

    config.yaml            the full config of the run
    log.jsonl              averaged losses every `log_every` steps
    loss.png               the loss curves
    checkpoints/step_N/    model, optimizer, scheduler, RNG and step (resume from the newest)

A checkpoint folder is written under a temporary name and renamed when complete, so a
crash never leaves a half-written checkpoint to resume from.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from tqdm import tqdm

from maskvox.config import save_config
from maskvox.fileio import atomic_path


@dataclass
class RunConfig:
    exp_dir: str = "exp/run"
    max_steps: int = 100_000
    # A wall-clock budget (0: none), checked at each log step: the run stops at the first one past
    # it, saves and exports as at max_steps, so a lease of fixed length (a borrowed GPU) ends
    # with a usable model.
    max_minutes: float = 0.0
    log_every: int = 50
    save_every: int = 1000
    keep_checkpoints: int = 2
    seed: int = 1234
    device: str = "auto"  # "auto" (the GPU if there is one) or "cpu"
    mixed_precision: str = "auto"  # "no", "bf16", "fp16", or "auto": bf16 where the GPU has it
    ema_decay: float = 0.0  # 0 disables the exponential moving average of the weights
    quiet: bool = False


class StepCounter:
    """The global step and the CPU seconds spent reaching it, saved and restored with the
    checkpoints (learning curves are read against compute, not only steps)."""

    def __init__(self):
        self.step = 0
        self.cpu_seconds = 0.0

    def state_dict(self) -> dict:
        return {"step": self.step, "cpu_seconds": self.cpu_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))  # older checkpoints lack it


def warmup_ema(decay: float) -> Callable:
    """An EMA update whose decay grows as (1 + n) / (10 + n) up to `decay` over the first updates
    n: with a fixed 0.999 the first, near-random weights would still weigh 37 % after 1000 steps,
    and the early exports (and their held-out figures) would lag the model far behind."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


def resolve_mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


class TrainingRun:
    def __init__(self, run: RunConfig, full_config=None, find_unused_parameters: bool = False):
        """`find_unused_parameters`: the model leaves some parameters out of some steps (S2A
        trains one layer's head per step), which distributed data parallel must be told."""
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        self.cfg = run
        # cpu=True is also what makes accelerate run several CPU processes (torchrun, gloo)
        # as one job rather than as independent copies.
        on_cpu = run.device == "cpu" or not torch.cuda.is_available()
        self.accelerator = Accelerator(
            cpu=on_cpu,
            mixed_precision="no" if on_cpu else resolve_mixed_precision(run.mixed_precision),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
        )
        # Offset by the process index: ranks draw different masks and crops.
        set_seed(run.seed, device_specific=True)
        self.exp_dir = Path(run.exp_dir)
        self.checkpoint_dir = self.exp_dir / "checkpoints"
        self.counter = StepCounter()
        self.accelerator.register_for_checkpointing(self.counter)
        self.ema: nn.Module | None = None
        self._bar: tqdm | None = None
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._cpu_mark = time.process_time()
        if self.is_main:
            self.exp_dir.mkdir(parents=True, exist_ok=True)
            if full_config is not None:
                save_config(full_config, self.exp_dir / "config.yaml")

    # -- set-up ---------------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def step(self) -> int:
        return self.counter.step

    def prepare(self, *objects):
        return self.accelerator.prepare(*objects)

    def track_ema(self, model: nn.Module) -> None:
        """Keep an exponential moving average of `model` (if ema_decay > 0), checkpointed too."""
        if self.cfg.ema_decay <= 0:
            return
        from torch.optim.swa_utils import AveragedModel

        self.ema = AveragedModel(
            self.accelerator.unwrap_model(model), multi_avg_fn=warmup_ema(self.cfg.ema_decay), use_buffers=True
        )
        self.accelerator.register_for_checkpointing(self.ema)

    def update_ema(self, model: nn.Module) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.accelerator.unwrap_model(model))

    def weights_for_export(self, model: nn.Module) -> nn.Module:
        """The EMA weights if tracked, else the model's own."""
        return self.ema.module if self.ema is not None else self.accelerator.unwrap_model(model)

    # -- resuming and saving ----------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        found = [p for p in self.checkpoint_dir.glob("step_*") if p.is_dir() and p.name[5:].isdigit()]
        return sorted(found, key=lambda p: int(p.name[5:]))

    def resume(self) -> bool:
        """Load the newest complete checkpoint, if any; trims the log to its step."""
        existing = self.checkpoints()
        if not existing:
            return False
        self.accelerator.load_state(str(existing[-1]))
        if self.is_main:
            self._trim_log(self.step)
        return True

    def save(self) -> Path:
        final = self.checkpoint_dir / f"step_{self.step}"
        partial = self.checkpoint_dir / f".partial_step_{self.step}"
        if self.is_main and partial.exists():
            shutil.rmtree(partial)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(partial))
        self.accelerator.wait_for_everyone()
        if self.is_main:
            if final.exists():
                shutil.rmtree(final)
            partial.rename(final)
            for old in self.checkpoints()[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old)
        return final

    # -- the loop -----------------------------------------------------------------------------

    def steps(self) -> Iterator[int]:
        """Step numbers from the current one to max_steps (or the wall-clock budget), with a progress bar."""
        bar = tqdm(
            total=self.cfg.max_steps, initial=self.step, disable=self.cfg.quiet or not self.is_main,
            desc=self.exp_dir.name, dynamic_ncols=True,
        )
        self._bar = bar
        self._cpu_mark = time.process_time()  # set-up and data loading before the loop do not count
        deadline = time.monotonic() + 60 * self.cfg.max_minutes if self.cfg.max_minutes > 0 else math.inf
        try:
            while self.step < self.cfg.max_steps:
                yield self.step
                self.counter.step += 1
                bar.update(1)
                if self.step % self.cfg.log_every == 0:
                    self._flush_log()
                    if self._past(deadline):
                        break
        finally:
            bar.close()

    def _past(self, deadline: float) -> bool:
        """Whether any process is past the wall-clock budget: all stop at the same step."""
        if deadline == math.inf:
            return False
        past = torch.tensor(float(time.monotonic() >= deadline), device=self.device)
        return bool(self.accelerator.reduce(past, reduction="sum") > 0)

    def log(self, **losses: float | torch.Tensor) -> None:
        for name, value in losses.items():
            value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            if math.isfinite(value):
                self._sums[name] += value
                self._counts[name] += 1

    def backward(self, loss: torch.Tensor, optimizer, parameters, max_norm: float) -> float:
        """Backward, clip, step; returns the gradient norm before clipping."""
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        norm = self.accelerator.clip_grad_norm_(parameters, max_norm)
        optimizer.step()
        return float(norm)

    def maybe_save(self, export: Callable[[], None] | None = None) -> None:
        if self.step % self.cfg.save_every == 0 and self.step > 0:
            self.save()
            if export is not None and self.is_main:
                export()

    def finish(self, export: Callable[[], None] | None = None) -> None:
        self._flush_log()
        if not self.checkpoints() or self.checkpoints()[-1].name != f"step_{self.step}":
            self.save()
        if self.is_main:
            if export is not None:
                export()
                self._flush_log(reduce=False)  # what the export logged (held-out figures): a last record
            plot_losses(self.exp_dir / "log.jsonl", self.exp_dir / "loss.png")
        self.accelerator.wait_for_everyone()

    # -- logging --------------------------------------------------------------------------------

    def flush_log(self) -> None:
        """Write what was logged since the last record as a record of the current step."""
        self._flush_log()

    def _flush_log(self, reduce: bool = True) -> None:
        """`reduce=False` writes the main process's figures alone (called there only)."""
        if not self._counts:
            return
        names = sorted(self._sums)
        means = torch.tensor([self._sums[n] / self._counts[n] for n in names], device=self.device)
        if reduce:
            means = self.accelerator.reduce(means, reduction="mean")  # over processes
        now = time.process_time()
        self.counter.cpu_seconds += now - self._cpu_mark
        self._cpu_mark = now
        record = {"step": self.step, **{name: float(value) for name, value in zip(names, means)},
                  "cpu_hours": round(self.counter.cpu_seconds / 3600, 6)}
        self._sums.clear()
        self._counts.clear()
        if self.is_main:
            with open(self.exp_dir / "log.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            if self._bar is not None:
                shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in record.items() if k != "step"}
                self._bar.set_postfix(shown, refresh=False)

    def _trim_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be redone)."""
        log = self.exp_dir / "log.jsonl"
        if not log.exists():
            return
        kept = [line for line in log.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        with atomic_path(log) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))


def optimize(run: TrainingRun, model: nn.Module, optimizer, scheduler, batches: Iterator, objective: Callable,
             loss_name: str, grad_clip: float, export: Callable[[], None]) -> TrainingRun:
    """The step loop of a recipe whose step is one objective: until run.cfg.max_steps, the next
    batch through `objective(batch)` (under autocast; it returns the named values to log), a
    backward pass on the value `loss_name` names, the scheduler, the EMA, the log (with the
    gradient norm and learning rate) and the periodic save through `export`; then the last save."""
    model.train()
    for _ in run.steps():
        batch = next(batches)
        with run.accelerator.autocast():
            values = objective(batch)
        grad_norm = run.backward(values[loss_name], optimizer, model.parameters(), grad_clip)
        scheduler.step()
        run.update_ema(model)
        run.log(**values, grad_norm=grad_norm, lr=scheduler.get_last_lr()[0])
        run.maybe_save(export)
    run.finish(export)
    return run


def read_log(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(log_path: str | Path, png_path: str | Path) -> None:
    """One panel per loss, against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    names = sorted({key for record in records for key in record if key not in ("step", "cpu_hours")})
    if not names:
        return
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        points = [(r["step"], r[name]) for r in records if name in r]
        axis.plot([p[0] for p in points], [p[1] for p in points], linewidth=1)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, dpi=90)
    plt.close(figure)
