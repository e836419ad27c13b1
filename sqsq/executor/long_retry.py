"""A retry past SQS's 12-hour visibility ceiling (issue 12): a scheduled copy instead of a visibility change.

A retry is normally the message itself (a visibility change, so ``ApproximateReceiveCount`` is the attempt number).
SQS cannot hide a message for more than 12 hours, so a longer retry delay (``sqsq.Retry(delay_seconds=…)`` or a
``Backoff`` past 43,200 s) schedules a copy through the send path of long delays
(:func:`sqsq.scheduling.one_time.schedule_send`): same id, ``sent_at`` and signature, ``due_at`` set, and
``prior_attempts`` = the attempts made, so the copy's attempt number continues from there; its record says
SCHEDULED with the due time. The message is then deleted (:class:`Ack`). If the schedule cannot be created, the
retry falls back to the longest visibility change SQS allows (12 hours), logged.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sqsq import limits
from sqsq.errors import AwsError, ConfigError, LimitExceeded
from sqsq.executor.outcomes import Ack, Outcome, RetryAfter
from sqsq.message import Envelope

if TYPE_CHECKING:
    from sqsq.scheduling.one_time import Components

log = logging.getLogger("sqsq.executor")


def schedule_long_retry(app: Any, envelope: Envelope, queue_name: str, attempts: int, outcome: Outcome) -> Outcome:
    """``outcome`` as it is, unless it is a :class:`RetryAfter` past 12 hours: then schedule the copy and Ack.

    Args:
        app: the app (settings, transport, results, scheduler: :class:`sqsq.scheduling.one_time.Components`).
        envelope: the message's envelope.
        queue_name: the queue the message came from (the copy goes back there).
        attempts: the attempts made so far, this one included.
        outcome: what :meth:`sqsq.executor.recording.Recorder.failed` decided.

    Returns:
        :class:`Ack` once the copy is scheduled; ``outcome`` otherwise (a 12-hour RetryAfter if scheduling failed).
    """
    if not isinstance(outcome, RetryAfter) or outcome.delay_seconds is None:
        return outcome
    if outcome.delay_seconds <= limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS or not queue_name:
        return outcome
    from sqsq.scheduling.one_time import schedule_send  # only a retry past 12 hours needs these (start-up cost)
    from sqsq.scheduling.plan import plan_delivery

    components: Components = app
    now = time.time()
    due_at = now + outcome.delay_seconds
    copy = envelope.model_copy(update={"due_at": due_at, "prior_attempts": attempts})
    try:
        schedule_send(components, copy, copy.to_body(), queue_name, plan_delivery(due_at, now), attempts=attempts)
    except (AwsError, ConfigError, LimitExceeded) as exc:
        log.warning("task %s: retry in %.0f s could not be scheduled (%s); retrying in 12 hours instead",
                    envelope.id, outcome.delay_seconds, exc)
        return RetryAfter(float(limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS), outcome.error)
    log.info("task %s %s: retry scheduled in %.0f s (attempt %d made)", envelope.id, envelope.task,
             outcome.delay_seconds, attempts)
    return Ack()
