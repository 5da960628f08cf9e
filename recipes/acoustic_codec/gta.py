"""Ground-truth-aligned (GTA) training of the codec's decoder: it learns to turn what the
demo's latent S2A writes into the speech that was said.

The latent S2A (s2a/latent.py) regresses the codec's latent with an L1 loss, so what it writes
is smoother than any latent the quantizer makes, and a decoder trained on the quantizer's
latents alone has never seen it. As vocoders are fine-tuned on a TTS model's ground-truth-
aligned output, each training item here runs the frozen S2A the way a clone does (one pass:
the utterance's semantic ids, a prompt of its first frames' codes, every later frame to make)
and pairs its latents with the HiFi-GAN log mel of the very audio they stand for. A share of
the items (`share`) takes S2A's latents, the rest the true ones, so the decoder keeps decoding
prompts, edits' kept frames and the codec's own round trips.

The S2A's shards (recipes.token_shards.extract) hold the ids of the manifest's utterances,
encoded from the audio as it is on disk (no gain): the targets are too.

Measured on the demo (recipes/demo/RESULTS.md, seventh session): the decoder learns the true
latents but hardly S2A's (held-out mel L1 1.05 -> 1.03 in 4000 steps), and the chain stays level:
what S2A's latents lack is not a decoder's to restore. The option stays for a better S2A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from maskvox.audio import load_audio
from maskvox.errors import UserError
from maskvox.s2a.model import load_s2a

from ..common.cli import forever
from ..common.manifest import read_manifest
from ..common.shards import TokenCorpus
from .mel_route import MelRegressionLoss, frames_at_both_rates

if TYPE_CHECKING:
    from ..common.trainer import TrainingRun
    from .train import AcousticCodecTrainConfig


@dataclass
class GtaConfig:
    s2a: str = ""  # model folder whose latent S2A (s2a_full) writes the decoder's inputs; "" = no GTA
    shards: str = ""  # that S2A's token shards (semantic + acoustic ids) of the training utterances
    share: float = 0.5  # items whose decoder input is S2A's latent; the others get the true latent
    max_frames: int = 300  # S2A's crop: prompt and target together
    max_prompt_frames: int = 200
    # Held-out figures at every save: the mel L1 of fixed windows of these utterances, decoded
    # from S2A's latents and from the true ones.
    heldout_shards: str = ""
    heldout_manifest: str = ""
    heldout_items: int = 64


def check_gta(cfg: GtaConfig, window: int) -> None:
    """Sizes that allow a crop: a prompt of a fifth of it and a whole window after it."""
    shortest = window * 5 // 4 + 1
    if not 0.0 <= cfg.share <= 1.0:
        raise UserError(f"decoder_only.gta.share must lie in 0..1, got {cfg.share}")
    if cfg.max_frames < shortest or cfg.max_prompt_frames < 1 or cfg.heldout_items < 1:
        raise UserError(f"decoder_only.gta: max_frames must be at least {shortest} for {window}-frame "
                        f"windows, max_prompt_frames and heldout_items at least 1")


class GtaCrops(torch.utils.data.Dataset):
    """Items: (semantic ids (F,), codes (F, L), prompt frames P, window start w (frames after
    the prompt), audio (W * 480,) at 24 kHz, the same at 22.05 kHz). The decoder's window is
    the W frames from P + w; F - P >= W."""

    def __init__(self, shards: str, manifest: str, layers: int, window_frames: int, cfg: GtaConfig,
                 quiet: bool = False, hop_size: int = 480):
        corpus = TokenCorpus(shards, need=("semantic", "acoustic"))
        audio = {item.id: item.audio for item in read_manifest(manifest)}
        # Long enough for a prompt of a fifth and a whole window after it (train_decoder_gta
        # checks that a crop of max_frames is too).
        self.items = [item for item in corpus.items if item.id in audio and item.num_frames >= window_frames * 5 // 4 + 1]
        if not self.items:
            raise UserError(f"no utterance of {shards} is in {manifest} with {window_frames * 5 // 4 + 1} frames or more")
        self.audio = {item.id: audio[item.id] for item in self.items}
        self.layers, self.window, self.cfg, self.hop = layers, window_frames, cfg, hop_size
        self.waves: dict[str, torch.Tensor] = {}
        if not quiet:
            print(f"GTA: {len(self.items)} utterances of {shards}", flush=True)

    def __len__(self) -> int:
        return len(self.items)

    def wave(self, item_id: str) -> torch.Tensor:
        """The utterance at 24 kHz, read once and kept (the ids were encoded from it as it is)."""
        if item_id not in self.waves:
            self.waves[item_id] = torch.from_numpy(load_audio(self.audio[item_id], 24000))
        return self.waves[item_id]

    def __getitem__(self, index: int):
        item = self.items[index]
        frames = min(item.num_frames, self.cfg.max_frames)
        start = int(torch.randint(0, item.num_frames - frames + 1, ()))
        # A prompt of 20-50 % of the crop, as S2A trained, leaving at least a window to make.
        low, high = max(1, frames // 5), min(frames // 2, self.cfg.max_prompt_frames, frames - self.window)
        prompt = int(torch.randint(low, max(low, high) + 1, ()))
        offset = int(torch.randint(0, frames - prompt - self.window + 1, ()))
        segment, target = frames_at_both_rates(self.wave(item.id), start + prompt + offset, self.window, self.hop)
        return (torch.from_numpy(item.semantic[start: start + frames]),
                torch.from_numpy(item.acoustic[start: start + frames, : self.layers]).long(),
                prompt, offset, segment, target)


def fixed_items(dataset: GtaCrops, count: int) -> dict:
    """`count` items spread over the dataset, drawn with seed 0 (the same at every call)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        step = max(1, len(dataset) // count)
        return collate([dataset[index] for index in range(0, len(dataset), step)[:count]])


def collate(items) -> dict:
    return {
        "semantic": [item[0] for item in items], "codes": [item[1] for item in items],
        "prompt": [item[2] for item in items], "offset": [item[3] for item in items],
        "wav": torch.stack([item[4] for item in items]), "wav_22k": torch.stack([item[5] for item in items]),
    }


@torch.no_grad()
def decoder_inputs(s2a, batch: dict, window: int, written: int) -> torch.Tensor:
    """(B, D, W) latents for the decoder: S2A's prediction for the first `written` items (each
    with its prompt), the true latent of the codes for the rest."""
    predicted = []
    if written:
        predicted = s2a.generate([s[: len(c)] for s, c in zip(batch["semantic"][:written], batch["codes"][:written])],
                                 [c[:p] for c, p in zip(batch["codes"][:written], batch["prompt"][:written])])
    rows = []
    for b, (codes, prompt, offset) in enumerate(zip(batch["codes"], batch["prompt"], batch["offset"])):
        if b < written:
            rows.append(predicted[b][offset: offset + window])
        else:
            rows.append(s2a.latents_of(codes[prompt + offset: prompt + offset + window]).float())
    return torch.stack(rows).transpose(1, 2)


@torch.no_grad()
def heldout_mel(s2a, decoder, mel_loss, batch: dict, window: int) -> dict[str, float]:
    """Mel L1 of `batch` decoded from S2A's latents ("written") and from the true latents."""
    figures = {}
    for name, written in (("written", len(batch["codes"])), ("true", 0)):
        mel = decoder(decoder_inputs(s2a, batch, window, written))
        figures[f"heldout/mel_{name}"] = float(mel_loss(mel, batch["wav_22k"]))
    return figures


def train_decoder_gta(cfg: AcousticCodecTrainConfig, run: TrainingRun, window: int) -> TrainingRun:
    """The decoder alone, on windows of `window` frames whose latents a frozen latent S2A wrote
    for a share of the items and the quantizer for the rest; mel L1 only."""
    from .train import exporter, frozen_but_decoder, new_generator  # (train.py reads GtaConfig from here)

    gta = cfg.decoder_only.gta
    s2a = load_s2a(gta.s2a, "s2a_full")
    if s2a.cfg.target != "latent":
        raise UserError(f"{gta.s2a}'s S2A predicts codes; GTA needs a latent S2A (target: latent)")
    layers = s2a.num_quantizer
    if cfg.decoder_only.layers not in (0, layers):
        raise UserError(f"decoder_only.layers is {cfg.decoder_only.layers}, the S2A writes {layers} layers")
    dataset = GtaCrops(gta.shards, cfg.data.train_manifest, layers, window, gta, quiet=cfg.run.quiet)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.data.batch_size, shuffle=True,
                                         drop_last=len(dataset) >= cfg.data.batch_size,
                                         num_workers=cfg.data.num_workers, collate_fn=collate)
    generator = new_generator(cfg, run)
    trained = frozen_but_decoder(generator)
    mel_loss = MelRegressionLoss().to(run.device)
    optimizer = torch.optim.AdamW(trained, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.optim.lr_decay)
    generator, optimizer, loader, scheduler = run.prepare(generator, optimizer, loader, scheduler)
    s2a = s2a.to(run.device).requires_grad_(False)
    run.track_ema(generator)
    run.resume()
    heldout = None
    if gta.heldout_shards:
        heldout = fixed_items(GtaCrops(gta.heldout_shards, gta.heldout_manifest, layers, window, gta, quiet=True),
                              gta.heldout_items)
    save_and_score = exporter(cfg, run, generator)

    def export() -> None:
        save_and_score()
        if heldout is not None:  # logged with the next record, as the token recipes do
            run.log(**heldout_mel(s2a, run.weights_for_export(generator).codec.decoder, mel_loss, heldout, window))

    if heldout is not None and run.step == 0:  # where it starts, as the first record (step 0)
        run.log(**heldout_mel(s2a, run.weights_for_export(generator).codec.decoder, mel_loss, heldout, window))
        run.flush_log()

    batches = forever(loader)
    generator.train()
    for module in (run.accelerator.unwrap_model(generator).codec.encoder,
                   run.accelerator.unwrap_model(generator).codec.decoder.quantizer):
        module.eval()  # the frozen parts: no dead-code moves
    for _ in run.steps():
        batch = next(batches)
        written = round(gta.share * len(batch["codes"]))
        latents = decoder_inputs(s2a, batch, window, written)
        with run.accelerator.autocast():
            mel = run.accelerator.unwrap_model(generator).codec.decoder(latents)
            losses = {"gen/mel_written": mel_loss(mel[:written], batch["wav_22k"][:written]) if written else None,
                      "gen/mel_true": mel_loss(mel[written:], batch["wav_22k"][written:]) if written < len(mel) else None}
        losses = {name: value for name, value in losses.items() if value is not None}
        loss = (written * losses.get("gen/mel_written", 0.0)
                + (len(mel) - written) * losses.get("gen/mel_true", 0.0)) / len(mel)
        grad_norm = run.backward(cfg.loss.mel_weight * loss, optimizer, trained, cfg.optim.grad_clip)
        scheduler.step()
        run.update_ema(generator)
        run.log(**losses, **{"gen/mel": loss, "gen/grad_norm": grad_norm})
        run.maybe_save(export)
    run.finish(export)
    return run
