"""Soft targets for S2A: the codes near each label, by what the codec's decoder receives.

Each acoustic layer's 1024 codes are used almost uniformly (9.7 to 9.9 bits of entropy in the
demo codec's first four layers), so a code's identity is hard to hit: from the semantic id
alone the best guess is right 2.9 % of the time on layer 1 and 0.5-1.4 % on layers 2-4. Plain
cross-entropy counts a miss by a neighbouring code (an almost equal contribution to the
decoder's latent) the same as a miss across the codebook. Learning, beside the label, a
distribution over the codes near it tells the model which region of the codebook is right long
before it can name the code, and it is that region the decoder needs to be understood.

For layer l the codes' decoder-side vectors are e_c = out_project(codebook[c]) (what the codec
sums into its latent). Row y of the layer's matrix is softmax_c(-|e_c - e_y|^2 / tau_l), with
tau_l the mean squared distance from a code to its `neighbours`-th nearest: about that many
codes share the mass with the label itself.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def code_vectors(codec, layer: int) -> torch.Tensor:
    """(K, D): the decoder-side vector of every code of acoustic layer `layer`."""
    quantizer = codec.decoder.quantizer.quantizers[layer]
    ids = torch.arange(quantizer.codebook.num_embeddings)[None]
    return quantizer.vq2emb(ids)[0].t().float()


@torch.no_grad()
def soft_targets(vectors: torch.Tensor, neighbours: int) -> torch.Tensor:
    """(K, D) code vectors -> (K, K) rows of target probabilities (row y: around code y)."""
    distance = torch.cdist(vectors, vectors).pow(2)  # (K, K), 0 on the diagonal
    tau = distance.sort(dim=1).values[:, neighbours].mean().clamp(min=1e-12)
    return torch.softmax(-distance / tau, dim=1)


def codec_soft_targets(model_folder: str, layers: int, neighbours: int) -> torch.Tensor:
    """(layers, K, K) soft targets from the acoustic codec of a model folder."""
    from maskvox.codecs.pretrained import load_acoustic_codec

    codec = load_acoustic_codec(model_folder)
    return torch.stack([soft_targets(code_vectors(codec, layer), neighbours) for layer in range(layers)])
