"""Errors of AWS calls, wrapped from botocore's (each keeps the AWS error code).

Part of the tree drawn in :mod:`sqsq.errors`; import these from there (``from sqsq.errors import X``).
"""

from __future__ import annotations

from sqsq.errors.base import SqsqError


class AwsError(SqsqError):
    """An AWS call failed after botocore's retries.

    Attributes:
        code: the AWS error code (``"AWS.SimpleQueueService.NonExistentQueue"``, ``"ThrottlingException"``…)
            or ``None`` for connection-level failures.
    """

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class QueueNotFound(AwsError):
    """The queue does not exist at the configured endpoint and region."""


class ResultsTableNotFound(AwsError):
    """The results table does not exist at the configured endpoint and region."""


class EndpointUnreachable(AwsError):
    """Nothing answers at the configured endpoint."""


class SendFailed(AwsError):
    """Some messages of a send were rejected by SQS.

    Attributes:
        failures: ``{task_id: "Code: message"}`` for every entry that was not enqueued.
        sent_ids: task ids that were enqueued (exactly once).
    """

    def __init__(self, failures: dict[str, str], sent_ids: list[str]):
        detail = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        super().__init__(
            f"{len(failures)} of {len(failures) + len(sent_ids)} messages were not enqueued ({detail}); "
            "the others were sent once. Re-send only the failed task ids.",
            code=None,
        )
        self.failures = failures
        self.sent_ids = sent_ids


class PurgeInProgress(AwsError):
    """The queue was purged less than 60 s ago; SQS allows one PurgeQueue per queue per 60 s.

    Attributes:
        queue: the physical queue name.
        retry_after_seconds: whole seconds until a purge may be tried again (an estimate, >= 1).
    """

    def __init__(self, queue: str, retry_after_seconds: int):
        super().__init__(
            f"purge already in progress; retry after ~{retry_after_seconds} s "
            f"(queue {queue}: SQS allows one PurgeQueue per queue per 60 s)",
            code="AWS.SimpleQueueService.PurgeQueueInProgress",
        )
        self.queue = queue
        self.retry_after_seconds = retry_after_seconds
