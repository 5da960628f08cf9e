"""Pieces every recipe shares: manifests, data, the training run."""
