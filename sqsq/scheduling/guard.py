"""The consumer-side guard: a message that arrives before its ``due_at`` goes back to its queue unrun.

A schedule fires at the whole minute at or before the due time and carries the rest as ``DelaySeconds``, so SQS
receives the message (its ``SentTimestamp``) at most 60 s before the due time, and SQS's delay holds it until then.
A message is early only when both clocks say so: SQS received it more than 60 s before its due time (so it was not
sent by its schedule: a copy re-sent by hand or by a tool that dropped the delay), and the consumer's clock is
before the due time. Trusting SQS's clock as well keeps the guard quiet when the consumer's clock lags.

It is on against AWS and off against a local endpoint (setting ``early_guard``), whose controllable clock moves
SQS's delays and the local scheduler ahead of the consumer's clock while SentTimestamp keeps real time.

It costs no request (``due_at`` is read from the envelope already decoded). An early message is released
(:class:`sqsq.executor.Release`, ``deferred``: no record, not a failed attempt) with the time left, at most SQS's
12-hour visibility ceiling, as its visibility timeout.
"""

from __future__ import annotations

import math

from sqsq import limits
from sqsq.message import Envelope

EARLY_TOLERANCE_SECONDS = 1.0
"""Clock skew tolerated before a message counts as early."""


def early_by_seconds(envelope: Envelope, now: float, sent_at_seconds: float | None) -> int | None:
    """Whole seconds (1 s to 12 h) to hold ``envelope`` back, or None when it may run.

    Args:
        envelope: the decoded message (``due_at`` None: never early).
        now: the consumer's epoch seconds.
        sent_at_seconds: SQS's SentTimestamp of the message in epoch seconds (None: unknown, the consumer's clock
            alone decides).
    """
    due_at = envelope.due_at
    if due_at is None or due_at - now <= EARLY_TOLERANCE_SECONDS:
        return None
    schedule_slack = limits.SCHEDULER_AT_GRANULARITY_SECONDS + EARLY_TOLERANCE_SECONDS
    if sent_at_seconds is not None and due_at - sent_at_seconds <= schedule_slack:
        return None  # sent by its schedule: SQS's DelaySeconds held it until the due time
    return min(math.ceil(due_at - now), limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)
