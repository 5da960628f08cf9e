"""Factorized vector quantization and its residual stack (DAC / MaskGCT style).

Each quantizer projects its input (B, D, T) to a low-dimensional code space (a 1x1
weight-normed conv), finds the nearest codebook entry after L2-normalising both sides
(so the distance is the cosine distance), and projects the entry back to D dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import WNConv1d


@dataclass
class QuantizerOutput:
    """What a (residual) quantizer returns; losses are zero outside training."""

    quantized: torch.Tensor  # (B, D, T), straight-through gradient to the input
    codes: torch.Tensor  # (B, T) for one quantizer, (N, B, T) for a residual stack
    commitment_loss: torch.Tensor  # (B,) for one quantizer, (N,) for a stack
    codebook_loss: torch.Tensor


class FactorizedVectorQuantize(nn.Module):
    def __init__(
        self,
        input_dim: int,
        codebook_size: int,
        codebook_dim: int,
        commitment: float = 0.005,
        codebook_loss_weight: float = 1.0,
        use_l2_normalize: bool = True,
        dead_code_threshold: float = 0.0,
    ):
        super().__init__()
        if input_dim == codebook_dim:
            raise ValueError("factorized VQ projects to a smaller code space: codebook_dim must differ from input_dim")
        self.commitment = commitment
        self.codebook_loss_weight = codebook_loss_weight
        self.use_l2_normalize = use_l2_normalize
        self.dead_code_threshold = dead_code_threshold
        self.in_project = WNConv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_project = WNConv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)
        # Training only: an exponential moving average of how often each code is picked per
        # batch, made on first use. Not a buffer, so the files keep the official keys and a
        # model built on the meta device loads; a resumed run relearns it.
        self.code_usage: torch.Tensor | None = None

    def nearest_codes(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, d, T) projected latents -> (B, T) ids of the nearest codebook entries."""
        batch = latents.shape[0]
        encodings = latents.transpose(1, 2).reshape(-1, latents.shape[1])
        codebook = self.codebook.weight
        if self.use_l2_normalize:
            encodings = F.normalize(encodings)
            codebook = F.normalize(codebook)
        # The full squared distance rather than the dot product alone: it is what the
        # reference computes, and the same float expression gives the same ids on ties.
        distance = (
            encodings.pow(2).sum(1, keepdim=True)
            - 2 * encodings @ codebook.t()
            + codebook.pow(2).sum(1, keepdim=True).t()
        )
        return (-distance).max(1)[1].reshape(batch, -1)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, d, T) raw codebook vectors (before the output projection)."""
        return F.embedding(codes, self.codebook.weight).transpose(1, 2)

    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, D, T) embeddings, as the quantizer outputs them."""
        return self.out_project(self.embed_codes(codes))

    @torch.no_grad()
    def restart_dead_codes(self, latents: torch.Tensor, codes: torch.Tensor, decay: float = 0.9) -> int:
        """Move the codes whose usage fell below `dead_code_threshold` onto latents of this batch.

        (B, d, T) latents, (B, T) their codes; returns how many codes moved. A codebook
        trained from scratch on a CPU-sized batch otherwise collapses onto a handful of
        entries (measured: one code of 1024 in use after 25 steps), as SoundStream and
        EnCodec found; the reference's own configs carry `threshold_ema_dead_code` for it.
        """
        if self.code_usage is None:
            self.code_usage = torch.ones(self.codebook.num_embeddings, device=latents.device)
        counts = torch.bincount(codes.flatten(), minlength=self.code_usage.numel()).to(self.code_usage)
        self.code_usage.mul_(decay).add_(counts, alpha=1 - decay)
        dead = torch.nonzero(self.code_usage < self.dead_code_threshold).flatten()
        if dead.numel() == 0:
            return 0
        encodings = latents.transpose(1, 2).reshape(-1, latents.shape[1])
        picks = torch.randint(0, encodings.shape[0], (dead.numel(),), device=encodings.device)
        self.codebook.weight[dead] = encodings[picks].to(self.codebook.weight.dtype)
        self.code_usage[dead] = 1.0  # give a moved code time to be picked
        return int(dead.numel())

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        latents = self.in_project(z)
        codes = self.nearest_codes(latents)
        if self.training and self.dead_code_threshold > 0:
            self.restart_dead_codes(latents.detach(), codes)
        entries = self.embed_codes(codes)
        if self.training:
            commitment_loss = F.mse_loss(latents, entries.detach(), reduction="none").mean([1, 2]) * self.commitment
            codebook_loss = F.mse_loss(entries, latents.detach(), reduction="none").mean([1, 2]) * self.codebook_loss_weight
        else:
            commitment_loss = codebook_loss = torch.zeros(z.shape[0], device=z.device)
        # Straight-through estimator: the forward value is the entry, the gradient goes to the latents.
        entries = latents + (entries - latents).detach()
        return QuantizerOutput(self.out_project(entries), codes, commitment_loss, codebook_loss)


class ResidualVQ(nn.Module):
    """A stack of quantizers, each quantizing what the previous ones left (SoundStream).

    In training, a `quantizer_dropout` fraction of each batch uses only the first k
    quantizers (k uniform in 1..N), so the first layers learn to stand on their own.
    """

    def __init__(
        self,
        input_dim: int,
        num_quantizers: int,
        codebook_size: int,
        codebook_dim: int,
        quantizer_dropout: float = 0.0,
        **quantizer_kwargs,
    ):
        super().__init__()
        self.num_quantizers = num_quantizers
        self.quantizer_dropout = quantizer_dropout
        self.quantizers = nn.ModuleList(
            [FactorizedVectorQuantize(input_dim, codebook_size, codebook_dim, **quantizer_kwargs) for _ in range(num_quantizers)]
        )

    def _layers_per_item(self, batch: int, n_quantizers: int | None, device) -> torch.Tensor:
        if not self.training:
            n = self.num_quantizers if n_quantizers is None else n_quantizers
            return torch.full((batch,), n, device=device)
        layers = torch.full((batch,), self.num_quantizers + 1)
        n_dropout = int(batch * self.quantizer_dropout)
        layers[:n_dropout] = torch.randint(1, self.num_quantizers + 1, (batch,))[:n_dropout]
        return layers.to(device)

    def forward(self, z: torch.Tensor, n_quantizers: int | None = None) -> QuantizerOutput:
        """(B, D, T) -> quantized (B, D, T) and codes (N, B, T); N = n_quantizers in eval."""
        layers = self._layers_per_item(z.shape[0], n_quantizers, z.device)
        quantized = torch.zeros_like(z)
        residual = z
        codes, commitment, codebook = [], [], []
        for index, quantizer in enumerate(self.quantizers):
            if not self.training and index >= layers[0]:
                break
            out = quantizer(residual)
            keep = (index < layers).to(z.dtype)
            quantized = quantized + out.quantized * keep[:, None, None]
            residual = residual - out.quantized
            codes.append(out.codes)
            commitment.append((out.commitment_loss * keep).mean())
            codebook.append((out.codebook_loss * keep).mean())
        return QuantizerOutput(quantized, torch.stack(codes), torch.stack(commitment), torch.stack(codebook))

    def vq2emb(self, codes: torch.Tensor, n_quantizers: int | None = None) -> torch.Tensor:
        """(N, B, T) ids -> (B, D, T): the sum of the first n quantizers' embeddings."""
        n = codes.shape[0] if n_quantizers is None else min(n_quantizers, codes.shape[0])
        embedding = self.quantizers[0].vq2emb(codes[0])
        for index in range(1, n):
            embedding = embedding + self.quantizers[index].vq2emb(codes[index])
        return embedding
