"""The long-running poller: receive, run on a pool, record, then acknowledge in batches.

The parts, one module each, one thread (or set of threads) each; :class:`Worker` builds them and stops them in
order:

- :mod:`~sqsq.worker.receiver`: one *receiver* per queue long-polls (WaitTimeSeconds 20, up to 10 messages)
  while there is room, decodes each body once, and hands the messages to the pool (burst mode: ends once drained);
- :mod:`~sqsq.worker.slots`: the messages held at once, at most ``concurrency + prefetch`` unfinished (received,
  not yet finished), and the rule that a message on its last receive runs alone;
- :mod:`~sqsq.worker.dispatch`: the pools. ``concurrency`` threads run :class:`sqsq.executor.Executor` on each
  message, or with ``pool="process"`` its task body runs in a child process (:class:`sqsq.pools.ProcessPool`);
  ``async def`` tasks are awaited on one event loop. The results store is written and every SQS call is made from
  this process either way. Between the receiver and the pool, :mod:`~sqsq.worker.groups` runs a FIFO group's
  messages one at a time, in order, and :mod:`~sqsq.worker.duplicates` runs two deliveries of one task id one
  after the other (never side by side, where the second's claim would defer it for the first one's whole lease);
  :mod:`~sqsq.worker.writers` makes thread-pool runs' result writes off the task threads;
- :mod:`~sqsq.worker.acknowledger`: turns outcomes into SQS calls in batches of 10 (DeleteMessageBatch,
  ChangeMessageVisibilityBatch, and DLQ moves: send the copy first, delete the original second), retrying failed
  entries on later turns, never by sleeping on its thread;
- :mod:`~sqsq.worker.heartbeat`: extends the visibility of every held message (running or waiting to start)
  before it runs out, bounded by the task's ``time_limit_seconds`` and SQS's 12 hours from the receive. Should it
  lapse anyway and come back to this worker, the worker takes the new receipt handle and does not run it again;
- :mod:`~sqsq.worker.shutdown`: SIGTERM/SIGINT stop receiving, release what has not started, let running tasks
  finish within ``shutdown_grace_seconds``, release the rest, flush acknowledgements, exit 0; a second signal
  exits at once. Nothing unfinished is deleted and nothing is re-sent as a copy;
- :mod:`~sqsq.worker.sweeper` sweeps the DLQs; :mod:`~sqsq.worker.startup` logs the settings and misfits.

AWS failures: botocore's standard retry mode retries throttling, 5xx and dropped connections on every call
(:mod:`sqsq.transport.aws`). What still fails leaves the message in the queue: a failed receive backs off
(growing delay, capped); a failed delete is retried, then logged with the message ids (the redelivery is
acknowledged as a duplicate, its SUCCESS being recorded); a failed visibility change leaves the message to
come back after its visibility timeout; when the results store cannot be written the worker pauses
receiving with a growing delay. Recurring failures are logged once per interval, not once per message.
"""

from __future__ import annotations

from sqsq.worker.acknowledger import (
    ACK_ENTRY_ATTEMPTS,
    ACK_ENTRY_RETRY_SECONDS,
    ACK_FLUSH_SECONDS,
    AWS_ERROR_BACKOFF_BASE_SECONDS,
    AWS_ERROR_BACKOFF_MAX_SECONDS,
)
from sqsq.worker.coordinator import MAIN_LOOP_TICK_SECONDS, Worker
from sqsq.worker.dispatch import CHILD_DIED_RELEASE_SECONDS, EXECUTOR_BUG_RELEASE_SECONDS
from sqsq.worker.heartbeat import (
    HEARTBEAT_FRACTION,
    HEARTBEAT_MIN_LEAD_SECONDS,
    HEARTBEAT_TICK_SECONDS,
    TIME_LIMIT_GRACE_SECONDS,
    heartbeat_extension_seconds,
)
from sqsq.worker.stats import WorkerStats
from sqsq.worker.sweeper import DLQ_SWEEP_INTERVAL_SECONDS

__all__ = [
    "ACK_ENTRY_ATTEMPTS",
    "ACK_ENTRY_RETRY_SECONDS",
    "ACK_FLUSH_SECONDS",
    "AWS_ERROR_BACKOFF_BASE_SECONDS",
    "AWS_ERROR_BACKOFF_MAX_SECONDS",
    "CHILD_DIED_RELEASE_SECONDS",
    "DLQ_SWEEP_INTERVAL_SECONDS",
    "EXECUTOR_BUG_RELEASE_SECONDS",
    "HEARTBEAT_FRACTION",
    "HEARTBEAT_MIN_LEAD_SECONDS",
    "HEARTBEAT_TICK_SECONDS",
    "MAIN_LOOP_TICK_SECONDS",
    "TIME_LIMIT_GRACE_SECONDS",
    "Worker",
    "WorkerStats",
    "heartbeat_extension_seconds",
]
