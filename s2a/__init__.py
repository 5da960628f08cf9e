"""Semantic-to-acoustic masked generative transformer (issue: T2S and S2A)."""
