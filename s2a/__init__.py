"""Semantic-to-acoustic masked generative transformer (coarse to fine over the RVQ layers)."""

from .model import S2ABatch, S2AModel, load_s2a

__all__ = ["S2ABatch", "S2AModel", "load_s2a"]
