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

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    SendOptionError,
    SignatureError,
    SqsqError,
    TaskFailed,
    TaskIdConflict,
    TaskNotRegistered,
    TaskRevoked,
    ValidationError,
)

if TYPE_CHECKING:
    from sqsq import context
    from sqsq.app import App, AsyncResult, send, send_many
    from sqsq.lambda_handler import lambda_handler
    from sqsq.results import Status
    from sqsq.retry import Backoff
    from sqsq.scheduling.expressions import cron, every
    from sqsq.task import Task, TaskCall
    from sqsq.workflows import WorkflowResult, chain, chord, group

    __version__: str

UNKNOWN_VERSION = "0+unknown"
"""``sqsq.__version__`` when sqsq is imported from a source tree that was never installed."""

_LAZY = {
    "App": "sqsq.app",
    "AsyncResult": "sqsq.app",
    "send": "sqsq.app",
    "send_many": "sqsq.app",
    "Status": "sqsq.results",
    "Backoff": "sqsq.retry",
    "Task": "sqsq.task",
    "TaskCall": "sqsq.task",
    "cron": "sqsq.scheduling.expressions",  # issue 12: periodic tasks
    "every": "sqsq.scheduling.expressions",
    # issue 13, workflows
    "chain": "sqsq.workflows",
    "chord": "sqsq.workflows",
    "group": "sqsq.workflows",
    "WorkflowResult": "sqsq.workflows",
}
"""Public names loaded on first use (``import sqsq`` alone loads neither pydantic nor the app), by module."""

# ``sqsq.lambda_handler`` is both a package (``from sqsq.lambda_handler import SqsLambdaHandler``) and, as an
# attribute of sqsq, the function (``sqsq.lambda_handler(app)``). Python binds a subpackage to its parent's
# attribute once, when it is first imported; importing the package here (its __init__ imports nothing), then
# dropping that binding, lets the attribute resolve through __getattr__ below to the function whatever the
# caller imports first.
import_module("sqsq.lambda_handler")
del globals()["lambda_handler"]


def __getattr__(name: str) -> Any:
    # Lazy: importing sqsq imports neither pydantic nor boto3 nor aws_lambda_powertools (only Lambda functions
    # need it, and without it sqsq.lambda_handler raises MissingExtra), nor reads package metadata (Lambda cold
    # starts). A name, once loaded, is kept in the module's namespace.
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(import_module(module), name)
    elif name == "context":  # sqsq.context.current(): the running task's id, attempt and message attributes
        value = import_module("sqsq.context")
    elif name == "lambda_handler":
        package = import_module("sqsq.lambda_handler")
        package.require_powertools()  # MissingExtra without Powertools (sqsq.extras is loaded only then)
        value = package.lambda_handler
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("sqsq")
        except PackageNotFoundError:
            return UNKNOWN_VERSION
    else:
        raise AttributeError(f"module 'sqsq' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "SendOptionError",
    "SignatureError",
    "SqsqError",
    "Status",
    "Task",
    "TaskCall",
    "TaskFailed",
    "TaskIdConflict",
    "TaskRevoked",
    "TaskNotRegistered",
    "ValidationError",
    "context",
    "WorkflowResult",
    "chain",
    "chord",
    "group",
    "lambda_handler",
    "send",
    "send_many",
    "cron",  # issue 12
    "every",
]
