"""The executor's arithmetic and encodings: attempts allowed, claim leases, result encoding, error fields."""

from __future__ import annotations

import traceback as tb
from dataclasses import replace
from typing import Any

from sqsq import limits
from sqsq.errors import ResultTooLarge
from sqsq.results import ResultRecord, Status
from sqsq.task import Task

DEFAULT_ATTEMPTS_WITHOUT_REDRIVE = 4
"""Attempts for a task with no max_retries on a queue with no redrive policy (Celery's 3 retries + 1)."""
TRACEBACK_MAX_CHARS = 8_000
CLAIM_LEASE_DEFAULT_SECONDS = 900.0
"""Lease of a claimed task without ``time_limit_seconds`` (15 minutes)."""
CLAIM_LEASE_MIN_SECONDS = 5.0
"""Shortest lease ever written, even when the remaining invocation time reads 0 (B25)."""
CONSUMER_DIED = "ConsumerDied"
"""Error type of the marker written before a run on the last receive (see :mod:`sqsq.executor`)."""


def encode_result(task: Task[Any, Any], value: Any, *, offload: bool = False) -> str:
    """A task's return value as the JSON text to record, within DynamoDB's item budget (or S3's, with ``offload``).

    Args:
        task: the task that returned it.
        value: what it returned.
        offload: a payload bucket is set, so a result past DynamoDB's item is stored in S3 (:mod:`sqsq.payloads`).

    Raises:
        ResultTooLarge: over :data:`sqsq.limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES` (without ``offload``) or
            :data:`sqsq.limits.S3_MAX_PUT_BYTES` (with it).
        Exception: whatever pydantic raises for a value its return annotation cannot encode.
    """
    result_json = task.dump_result(value)
    size = len(result_json.encode())
    if offload and size > limits.S3_MAX_PUT_BYTES:
        raise ResultTooLarge(
            f"result is {size} bytes; one S3 object holds at most {limits.S3_MAX_PUT_BYTES} bytes. Return a reference "
            "(e.g. an S3 key of your own) instead"
        )
    if not offload and size > limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES:
        raise ResultTooLarge(
            f"result is {size} bytes; results are limited to {limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES} bytes "
            "(DynamoDB's 400 KB item). Set SQSQ_PAYLOAD_BUCKET (payload_bucket=) to store larger ones in S3, or "
            "return a reference (e.g. an S3 key) instead"
        )
    return result_json


def attempts_allowed(max_retries: int | None, max_receive_count: int | None) -> int:
    """How many attempts a task gets on a queue (see :mod:`sqsq.executor`)."""
    candidates = [n for n in (None if max_retries is None else max_retries + 1, max_receive_count) if n is not None]
    return min(candidates) if candidates else DEFAULT_ATTEMPTS_WITHOUT_REDRIVE


def claim_lease_seconds(time_limit_seconds: float | None, remaining_time_seconds: float | None) -> float:
    """Length of a claim's lease: ``min(remaining time, time limit)``, at least :data:`CLAIM_LEASE_MIN_SECONDS`.

    Args:
        time_limit_seconds: the task's ``time_limit_seconds``; ``None`` = :data:`CLAIM_LEASE_DEFAULT_SECONDS`.
        remaining_time_seconds: time left in the invocation (Lambda), ``None`` = unbounded (poller).

    Returns:
        Seconds, >= CLAIM_LEASE_MIN_SECONDS (also when the remaining time is 0 or negative).
    """
    lease = CLAIM_LEASE_DEFAULT_SECONDS if time_limit_seconds is None else time_limit_seconds
    if remaining_time_seconds is not None:
        lease = min(lease, remaining_time_seconds)
    return max(CLAIM_LEASE_MIN_SECONDS, lease)


def last_receive_marker(base: ResultRecord, max_receive_count: int | None) -> ResultRecord:
    """The STARTED record written before a run on the last receive: the reason the DLQ shows if the run never ends."""
    return replace(
        base,
        error_type=CONSUMER_DIED,
        error_message=(
            f"the consumer stopped while running it on its last receive ({base.attempts} of maxReceiveCount "
            f"{max_receive_count}): a worker or pool process killed (out of memory, SIGKILL), or a Lambda invocation "
            "that timed out or crashed; see the consumer's logs"
        ),
    )


def finished(existing: ResultRecord, generation: int) -> bool:
    """Whether ``existing`` ends a delivery of ``generation``: SUCCESS of any generation (a redriven copy never
    moves a finished task back), or FAILURE of this generation or a later one (this copy is stale)."""
    return existing.status is Status.SUCCESS or (existing.status.is_final and existing.generation >= generation)


def error_fields(exc: BaseException) -> dict[str, Any]:
    """Error type, message and traceback of ``exc``; never raises, whatever the exception's ``__str__`` does."""
    try:
        message = str(exc)
    except BaseException as str_exc:  # an exception whose __str__ itself raises
        message = f"<str() of the exception raised {type(str_exc).__name__}>"
    try:
        text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:
        text = f"{type(exc).__name__}: {message}"
    return {
        "error_type": type(exc).__name__,
        "error_message": message[:2000],
        "traceback": text[-TRACEBACK_MAX_CHARS:],
    }
