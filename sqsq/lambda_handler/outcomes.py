"""What the handler does with each executor :class:`~sqsq.executor.Outcome`, and the visibility changes after.

=====================  =====================================================================================
outcome                what the handler does
=====================  =====================================================================================
``Ack``                success: Lambda deletes the record (an offloaded payload's S3 object is deleted first;
                       a redelivery that finds it gone reads the SUCCESS record and is acknowledged)
``RetryAfter(delay)``  ChangeMessageVisibility to ``delay`` (per-message backoff, which Lambda alone lacks),
                       then failed: the record comes back after the delay and counts an attempt
``RetryAfter(None)``   failed: the record comes back after the queue's visibility timeout
``Release(delay)``     ChangeMessageVisibility to ``delay``, failed (the outcome could not be recorded); on the
                       record's last receive, a fresh copy is sent instead and the record succeeds
                       (:mod:`sqsq.rescue`)
``DeadLetter``         a copy is sent to the queue's DLQ first, then success so Lambda deletes the original;
                       if the send fails: failed (the record returns and SQS's redrive takes it later)
=====================  =====================================================================================

"Failed" is :class:`RecordFailed` raised out of the record handler, which Powertools reports in
``batchItemFailures``. Visibility changes are queued on the :class:`Invocation` and sent in batches of 10
(ChangeMessageVisibilityBatch) by :func:`flush_visibility` before the handler returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.executor import Ack, DeadLetter, Outcome, Release, RetryAfter
from sqsq.executor.payload import delete_payload
from sqsq.lambda_handler.invocation import Invocation
from sqsq.lambda_handler.records import RecordFailed, queue_name_of
from sqsq.rescue import is_last_receive, send_rescue
from sqsq.retry import clamp_visibility_seconds
from sqsq.transport import QueueInfo, ReceivedMessage

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

__all__ = ["flush_visibility", "report"]


def report(app: App, logger: Logger, inv: Invocation, message: ReceivedMessage, info: QueueInfo,
           outcome: Outcome) -> str:
    """Turn one outcome into the record's result (returned) or its failure (raised).

    Returns:
        What happened, for Powertools' success entry (``"ack"``, ``"rescued"``, ``"dead-lettered"``...).

    Raises:
        RecordFailed: the record is to be reported failed (retry, release, or a DLQ copy that could not be sent).
    """
    if isinstance(outcome, Ack):
        delete_payload(app, message, outcome.task_id)  # sqsq.payloads: the S3 object of an offloaded body, if any
        inv.count("duplicates" if outcome.duplicate else "succeeded")
        logger.info("succeeded" if not outcome.duplicate else "duplicate delivery acknowledged")
        return "ack"
    if isinstance(outcome, RetryAfter):
        inv.count("retried")
        if outcome.delay_seconds is not None:
            delay = clamp_visibility_seconds(outcome.delay_seconds)
            inv.change_visibility(message.queue_name, message.receipt_handle, delay)
            logger.info("retry", extra={"delay_seconds": delay, "error": outcome.error})
        else:
            logger.info("retry after the visibility timeout", extra={"error": outcome.error})
        raise RecordFailed(f"retry: {outcome.error}")
    if isinstance(outcome, Release):
        return _release(app, logger, inv, message, info, outcome)
    assert isinstance(outcome, DeadLetter)
    return _dead_letter(app, logger, inv, message, info, outcome)


def _release(app: App, logger: Logger, inv: Invocation, message: ReceivedMessage, info: QueueInfo,
             outcome: Release) -> str:
    inv.count("released")
    if is_last_receive(message.receive_count, info.max_receive_count) and send_rescue(app, message.queue_name, message):
        # Its last receive, given back without an outcome: a fresh copy instead of the DLQ (sqsq.rescue).
        inv.count("rescued")
        logger.warning("last receive given back without an outcome: rescued as a fresh copy",
                       extra={"error": outcome.error})
        return "rescued"
    delay = clamp_visibility_seconds(outcome.delay_seconds)
    inv.change_visibility(message.queue_name, message.receipt_handle, delay)
    logger.warning("released", extra={"delay_seconds": delay, "error": outcome.error})
    raise RecordFailed(f"released: {outcome.error}")


def _dead_letter(app: App, logger: Logger, inv: Invocation, message: ReceivedMessage, info: QueueInfo,
                 outcome: DeadLetter) -> str:
    """Copy the record to the queue's DLQ (with its attributes), so Lambda may delete the original."""
    error = f"{outcome.error_type}: {outcome.error_message}"
    if info.dead_letter_target_arn is None:
        inv.count("dead_lettered")
        logger.warning("failed for good; the queue has no DLQ, so it is deleted", extra={"error": error})
        return "dead-lettered (no DLQ)"
    dlq_name = queue_name_of(info.dead_letter_target_arn)
    from sqsq.transport.copies import copy_of  # only a dead letter is copied

    copy = copy_of(message, dlq_name, "dlq")  # keeps its MessageGroupId; a FIFO DLQ gets a dedup id
    try:
        failures = app.transport.send_batch(dlq_name, [copy])
    except AwsError as exc:
        inv.count("failed")
        logger.error("moving to the DLQ failed; the record stays", extra={"dlq": dlq_name, "error": str(exc)})
        raise RecordFailed(f"DLQ send to {dlq_name} failed: {exc}") from exc
    if failures:
        inv.count("failed")
        logger.error("moving to the DLQ was rejected; the record stays",
                     extra={"dlq": dlq_name, "error": failures[0].message})
        raise RecordFailed(f"DLQ send to {dlq_name} rejected: {failures[0].code} {failures[0].message}")
    inv.count("dead_lettered")
    logger.warning("moved to the DLQ", extra={"dlq": dlq_name, "error": error})
    return "dead-lettered"


def flush_visibility(app: App, logger: Logger, inv: Invocation) -> None:
    """Send the invocation's queued visibility changes, 10 per ChangeMessageVisibilityBatch; failures are logged
    (those records return after their visibility timeout instead)."""
    for queue_name, changes in inv.visibility.items():
        for i in range(0, len(changes), limits.SQS_MAX_BATCH_ENTRIES):
            chunk = changes[i : i + limits.SQS_MAX_BATCH_ENTRIES]
            try:
                failures = app.transport.change_visibility_batch(queue_name, chunk)
            except AwsError as exc:
                logger.error(
                    "ChangeMessageVisibilityBatch failed; those records return after their visibility timeout",
                    extra={"queue": queue_name, "records": len(chunk), "error": str(exc)},
                )
                continue
            for f in failures:
                logger.warning("visibility change failed",
                               extra={"queue": queue_name, "code": f.code, "error": f.message})
