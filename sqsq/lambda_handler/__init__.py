"""The Lambda runtime: an SQS event handler with partial batch responses, on the same executor as the poller.

Use it as ``handler = sqsq.lambda_handler(app)`` in a handler file of your own, or set the function's handler to
sqsq's generic entry point, ``sqsq.lambda_entry.handler``. ``from sqsq.lambda_handler import lambda_handler``
works as well.

Each record of the event becomes a :class:`sqsq.transport.ReceivedMessage` and goes through
:class:`sqsq.executor.Executor`; the outcome decides what the handler reports (Powertools' batch processors build
the ``{"batchItemFailures": [...]}`` response; the event source mapping must have ``ReportBatchItemFailures``).
What each outcome becomes is tabled in :mod:`sqsq.lambda_handler.outcomes`; visibility changes are sent in batches
of 10 (ChangeMessageVisibilityBatch) before the handler returns.

FIFO queues: once a record of a message group fails, the later records of that group in the batch are reported
failed without running, so order within a group holds; other groups go on (Powertools'
``SqsFifoPartialProcessor(skip_group_on_error=True)``).

Remaining time: a record is started only when the invocation's remaining time leaves room for it
(:mod:`sqsq.lambda_handler.deadline`). Records not started are reported failed and released (visibility 0) so
they come back at once; none is dropped. A batch where every record fails returns every id (no exception).

Malformed input: an event that is not an SQS event (no ``Records`` list, a record that is not an object, has an
``eventSource`` other than ``aws:sqs`` or no ``messageId``) raises ValueError before anything runs, since such a
record cannot be reported on its own. A record with a ``messageId`` that is otherwise malformed (``attributes``
not an object, a missing ``body``...) is reported failed alone. A body that is not a sqsq envelope (not JSON,
nested too deeply to parse...) runs through the executor like any other: FAILURE recorded, copied to the DLQ.

One record never fails the batch: whatever the handler's own code raises while looking at or running a record
(``Exception`` or another ``BaseException`` such as ``SystemExit``) reports that record failed and releases it.
Only ``KeyboardInterrupt`` is re-raised (it is fatal: a Ctrl-C or ``sqsq local``'s SIGTERM stopping the
process); the whole batch then returns after the visibility timeout, as after any failed invocation. Tasks
cannot raise anything out of the handler: the executor records whatever a task raises as its failure.

Modules, one job each: ``handler`` (:class:`SqsLambdaHandler`: one invocation, the record handler), ``batch``
(Powertools' processors), ``records`` (event checks, a record as a message), ``outcomes`` (what each outcome
becomes; DLQ moves, rescues, visibility changes), ``deadline`` (time checks), ``metrics`` (EMF), ``invocation``
(per-invocation state). Only ``batch``, ``handler`` and ``metrics`` import aws_lambda_powertools; AWS calls go
through ``app.transport``, never boto3 directly.

This package's ``__init__`` imports nothing: importing it (``import sqsq`` does) loads neither Powertools nor the
executor; names are loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsq.app import App
    from sqsq.lambda_handler.handler import DEFAULT_SAFETY_MARGIN_SECONDS as DEFAULT_SAFETY_MARGIN_SECONDS
    from sqsq.lambda_handler.handler import EXECUTOR_ERROR_RELEASE_SECONDS as EXECUTOR_ERROR_RELEASE_SECONDS
    from sqsq.lambda_handler.handler import SWEEP_EVENT as SWEEP_EVENT
    from sqsq.lambda_handler.handler import SqsLambdaHandler
    from sqsq.lambda_handler.invocation import LambdaContextLike
    from sqsq.lambda_handler.records import SQS_EVENT_SOURCE as SQS_EVENT_SOURCE
    from sqsq.lambda_handler.records import RecordFailed as RecordFailed
    from sqsq.lambda_handler.records import to_received_message as to_received_message

__all__ = ["LambdaContextLike", "SqsLambdaHandler", "lambda_handler"]

_LAZY = {
    "SqsLambdaHandler": "handler",
    "DEFAULT_SAFETY_MARGIN_SECONDS": "handler",
    "EXECUTOR_ERROR_RELEASE_SECONDS": "handler",
    "SWEEP_EVENT": "handler",
    "LambdaContextLike": "invocation",
    "RecordFailed": "records",
    "SQS_EVENT_SOURCE": "records",
    "to_received_message": "records",
}
"""Names of this package loaded on first use, by the submodule that defines them."""


def require_powertools() -> None:
    """Check that aws-lambda-powertools imports, loading :mod:`sqsq.extras` only when it does not (issue 11).

    Raises:
        sqsq.errors.MissingExtra: it is not installed (``pip install "sqsq[lambda]"``).
        ImportError: it is installed but does not import (the error of that import).
    """
    try:
        import aws_lambda_powertools  # noqa: F401
    except ImportError:
        from sqsq.extras import require

        require("sqsq.lambda_handler", "aws_lambda_powertools")
        raise


def lambda_handler(app: App, **options: Any) -> SqsLambdaHandler:
    """A Lambda handler for SQS events that runs ``app``'s tasks, with partial batch responses.

    Args:
        app: the app (settings from the function's environment: SQSQ_APP_NAME, SQSQ_QUEUE_PREFIX, ...).
        **options: see :class:`SqsLambdaHandler` (``safety_margin_seconds``, ``metrics_namespace``,
            ``emit_metrics``, ``route_sqsq_logs``, ``logger``).

    Returns:
        The handler: ``handler(event, context) -> {"batchItemFailures": [...]}``.

    Raises:
        sqsq.errors.MissingExtra: aws-lambda-powertools is not installed (``pip install "sqsq[lambda]"``).

    Example:
        >>> # lambdas/census.py
        >>> import sqsq
        >>> from sqsq.demo.app import app
        >>> handler = sqsq.lambda_handler(app)
    """
    from sqsq.lambda_handler.handler import SqsLambdaHandler

    return SqsLambdaHandler(app, **options)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sqsq.lambda_handler' has no attribute {name!r}")
    return getattr(import_module(f"sqsq.lambda_handler.{module}"), name)
