"""Layers shared by the masked generative transformers (T2S and S2A)."""

from .masking import MaskDraw, draw_mask, masked_prediction_loss
from .transformer import (
    AdaptiveRMSNorm,
    GatedMLP,
    MaskedTransformer,
    PackedBatch,
    SelfAttention,
    TimestepEmbedding,
    TransformerBlock,
    init_masked_model_weights,
    pack_rows,
    rotary_tables,
)

__all__ = [
    "AdaptiveRMSNorm",
    "GatedMLP",
    "MaskDraw",
    "MaskedTransformer",
    "PackedBatch",
    "SelfAttention",
    "TimestepEmbedding",
    "TransformerBlock",
    "draw_mask",
    "init_masked_model_weights",
    "masked_prediction_loss",
    "pack_rows",
    "rotary_tables",
]
