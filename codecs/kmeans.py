"""A k-means semantic codec: each normalised SSL frame -> the id of its nearest centroid.

The official semantic codec is a VQ-VAE (codecs/semantic.py). Trained on a CPU for a few
thousand steps over Whisper base features, its ids carried less phone information than plain
k-means over the same frames (recipes/demo/RESULTS.md: phone error of a probe on the ids
70.8 % against 44.6 %, ids kept under a pitch shift 16.8 % against 41.1 %), so the demo uses
k-means, as HuBERT-style unit models do. It has the interface of `SemanticCodec` that
inference reads (`quantize`, `decode_ids`); it is fitted, not trained by gradient
(`fit_kmeans`, recipes/semantic_codec/train.py with model.kind: kmeans).
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from maskvox.config import SemanticCodecConfig

# Frames compared with every centroid at once: bounds the (chunk, k) distance matrix.
CHUNK_FRAMES = 16384


def assign(frames: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) frames, (K, D) centroids -> (N,) ids of the nearest centroid and (N,) squared distances."""
    squares = (centroids ** 2).sum(1)
    ids, distances = [], []
    for chunk in frames.split(CHUNK_FRAMES):
        # |x|^2 is the same for every centroid: argmin over |c|^2 - 2 x.c, then add it back.
        best = (squares - 2 * chunk @ centroids.T).min(1)
        ids.append(best.indices)
        distances.append(best.values + (chunk ** 2).sum(1))
    if not ids:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(ids), torch.cat(distances).clamp(min=0)


def nearest_centroid(frames: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """(N, D) frames, (K, D) centroids -> (N,) ids of the nearest centroid (squared L2)."""
    return assign(frames, centroids)[0]


def fit_kmeans(frames: torch.Tensor, k: int, iterations: int, seed: int,
               history: list[float] | None = None, quiet: bool = True) -> torch.Tensor:
    """(N, D) -> (k, D) centroids: k distinct frames drawn with `seed`, then Lloyd's iterations.

    A centroid that loses all its frames keeps its place (it stays a valid, unused id).
    `history` receives the mean squared distance of the frames to their centroids, per pass.
    """
    if len(frames) < k:
        raise ValueError(f"k-means needs at least {k} frames, got {len(frames)}")
    generator = torch.Generator().manual_seed(seed)
    centroids = frames[torch.randperm(len(frames), generator=generator)[:k]].clone()
    for _ in tqdm(range(iterations), desc="k-means", disable=quiet):
        assignment, distances = assign(frames, centroids)
        if history is not None:
            history.append(float(distances.mean()))
        sums = torch.zeros_like(centroids).index_add_(0, assignment, frames)
        counts = torch.bincount(assignment, minlength=k).to(frames.dtype)[:, None]
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids


class KMeansCodec(nn.Module):
    """Normalised SSL features (B, T, hidden_size) <-> ids (B, T) in [0, codebook_size)."""

    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("centroids", torch.zeros(cfg.codebook_size, cfg.hidden_size))

    @torch.no_grad()
    def quantize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, hidden) -> ids (B, T) and their centroids (B, T, hidden)."""
        batch, frames, width = features.shape
        centroids = self.centroids.float()
        ids = nearest_centroid(features.reshape(-1, width).float(), centroids).reshape(batch, frames)
        return ids, centroids[ids].to(features.dtype)

    @torch.no_grad()
    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, hidden) centroids."""
        return self.centroids[ids]
