"""Train the acoustic codec (DAC-style encoder, factorized RVQ, Vocos decoder) with GAN losses.

    python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo.yaml \
        --set data.train_manifest=data/corpus/train.jsonl --set run.exp_dir=exp/acoustic_codec

Losses: multi-scale mel L1 (x15), least-squares adversarial against multi-period and
multi-resolution STFT discriminators (x1), feature matching (x2), and the quantizers'
commitment and codebook losses. The adversarial terms start at `adversarial_start_step`
(a mel-only warm-up that speeds up small runs). Runs resume from their newest checkpoint;
each checkpoint also exports the generator (EMA weights if enabled) in the official layout
to `export_dir`: acoustic_codec/model.safetensors (encoder), model_1.safetensors (decoder).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch
from torch import nn

from maskvox.checkpoint import load_module, official_file, write_model_folder
from maskvox.codecs.acoustic import AcousticCodec
from maskvox.codecs.gan import (
    CodecDiscriminator,
    DiscriminatorConfig,
    GanLossConfig,
    MelDiscriminator,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from maskvox.config import AcousticCodecConfig
from maskvox.errors import UserError

from ..common.data import AudioDataConfig, AudioSegments, total_seconds
from ..common.cli import forever, run_recipe
from ..common.trainer import RunConfig, TrainingRun
from .gta import GtaConfig, check_gta, train_decoder_gta
from .mel_route import MelRegressionLoss, PairedSegments


@dataclass
class OptimConfig:
    lr: float = 1e-4
    disc_lr: float = 1e-4
    betas: tuple[float, ...] = (0.8, 0.99)
    lr_decay: float = 0.999996  # per step (exponential), as in DAC
    grad_clip: float = 1000.0
    disc_grad_clip: float = 10.0


@dataclass
class DecoderOnlyConfig:
    enabled: bool = False
    # Quantizer layers the decoder reads (0: all of them; the frozen quantizer drops none). The
    # demo's S2A writes layers 1-4, so its decoder is fine-tuned on exactly those.
    layers: int = 0
    # Ground-truth-aligned inputs: a share of the decoder's inputs written by a latent S2A (gta.py).
    gta: GtaConfig = field(default_factory=GtaConfig)


@dataclass
class MelAdversaryConfig:
    """The "hifigan" route's adversary (MelDiscriminator), which judges the decoder's log mel
    against the recording's. Weight 0: off, the decoder learns by L1 regression alone."""

    weight: float = 0.0  # least-squares adversarial loss, beside loss.mel_weight x the mel L1
    feature_matching_weight: float = 2.0
    channels: int = 32


@dataclass
class AcousticCodecTrainConfig:
    model: AcousticCodecConfig = field(default_factory=AcousticCodecConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: GanLossConfig = field(default_factory=GanLossConfig)
    data: AudioDataConfig = field(default_factory=AudioDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    adversarial_start_step: int = 0
    export_dir: str = ""  # official-layout model folder; empty: <exp_dir>/export
    # A model folder (an export, or a campaign milestone) whose codec weights start a run that
    # has no checkpoint yet, so a fresh machine goes on from where the campaign got.
    init_from: str = ""
    # Train the decoder alone (the "hifigan" route only): the encoder and quantizer are frozen,
    # so the acoustic ids, and everything S2A learned from them, stay valid.
    decoder_only: DecoderOnlyConfig = field(default_factory=DecoderOnlyConfig)
    mel_adversary: MelAdversaryConfig = field(default_factory=MelAdversaryConfig)


class CodecGenerator(nn.Module):
    """Encoder + quantizer + decoder as one module, so one optimizer and DDP wrap cover it."""

    def __init__(self, cfg: AcousticCodecConfig):
        super().__init__()
        self.codec = AcousticCodec(cfg)

    def forward(self, wav: torch.Tensor, frozen_layers: int | None = None):
        """(B, N) -> reconstruction (B, N) and the quantizer output; with the "hifigan"
        route the reconstruction is HiFi-GAN's log mel (B, 80, M).

        `frozen_layers`: encode without gradients through the first that many quantizer layers
        (every one if 0), as the decoder-only fine-tune does.
        """
        if frozen_layers is None:
            vq = self.codec.decoder.quantize(self.codec.encoder(wav[:, None, :]))
        else:
            with torch.no_grad():
                vq = self.codec.decoder.quantize(self.codec.encoder(wav[:, None, :]), n_quantizers=frozen_layers or None)
        decoded = self.codec.decoder(vq.quantized)
        return (decoded if self.codec.cfg.decoder.vocoder == "hifigan" else decoded[:, 0, : wav.shape[-1]]), vq


def new_generator(cfg: AcousticCodecTrainConfig, run: TrainingRun) -> CodecGenerator:
    """The codec to train: from `init_from`'s weights when the run has no checkpoint to resume."""
    generator = CodecGenerator(cfg.model)
    if cfg.init_from and not run.checkpoints():
        for name, module in (("codec_encoder", generator.codec.encoder), ("codec_decoder", generator.codec.decoder)):
            load_module(module, official_file(cfg.init_from, name))
        if run.is_main and not cfg.run.quiet:
            print(f"starting from the codec of {cfg.init_from}", file=sys.stderr)
    return generator


def frozen_but_decoder(generator: CodecGenerator) -> list[nn.Parameter]:
    """Freeze the encoder and the quantizer (the acoustic ids stay as S2A learned them); the
    decoder's parameters, the ones left to train."""
    for module in (generator.codec.encoder, generator.codec.decoder.quantizer):
        module.requires_grad_(False)
    return list(generator.codec.decoder.model.parameters())


def train(cfg: AcousticCodecTrainConfig) -> TrainingRun:
    if cfg.decoder_only.enabled and cfg.model.decoder.vocoder != "hifigan":
        raise UserError("decoder_only trains the \"hifigan\" route's decoder: set model.decoder.vocoder hifigan")
    if cfg.decoder_only.gta.s2a and not cfg.decoder_only.enabled:
        raise UserError("decoder_only.gta trains the decoder alone: set decoder_only.enabled true")
    if cfg.mel_adversary.weight < 0 or cfg.mel_adversary.feature_matching_weight < 0:
        raise UserError("mel_adversary.weight and feature_matching_weight must be 0 or more")
    if cfg.mel_adversary.weight > 0 and (cfg.model.decoder.vocoder != "hifigan" or cfg.decoder_only.gta.s2a):
        raise UserError("mel_adversary judges the \"hifigan\" route's mel, without gta: set model.decoder.vocoder "
                        "hifigan and no decoder_only.gta.s2a")
    if not 1 <= cfg.mel_adversary.channels <= 512:
        raise UserError(f"mel_adversary.channels must be between 1 and 512, got {cfg.mel_adversary.channels}")
    sample_rate = cfg.model.sample_rate
    hop = math.prod(cfg.model.encoder.up_ratios)
    segment = max(hop, round(cfg.data.segment_seconds * sample_rate / hop) * hop)
    if cfg.decoder_only.gta.s2a:
        check_gta(cfg.decoder_only.gta, segment // hop)
    run = TrainingRun(cfg.run, full_config=cfg)
    mel_route = cfg.model.decoder.vocoder == "hifigan"
    if cfg.decoder_only.gta.s2a:
        return train_decoder_gta(cfg, run, segment // hop)
    if mel_route:
        dataset = PairedSegments(cfg.data.train_manifest, sample_rate, segment, cfg.data, quiet=cfg.run.quiet,
                                 hop_size=hop)
    else:
        dataset = AudioSegments(cfg.data.train_manifest, sample_rate, segment, cfg.data, quiet=cfg.run.quiet)
    if run.is_main and not cfg.run.quiet:
        print(f"{len(dataset)} utterances, {total_seconds(dataset, sample_rate) / 60:.1f} min of audio", file=sys.stderr)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.data.batch_size, shuffle=True, drop_last=len(dataset) >= cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
    )
    if mel_route:
        return train_mel_route(cfg, run, loader)

    generator = new_generator(cfg, run)
    discriminator = CodecDiscriminator(cfg.discriminator)
    mel_loss = MultiScaleMelLoss(sample_rate, cfg.loss.mel).to(run.device)
    betas = tuple(cfg.optim.betas)
    g_optim = torch.optim.AdamW(generator.parameters(), lr=cfg.optim.lr, betas=betas)
    d_optim = torch.optim.AdamW(discriminator.parameters(), lr=cfg.optim.disc_lr, betas=betas)
    g_sched = torch.optim.lr_scheduler.ExponentialLR(g_optim, cfg.optim.lr_decay)
    d_sched = torch.optim.lr_scheduler.ExponentialLR(d_optim, cfg.optim.lr_decay)
    generator, discriminator, g_optim, d_optim, loader, g_sched, d_sched = run.prepare(
        generator, discriminator, g_optim, d_optim, loader, g_sched, d_sched
    )
    run.track_ema(generator)
    run.resume()

    export = exporter(cfg, run, generator)
    weights = {
        "gen/mel": cfg.loss.mel_weight, "gen/vq": cfg.loss.vq_weight,
        "gen/adversarial": cfg.loss.adversarial_weight, "gen/feature_matching": cfg.loss.feature_matching_weight,
    }
    batches = forever(loader)
    generator.train()
    discriminator.train()
    for step in run.steps():
        wav = next(batches)
        adversarial = step >= cfg.adversarial_start_step
        with run.accelerator.autocast():
            generated, vq = generator(wav)
        if adversarial:
            with run.accelerator.autocast():
                d_loss = discriminator_loss(discriminator(wav[:, None]), discriminator(generated.detach()[:, None]))
            run.backward(d_loss, d_optim, discriminator.parameters(), cfg.optim.disc_grad_clip)
            d_sched.step()
            run.log(**{"disc/loss": d_loss})
        with run.accelerator.autocast():
            losses = {"gen/mel": mel_loss(generated.float(), wav), "gen/vq": vq.commitment_loss.sum() + vq.codebook_loss.sum()}
            if adversarial:
                fake = discriminator(generated[:, None])
                with torch.no_grad():
                    real = discriminator(wav[:, None])
                losses["gen/adversarial"] = generator_adversarial_loss(fake)
                losses["gen/feature_matching"] = feature_matching_loss(real, fake)
        total = sum(weights[name] * value for name, value in losses.items())
        grad_norm = run.backward(total, g_optim, generator.parameters(), cfg.optim.grad_clip)
        g_sched.step()
        run.update_ema(generator)
        run.log(**losses, **{"gen/total": total, "gen/grad_norm": grad_norm})
        run.maybe_save(export)
    run.finish(export)
    return run


def exporter(cfg: AcousticCodecTrainConfig, run: TrainingRun, generator: CodecGenerator):
    """The checkpoint's export: encoder and decoder in the official layout, into export_dir."""

    def export() -> None:
        codec = run.weights_for_export(generator).codec
        write_model_folder(
            cfg.export_dir or f"{cfg.run.exp_dir}/export",
            {"codec_encoder": codec.encoder, "codec_decoder": codec.decoder},
            lambda model_cfg: setattr(model_cfg, "acoustic_codec", cfg.model),
        )

    return export


def train_mel_route(cfg: AcousticCodecTrainConfig, run: TrainingRun, loader) -> TrainingRun:
    """The "hifigan" route: log-mel L1 (x mel_weight) + the quantizers' losses; with
    `mel_adversary.weight` > 0, from `adversarial_start_step`, a least-squares adversary on the
    mel and feature matching too. With `decoder_only`, the decoder alone learns over the frozen
    encoder and quantizer."""
    generator = new_generator(cfg, run)
    mel_loss = MelRegressionLoss().to(run.device)
    frozen_layers = cfg.decoder_only.layers if cfg.decoder_only.enabled else None
    trained = frozen_but_decoder(generator) if frozen_layers is not None else list(generator.parameters())
    optimizer = torch.optim.AdamW(trained, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.optim.lr_decay)
    generator, optimizer, loader, scheduler = run.prepare(generator, optimizer, loader, scheduler)
    adversary = MelAdversary(cfg, run) if cfg.mel_adversary.weight > 0 else None
    run.track_ema(generator)
    run.resume()
    export = exporter(cfg, run, generator)
    batches = forever(loader)
    generator.train()
    if frozen_layers is not None:
        # Eval mode keeps the codebooks still (no dead-code moves) and honours `layers`.
        run.accelerator.unwrap_model(generator).codec.encoder.eval()
        run.accelerator.unwrap_model(generator).codec.decoder.quantizer.eval()
    for step in run.steps():
        wav, wav_22k = next(batches)
        with run.accelerator.autocast():
            mel, vq = generator(wav, frozen_layers)
            true_mel = mel_loss.target(wav_22k)
            losses = {"gen/mel": torch.nn.functional.l1_loss(mel.float(), true_mel)}
            if frozen_layers is None:
                losses["gen/vq"] = vq.commitment_loss.sum() + vq.codebook_loss.sum()
        total = cfg.loss.mel_weight * losses["gen/mel"] + cfg.loss.vq_weight * losses.get("gen/vq", 0.0)
        if adversary is not None and step >= cfg.adversarial_start_step:
            adversarial = adversary.step(mel.float(), true_mel)
            losses.update(adversarial)
            total = total + (cfg.mel_adversary.weight * adversarial["gen/adversarial"]
                             + cfg.mel_adversary.feature_matching_weight * adversarial["gen/feature_matching"])
        grad_norm = run.backward(total, optimizer, trained, cfg.optim.grad_clip)
        scheduler.step()
        run.update_ema(generator)
        run.log(**losses, **{"gen/total": total, "gen/grad_norm": grad_norm})
        run.maybe_save(export)
    run.finish(export)
    return run


class MelAdversary:
    """The mel route's discriminator, its optimizer and one training step of it."""

    def __init__(self, cfg: AcousticCodecTrainConfig, run: TrainingRun):
        self.run, self.clip = run, cfg.optim.disc_grad_clip
        discriminator = MelDiscriminator(cfg.mel_adversary.channels)
        optimizer = torch.optim.AdamW(discriminator.parameters(), lr=cfg.optim.disc_lr, betas=tuple(cfg.optim.betas))
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.optim.lr_decay)
        self.discriminator, self.optimizer, self.scheduler = run.prepare(discriminator, optimizer, scheduler)
        self.discriminator.train()

    def step(self, mel: torch.Tensor, true_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Train the discriminator on (B, 80, M) predicted and true log mels; the generator's
        adversarial and feature-matching losses for `mel` (with gradients to the decoder)."""
        d_loss = discriminator_loss(self.discriminator(true_mel), self.discriminator(mel.detach()))
        self.run.backward(d_loss, self.optimizer, self.discriminator.parameters(), self.clip)
        self.scheduler.step()
        fake = self.discriminator(mel)
        with torch.no_grad():
            real = self.discriminator(true_mel)
        return {"disc/loss": d_loss.detach(), "gen/adversarial": generator_adversarial_loss(fake),
                "gen/feature_matching": feature_matching_loss(real, fake)}


def main(argv: list[str] | None = None) -> int:
    return run_recipe(AcousticCodecTrainConfig, train, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
