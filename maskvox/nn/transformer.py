"""The bidirectional Llama-style transformer of the masked generative models.

One block: adaptive RMSNorm -> self-attention with rotary positions -> residual ->
adaptive RMSNorm -> SiLU-gated MLP -> residual; no biases in attention or MLP. The
norms' scales are a linear function of the mask-step (timestep) embedding, so every
layer knows how much of the sequence is still masked. Parameter names follow the
official checkpoints (`diff_estimator.*` of MaskGCT's T2S and S2A).

Sequences are packed into rows (`pack_rows`): a row may hold several independent
sequences (the conditional and unconditional passes of classifier-free guidance side
by side), each with positions counted from 0 and attending only to itself. A row laid
out alone gives the same numbers as inside a batch: padding never reaches a real token.
`pack_rows(..., flat=True)` lays every sequence end to end in one row with no padding and
runs attention sequence by sequence: on a CPU this does only the work the sequences need
(no padding in the linear layers, no masked-out squares in attention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ROPE_BASE = 10000
# Who attends to whom: everything (None), a bool mask (B, 1, S, S) (True = may attend), or
# the (start, end) spans of the independent sequences laid end to end in a single row.
Attention = torch.Tensor | list[tuple[int, int]] | None


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding of the mask step t in [0, 1]: (B,) -> (B, dim), sin then cos."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        scale = math.log(10000) / (half - 1)
        frequencies = torch.exp(torch.arange(half, device=t.device) * -scale)
        angles = t[:, None] * frequencies[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class AdaptiveRMSNorm(nn.Module):
    """RMSNorm whose per-channel scale is `to_weight(condition)` (B, C) instead of a parameter."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.to_weight = nn.Linear(hidden_size, hidden_size)
        self.eps = eps
        # Scale 1 for every condition at the start: the block begins as a plain RMSNorm.
        nn.init.zeros_(self.to_weight.weight)
        nn.init.ones_(self.to_weight.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        normalised = x * torch.rsqrt(variance + self.eps)
        return (self.to_weight(condition)[:, None, :] * normalised).to(x.dtype)


def rotary_tables(positions: torch.Tensor, head_dim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (B, S, head_dim) of rotary embeddings at integer `positions` (B, S)."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64, device=positions.device).float() / head_dim
    inverse_frequencies = 1.0 / (ROPE_BASE**exponents)
    angles = positions[:, :, None].float() * inverse_frequencies[None, None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=False)
        self.o_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: "Attention") -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(projection: nn.Linear) -> torch.Tensor:
            return projection(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        cos, sin = cos[:, None], sin[:, None]
        query, key, value = heads(self.q_proj), heads(self.k_proj), heads(self.v_proj)
        query = query * cos + _rotate_half(query) * sin
        key = key * cos + _rotate_half(key) * sin
        if isinstance(mask, list):  # (start, end) of each sequence of a flat row
            out = torch.cat([F.scaled_dot_product_attention(query[:, :, start:end], key[:, :, start:end],
                                                            value[:, :, start:end]) for start, end in mask], dim=2)
        else:
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


class GatedMLP(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class TransformerBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.self_attn = SelfAttention(hidden_size, num_heads)
        self.mlp = GatedMLP(hidden_size, 4 * hidden_size)
        self.input_layernorm = AdaptiveRMSNorm(hidden_size)
        self.post_attention_layernorm = AdaptiveRMSNorm(hidden_size)

    def forward(self, x, step, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x, step), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x, step))


def _two_layer_mlp(hidden_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden_size, 4 * hidden_size), nn.SiLU(), nn.Linear(4 * hidden_size, hidden_size))


class MaskedTransformer(nn.Module):
    """The `diff_estimator` of T2S and S2A: embeddings in, embeddings out, conditioned on t.

    `cond_mlp` maps condition embeddings (T2S: the phone prefix; S2A: the semantic
    condition added to every position) into the model width; the models call it while
    assembling their input. `legacy_embed_tokens` keeps the empty `embed_tokens [0, 256]`
    tensor that the official S2A checkpoints carry (a leftover of the reference's base class).
    """

    def __init__(self, hidden_size: int, num_heads: int, num_layers: int, legacy_embed_tokens: bool = False):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        if legacy_embed_tokens:
            self.embed_tokens = nn.Embedding(0, 256)
        self.layers = nn.ModuleList(TransformerBlock(hidden_size, num_heads) for _ in range(num_layers))
        self.norm = AdaptiveRMSNorm(hidden_size)
        self.diff_step_embedding = TimestepEmbedding(hidden_size)
        self.diff_step_mlp = _two_layer_mlp(hidden_size)
        self.cond_mlp = _two_layer_mlp(hidden_size)

    def step_condition(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) mask steps -> (B, C), the input of every adaptive norm."""
        return self.diff_step_mlp(self.diff_step_embedding(t))

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        positions: torch.Tensor | None = None,
        attention_mask: Attention = None,
    ) -> torch.Tensor:
        """x (B, S, C), t (B,), positions (B, S) (default 0..S-1), attention_mask (`Attention`:
        a (B, 1, S, S) bool mask, True where a query may attend a key, or the spans of a flat
        row's sequences; default: everything) -> (B, S, C)."""
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
        step = self.step_condition(t.to(x.device))
        cos, sin = rotary_tables(positions, self.hidden_size // self.num_heads, x.dtype)
        for layer in self.layers:
            x = layer(x, step, cos, sin, attention_mask)
        return self.norm(x, step)

    def run_packed(self, batch: "PackedBatch", t: torch.Tensor) -> torch.Tensor:
        """t (B,): one mask step per row; a flat batch (one row) takes one step for all."""
        if batch.flat:
            if not bool((t == t[0]).all()):
                raise ValueError("a flat batch runs every sequence at one mask step")
            t = t[:1]
        return self(batch.x, t, batch.positions, batch.attention_mask)


@dataclass
class PackedBatch:
    """Rows of packed sequences. `starts[row][sequence][piece]` is where each input piece
    begins in its row, so outputs can be sliced back out (`piece_output`)."""

    x: torch.Tensor  # (B, S, C); flat: (1, N, C)
    positions: torch.Tensor  # (B, S), from 0 in each sequence
    attention_mask: Attention  # a bool mask, None when nothing is masked, or flat spans
    starts: list[list[list[int]]]
    flat: bool = False  # every row's sequences laid end to end in row 0

    def piece_output(self, out: torch.Tensor, row: int, sequence: int, piece: int, length: int) -> torch.Tensor:
        start = self.starts[row][sequence][piece]
        return out[0 if self.flat else row, start : start + length]


def pack_rows(rows: list[list[list[torch.Tensor]]], flat: bool = False) -> PackedBatch:
    """Lay out rows of sequences, each sequence a list of (n, C) pieces, into one padded batch
    (or, `flat`, all end to end in one row).

    Positions restart at 0 for each sequence and a token attends only to tokens of its own
    sequence; padding (at the end of each row) attends only to padding.
    """
    starts, spans = _layout(rows, flat)
    first = rows[0][0][0]
    if flat:
        pieces = [piece for row in rows for sequence in row for piece in sequence]
        all_spans = [span for row_spans in spans for span in row_spans]
        positions = torch.cat([torch.arange(end - start, device=first.device) for start, end in all_spans])
        return PackedBatch(torch.cat(pieces)[None], positions[None], all_spans, starts, flat=True)
    lengths = [row_spans[-1][1] for row_spans in spans]
    width = max(lengths)
    x = first.new_zeros(len(rows), width, first.shape[-1])
    positions = torch.zeros(len(rows), width, dtype=torch.long, device=first.device)
    segments = torch.full((len(rows), width), -1, dtype=torch.long, device=first.device)
    for r, row in enumerate(rows):
        for s, (sequence, (start, end)) in enumerate(zip(row, spans[r])):
            for piece, piece_start in zip(sequence, starts[r][s]):
                x[r, piece_start : piece_start + piece.shape[0]] = piece
            positions[r, start:end] = torch.arange(end - start, device=first.device)
            segments[r, start:end] = s
    single_sequences = all(len(row) == 1 for row in rows)
    if single_sequences and min(lengths) == width:
        mask = None  # nothing to hide: the plain (and fastest) attention path
    else:
        mask = (segments[:, :, None] == segments[:, None, :])[:, None]
    return PackedBatch(x, positions, mask, starts)


def _layout(rows: list[list[list[torch.Tensor]]], flat: bool) -> tuple[list, list]:
    """Where each piece starts ([row][sequence][piece]) and each sequence's (start, end)
    ([row][sequence]): counted from 0 in each row, or running on across rows when flat."""
    starts, spans, offset = [], [], 0
    for row in rows:
        offset = offset if flat else 0
        row_starts, row_spans = [], []
        for sequence in row:
            sequence_start, piece_starts = offset, []
            for piece in sequence:
                piece_starts.append(offset)
                offset += piece.shape[0]
            row_starts.append(piece_starts)
            row_spans.append((sequence_start, offset))
        starts.append(row_starts)
        spans.append(row_spans)
    return starts, spans


def init_masked_model_weights(model: nn.Module) -> None:
    """The reference's initialisation: linear and embedding weights N(0, 0.02), biases 0,
    padding rows 0; adaptive norms start as plain RMSNorms (scale 1). Nothing to do for a model
    built on the meta device (`build_on_meta`): its weights are loaded next."""
    if any(parameter.is_meta for parameter in model.parameters()):
        return
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and module.num_embeddings > 0:
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
    for module in model.modules():
        if isinstance(module, AdaptiveRMSNorm):
            nn.init.zeros_(module.to_weight.weight)
            nn.init.ones_(module.to_weight.bias)
