"""Errors about what is sent and received: arguments, results, limits, message bodies, signatures, task ids.

Part of the tree drawn in :mod:`sqsq.errors`; import these from there (``from sqsq.errors import X``).
"""

from __future__ import annotations

from sqsq.errors.base import SqsqError


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
        if errors:  # a message given beside the errors is a hint on what to do, after them
            message = describe_errors(errors) + (f"; {message}" if message else "")
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
