"""Speech editing recipes: `evaluate` scores `Synthesizer.edit` on held-out voices."""
