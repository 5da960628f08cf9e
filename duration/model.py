"""Total-duration predictor: conditional flow matching on one number per utterance.

The number is the target's speaking rate, y = log(frames / phones), standardised. Predicting
the rate rather than log(frames) leaves the network only the part the phone count does not
explain (speaker tempo from the prompt, language, phone mix); `recipes/duration/evaluate.py`
compares the two.

The network is the shared bidirectional block (`maskvox.nn.MaskedTransformer`, its adaptive
norms conditioned on the flow time t) over one sequence per utterance:

    [ value token | prompt phones | target phones ]

The value token carries the noisy rate x_t, the prompt's own rate and its length; the output
at that token is the velocity. Training: x_t = (1 - (1 - s) t) x0 + t y, target y - (1 - s) x0
(Lipman et al. 2023, s = sigma_min). Sampling integrates dx/dt from noise with `torchdiffeq`
in a few fixed steps; each item draws its noise from its own seed, so a batch gives each item
what it would get alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from maskvox.config import DurationConfig
from maskvox.errors import ConfigError
from maskvox.nn import MaskedTransformer
from maskvox.text.frontend import SUPPORTED_LANGUAGES
from maskvox.text.vocab import PAD_ID

LANGUAGE_IDS = {lang: index for index, lang in enumerate(SUPPORTED_LANGUAGES)}
TARGET_KINDS = ("log_rate", "log_frames")


@dataclass
class DurationBatch:
    """One utterance per item: phone ids of the target (L_b,) and of the prompt (P_b,)."""

    target_phones: list[torch.Tensor]
    prompt_phones: list[torch.Tensor]
    prompt_frames: torch.Tensor  # (B,) float
    languages: torch.Tensor  # (B,) long, LANGUAGE_IDS of the target

    def __len__(self) -> int:
        return len(self.target_phones)

    def target_counts(self) -> torch.Tensor:
        return torch.tensor([len(p) for p in self.target_phones], dtype=torch.float32)


class DurationModel(nn.Module):
    def __init__(self, cfg: DurationConfig = DurationConfig()):
        super().__init__()
        if cfg.target not in TARGET_KINDS:
            raise ConfigError(f"duration target must be one of {TARGET_KINDS}, got {cfg.target!r}")
        self.cfg = cfg
        hidden = cfg.hidden_size
        self.phone_emb = nn.Embedding(cfg.phone_vocab_size, hidden, padding_idx=PAD_ID)
        self.segment_emb = nn.Embedding(2, hidden)  # 0: prompt phones, 1: target phones
        self.language_emb = nn.Embedding(cfg.num_languages, hidden)
        # x_t, the prompt's standardised rate, log prompt frames, "prompt present" flag
        self.value_in = nn.Linear(4, hidden)
        self.backbone = MaskedTransformer(hidden, cfg.num_heads, cfg.num_layers)
        self.value_out = nn.Linear(hidden, 1)

    # -- the number being modelled --

    def encode_target(self, frames: torch.Tensor, phones: torch.Tensor) -> torch.Tensor:
        value = torch.log(frames / phones) if self.cfg.target == "log_rate" else torch.log(frames)
        return (value - self._mean()) / self.cfg.target_std

    def decode_target(self, y: torch.Tensor, phones: torch.Tensor) -> torch.Tensor:
        value = torch.exp(y * self.cfg.target_std + self._mean())
        return value * phones if self.cfg.target == "log_rate" else value

    def _mean(self) -> float:
        # log_frames is centred on a 40-phone utterance at the typical rate.
        return self.cfg.target_mean + (0.0 if self.cfg.target == "log_rate" else math.log(40.0))

    # -- the network --

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, batch: DurationBatch, keep_prompt: torch.Tensor) -> torch.Tensor:
        """x_t (B,), t (B,), keep_prompt (B,) bool -> velocity (B,)."""
        device = x_t.device
        keeps = keep_prompt.tolist()
        width = 1 + max((len(p) if keep else 0) + len(q)
                        for p, q, keep in zip(batch.prompt_phones, batch.target_phones, keeps))
        x = torch.zeros(len(batch), width, self.cfg.hidden_size, device=device)
        valid = torch.zeros(len(batch), width, dtype=torch.bool, device=device)
        values = self.value_in(self._value_features(x_t, batch, keep_prompt))
        language = self.language_emb(batch.languages.to(device))
        for item, (prompt, target, keep) in enumerate(zip(batch.prompt_phones, batch.target_phones, keeps)):
            pieces = [values[item : item + 1]]
            if keep:
                pieces.append(self.phone_emb(prompt.to(device)) + self.segment_emb.weight[0])
            pieces.append(self.phone_emb(target.to(device)) + self.segment_emb.weight[1])
            sequence = torch.cat(pieces) + language[item]
            x[item, : len(sequence)] = sequence
            valid[item, : len(sequence)] = True
        # Keys must be real positions; padded queries see only themselves (their output is unused).
        mask = valid[:, None, None, :] | torch.eye(width, dtype=torch.bool, device=device)[None, None]
        out = self.backbone(x, t, attention_mask=mask)
        return self.value_out(out[:, 0]).squeeze(-1)

    def _value_features(self, x_t, batch: DurationBatch, keep_prompt: torch.Tensor) -> torch.Tensor:
        device = x_t.device
        prompt_frames = batch.prompt_frames.to(device).float().clamp(min=1.0)
        prompt_counts = torch.tensor([max(len(p), 1) for p in batch.prompt_phones], dtype=torch.float32, device=device)
        prompt_rate = (torch.log(prompt_frames / prompt_counts) - self.cfg.target_mean) / self.cfg.target_std
        keep = keep_prompt.to(device).float()
        return torch.stack([x_t, prompt_rate * keep, torch.log(prompt_frames) / 5.0 * keep, keep], dim=-1)

    # -- training --

    def forward(self, batch: DurationBatch, target_frames: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss (so data-parallel wrappers see a forward call)."""
        return self.flow_matching_loss(batch, target_frames, generator)

    def flow_matching_loss(self, batch: DurationBatch, target_frames: torch.Tensor,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error between the predicted and the straight-path velocity."""
        device = self.value_out.weight.device
        y = self.encode_target(target_frames.to(device).float(), batch.target_counts().to(device))
        count = len(batch)
        x0 = torch.randn(count, generator=generator).to(device)
        t = torch.rand(count, generator=generator).to(device)
        keep = torch.rand(count, generator=generator) >= self.cfg.condition_drop
        s = self.cfg.sigma_min
        x_t = (1 - (1 - s) * t) * x0 + t * y
        velocity = self.velocity(x_t, t, batch, keep.to(device))
        return torch.mean((velocity - (y - (1 - s) * x0)) ** 2)

    # -- inference --

    @torch.no_grad()
    def predict_frames(self, batch: DurationBatch, steps: int = 8, seeds: list[int] | None = None,
                       cfg: float = 0.0, method: str = "midpoint", temperature: float = 1.0) -> torch.Tensor:
        """(B,) predicted target frames (float). `seeds[b]` fixes item b's noise.

        The noise is scaled by `temperature`. A one-dimensional flow is monotonic, so
        `temperature=0` (start at the noise's median, 0) gives the median of the predicted
        distribution: the point estimate; 1 draws a sample.
        """
        from torchdiffeq import odeint

        device = self.value_out.weight.device
        seeds = seeds if seeds is not None else [0] * len(batch)
        x0 = torch.stack([torch.randn((), generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        x0 = (x0 * temperature).to(device)
        keep = torch.ones(len(batch), dtype=torch.bool, device=device)

        def field(t, x):
            t_batch = t.expand(len(batch))
            conditional = self.velocity(x, t_batch, batch, keep)
            if not cfg:
                return conditional
            unconditional = self.velocity(x, t_batch, batch, ~keep)
            return conditional + cfg * (conditional - unconditional)

        times = torch.linspace(0.0, 1.0, steps + 1, device=device)
        y = odeint(field, x0, times, method=method)[-1]
        return self.decode_target(y, batch.target_counts().to(device))
