"""The app's queue half: the logical queues it declares and their physical SQS names. Declaring does no I/O.

:class:`AppQueues` is a base of :class:`sqsq.App` (the methods are the App's public API); :class:`QueueConfig`
(:mod:`sqsq.queue_config`) holds what ``sqsq template`` renders for each declared queue.
"""

from __future__ import annotations

from sqsq import limits
from sqsq.backends import AppBackends
from sqsq.queue_config import Consumer, DeduplicationScope, FifoThroughputLimit, QueueConfig


class AppQueues(AppBackends):
    """Queue declarations and names of an app (a base of :class:`sqsq.App`, which sets ``queue_configs``).

    Attributes:
        queue_configs: declared queues by logical name (:meth:`declare_queue`).
    """

    queue_configs: dict[str, QueueConfig]

    def queue_name(self, logical: str | None) -> str:
        """Physical SQS queue name of a logical queue (``None`` = the default queue); ``.fifo`` ends a FIFO queue's."""
        name = logical or self.settings.default_queue
        return self.settings.physical_queue_name(name) + self._fifo_suffix(name)

    def dlq_name(self, logical: str | None) -> str:
        """Physical SQS name of a logical queue's dead-letter queue (a FIFO queue's DLQ is FIFO, ``.fifo`` last)."""
        name = logical or self.settings.default_queue
        return self.settings.dlq_name(name) + self._fifo_suffix(name)

    def _fifo_suffix(self, logical: str) -> str:
        config = self.queue_configs.get(logical)
        return limits.SQS_FIFO_SUFFIX if config is not None and config.fifo else ""

    def declare_queue(
        self,
        name: str,
        *,
        consumer: Consumer = "lambda",
        memory_size_mb: int | None = None,
        batch_size: int | None = None,
        batching_window_seconds: int | None = None,
        maximum_concurrency: int | None = None,
        fifo: bool = False,
        deduplication_scope: DeduplicationScope | None = None,
        fifo_throughput_limit: FifoThroughputLimit | None = None,
    ) -> QueueConfig:
        """Declare how a logical queue is consumed when deployed (``sqsq template``). Does no I/O.

        Args:
            name: logical queue name, as tasks name it in ``queue=``.
            consumer: ``"lambda"`` (default) or ``"worker"`` (``sqsq worker`` pollers, e.g. ``--fargate``).
            memory_size_mb: the queue's function MemorySize, 128-10,240 MB (default: the template command's).
            batch_size: records per invocation, 1-10.
            batching_window_seconds: MaximumBatchingWindowInSeconds, 0-300.
            maximum_concurrency: ScalingConfig.MaximumConcurrency, 2-1,000.
            fifo: a FIFO queue, named ``<app>-<name>.fifo`` with a FIFO DLQ: messages of one message group run in
                order, one at a time. Every send then needs a group: ``group_id=`` or the task's ``group_key``.
            deduplication_scope: FIFO only: ``"queue"`` (default) or ``"messageGroup"``.
            fifo_throughput_limit: FIFO only: ``"perQueue"`` (default) or ``"perMessageGroupId"`` (with
                ``deduplication_scope="messageGroup"``: SQS's high throughput mode).

        Returns:
            The :class:`sqsq.queue_config.QueueConfig` (a second call for the same name replaces it).

        Raises:
            ConfigError: a value outside AWS's range, or FIFO settings SQS refuses.

        Example:
            >>> app = App("shop")
            >>> app.declare_queue("orders", fifo=True).fifo
            True
            >>> app.declare_queue("images", memory_size_mb=1024, maximum_concurrency=20).memory_size_mb
            1024
        """
        config = QueueConfig(
            name=name,
            consumer=consumer,
            memory_size_mb=memory_size_mb,
            batch_size=batch_size,
            batching_window_seconds=batching_window_seconds,
            maximum_concurrency=maximum_concurrency,
            fifo=fifo,
            deduplication_scope=deduplication_scope,
            fifo_throughput_limit=fifo_throughput_limit,
        )
        self.queue_configs[name] = config
        return config

    def queue_config(self, name: str) -> QueueConfig:
        """The declared config of a logical queue, or the defaults (a Lambda consumer) when none was declared."""
        return self.queue_configs.get(name) or QueueConfig(name=name)
