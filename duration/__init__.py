"""Total-duration predictor (issue: flow-matching duration)."""
