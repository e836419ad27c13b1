"""Errors of running tasks and waiting for them: failures, revocations, retries, time limits, the local runtimes.

Part of the tree drawn in :mod:`sqsq.errors`; import these from there (``from sqsq.errors import X``).
"""

from __future__ import annotations

from sqsq.errors.base import SqsqError


class TaskFailed(SqsqError):
    """The task ended in FAILURE.

    Attributes:
        task_id: the task id.
        error_type: the remote exception's class name (``"ZeroDivisionError"``).
        error_message: the remote exception's message.
        traceback: the remote traceback text, or ``None``.
    """

    def __init__(self, task_id: str, error_type: str, error_message: str, traceback: str | None = None):
        super().__init__(f"task {task_id} failed: {error_type}: {error_message}")
        self.task_id = task_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class TaskRevoked(TaskFailed):
    """The task was cancelled (its schedule deleted) or revoked before it ran: its record says REVOKED."""

    def __init__(self, task_id: str, message: str = "the task was cancelled before it ran"):
        super().__init__(task_id, "TaskRevoked", message, None)


class WorkflowError(SqsqError):
    """A workflow step cannot go on (issue 13): e.g. a chord callback whose members' results are gone."""


class ResultTimeout(SqsqError):
    """The task did not reach SUCCESS or FAILURE within the timeout."""


class Retry(SqsqError):
    """Raise from a task to ask for another attempt after ``delay_seconds``.

    The retry is a ChangeMessageVisibility on the message being handled, so it counts as an
    attempt against ``max_retries`` and the queue's ``maxReceiveCount``. A delay past SQS's 12-hour visibility
    ceiling (issue 12) goes through a one-time schedule instead: a copy carrying the attempts so far is scheduled
    and the message deleted (see :mod:`sqsq.scheduling.retry`).

    Args:
        delay_seconds: seconds before the task runs again, 0 to 365 days (31,536,000).
        reason: free text recorded with the RETRY status.
    """

    def __init__(self, delay_seconds: float = 0.0, reason: str = "retry requested by the task"):
        if not 0 <= delay_seconds <= 31_536_000:  # also refuses NaN
            raise ValueError(f"Retry(delay_seconds={delay_seconds!r}) must be within 0..31536000 (365 days)")
        super().__init__(reason)
        self.delay_seconds = delay_seconds
        self.reason = reason


class AttemptLost(SqsqError):
    """An attempt ended without an outcome of the task's own: the process running it died (out of memory, killed).

    Not the task's failure, so it is retried whatever the task's ``retry_on`` says, after ``delay_seconds``; it
    still counts as an attempt (the receive was spent running it), and the last one records FAILURE with this
    error, so a task that kills its process every time ends in the DLQ with the reason.
    """

    delay_seconds: float = 1.0


class TimeLimitExceeded(SqsqError):
    """A run went past its task's ``time_limit_seconds``.

    Recorded like any exception the task raised (retried when ``retry_on`` allows, FAILURE on the last attempt).
    The process pool stops the child and the event loop cancels the coroutine; on the thread pool the thread cannot
    be stopped: the outcome is recorded and the message handled at the limit, and the thread's late result is
    discarded (the worker logs that it runs on).
    """


class LocalServerError(SqsqError):
    """The embedded local AWS (moto server) could not start or stop."""


class LocalInvocationFailed(SqsqError):
    """An invocation of a built function in the local Lambda runtime (``sqsq.local.lambda_runtime``) failed.

    Attributes:
        error_type: Lambda's errorType (``"Runtime.ImportModuleError"``, ``"ValueError"``, ``"Runtime.ExitError"``...).
        error_message: Lambda's errorMessage.
    """

    def __init__(self, function_id: str, error_type: str, error_message: str):
        super().__init__(
            f"function {function_id} failed: {error_type}: {error_message} (see its log under the local runtime's "
            "log folder)"
        )
        self.error_type = error_type
        self.error_message = error_message


class LocalInvocationTimedOut(LocalInvocationFailed):
    """A built function's invocation overran its Timeout; its process was killed (SIGKILL), as Lambda does."""

    def __init__(self, function_id: str, timeout_seconds: float):
        super().__init__(function_id, "Sandbox.Timedout", f"Task timed out after {timeout_seconds:.2f} seconds")
        self.timeout_seconds = timeout_seconds
