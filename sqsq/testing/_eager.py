"""Eager mode: every task runs when it is sent, in the sending thread, through the worker's own executor.

The rule for each message sent (the same decisions as a worker, without the waiting):

* the message is handed to :class:`sqsq.executor.Executor` as receive 1, as a worker would receive it, so it is
  decoded, verified (signing), validated again and run, and its outcome is written to the results store;
* a retry (an exception in ``retry_on``, ``sqsq.Retry``, a backoff) is the next receive at once: the delay is
  not waited. The attempts are counted as SQS's ApproximateReceiveCount, so a task gets
  ``min(max_retries + 1, maxReceiveCount)`` attempts, as deployed;
* a task out of attempts, or failing permanently, is recorded as FAILURE and its message copied to the queue's
  dead-letter queue (:meth:`EagerEnv.dead_letters`), as a worker moves it;
* a message whose run is deferred (a ``claim=True`` task held by another run) counts a receive and runs again;
  past maxReceiveCount receives it moves to the DLQ, as SQS's redrive policy would move it.

``send`` returns once all that is done, and never raises for what the task did: ``handle.get()`` returns the
value or raises :class:`sqsq.TaskFailed`. What ``send`` refuses (invalid arguments, too large, unknown task) it
refuses as always, before anything runs. ``delay_seconds`` is not waited; inside ``app.batch()`` the tasks run
when the batch flushes. A task that sends tasks runs them inside its own run (depth first).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence

from sqsq.app import App
from sqsq.executor import Ack, DeadLetter, Executor, Outcome
from sqsq.executor.payload import delete_payload
from sqsq.results.memory import MemoryResults
from sqsq.testing._env import MemoryEnv, create_app_queues
from sqsq.transport import BatchFailure, OutgoingMessage, QueueInfo, ReceivedMessage
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.payloads import MemoryPayloadStore

EAGER_VISIBILITY_TIMEOUT_SECONDS = 30
"""VisibilityTimeout of the eager queues (nothing waits for it; it is what the DLQ reader sees)."""


class EagerTransport(MemoryTransport):
    """The in-memory SQS twin, except that a message sent to one of the app's queues runs at once.

    Messages sent to any other queue (the DLQs) are stored as usual.

    Args:
        app: the app whose tasks run; its executor is built at the first send (inside the ``eager`` block).
        source_queues: physical names of the queues whose messages run when sent.
    """

    def __init__(self, app: App, source_queues: Sequence[str] = ()) -> None:
        super().__init__()
        self._app = app
        self._sources = set(source_queues)
        self._executor: Executor | None = None
        self._executor_lock = threading.Lock()

    def add_source_queues(self, names: Sequence[str]) -> None:
        """Queues (physical names) whose messages run when sent."""
        self._sources.update(names)

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        """Run each message sent to a source queue now (see the module docstring); store any other."""
        if queue_name not in self._sources:
            return super().send_batch(queue_name, messages)
        info = self.queue_info(queue_name)  # QueueNotFound, as SQS
        for message in messages:
            self._deliver(queue_name, info, message)
        return []

    def _executor_now(self) -> Executor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = Executor(self._app)
            return self._executor

    def _deliver(self, queue_name: str, info: QueueInfo, message: OutgoingMessage) -> None:
        message_id = str(uuid.uuid4())
        sent_at = time.time()
        receive_count = 0
        while True:
            receive_count += 1
            if info.max_receive_count is not None and receive_count > info.max_receive_count:
                self._to_dlq(info, message)  # SQS's redrive: on the receive that would exceed maxReceiveCount
                return
            received = ReceivedMessage(
                queue_name=queue_name,
                message_id=message_id,
                receipt_handle=f"{message_id}#{receive_count}",
                body=message.body,
                receive_count=receive_count,
                sent_timestamp_seconds=sent_at,
                attributes={"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(int(sent_at * 1000)),
                            **({"MessageGroupId": message.group_id} if message.group_id is not None else {})},
                message_attributes=dict(message.message_attributes),
            )
            outcome = self._execute(received, info.max_receive_count)
            if isinstance(outcome, Ack):
                delete_payload(self._app, received, outcome.task_id)  # as a worker does once the message is deleted
                return
            if isinstance(outcome, DeadLetter):
                self._to_dlq(info, message)
                return
            # RetryAfter or Release: the next receive, now.

    def _execute(self, received: ReceivedMessage, max_receive_count: int | None) -> Outcome:
        executor = self._executor_now()
        if not _loop_running():
            return executor.execute(received, max_receive_count)
        # Sent from inside a running event loop (an async test or endpoint): an ``async def`` task cannot be run with
        # asyncio.run() in this thread, so the run happens in a helper thread while this one waits for it.
        box: list[Outcome] = []
        helper = threading.Thread(target=lambda: box.append(executor.execute(received, max_receive_count)))
        helper.start()
        helper.join()
        return box[0]

    def _to_dlq(self, info: QueueInfo, message: OutgoingMessage) -> None:
        if info.dead_letter_target_arn is None:
            return  # as a worker does for a queue without a DLQ: FAILURE is recorded, the message deleted
        dlq_name = info.dead_letter_target_arn.rsplit(":", 1)[1]
        copy = OutgoingMessage(id="0", body=message.body, message_attributes=dict(message.message_attributes),
                               group_id=message.group_id)
        super().send_batch(dlq_name, [copy])


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class EagerEnv(MemoryEnv):
    """What :func:`eager` yields: the app's queues, DLQs and results in memory (see :class:`MemoryEnv`).

    Attributes:
        transport: the :class:`EagerTransport` the app sends through inside the block.
    """

    transport: EagerTransport


@contextlib.contextmanager
def eager(
    app: App, *, max_receive_count: int | None = None, payloads: MemoryPayloadStore | None = None
) -> Iterator[EagerEnv]:
    """Run the app's tasks when they are sent, in the sending thread, on in-memory queues and results.

    Inside the block the app sends through an :class:`EagerTransport`, records to a fresh
    :class:`sqsq.results.memory.MemoryResults`, offloads bodies past 1 MiB to an in-memory payload store (never S3,
    whatever ``SQSQ_PAYLOAD_BUCKET`` says) and keeps sends delayed past 900 s as in-memory schedules; on exit its own
    configuration is back (:meth:`App.using`). See the module docstring for the rules (retries at once, FAILURE
    recorded, dead letters kept).

    Args:
        app: the app under test.
        max_receive_count: the queues' maxReceiveCount; default: the app's setting (``SQSQ_MAX_RECEIVE_COUNT``,
            5), as provisioned.
        payloads: the payload store to offload large bodies to; default: a fresh
            :class:`sqsq.transport.payloads.MemoryPayloadStore` (``env.payloads``). An offloaded body's object is
            deleted once its task is done, and kept while its message is dead-lettered, as a worker does.

    Yields:
        An :class:`EagerEnv` to inspect dead letters and records.

    Raises:
        ConfigError: the app's settings are invalid (they name the queues).

    Example:
        >>> with sqsq.testing.eager(app) as env:          # doctest: +SKIP
        ...     assert sqsq.send(add, {"x": 1, "y": 2}).get() == 3
        ...     assert env.dead_letters() == []
    """
    transport = EagerTransport(app)
    results = MemoryResults()
    mrc = app.settings.max_receive_count if max_receive_count is None else max_receive_count
    sources = create_app_queues(
        app, transport, max_receive_count=mrc, visibility_timeout_seconds=EAGER_VISIBILITY_TIMEOUT_SECONDS
    )
    transport.add_source_queues(sources)
    env = EagerEnv(app, transport, results, payloads)
    with env.active():
        yield env
