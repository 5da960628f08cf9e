"""Total-duration prediction: the flow-matching model (`model.py`) and the length controls
(`control.py`: the reference's rule, --duration, --speed, clamping)."""
