"""Voice conversion recipes: `evaluate` scores `Synthesizer.convert` on held-out voices."""
