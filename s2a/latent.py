"""S2A that regresses the acoustic codec's continuous latent: a demo option (`target: latent`).

The official S2A classifies each frame's code, layer after layer. On a CPU budget that learns
slowly: the demo codec's codes are nearly uniform (9.7-9.9 bits a layer) and a wrong code is
an arbitrary vector, so after 1.6 CPU-hours the demo's conversions were still unintelligible
(Whisper-base WER 137 %). This model keeps the same inputs (semantic ids everywhere, the
prompt's codes as the sum of their layers' embeddings, a mask embedding on the frames to make)
and the same bidirectional masked transformer, but predicts, in one pass, the latent that the
codec's decoder reads: the sum of the first `num_quantizer` layers' quantizer outputs, trained
with an L1 loss on the masked frames (standardised per dimension). Those latents are decoded
directly (`AcousticCodec.decode_latents`); they are not snapped back to codes.

The code -> latent table (num_quantizer, codebook_size, latent_dim) is copied from the codec
once (`fit_latent_tables`) and saved with the model, so the model alone turns known codes
(the prompt, an edit's kept frames) into exact latents.

With `aligned_phones` (a further demo option) every frame is also told the phone said in it
(maskvox/frame_phones.py, as T2S is): the k-means semantic ids are phonetically ambiguous (a
linear probe reads 46 % phone error from them), and a clone knows its phones. The embeddings
start at zero (a fine-tuned model starts where it stood) and `frame_phone_drop` of the
training items go without, so voice conversion (no transcript) and editing still work.

With `latent_head: flow` (s2a/flow_head.py) a small flow-matching head draws each masked
frame's latent, told the transformer's state there, instead of taking the L1 estimate; the
draws come from the pipeline's generators, so a seed still fixes the output.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from maskvox.config import S2AConfig
from maskvox.errors import ConfigError
from maskvox.frame_phones import FramePhones
from maskvox.nn import draw_mask, pack_rows

from .flow_head import FlowHead
from .model import S2ABatch, S2AModel

LATENT_HEADS = ("regression", "flow")


class S2ALatentModel(S2AModel):
    def __init__(self, cfg: S2AConfig):
        if not cfg.predict_layer_1:
            raise ConfigError("an S2A with target 'latent' predicts every layer: set predict_layer_1 true")
        super().__init__(cfg)
        self.to_logits = None  # no code logits: a regression head instead
        self.to_latent = nn.Linear(cfg.hidden_size, cfg.latent_dim)
        nn.init.normal_(self.to_latent.weight, std=0.02)
        nn.init.zeros_(self.to_latent.bias)
        # Saved with the weights; filled from the codec by fit_latent_tables before training.
        self.register_buffer("code_latent", torch.zeros(cfg.num_quantizer, cfg.codebook_size, cfg.latent_dim))
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("latent_std", torch.ones(cfg.latent_dim))
        self.frame_phones = FramePhones(cfg.phone_vocab_size, cfg.hidden_size) if cfg.aligned_phones else None
        if not 0.0 <= cfg.frame_phone_drop <= 1.0:
            raise ConfigError(f"s2a.frame_phone_drop must be between 0 and 1, got {cfg.frame_phone_drop}")
        if cfg.latent_head not in LATENT_HEADS:
            raise ConfigError(f"s2a.latent_head must be one of {', '.join(LATENT_HEADS)}, not {cfg.latent_head!r}")
        if not (0.0 <= cfg.flow_temperature <= 10.0 and 0.0 <= cfg.flow_l1_weight <= 100.0):
            raise ConfigError("s2a.flow_temperature must be between 0 and 10 and s2a.flow_l1_weight between 0 and 100, "
                              f"got {cfg.flow_temperature} and {cfg.flow_l1_weight}")
        self.flow_head = None
        if cfg.latent_head == "flow":
            self.flow_head = FlowHead(cfg.latent_dim, cfg.hidden_size, cfg.flow_width, cfg.flow_layers)

    # -- latents --------------------------------------------------------------------------------

    def latents_of(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., T, >= num_quantizer) codes -> (..., T, D): what the codec's quantizer outputs."""
        total = self.code_latent[0][codes[..., 0]]
        for layer in range(1, self.num_quantizer):
            total = total + self.code_latent[layer][codes[..., layer]]
        return total

    def standardized(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.latent_mean) / self.latent_std

    def frame_input(self, codes: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """(T, L) codes, (T,) bool -> (T, C): the mask embedding where masked, else the sum of
        the frame's layer embeddings (as a prompt frame is given)."""
        return torch.where(masked[..., None], self.mask_emb.weight[0], self.prompt_input(codes))

    def semantic_condition(self, semantic_ids: torch.Tensor) -> torch.Tensor:
        return self.diff_estimator.cond_mlp(self.condition(semantic_ids, 0))

    def said_phones(self, aligned: tuple[torch.Tensor, torch.Tensor] | None, frames: int) -> torch.Tensor | float:
        """(phone ids (L,), owners (T,)) -> (T, hidden) phone embeddings, or 0 without them."""
        if aligned is None or self.frame_phones is None:
            return 0.0
        phones, owners = aligned
        if len(owners) != frames:
            raise ValueError(f"frame phones cover {len(owners)} frames, the semantic ids {frames}")
        return self.frame_phones(phones, owners)

    # -- training -------------------------------------------------------------------------------

    def masked_loss(self, batch: S2ABatch, span_ratio: float = 0.0, layer: int | None = None,
                    soft_targets=None, soft_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """L1 between predicted and true standardised latents over the masked frames. Masks as
        the token model draws them (a visible prefix prompt or a middle span's two sides; with
        probability cfg_scale no context), all layers of a frame masked together. `layer` is
        accepted for the shared training loop and ignored (one output for every layer). Items
        with frame phones are told them, except `frame_phone_drop` of them. With a flow head the
        loss is its flow-matching loss plus `flow_l1_weight` times the L1 (both also returned:
        loss_flow, loss_l1)."""
        rows, draws = [], []
        phones = batch.phones or [None] * len(batch.semantic)
        owners = batch.frame_phones or [None] * len(batch.semantic)
        for semantic, acoustic, item_phones, item_owners in zip(batch.semantic, batch.acoustic, phones, owners):
            draw = draw_mask(len(semantic), self.cfg.cfg_scale, span_ratio, floor=0.2, max_prompt=0.5)
            mask = draw.mask.to(acoustic.device)
            aligned = None
            if item_owners is not None and float(torch.rand(())) >= self.cfg.frame_phone_drop:
                aligned = (item_phones, item_owners)
            said = self.said_phones(aligned, len(semantic))
            rows.append([self.frame_input(acoustic, mask) + self.semantic_condition(semantic) + said])
            draws.append(draw)
        packed = pack_rows([[row] for row in rows])
        out = self.diff_estimator.run_packed(packed, torch.tensor([draw.t for draw in draws], device=packed.x.device))
        states, true = [], []
        for b, (draw, acoustic) in enumerate(zip(draws, batch.acoustic)):
            mask = draw.mask.to(acoustic.device)
            states.append(packed.piece_output(out, b, 0, 0, len(acoustic))[mask])
            true.append(self.standardized(self.latents_of(acoustic[mask])))
        states, true = torch.cat(states), torch.cat(true)
        l1 = (self.to_latent(states).float() - true).abs().mean()
        if self.flow_head is None:
            return {"loss": l1}
        flow = self.flow_head.loss(true, states, self.cfg.flow_repeats)
        return {"loss": flow + self.cfg.flow_l1_weight * l1, "loss_flow": flow, "loss_l1": l1}

    # -- generation -------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        semantic_ids: Sequence[torch.Tensor],
        prompt_codes: Sequence[torch.Tensor],
        steps: Sequence[int] = (),
        settings=None,
        given_codes=None,
        generators=None,
        known: torch.Tensor | None = None,
        known_codes: torch.Tensor | None = None,
        frame_phones: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> list[torch.Tensor]:
        """Latents (T_b, D) float32 for each item, in one pass: semantic ids (P_b + T_b,), the
        prompt's codes (P_b, >= num_quantizer). `known` (B, max T) bool with `known_codes`
        (B, max T, >= num_quantizer) give some target frames (speech editing): they are inputs,
        and their exact latents are the output there. `frame_phones` (a model with
        `aligned_phones`): each item's phone ids and (P_b + T_b,) frame owners
        (`FramePhones.plan`); None: the model works without them. `steps` and `settings` are
        accepted for the pipeline's shared call and not used. The regression head is
        deterministic; a flow head draws from `generators` (one per item; None: torch's own)."""
        if given_codes is not None:
            raise ValueError("an S2A with target 'latent' predicts every layer: it takes no given codes")
        if frame_phones is not None and self.frame_phones is None:
            raise ValueError("frame phones need an S2A with aligned_phones")
        device = self.mask_emb.weight.device
        rows, lengths, masks = [], [], []
        for b, (semantic, prompt) in enumerate(zip(semantic_ids, prompt_codes)):
            semantic, prompt = semantic.to(device), prompt.to(device)[:, : self.num_quantizer]
            length = len(semantic) - len(prompt)
            if length < 1:
                raise ValueError("the semantic ids must cover the prompt and at least one target frame")
            masked = torch.ones(length, dtype=torch.bool, device=device)
            target_codes = torch.zeros(length, self.num_quantizer, dtype=torch.long, device=device)
            if known is not None:
                masked = ~known[b, :length].to(device)
                target_codes = known_codes[b, :length, : self.num_quantizer].to(device)
            frames = torch.cat([self.prompt_input(prompt), self.frame_input(target_codes, masked)])
            aligned = None
            if frame_phones is not None:
                aligned = tuple(part.to(device) for part in frame_phones[b])
            rows.append([frames + self.semantic_condition(semantic) + self.said_phones(aligned, len(semantic))])
            lengths.append(length)
            masks.append((masked, target_codes))
        packed = pack_rows([[row] for row in rows])
        # The mask step the model is told: sin(t pi / 2) is the share of frames masked in training.
        shares = [float(masked.float().mean()) for masked, _ in masks]
        t = torch.tensor([2 / math.pi * math.asin(min(1.0, share)) for share in shares], device=device)
        out = self.diff_estimator.run_packed(packed, t.clamp(min=1e-5))
        latents = []
        for b, (length, (masked, target_codes)) in enumerate(zip(lengths, masks)):
            start = len(rows[b][0]) - length
            states = packed.piece_output(out, b, 0, 0, len(rows[b][0]))[start:]
            if self.flow_head is None:
                predicted = self.to_latent(states).float()
            else:
                generator = generators[b] if generators is not None else None
                predicted = self.flow_head.sample(states, self.cfg.flow_steps, self.cfg.flow_temperature, generator)
            latent = predicted * self.latent_std + self.latent_mean
            latents.append(torch.where(masked[:, None], latent, self.latents_of(target_codes).float()))
        return latents


@torch.no_grad()
def fit_latent_tables(model: S2ALatentModel, codec, codes: Sequence[torch.Tensor]) -> None:
    """Copy the codec's code -> latent table into `model`, and the per-dimension mean and
    standard deviation of the latents of `codes` (a sample of training frames, (T, >= L) each).
    `codec`: an AcousticCodec whose decoder made these ids."""
    quantizers = codec.decoder.quantizer.quantizers
    if len(quantizers) < model.num_quantizer:
        raise ConfigError(f"the codec has {len(quantizers)} quantizers, the S2A reads {model.num_quantizer}")
    every_code = torch.arange(model.cfg.codebook_size)[None]
    for layer in range(model.num_quantizer):
        table = quantizers[layer].vq2emb(every_code)[0].T  # (K, D)
        if table.shape != model.code_latent[layer].shape:
            raise ConfigError(f"the codec's layer {layer + 1} gives a {tuple(table.shape)} table, "
                              f"the S2A expects {tuple(model.code_latent[layer].shape)} (codebook_size, latent_dim)")
        model.code_latent[layer] = table
    sample = torch.cat([model.latents_of(item[:, : model.num_quantizer].long()) for item in codes])
    model.latent_mean.copy_(sample.mean(0))
    model.latent_std.copy_(sample.std(0).clamp(min=1e-5))
