"""Text-to-semantic masked generative transformer (issue: T2S and S2A)."""
