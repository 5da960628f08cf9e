"""Target length without a model, and the user's controls over any predicted length.

The reference sets the target length by a rule: the prompt's frames scaled by the ratio of
phone ids (target / prompt). `resolve_frames` then applies what the user asked for: an exact
duration, a speed factor, or a clamp to a range around the natural length (dubbing).
"""

from __future__ import annotations

from dataclasses import dataclass

from maskvox.errors import UserError
from maskvox.limits import FRAME_RATE_HZ, check_duration

MIN_SPEED, MAX_SPEED = 0.5, 2.0


def rule_frames(prompt_frames: int, prompt_phones: int, target_phones: int) -> int:
    """The reference's rule: int(prompt frames x target phones / prompt phones)."""
    if prompt_phones <= 0 or target_phones <= 0:
        raise UserError("the duration rule needs phones in both the prompt text and the target text")
    return int(prompt_frames * target_phones / prompt_phones)


@dataclass(frozen=True)
class LengthRequest:
    """What the user asked for; at most one of `seconds` and `speed`, plus an optional clamp."""

    seconds: float | None = None  # exact target length
    speed: float = 1.0  # > 1 speaks faster (fewer frames)
    clamp: tuple[float, float] | None = None  # (low, high) x the natural length, for `seconds`

    def __post_init__(self):
        if self.seconds is not None:
            check_duration(self.seconds)
        if not (isinstance(self.speed, (int, float)) and MIN_SPEED <= self.speed <= MAX_SPEED):
            raise UserError(f"--speed must be between {MIN_SPEED} and {MAX_SPEED}, got {self.speed}")
        if self.seconds is not None and self.speed != 1.0:
            raise UserError("give --duration or --speed, not both")
        if self.clamp is not None and not (0 < self.clamp[0] <= 1 <= self.clamp[1]):
            raise UserError(f"a length clamp must satisfy 0 < low <= 1 <= high, got {self.clamp}")

    def requested_frames(self, natural_frames: float) -> float:
        """`seconds` in frames, clamped to `clamp` x the natural length when a clamp is set
        (unrounded: the reference's rule truncates, `resolve_frames` rounds)."""
        frames = self.seconds * FRAME_RATE_HZ
        if self.clamp is not None:
            low, high = self.clamp
            frames = min(max(frames, natural_frames * low), natural_frames * high)
        return frames


def resolve_frames(natural_frames: float, target_phones: int, request: LengthRequest = LengthRequest()) -> tuple[int, str]:
    """(frames, source): 'requested' when the user fixed the length, else 'natural'.

    A requested length is clamped to `request.clamp` x the natural length when a clamp is set
    (dubbing: fit the slot, but never absurdly fast or slow). A length shorter than one frame
    per phone cannot be spoken: a clear error.
    """
    if request.seconds is not None:
        frames, source = request.requested_frames(natural_frames), "requested"
    else:
        frames, source = natural_frames / request.speed, "natural"
    frames = round(frames)
    if frames < max(target_phones, 1):
        raise UserError(
            f"a target of {frames / FRAME_RATE_HZ:.2f} s is too short for {target_phones} phones "
            f"(at least {target_phones / FRAME_RATE_HZ:.2f} s: one {1000 // FRAME_RATE_HZ} ms frame per phone)"
        )
    return frames, source
