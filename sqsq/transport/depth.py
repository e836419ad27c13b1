"""A queue's approximate counts (re-exported by :mod:`sqsq.transport`, loaded there on first use)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueDepth:
    """Approximate counts (SQS's ApproximateNumberOfMessages*)."""

    visible: int
    in_flight: int
    delayed: int
