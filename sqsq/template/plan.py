"""Per-queue deployment plans: what each logical queue's resources look like, from its tasks and declarations.

One plan feeds both the template renderer and ``sqsq provision``/``sqsq local`` (:mod:`sqsq.local.provision`), so
the queues created locally have exactly the attributes the template declares.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqsq import limits
from sqsq.app import App
from sqsq.errors import ConfigError
from sqsq.queue_config import Consumer
from sqsq.template.naming import logical_id
from sqsq.template.options import (
    DEFAULT_FUNCTION_TIMEOUT_SECONDS,
    FUNCTION_TIMEOUT_MARGIN_SECONDS,
    LAMBDA_DEFAULT_TIMEOUT_SECONDS,
    TemplateOptions,
)

QUEUE_RETENTION_SECONDS = 345_600
"""Source queues keep messages 4 days (SQS's default, declared explicitly so provisioning can match it)."""
WORKER_QUEUE_VISIBILITY_TIMEOUT_SECONDS = 30
"""A worker queue's VisibilityTimeout (SQS's default): workers extend it while a task runs (the heartbeat)."""
DLQ_RETENTION_SECONDS = 1_209_600
"""Dead-letter queues keep messages 14 days (SQS's maximum), so failures can be inspected and redriven."""


def function_timeout_seconds(app: App, queue: str | None = None) -> int:
    """A consumer function's timeout: the longest time limit of the queue's tasks + a margin, else 60 s.

    Args:
        app: the app.
        queue: a logical queue; ``None`` = all the app's tasks.

    Raises:
        ConfigError: a task's time limit leaves no room within Lambda's 900 s maximum.
    """
    default_queue = app.settings.default_queue
    tasks = [t for t in app.tasks.values() if queue is None or (t.queue or default_queue) == queue]
    limited = [t for t in tasks if t.time_limit_seconds is not None]
    if not limited:
        return DEFAULT_FUNCTION_TIMEOUT_SECONDS
    longest = max(limited, key=lambda t: t.time_limit_seconds or 0)
    needed = math.ceil(longest.time_limit_seconds or 0) + FUNCTION_TIMEOUT_MARGIN_SECONDS
    if needed > limits.LAMBDA_MAX_TIMEOUT_SECONDS:
        raise ConfigError(
            f"task {longest.name} has time_limit_seconds={longest.time_limit_seconds}; with the "
            f"{FUNCTION_TIMEOUT_MARGIN_SECONDS} s margin that exceeds Lambda's {limits.LAMBDA_MAX_TIMEOUT_SECONDS} s "
            f"timeout. Declare its queue for workers (app.declare_queue({longest.queue or default_queue!r}, "
            "consumer='worker')) and run it with `sqsq worker`, or lower its time limit"
        )
    return max(needed, LAMBDA_DEFAULT_TIMEOUT_SECONDS)


def required_visibility_timeout_seconds(function_timeout_seconds: int, batching_window_seconds: int) -> int:
    """AWS's minimum for an SQS event source's queue: 6 x function timeout + batching window, capped at 12 h."""
    needed = limits.LAMBDA_VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds + batching_window_seconds
    return min(needed, limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class QueuePlan:
    """The deployed shape of one logical queue.

    Attributes:
        logical: the logical queue name (``"images"``).
        resource_id: its CloudFormation id stem (``"Images"``: ``ImagesQueue``, ``ImagesFunction``, ...).
        consumer: ``"lambda"`` or ``"worker"``.
        visibility_timeout_seconds: the queue's VisibilityTimeout: the app's ``visibility_timeout_seconds`` when
            set; else 6 x function timeout + window for a Lambda consumer (AWS's guidance), 30 s for workers
            (which extend visibility themselves while a task runs).
        function_timeout_seconds: the function's Timeout (Lambda consumers; 0 for workers).
        memory_size_mb: the function's MemorySize.
        batch_size: records per invocation.
        batching_window_seconds: MaximumBatchingWindowInSeconds.
        maximum_concurrency: ScalingConfig.MaximumConcurrency.
        fifo_attributes: a FIFO queue's ``FifoQueue``/``ContentBasedDeduplication``/``DeduplicationScope``/
            ``FifoThroughputLimit`` (empty for a standard queue; see :meth:`sqsq.queue_config.QueueConfig.fifo_attributes`).
    """

    logical: str
    resource_id: str
    consumer: Consumer
    visibility_timeout_seconds: int
    function_timeout_seconds: int
    memory_size_mb: int
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int
    fifo_attributes: Mapping[str, object] = field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        """Whether the queue (and its DLQ) is FIFO."""
        return bool(self.fifo_attributes)

    @property
    def name_suffix(self) -> str:
        """``".fifo"`` for a FIFO queue (ends both the queue's and its DLQ's physical name), else ``""``."""
        return limits.SQS_FIFO_SUFFIX if self.fifo else ""

    def queue_attributes(self, max_receive_count: object, dlq_arn: object) -> dict[str, object]:
        """The source queue's SQS attributes as the template declares them (``dlq_arn`` may be an intrinsic)."""
        return {
            "VisibilityTimeout": self.visibility_timeout_seconds,
            "MaximumMessageSize": limits.SQS_MAX_MESSAGE_SIZE_BYTES,
            "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count},
            **self.fifo_attributes,
        }

    def dead_letter_queue_attributes(self) -> dict[str, object]:
        """The dead-letter queue's SQS attributes as the template declares them (a FIFO queue's DLQ is FIFO:
        SQS's redrive needs the two of one type; no content-based deduplication, sqsq's copies carry an id)."""
        return {
            "MaximumMessageSize": limits.SQS_MAX_MESSAGE_SIZE_BYTES,
            "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
            **({"FifoQueue": True, "ContentBasedDeduplication": False} if self.fifo else {}),
        }


QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
"""What SQS accepts in a queue name (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html)."""
SQS_MAX_QUEUE_NAME = 80
LAMBDA_MAX_FUNCTION_NAME = 64
SWEEP_SCHEDULE_SUFFIX = "-dlq-sweep"
"""Suffix of the function name that names its DLQ sweep schedule (schedule names: 64 characters at most)."""


def check_names(plans: list[QueuePlan], *, prefix: str, dlq_suffix: str) -> None:
    """Refuse queue names SQS rejects, and names that make one queue another's DLQ or clash as resource ids.

    Args:
        plans: the queues.
        prefix: the physical name prefix (``"<app>-"``, or the template's ``"<app>-"`` + the longest Stage + ``"-"``).
        dlq_suffix: the DLQ name suffix.

    Raises:
        ConfigError: the first problem, with the names involved and the fix.
    """
    physical: dict[str, str] = {}
    ids: dict[str, str] = {}
    for p in plans:
        if not QUEUE_NAME.fullmatch(p.logical):
            raise ConfigError(f"queue name {p.logical!r}: SQS accepts only letters, digits, '-' and '_'; rename it")
        names = (f"{prefix}{p.logical}{p.name_suffix}", "queue"), (f"{prefix}{p.logical}{dlq_suffix}{p.name_suffix}", "DLQ")
        for name, what in names:
            if len(name) > SQS_MAX_QUEUE_NAME:
                raise ConfigError(f"the {what} of queue {p.logical!r} would be named {name!r} ({len(name)} characters; "
                                  f"SQS allows {SQS_MAX_QUEUE_NAME}): shorten the queue or app name")
            if name in physical:
                raise ConfigError(f"queue {p.logical!r}'s {what} would be named {name!r}, like {physical[name]}: one "
                                  "queue would be another's dead-letter queue; rename one of them")
            physical[name] = f"the {what} of queue {p.logical!r}"
        for rid in (f"{p.resource_id}{kind}" for kind in ("Queue", "DeadLetterQueue", "DeadLetterAlarm", "Function")):
            if rid in ids:
                raise ConfigError(f"queues {ids[rid]!r} and {p.logical!r} both need the CloudFormation id {rid!r}; "
                                  "rename one of them")
            ids[rid] = p.logical


def plan_queues(app: App, options: TemplateOptions | None = None) -> list[QueuePlan]:
    """One :class:`QueuePlan` per logical queue of the app, sorted by name.

    Raises:
        ConfigError: a Lambda queue's task time limit does not fit Lambda, a queue name SQS rejects, or names that
            collide (a queue named like another's DLQ, two queues with one CloudFormation id).
    """
    opts = options or TemplateOptions()
    queues = app.logical_queues()
    # With Fargate workers and no queue declared for them, the workers consume every queue (and no function does).
    all_workers = opts.fargate is not None and all(app.queue_config(q).consumer == "lambda" for q in queues)
    plans = []
    for q in queues:
        config = app.queue_config(q)
        consumer: Consumer = "worker" if all_workers else config.consumer
        window = opts.batching_window_seconds if config.batching_window_seconds is None else config.batching_window_seconds
        if config.fifo:
            window = 0  # Lambda supports no batching window on a FIFO queue (QueueConfig refuses a declared one)
        if consumer == "lambda":
            timeout = function_timeout_seconds(app, q)
            visibility = required_visibility_timeout_seconds(timeout, window)
        else:
            timeout, visibility = 0, WORKER_QUEUE_VISIBILITY_TIMEOUT_SECONDS
        if app.settings.visibility_timeout_seconds is not None:  # set explicitly: it wins (`--check` flags B14)
            visibility = app.settings.visibility_timeout_seconds
        plans.append(
            QueuePlan(
                logical=q,
                resource_id=logical_id(q),
                consumer=consumer,
                visibility_timeout_seconds=visibility,
                function_timeout_seconds=timeout,
                memory_size_mb=config.memory_size_mb or opts.memory_size_mb,
                batch_size=config.batch_size or opts.batch_size,
                batching_window_seconds=window,
                maximum_concurrency=config.maximum_concurrency or opts.maximum_concurrency,
                fifo_attributes=config.fifo_attributes(),
            )
        )
    check_names(plans, prefix=app.settings.queue_prefix or "", dlq_suffix=app.settings.dlq_suffix)
    return plans
