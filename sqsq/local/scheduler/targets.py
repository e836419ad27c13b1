"""What one firing of a local EventBridge schedule does: substitute the context attributes, call the target
(retrying per its RetryPolicy), and on failure send the dead-letter event to its DeadLetterConfig queue.

Targets served (the ones sqsq uses):

* an SQS queue ARN (templated target): SendMessage with the Input as the body, ``SqsParameters.MessageGroupId``;
* the universal target ``arn:aws:scheduler:::aws-sdk:sqs:sendMessage``: the Input is SendMessage's request as
  JSON (``QueueUrl``, ``MessageBody``, ``DelaySeconds``, ``MessageAttributes``, ``MessageGroupId``,
  ``MessageDeduplicationId``).

Messages go straight into moto's SQS backend of this process (the patched, locked one), so a firing is not an
HTTP request and the request counter does not count it; delays obey the controllable clock.

Context attributes substituted in the Input, as EventBridge does
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>`` (``2026-12-04T02:00:00Z``),
``<aws.scheduler.execution-id>`` (new for each attempt) and ``<aws.scheduler.attempt-number>`` (1, 2, ...).

Retries are immediate (EventBridge spaces them with backoff; locally nothing waits): 1 +
``RetryPolicy.MaximumRetryAttempts`` attempts (default 185, moto's and AWS's default). The dead-letter event is
the Input of the last attempt, with the message attributes EventBridge Scheduler sets on it:
``X-Amz-Scheduler-Attempt``, ``X-Amz-Scheduler-Schedule-Arn``, ``X-Amz-Scheduler-Group``,
``X-Amz-Scheduler-Target-Arn``, ``X-Amz-Scheduler-Error-Code``, ``X-Amz-Scheduler-Error-Message``.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["UNIVERSAL_SQS_SEND", "Firing", "fire", "substitute", "supported"]

UNIVERSAL_SQS_SEND = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
"""The universal target that calls SQS SendMessage with the Input as its request."""

_DEFAULT_RETRY_ATTEMPTS = 185
_log = logging.getLogger("sqsq.local.scheduler")


@dataclass(frozen=True)
class Firing:
    """One firing of a schedule.

    Attributes:
        schedule_arn: the schedule's ARN.
        group: its schedule group.
        target: its Target (as the Scheduler API stores it).
        scheduled_time: the due time, epoch seconds.
        account_id: the schedule's account.
        region: the schedule's region.
    """

    schedule_arn: str
    group: str
    target: dict[str, Any]
    scheduled_time: float
    account_id: str
    region: str


class TargetError(Exception):
    """A target call failed; ``code`` is the AWS error code (e.g. ``AWS.SimpleQueueService.NonExistentQueue``)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def substitute(text: str, firing: Firing, execution_id: str, attempt: int) -> str:
    """The Input with EventBridge Scheduler's context attributes replaced."""
    scheduled = datetime.fromtimestamp(firing.scheduled_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key, value in (
        ("<aws.scheduler.schedule-arn>", firing.schedule_arn),
        ("<aws.scheduler.scheduled-time>", scheduled),
        ("<aws.scheduler.execution-id>", execution_id),
        ("<aws.scheduler.attempt-number>", str(attempt)),
    ):
        text = text.replace(key, value)
    return text


def fire(firing: Firing) -> bool:
    """Invoke the firing's target with retries; on failure send the dead-letter event.

    Returns:
        True when the target call succeeded.
    """
    target = firing.target
    if not supported(target):
        _log.debug("schedule %s: target %s is not invoked locally", firing.schedule_arn, target.get("Arn"))
        return False
    retries = (target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", _DEFAULT_RETRY_ATTEMPTS)
    error = TargetError("Unknown", "no attempt made")
    attempt = 0
    payload = ""
    for attempt in range(1, int(retries) + 2):
        payload = substitute(target.get("Input") or "", firing, uuid.uuid4().hex[:16], attempt)
        try:
            _invoke(target, payload, firing)
            return True
        except TargetError as exc:
            error = exc
        except Exception as exc:  # moto raises its own error types; keep their code
            error = TargetError(getattr(exc, "code", None) or type(exc).__name__, str(exc))
    _log.warning("schedule %s failed after %d attempt(s): %s %s", firing.schedule_arn, attempt, error.code, error)
    _dead_letter(firing, payload, attempt, error)
    return False


def supported(target: dict[str, Any]) -> bool:
    """True for the targets the local scheduler invokes (SQS queues, SQS SendMessage); others (a Lambda function,
    as the DLQ sweep schedules have) are not invoked, retried or dead-lettered."""
    arn = str(target.get("Arn", ""))
    return arn == UNIVERSAL_SQS_SEND or (arn.startswith("arn:") and ":sqs:" in arn)


def _invoke(target: dict[str, Any], payload: str, firing: Firing) -> None:
    arn = target.get("Arn", "")
    if arn == UNIVERSAL_SQS_SEND:
        try:
            request = json.loads(payload)
            queue_url = str(request["QueueUrl"])
            body = str(request["MessageBody"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TargetError("ValidationException", f"Input is not a SendMessage request: {exc}") from None
        parts = queue_url.rstrip("/").split("/")
        _send(parts[-2] if len(parts) >= 2 else firing.account_id, firing.region, parts[-1], body,
              attributes=request.get("MessageAttributes"), delay_seconds=request.get("DelaySeconds"),
              group_id=request.get("MessageGroupId"), dedup_id=request.get("MessageDeduplicationId"))
    elif arn.startswith("arn:") and ":sqs:" in arn:
        _, _, _, region, account_id, name = arn.split(":", 5)
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        _send(account_id, region, name, payload, group_id=group_id)
    else:
        raise TargetError("ValidationException", f"the local scheduler does not invoke target {arn!r}")


def _send(
    account_id: str,
    region: str,
    queue_name: str,
    body: str,
    *,
    attributes: dict[str, Any] | None = None,
    delay_seconds: Any = None,
    group_id: str | None = None,
    dedup_id: str | None = None,
) -> None:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[account_id][region]
    if queue_name not in backend.queues:
        raise TargetError("AWS.SimpleQueueService.NonExistentQueue", f"queue {queue_name} does not exist")
    if group_id is not None and dedup_id is None and queue_name.endswith(".fifo"):
        dedup_id = uuid.uuid4().hex  # each firing is a new message
    backend.send_message(
        queue_name, message_body=body, message_attributes=attributes or {},
        delay_seconds=None if delay_seconds is None else int(delay_seconds),
        group_id=group_id, deduplication_id=dedup_id,
    )


def _dead_letter(firing: Firing, payload: str, attempts: int, error: TargetError) -> None:
    dlq_arn = (firing.target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq_arn:
        return
    attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in (
            ("X-Amz-Scheduler-Attempt", str(attempts)),
            ("X-Amz-Scheduler-Schedule-Arn", firing.schedule_arn),
            ("X-Amz-Scheduler-Group", firing.group),
            ("X-Amz-Scheduler-Target-Arn", firing.target.get("Arn", "")),
            ("X-Amz-Scheduler-Error-Code", error.code or "Unknown"),
            ("X-Amz-Scheduler-Error-Message", (str(error) or error.code)[:1000]),
        )
    }
    _, _, _, region, account_id, name = dlq_arn.split(":", 5)
    try:
        _send(account_id, region, name, payload or "{}", attributes=attributes)
    except Exception as exc:  # the DLQ is gone too: EventBridge drops the event
        _log.warning("schedule %s: dead-letter queue %s failed too (%s); event dropped", firing.schedule_arn,
                     dlq_arn, exc)
