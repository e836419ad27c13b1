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

from sqsq.app import App, AsyncResult, send, send_many
from sqsq.errors import (
    AwsError,
    ConfigError,
    LimitExceeded,
    MessageDecodeError,
    PayloadTooLarge,
    QueueNotFound,
    ResultsTableNotFound,
    ResultTimeout,
    ResultTooLarge,
    Retry,
    SendFailed,
    SqsqError,
    TaskFailed,
    TaskNotRegistered,
    ValidationError,
)
from sqsq.results import Status
from sqsq.retry import Backoff
from sqsq.task import Task

__all__ = [
    "App",
    "AsyncResult",
    "AwsError",
    "Backoff",
    "ConfigError",
    "LimitExceeded",
    "MessageDecodeError",
    "PayloadTooLarge",
    "QueueNotFound",
    "ResultTimeout",
    "ResultTooLarge",
    "ResultsTableNotFound",
    "Retry",
    "SendFailed",
    "SqsqError",
    "Status",
    "Task",
    "TaskFailed",
    "TaskNotRegistered",
    "ValidationError",
    "send",
    "send_many",
]
