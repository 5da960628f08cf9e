"""Alignment help for a small T2S (a demo option; the official T2S has none): where each
position lies in its sequence, as a fraction.

Phone i of L sits at (i + 1/2) / L, semantic frame j of T at (j + 1/2) / T. At a steady
speaking rate frame j says phone ~ j L / T, so equal fractions mark the diagonal the attention
must find: the model learns the local departures from it instead of the whole alignment from
in-context examples, which a T2S trained on a few hours of speech reaches slowly. Sinusoids of
the fraction go through a linear layer initialised at zero, so a model fine-tuned with it starts
exactly where the model without it stood.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ProgressEmbedding(nn.Module):
    """length -> (length, hidden): sinusoids of (i + 1/2) / length, projected."""

    def __init__(self, hidden: int, frequencies: int = 16):
        super().__init__()
        self.frequencies = frequencies
        self.project = nn.Linear(2 * frequencies, hidden)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, length: int, start: int = 0, count: int | None = None) -> torch.Tensor:
        """Positions start .. start + count (default: all) of a sequence of `length`: (count, hidden)."""
        count = length - start if count is None else count
        device = self.project.weight.device
        fraction = (torch.arange(start, start + count, device=device, dtype=torch.float32) + 0.5) / length
        # Periods from 2 (the whole sequence) down to 2 / 2^(F-1) of it: coarse and fine position.
        scales = math.pi * 2.0 ** torch.arange(self.frequencies, device=device, dtype=torch.float32)
        angles = fraction[:, None] * scales
        return self.project(torch.cat([angles.sin(), angles.cos()], dim=-1)).to(self.project.weight.dtype)
