"""How a logical queue is consumed when deployed: the per-queue settings of its Lambda function or its workers.

Declared on the app (``app.declare_queue("images", memory_size_mb=1024)``) so the template renders one function per
queue sized for that queue's tasks, instead of one size for all. Nothing here does I/O; the values are checked
against AWS's limits when declared, so a bad value fails at import time with the limit in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqsq import limits
from sqsq.errors import ConfigError

Consumer = Literal["lambda", "worker"]
DeduplicationScope = Literal["queue", "messageGroup"]
"""A FIFO queue's DeduplicationScope: a deduplication id is unique per queue, or per message group."""
FifoThroughputLimit = Literal["perQueue", "perMessageGroupId"]
"""A FIFO queue's FifoThroughputLimit; ``"perMessageGroupId"`` with ``"messageGroup"`` scope = high throughput mode."""


def _check_range(name: str, value: int | None, low: int, high: int, why: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r} must be a whole number within {low}..{high} ({why})")
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high} ({why})")


@dataclass(frozen=True)
class QueueConfig:
    """Deployment settings of one logical queue; ``None`` means "the template command's default".

    Attributes:
        name: the logical queue name (``"images"``).
        consumer: ``"lambda"`` (an SQS-triggered function, the default) or ``"worker"`` (long-running
            ``sqsq worker`` pollers, e.g. on ECS Fargate with ``sqsq template --fargate``; use it for tasks whose
            time limit exceeds Lambda's 900 s).
        memory_size_mb: the function's MemorySize, 128-10,240 MB.
        batch_size: records per invocation, 1-10.
        batching_window_seconds: MaximumBatchingWindowInSeconds, 0-300.
        maximum_concurrency: ScalingConfig.MaximumConcurrency of the event source mapping, 2-1,000.
        fifo: a FIFO queue (physical name ``<name>.fifo``, DLQ FIFO too): per message group, in order and one at
            a time; every send needs a message group (``group_id=`` or the task's ``group_key``).
        deduplication_scope: FIFO only: ``"queue"`` (SQS's default) or ``"messageGroup"``.
        fifo_throughput_limit: FIFO only: ``"perQueue"`` (SQS's default) or ``"perMessageGroupId"`` (needs
            ``deduplication_scope="messageGroup"``; the two together are SQS's high throughput mode).

    Raises:
        ConfigError: a value outside AWS's range (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), or
            a FIFO setting on a standard queue or a combination SQS refuses
            (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html).
    """

    name: str
    consumer: Consumer = "lambda"
    memory_size_mb: int | None = None
    batch_size: int | None = None
    batching_window_seconds: int | None = None
    maximum_concurrency: int | None = None
    fifo: bool = False
    deduplication_scope: DeduplicationScope | None = None
    fifo_throughput_limit: FifoThroughputLimit | None = None

    def __post_init__(self) -> None:
        if self.consumer not in ("lambda", "worker"):
            raise ConfigError(f"queue {self.name!r}: consumer={self.consumer!r} must be 'lambda' or 'worker'")
        _check_range("memory_size_mb", self.memory_size_mb, limits.LAMBDA_MIN_MEMORY_MB, limits.LAMBDA_MAX_MEMORY_MB,
                     "Lambda's MemorySize range")
        _check_range("batch_size", self.batch_size, 1, limits.SQS_EVENT_MAX_BATCH_SIZE_WITHOUT_WINDOW,
                     "records per SQS event; sqsq renders no batch above 10")
        _check_range("batching_window_seconds", self.batching_window_seconds, 0,
                     limits.SQS_EVENT_MAX_BATCHING_WINDOW_SECONDS, "MaximumBatchingWindowInSeconds")
        _check_range("maximum_concurrency", self.maximum_concurrency, limits.SQS_EVENT_MIN_MAXIMUM_CONCURRENCY,
                     limits.SQS_EVENT_MAX_MAXIMUM_CONCURRENCY, "ScalingConfig.MaximumConcurrency")
        self._check_fifo()

    def _check_fifo(self) -> None:
        where = f"queue {self.name!r}"
        if not isinstance(self.fifo, bool):
            raise ConfigError(f"{where}: fifo={self.fifo!r} must be True or False")
        if self.deduplication_scope not in (None, "queue", "messageGroup"):
            raise ConfigError(f"{where}: deduplication_scope={self.deduplication_scope!r} must be 'queue' or "
                              "'messageGroup'")
        if self.fifo_throughput_limit not in (None, "perQueue", "perMessageGroupId"):
            raise ConfigError(f"{where}: fifo_throughput_limit={self.fifo_throughput_limit!r} must be 'perQueue' or "
                              "'perMessageGroupId'")
        if not self.fifo and (self.deduplication_scope or self.fifo_throughput_limit):
            raise ConfigError(f"{where}: deduplication_scope and fifo_throughput_limit apply to FIFO queues only; "
                              "declare it with fifo=True or leave them out")
        if self.fifo and self.batching_window_seconds:
            raise ConfigError(f"{where}: batching_window_seconds={self.batching_window_seconds}: Lambda supports no "
                              "batching window on a FIFO queue; leave it out")
        if self.fifo_throughput_limit == "perMessageGroupId" and self.deduplication_scope != "messageGroup":
            raise ConfigError(f"{where}: fifo_throughput_limit='perMessageGroupId' needs "
                              "deduplication_scope='messageGroup' (SQS's high throughput mode sets both)")

    def fifo_attributes(self) -> dict[str, object]:
        """The FIFO attributes of the queue as SQS and CloudFormation take them (empty for a standard queue).

        Content-based deduplication stays off: sqsq sends a MessageDeduplicationId (the task id by default).
        """
        if not self.fifo:
            return {}
        attributes: dict[str, object] = {"FifoQueue": True, "ContentBasedDeduplication": False}
        if self.deduplication_scope is not None:
            attributes["DeduplicationScope"] = self.deduplication_scope
        if self.fifo_throughput_limit is not None:
            attributes["FifoThroughputLimit"] = self.fifo_throughput_limit
        return attributes
