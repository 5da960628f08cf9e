"""A per-frame flow-matching head for the latent S2A: a demo option (`latent_head: flow`).

The latent S2A's regression head predicts each masked frame's latent under an L1 loss: the
median of what the frame could be. Where the semantic ids leave the acoustics open (the voice's
fine detail, the breathiness, the exact formants), that median is a blur of the possibilities,
and the codec's decoder cannot restore what the blur removed (recipes/demo/RESULTS.md, seventh
session). This head draws one latent instead: a small MLP, told the transformer's state at the
frame, learns the velocity of a rectified flow from Gaussian noise to the frame's standardised
latent, and sampling integrates it in a few Euler steps. It is MAR's per-token diffusion loss
(Li et al. 2024, "Autoregressive Image Generation without Vector Quantization") with a flow in
place of DDPM. The regression head stays and keeps its L1 loss (`flow_l1_weight`), so the
transformer's state keeps the mean it already encodes and held-out L1 stays comparable.

Shapes: N frames, D = latent_dim, C = the transformer's hidden size, W = flow_width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

TIME_FEATURES = 64  # sinusoidal features of the flow time t in [0, 1]


def time_features(t: torch.Tensor) -> torch.Tensor:
    """(N,) times in [0, 1] -> (N, TIME_FEATURES) sines and cosines at log-spaced frequencies."""
    half = TIME_FEATURES // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t[:, None].float() * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FlowBlock(nn.Module):
    """A residual MLP block whose normalisation is shifted, scaled and gated by the condition
    (adaLN, as DiT's). The gate starts at zero, so a new block starts as the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.modulation = nn.Linear(width, 3 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(N, W), (N, W) -> (N, W)."""
        shift, scale, gate = self.modulation(F.silu(condition)).chunk(3, dim=-1)
        return h + gate * self.mlp(self.norm(h) * (1 + scale) + shift)


class FlowHead(nn.Module):
    def __init__(self, latent_dim: int, cond_dim: int, width: int, layers: int):
        super().__init__()
        self.noisy_in = nn.Linear(latent_dim, width)
        self.condition_in = nn.Linear(cond_dim, width)
        self.time_in = nn.Sequential(nn.Linear(TIME_FEATURES, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(FlowBlock(width) for _ in range(layers))
        self.out_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.out_modulation = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, latent_dim)
        for layer in (self.out_modulation, self.out):  # a new head predicts zero velocity
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """(N, D) points on the path, (N,) times, (N, C) the transformer's states -> (N, D)."""
        condition = self.condition_in(state) + self.time_in(time_features(t))
        h = self.noisy_in(x)
        for block in self.blocks:
            h = block(h, condition)
        shift, scale = self.out_modulation(F.silu(condition)).chunk(2, dim=-1)
        return self.out(self.out_norm(h) * (1 + scale) + shift)

    def loss(self, target: torch.Tensor, state: torch.Tensor, repeats: int) -> torch.Tensor:
        """Flow-matching loss of (N, D) standardised latents given their (N, C) states, with
        `repeats` noise draws per frame (the head is small next to the transformer, so more
        draws per frame cost little and steady its gradient)."""
        target, state = target.float().repeat(repeats, 1), state.repeat(repeats, 1)
        noise = torch.randn_like(target)
        t = torch.rand(len(target), device=target.device)
        x = (1 - t[:, None]) * noise + t[:, None] * target
        return F.mse_loss(self.velocity(x, t, state).float(), target - noise)

    @torch.no_grad()
    def sample(self, state: torch.Tensor, steps: int, temperature: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, C) states -> (N, D) standardised latents: Euler steps from noise scaled by
        `temperature` (below 1: closer to the likeliest latents)."""
        noise = torch.randn(len(state), self.out.out_features, generator=generator, device=state.device)
        x = noise * temperature
        for step in range(steps):
            t = torch.full((len(state),), step / steps, device=state.device)
            x = x + self.velocity(x, t, state).float() / steps
        return x
