"""sqsq: a typed, Celery-style task queue built natively on Amazon SQS, with results in DynamoDB.

Example:
    >>> import sqsq
    >>> app = sqsq.App("shop")
    >>> @app.task()
    ... def add(x: int, y: int) -> int:
    ...     return x + y
    >>> h = sqsq.send(add, {"x": 1, "y": 2})      # doctest: +SKIP
    >>> h.get(timeout_seconds=30)                  # doctest: +SKIP
    3
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqsq.app import App, AsyncResult, send, send_many
from sqsq.errors import (
    AwsError,
    ConfigError,
    LimitExceeded,
    MessageDecodeError,
    MissingExtra,
    PayloadTooLarge,
    QueueNotFound,
    ResultNotReadable,
    ResultsTableNotFound,
    ResultTimeout,
    ResultTooLarge,
    Retry,
    SendFailed,
    SignatureError,
    SqsqError,
    TaskFailed,
    TaskIdConflict,
    TaskNotRegistered,
    ValidationError,
)
from sqsq.results import Status
from sqsq.retry import Backoff
from sqsq.task import Task, TaskCall

if TYPE_CHECKING:
    from sqsq.lambda_handler import lambda_handler

    __version__: str

UNKNOWN_VERSION = "0+unknown"
"""``sqsq.__version__`` when sqsq is imported from a source tree that was never installed."""


def __getattr__(name: str) -> Any:
    # Lazy: importing sqsq must not import aws_lambda_powertools (only Lambda functions need it, and without it
    # this raises MissingExtra), nor read package metadata (Lambda cold starts).
    if name == "lambda_handler":
        from sqsq.lambda_handler import lambda_handler

        return lambda_handler
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("sqsq")
        except PackageNotFoundError:
            return UNKNOWN_VERSION
    raise AttributeError(f"module 'sqsq' has no attribute {name!r}")


__all__ = [
    "App",
    "AsyncResult",
    "AwsError",
    "Backoff",
    "ConfigError",
    "LimitExceeded",
    "MessageDecodeError",
    "MissingExtra",
    "PayloadTooLarge",
    "QueueNotFound",
    "ResultNotReadable",
    "ResultTimeout",
    "ResultTooLarge",
    "ResultsTableNotFound",
    "Retry",
    "SendFailed",
    "SignatureError",
    "SqsqError",
    "Status",
    "Task",
    "TaskCall",
    "TaskFailed",
    "TaskIdConflict",
    "TaskNotRegistered",
    "ValidationError",
    "lambda_handler",
    "send",
    "send_many",
]
