"""Distil the HiFi-GAN universal V1 generator into a smaller one: the demo's vocoder at a
fraction of the cost.

    python -m recipes.vocoder.distill --config recipes/vocoder/configs/demo_v2.yaml

V1 takes 0.3-0.5 s per second of audio on one CPU thread, most of a `fast` clone's time; V2's
sizes (upsample_initial_channel 128, 0.93 M parameters) take about a fourteenth of that. The
student reads the same mel as the teacher and regresses the teacher's waveform, cached by
`recipes/vocoder/teacher.py`: DAC's multi-scale mel L1, and optionally L1 on the samples
(`loss.wave_weight`: the teacher is deterministic, so even its phase is a target). No
discriminator: the teacher, not the recording, is the target. The samples of `margin_frames`
at each end of a crop are left out of the loss, since the teacher saw the whole utterance
there and the student only the crop.

The demo's run (`configs/demo_v2.yaml`) dropped the samples' L1 at step 5000: from a random
start the student's phase is its own (sample correlation with V1 0.02 after 5000 steps), and
the L1 of two unrelated waveforms only pulls the student towards silence. Without it the
held-out mel error fell faster and the voice came closer (recipes/demo/RESULTS.md).

Held-out figures (the same losses on fixed crops of `data.heldout_cache`, and the correlation
of the student's samples with the teacher's: how much of V1's phase it has) are logged at every
save. Each save exports the student (EMA weights if enabled) to `export_dir`: the folder a
model's `acoustic_codec.decoder.vocoder_folder` names (config.json, generator.safetensors).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maskvox.checkpoint import load_module, save_module
from maskvox.codecs.gan import MelLossConfig, MultiScaleMelLoss
from maskvox.codecs.hifigan import HifiganConfig, HifiganGenerator
from maskvox.codecs.hifigan_data import CONFIG_NAME, WEIGHTS_NAME
from maskvox.errors import UserError
from maskvox.fileio import write_json

from ..common.cli import forever, run_recipe
from ..common.trainer import RunConfig, TrainingRun

V2_SIZES = HifiganConfig(upsample_initial_channel=128)


@dataclass
class DistillDataConfig:
    train_cache: str = ""  # a teacher cache folder (recipes/vocoder/teacher.py)
    heldout_cache: str = ""  # one of held-out utterances: figures at every save ("": none)
    heldout_items: int = 64
    segment_frames: int = 40  # mel frames of a crop (40 x 256 samples, 0.46 s at 22.05 kHz)
    margin_frames: int = 4  # at each end of a crop, outside the loss
    batch_size: int = 16
    codec_share: float = 0.5  # crops from the codec's mels, where the cache has them


@dataclass
class DistillLossConfig:
    mel: MelLossConfig = field(default_factory=MelLossConfig)
    mel_weight: float = 15.0
    wave_weight: float = 0.0  # the samples' L1 (45 at first in the demo's run; see the docstring)


@dataclass
class DistillOptimConfig:
    lr: float = 2e-4
    betas: tuple[float, ...] = (0.8, 0.99)
    lr_decay: float = 0.99999  # per step (exponential)
    grad_clip: float = 1000.0


@dataclass
class DistillConfig:
    student: HifiganConfig = field(default_factory=lambda: V2_SIZES)
    data: DistillDataConfig = field(default_factory=DistillDataConfig)
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    optim: DistillOptimConfig = field(default_factory=DistillOptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    export_dir: str = ""  # empty: <exp_dir>/export
    init_from: str = ""  # an exported student that starts a run with no checkpoint yet


class TeacherCrops(torch.utils.data.Dataset):
    """Random crops of the cached utterances: (mel (80, F), teacher's waveform (F * hop,)).

    The whole cache is read into memory once (an hour of audio is about 0.3 GB in float16).
    Item i is utterance i mod n, cropped where the dataset's own generator says, so a
    dataset made with the same seed gives the same crops in the same order.
    """

    def __init__(self, folder: str | Path, frames: int, hop: int, codec_share: float, seed: int = 0):
        files = sorted(Path(folder).glob("*.npz"))
        if not files:
            raise UserError(f"{folder}: no teacher cache (.npz files); run recipes.vocoder.teacher first")
        self.frames, self.hop, self.codec_share = frames, hop, codec_share
        self.items: list[dict[str, np.ndarray]] = []
        for path in files:
            with np.load(path) as cached:
                item = {name: cached[name] for name in cached.files}
            if item["mel_true"].shape[1] >= frames:
                self.items.append(item)
        if not self.items:
            raise UserError(f"{folder}: no cached utterance has {frames} mel frames (data.segment_frames)")
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.items[index % len(self.items)]
        kind = "codec" if "mel_codec" in item and self.rng.random() < self.codec_share else "true"
        mel, wav = item[f"mel_{kind}"], item[f"wav_{kind}"]
        start = int(self.rng.integers(0, mel.shape[1] - self.frames + 1))
        crop = wav[start * self.hop : (start + self.frames) * self.hop]
        return torch.from_numpy(mel[:, start : start + self.frames].astype(np.float32)), torch.from_numpy(
            crop.astype(np.float32))


class DistillLoss(torch.nn.Module):
    """Sample L1 and multi-scale mel L1 between the student's and the teacher's waveforms,
    over each crop but its margins. (B, N) waveforms -> losses by name."""

    def __init__(self, cfg: DistillLossConfig, sample_rate: int, margin_samples: int):
        super().__init__()
        self.cfg, self.margin = cfg, margin_samples
        self.mel = MultiScaleMelLoss(sample_rate, cfg.mel)

    def kept(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, N - 2 * margin): the samples the losses see."""
        return wav[..., self.margin: wav.shape[-1] - self.margin]

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> dict[str, torch.Tensor]:
        student, teacher = self.kept(student), self.kept(teacher)
        wave, mel = F.l1_loss(student, teacher), self.mel(student, teacher)
        return {"wave": wave, "mel": mel, "total": self.cfg.wave_weight * wave + self.cfg.mel_weight * mel}


def check_config(cfg: DistillConfig) -> None:
    data = cfg.data
    if data.segment_frames < 2 * data.margin_frames + 8 or data.segment_frames > 400:
        raise UserError(f"data.segment_frames must lie in {2 * data.margin_frames + 8}..400 "
                        f"(margins of {data.margin_frames} frames at each end), got {data.segment_frames}")
    if not 0.0 <= data.codec_share <= 1.0:
        raise UserError(f"data.codec_share must lie in 0..1, got {data.codec_share}")
    if not 1 <= data.heldout_items <= 4096:
        raise UserError(f"data.heldout_items must lie in 1..4096, got {data.heldout_items}")
    if not 1 <= cfg.student.upsample_initial_channel <= 1024:
        raise UserError(f"student.upsample_initial_channel must lie in 1..1024, got {cfg.student.upsample_initial_channel}")


def fixed_crops(folder: str, cfg: DistillDataConfig, hop: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` crops of a cache, the same at every call (seed 0): a held-out batch."""
    crops = TeacherCrops(folder, cfg.segment_frames, hop, cfg.codec_share, seed=0)
    mels, wavs = zip(*(crops[i] for i in range(count)))
    return torch.stack(mels), torch.stack(wavs)


@torch.no_grad()
def heldout_figures(student: HifiganGenerator, loss: DistillLoss, heldout) -> dict[str, float]:
    mels, wavs = heldout
    was_training = student.training
    student.eval()
    written = student(mels)[:, 0]
    figures = {f"heldout/{name}": float(value) for name, value in loss(written, wavs).items()}
    figures["heldout/correlation"] = float(F.cosine_similarity(loss.kept(written), loss.kept(wavs), dim=-1).mean())
    student.train(was_training)
    return figures


def train(cfg: DistillConfig) -> TrainingRun:
    check_config(cfg)
    run = TrainingRun(cfg.run, full_config=cfg)
    hop = cfg.student.hop_size
    dataset = TeacherCrops(cfg.data.train_cache, cfg.data.segment_frames, hop, cfg.data.codec_share, cfg.run.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.data.batch_size, shuffle=True,
                                         drop_last=len(dataset) >= cfg.data.batch_size)
    student = HifiganGenerator(cfg.student)
    if cfg.init_from and not run.checkpoints():
        load_module(student, Path(cfg.init_from) / WEIGHTS_NAME)
    loss = DistillLoss(cfg.loss, cfg.student.sampling_rate, cfg.data.margin_frames * hop).to(run.device)
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.optim.lr_decay)
    student, optimizer, loader, scheduler = run.prepare(student, optimizer, loader, scheduler)
    run.track_ema(student)
    run.resume()
    heldout = None
    if cfg.data.heldout_cache:
        mels, wavs = fixed_crops(cfg.data.heldout_cache, cfg.data, hop, cfg.data.heldout_items)
        heldout = (mels.to(run.device), wavs.to(run.device))
    export_dir = Path(cfg.export_dir or f"{cfg.run.exp_dir}/export")

    def export() -> None:
        weights = run.weights_for_export(student)
        export_dir.mkdir(parents=True, exist_ok=True)
        write_json(export_dir / CONFIG_NAME, cfg.student.to_dict())
        save_module(weights, export_dir / WEIGHTS_NAME)
        if heldout is not None:  # logged with the next record, as the other recipes do
            run.log(**heldout_figures(weights, loss, heldout))

    if heldout is not None and run.step == 0:  # where it starts, as the first record (step 0)
        run.log(**heldout_figures(run.weights_for_export(student), loss, heldout))
        run.flush_log()
    batches = forever(loader)
    student.train()
    for _ in run.steps():
        mel, teacher = next(batches)
        with run.accelerator.autocast():
            losses = loss(student(mel)[:, 0], teacher)
        grad_norm = run.backward(losses["total"], optimizer, student.parameters(), cfg.optim.grad_clip)
        scheduler.step()
        run.update_ema(student)
        run.log(**{f"student/{name}": value for name, value in losses.items()}, **{"student/grad_norm": grad_norm})
        run.maybe_save(export)
    run.finish(export)
    return run


def main(argv: list[str] | None = None) -> int:
    return run_recipe(DistillConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
