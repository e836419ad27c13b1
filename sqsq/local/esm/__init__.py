"""A local SQS event source mapping: runs a template's SQS-triggered functions in this process, like Lambda would.

For each function and each of its SQS events (read from ``template.yaml``, or derived from an app), pollers
long-poll the queue as Lambda's pollers do: up to ``BatchSize`` records per invocation, gathered for up to
``MaximumBatchingWindowInSeconds``, with at most ``ScalingConfig.MaximumConcurrency`` invocations at once (one
poller thread per allowed concurrent invocation). Each batch becomes an event with exactly the record shape Lambda
sends (``messageId``, ``receiptHandle``, ``body``, ``attributes`` with ``ApproximateReceiveCount``,
``SentTimestamp``, ``SenderId``, ``ApproximateFirstReceiveTimestamp``, ``messageAttributes``, ``md5OfBody``,
``eventSource``, ``eventSourceARN``, ``awsRegion``), and the handler (``Handler`` module:attribute, imported) is
called with a context whose remaining time counts down from the function's ``Timeout``.

The response is applied as Lambda applies it (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html):

* with ``ReportBatchItemFailures``: the records not listed in ``batchItemFailures`` are deleted; an empty or
  missing list deletes all; an item with a missing, empty or unknown ``itemIdentifier`` fails the whole batch;
* without it (B12): a normal return deletes *every* record, whatever the handler reported;
* an exception or a timeout fails the whole batch: nothing is deleted.

Nothing the handler did not see succeed is ever deleted. Records that are not deleted come back after their
visibility timeout, and SQS's redrive policy moves them to the DLQ after ``maxReceiveCount`` receives.

How this differs from real Lambda (deliberately):

* in-process, on threads: no process isolation, no cold starts, no per-invocation memory limit, module state is
  shared between concurrent invocations (sqsq's handler keeps per-invocation state, so it is safe);
* a timeout is not enforced by killing: the invocation counts as failed when it overruns (nothing deleted, as on
  Lambda) but its thread runs on until the handler returns, and what it did (results written) stays done;
* no throttling model: ``MaximumConcurrency`` bounds the pollers, so receives are never wasted on throttles;
* the function's environment is applied to the handler's app (SQSQ_* settings and the endpoint) instead of to a
  fresh process, see :func:`load_handler`.

For a ``sam build`` output run in real runtime processes (``awslambdaric``, Lambda's sys.path, timeouts killed,
cold starts), see :mod:`sqsq.local.lambda_runtime`; its functions run through the same mappings here.

This package, by job: :mod:`.records` (the event and :func:`settle`), :mod:`.functions` (handlers and context),
:mod:`.mapping` (one queue's pollers), :mod:`.run` (running them all).
"""

from __future__ import annotations

from sqsq.local.esm.functions import (
    Handler,
    LocalContext,
    LocalFunction,
    functions_from_app,
    functions_from_template,
    load_handler,
)
from sqsq.local.esm.mapping import DEFAULT_MAXIMUM_CONCURRENCY, EsmStats, LocalEventSourceMapping
from sqsq.local.esm.records import Settlement, lambda_record, md5_of_message_attributes, settle
from sqsq.local.esm.run import STOP_WHEN_EMPTY_WAIT_SECONDS, run_functions, run_local_esm

__all__ = [
    "DEFAULT_MAXIMUM_CONCURRENCY",
    "STOP_WHEN_EMPTY_WAIT_SECONDS",
    "EsmStats",
    "Handler",
    "LocalContext",
    "LocalEventSourceMapping",
    "LocalFunction",
    "Settlement",
    "functions_from_app",
    "functions_from_template",
    "lambda_record",
    "load_handler",
    "md5_of_message_attributes",
    "run_functions",
    "run_local_esm",
    "settle",
]
