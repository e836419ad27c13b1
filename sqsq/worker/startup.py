"""What a worker says when it starts: its settings, and the task/queue combinations that will not do what they ask."""

from __future__ import annotations

import logging
from typing import Any

from sqsq import limits, startup_gc
from sqsq.app import App
from sqsq.executor import CLAIM_LEASE_DEFAULT_SECONDS, attempts_allowed
from sqsq.task import Task
from sqsq.transport import QueueInfo

log = logging.getLogger("sqsq.worker")


def report_startup(app: App, infos: dict[str, QueueInfo], settings: str, async_concurrency: int | None) -> None:
    """Log the worker's ``settings`` line, then a warning or note per queue and task that needs one.

    Args:
        app: the app.
        infos: the queues the worker receives from, by logical name.
        settings: the worker's settings, as one line.
        async_concurrency: ``async def`` tasks awaited at once, or None when no task is async.
    """
    startup_gc.finish()  # the worker's start-up ends here: its clients and queue infos are built
    log.info("worker: %s", settings)
    if async_concurrency is not None:
        log.info("async tasks: awaited on one event loop, up to %d at once", async_concurrency)
    for name, info in infos.items():
        queue_name = app.queue_name(name)
        if info.max_receive_count is None:
            log.warning(
                "queue %s has no redrive policy: tasks out of retries are recorded as FAILURE and deleted; "
                "provision it with a DLQ (`sqsq provision APP`)", queue_name,
            )
        for task in app.tasks.values():
            if (task.queue or app.settings.default_queue) == name:
                _report_task(task, queue_name, info)


def _report_task(task: Task[Any, Any], queue_name: str, info: QueueInfo) -> None:
    if task.max_retries is not None and info.max_receive_count is not None:
        if task.max_retries + 1 > info.max_receive_count:
            log.warning(
                "task %s asks for %d retries but queue %s has maxReceiveCount=%d: it gets %d attempts",
                task.name, task.max_retries, queue_name, info.max_receive_count,
                attempts_allowed(task.max_retries, info.max_receive_count),
            )
    limit = task.time_limit_seconds
    if limit is not None and limit > limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
        log.warning(
            "task %s has time_limit_seconds=%.0f but SQS keeps a message invisible for at most %d s "
            "after its receive: a run that long comes back to the queue and may run twice",
            task.name, limit, limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
        )
    elif limit is not None and limit > info.visibility_timeout_seconds:
        log.info(
            "task %s: time_limit_seconds=%.0f exceeds queue %s's VisibilityTimeout=%d s; the visibility "
            "heartbeat keeps its message invisible while it runs (up to the time limit)",
            task.name, limit, queue_name, info.visibility_timeout_seconds,
        )
    if task.claim and limit is None:
        log.info(
            "task %s claims its runs with a lease of %.0f s (no time_limit_seconds): a run longer than "
            "that may be taken over by a redelivery", task.name, CLAIM_LEASE_DEFAULT_SECONDS,
        )
