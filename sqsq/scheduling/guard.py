"""The consumer-side guard: a message that arrives before its ``due_at`` goes back to its queue unrun.

A schedule fires at most 15 minutes before the due time with the remainder as ``DelaySeconds``, so this only
triggers if a clock or a producer is off; it costs nothing otherwise (``due_at`` is read from the envelope
already decoded). The message is released (:class:`sqsq.executor.Release`, ``deferred``: no record, not a failed
attempt) with the remainder, at most SQS's 12-hour visibility ceiling, as its visibility timeout.
"""

from __future__ import annotations

import math

from sqsq import limits
from sqsq.message import Envelope

EARLY_TOLERANCE_SECONDS = 1.0
"""Clock skew tolerated between the producer and the consumer before a message counts as early."""


def early_by_seconds(envelope: Envelope, now: float) -> int | None:
    """Whole seconds (at least 1, at most 12 h) to wait when ``envelope`` is early at ``now``; None when it is due."""
    if envelope.due_at is None or envelope.due_at - now <= EARLY_TOLERANCE_SECONDS:
        return None
    return min(math.ceil(envelope.due_at - now), limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)
