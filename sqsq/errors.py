"""The sqsq exception tree. Every error sqsq raises derives from :class:`SqsqError`.

```
SqsqError
├── ConfigError                 settings missing or malformed (unknown SQSQ_* key, bad value)
│   ├── MissingExtra            an optional dependency is not installed (names the `pip install` to run)
│   ├── MotoVersionMismatch     the installed moto is not the one the local AWS's patches were written for
│   └── ScheduleExpressionError a periodic task's cron/rate text or time zone is invalid (names the offending text)
├── ValidationError             task arguments (or a return value) do not match the task's schema
│   ├── ResultNotReadable       a return value would not come back from get() as returned
│   └── SendOptionError         a send's options (message group, tenant, eta, attributes) are wrong, not its arguments
├── TaskNotRegistered           no task under that name in the app
├── LimitExceeded               an SQS/DynamoDB quota would be broken (checked before any I/O)
│   ├── PayloadTooLarge         message body over the queue's MaximumMessageSize
│   └── ResultTooLarge          result over DynamoDB's 400 KB item size
├── MessageDecodeError          a message body is not a sqsq envelope this version understands
│   ├── PayloadMissing          the S3 object an offloaded message or result points to is gone
│   └── PayloadRefused          a pointer names another bucket, or an object over payload_max_read_mb
├── SignatureError              a message failed signature verification (signing on: it never runs)
│   ├── SignatureMissing        the message carries no signature
│   ├── SignatureKeyUnknown     signed with a key id none of the configured keys has
│   └── SignatureInvalid        the signature does not match the message (tampered or forged)
├── TaskIdConflict              a task id holds the record of a different message (a forged or colliding id)
├── AwsError                    an AWS call failed after botocore's retries (keeps the AWS error code)
│   ├── QueueNotFound           the queue does not exist at that endpoint/region
│   ├── ResultsTableNotFound    the results table does not exist at that endpoint/region
│   ├── EndpointUnreachable     nothing answers at the endpoint
│   ├── SendFailed              some entries of a send were rejected (lists them)
│   └── PurgeInProgress         a PurgeQueue within 60 s of the last one (says when to retry)
├── TaskFailed                  the task ended in FAILURE (remote error type and message)
│   └── TaskRevoked             the task was cancelled or revoked before it ran (record REVOKED)
├── ResultTimeout               the result was not final within the timeout
├── Retry                       raised by a task to ask for a retry after delay_seconds
├── AttemptLost                 an attempt ended without the task's own outcome (its process died): always retried
├── TimeLimitExceeded           a run went past its task's time_limit_seconds (stopped where the pool allows)
├── LocalServerError            the embedded local AWS could not start
├── LocalInvocationFailed       a built function failed in the local Lambda runtime (keeps Lambda's errorType)
│   └── LocalInvocationTimedOut the invocation overran the function's Timeout; its process was killed
└── ChildProcessDied            a process-pool child died mid-task (sqsq.pools.process; an AttemptLost)
```

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations


class SqsqError(Exception):
    """Root of every error sqsq raises."""


class ConfigError(SqsqError):
    """Settings are missing or malformed."""


class MissingExtra(ConfigError):
    """A feature needs an optional dependency that is not installed (raised by :func:`sqsq.extras.require`).

    Attributes:
        feature: what was asked for (``"sqsq template"``, ``"sqsq.lambda_handler"``).
        missing: the distributions that are missing, as pip names them (``["PyYAML"]``).
        extras: the sqsq extras that install them (``["cli"]``).
    """

    def __init__(self, feature: str, missing: list[str], extras: list[str]):
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        super().__init__(f'{feature} needs {names}: pip install "sqsq[{",".join(extras)}]"')
        self.feature = feature
        self.missing = missing
        self.extras = extras


class MotoVersionMismatch(ConfigError):
    """The installed moto is not the version the local AWS's patches of it were written for.

    Raised when the local AWS starts (:class:`sqsq.local.server.LocalAwsServer`, ``python -m sqsq.local.server``),
    before anything is patched.

    Attributes:
        service: the local AWS service whose patches do not fit (``"sqs"``).
        supported: the moto version they were written for (``"5.2.5"``).
        installed: the moto version found.
    """

    def __init__(self, service: str, supported: str, installed: str):
        super().__init__(
            f"the local AWS's {service} patches were written for moto {supported}, but moto {installed} is "
            f'installed; install the supported one: pip install "moto[server]=={supported}" (or "sqsq[local]")'
        )
        self.service = service
        self.supported = supported
        self.installed = installed


class ScheduleExpressionError(ConfigError):
    """A periodic schedule is invalid: cron text, rate or time zone (raised at declaration, naming the text)."""


class ValidationError(SqsqError):
    """Arguments or a return value do not match the task's schema.

    The message names each field and the problem, never the value that was given (only its type): a rejected
    value may be a password or a token, and this text goes to logs, to the stored FAILURE record and to
    ``sqsq dlq``. The same holds for :attr:`errors`, pydantic's list without its ``input`` entries.

    Attributes:
        task_name: the registered task name.
        errors: pydantic's error list (``[{"loc": ..., "msg": ..., "type": ...}]``), without input values.
    """

    def __init__(self, task_name: str, message: str, errors: list[dict[str, object]] | None = None):
        if errors:
            message = describe_errors(errors)
        super().__init__(f"invalid arguments for task {task_name!r}: {message}")
        self.task_name = task_name
        self.errors = [{k: v for k, v in e.items() if k != "input"} for e in errors or []]


class ResultNotReadable(ValidationError):
    """A task's return value would not come back from ``get()`` as it was returned (or a stored one cannot be read).

    The worker records the task as FAILURE with this error type instead of storing a SUCCESS that ``get()``
    could not rebuild; ``AsyncResult.get`` raises it for a stored result its return annotation cannot read.
    """

    def __init__(self, task_name: str, message: str):
        SqsqError.__init__(self, f"the result of task {task_name!r} cannot be read back: {message}")
        self.task_name = task_name
        self.errors = []


class SendOptionError(ValidationError):
    """A send's options are wrong, not its arguments: message group options the queue's type does not take, a FIFO
    send without a group, an ``eta`` that is naive or given with ``delay_seconds``, a bad message attribute.

    A :class:`ValidationError` (nothing has been sent); the message reads ``invalid send options: ...`` and names
    the options as :meth:`sqsq.App.send` keywords (``group_id=``); ``sqsq send`` names its flags instead
    (``--group-id``) and exits with the usage code (2).

    Attributes:
        task_name: the task being sent, or ``""`` when the options were checked without one (attributes).
        detail: the problem, without the ``invalid send options:`` prefix.
    """

    def __init__(self, detail: str, task_name: str = ""):
        SqsqError.__init__(self, f"invalid send options: {detail}")
        self.task_name = task_name
        self.detail = detail
        self.errors = []

    def __reduce__(self) -> tuple[type[SendOptionError], tuple[str, str]]:
        # Pickled as its parts (a process pool returns it to the worker), so the prefix is not doubled.
        return (SendOptionError, (self.detail, self.task_name))


def describe_errors(errors: list[dict[str, object]] | list[object], limit: int = 10, root: str = "(arguments)") -> str:
    """pydantic's error list as one line, field by field, naming the type of a rejected value but never the value.

    Example: ``"x: Input should be greater than 0 (got int); y: Field required"``.
    """
    parts = []
    for e in errors[:limit]:
        if not isinstance(e, dict):
            continue
        loc = ".".join(str(p) for p in e.get("loc", ()) or ()) or root
        got = f" (got {type(e['input']).__name__})" if "input" in e and e.get("type") != "missing" else ""
        parts.append(f"{loc}: {e.get('msg', 'invalid')}{got}")
    return "; ".join(parts) + (f"; and {len(errors) - limit} more" if len(errors) > limit else "")


class TaskNotRegistered(SqsqError):
    """No task is registered under the given name."""

    def __init__(self, task_name: str, known: list[str] | None = None):
        hint = f"; registered tasks: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"no task named {task_name!r} is registered in this app{hint}")
        self.task_name = task_name


class LimitExceeded(SqsqError):
    """An AWS quota would be broken; raised before any network I/O."""


class PayloadTooLarge(LimitExceeded):
    """The encoded message is larger than the queue's ``MaximumMessageSize``.

    Attributes:
        size_bytes: the exact UTF-8 size of body plus message attributes.
        limit_bytes: the queue's MaximumMessageSize.
    """

    def __init__(self, size_bytes: int, limit_bytes: int, queue: str):
        super().__init__(
            f"message for queue {queue!r} is {size_bytes} bytes; the queue's MaximumMessageSize is "
            f"{limit_bytes} bytes. Set SQSQ_PAYLOAD_BUCKET (payload_bucket=) to carry it through S3, pass a reference "
            f"instead of the data, or raise the queue's MaximumMessageSize (SQS allows up to 1 MiB)"
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class WorkflowTooLarge(PayloadTooLarge):
    """A workflow step's message (its arguments plus the rest of its chain or its chord's callback) is larger than
    the queue's ``MaximumMessageSize`` (issue 13)."""

    def __init__(self, size_bytes: int, limit_bytes: int, queue: str, what: str):
        LimitExceeded.__init__(
            self,
            f"{what}: the message for queue {queue!r} is {size_bytes} bytes, over the queue's MaximumMessageSize of "
            f"{limit_bytes} bytes (the rest of a chain travels in each step's message). Split the chain into shorter "
            "chains, pass references (e.g. S3 keys) instead of large arguments or results, or raise the queue's "
            "MaximumMessageSize (SQS allows up to 1 MiB)",
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class ResultTooLarge(LimitExceeded):
    """A task's result is larger than one DynamoDB item may hold (400 KB)."""


class MessageDecodeError(SqsqError):
    """A message body is not an envelope this version of sqsq can read."""


class PayloadMissing(MessageDecodeError):
    """The S3 object an offloaded message (or result) points to does not exist (deleted, expired, wrong bucket).

    Attributes:
        where: ``s3://bucket/key``.
    """

    def __init__(self, where: str, code: str | None = None, *, what: str = "message"):
        consequence = (
            "the message cannot be run" if what == "message"
            else "the result is lost; run the task again (its record keeps the status)"
        )
        super().__init__(
            f"the payload object {where} of this {what} does not exist ({code or 'not found'}): it was deleted or "
            f"expired (the bucket's lifecycle rule), or the bucket is not the one the sender used; {consequence}"
        )
        self.where = where
        self.code = code


class PayloadRefused(MessageDecodeError):
    """A pointer sqsq will not follow: it names a bucket other than the configured payload bucket, or an object
    larger than ``payload_max_read_mb`` (checked before the body is read). The message is dead-lettered."""


class SignatureError(SqsqError):
    """A message failed signature verification (see :mod:`sqsq.signing`); with signing on it never runs."""


class SignatureMissing(SignatureError):
    """Signing is on and the message carries no signature (``kid``/``sig``)."""


class SignatureKeyUnknown(SignatureError):
    """The message names a key id that none of the configured signing keys has."""


class SignatureInvalid(SignatureError):
    """The signature does not match the message's fields: tampered with, or forged."""


class TaskIdConflict(SqsqError):
    """A task id holds the record of a different message: another task name, or the same name sent at another time.

    Task ids are random UUIDs, so this means a message was forged with someone else's id (or a producer reused
    one). The executor never writes over such a record; it records the conflict under the message's own
    body-derived id and dead-letters it. :meth:`sqsq.AsyncResult.get` raises it when the record under a handle's
    id belongs to another task.
    """


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
