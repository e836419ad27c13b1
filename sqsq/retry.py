"""Backoff arithmetic for retries (pure functions, seconds everywhere)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sqsq import limits


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped.

    The delay before attempt ``n + 1`` (after ``n`` failed attempts) is drawn uniformly from
    ``[0, min(max_seconds, base_seconds * factor ** (n - 1))]`` when ``jitter`` is on, else is exactly that bound.
    See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.

    Attributes:
        base_seconds: delay after the first failure (before jitter), > 0.
        factor: growth per attempt, >= 1.
        max_seconds: cap, at most 365 days (past 12 hours, SQS's visibility maximum, a retry is scheduled).
        jitter: draw uniformly below the bound to spread retries of many tasks.
    """

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.factor < 1:
            raise ValueError("Backoff needs base_seconds >= 0 and factor >= 1")
        if not 0 <= self.max_seconds <= limits.SCHEDULER_MAX_DELAY_SECONDS:
            raise ValueError(
                f"Backoff max_seconds={self.max_seconds} must be within 0..{limits.SCHEDULER_MAX_DELAY_SECONDS} "
                "(365 days; past SQS's 12-hour visibility maximum a retry goes through a one-time schedule)"
            )

    def delay_seconds(self, failed_attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` (>= 1) failures."""
        bound = min(self.max_seconds, self.base_seconds * self.factor ** max(0, failed_attempts - 1))
        if not self.jitter:
            return bound
        return (rng or random).uniform(0, bound)


def clamp_visibility_seconds(seconds: float) -> int:
    """Round a delay to SQS's whole-second VisibilityTimeout range 0..43,200."""
    if not math.isfinite(seconds):
        return 0 if math.isnan(seconds) or seconds < 0 else limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
    return max(0, min(limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS, round(seconds)))
