"""Text-to-semantic masked generative transformer."""

from .model import T2SBatch, T2SModel, load_t2s

__all__ = ["T2SBatch", "T2SModel", "load_t2s"]
