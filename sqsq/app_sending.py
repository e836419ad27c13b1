"""The app's sending half: what :meth:`sqsq.App.send`, :meth:`sqsq.App.send_many` and :meth:`sqsq.App.batch` do.

A :class:`Sender` belongs to one app. It plans each send (now, SQS-delayed, or a one-time schedule past 900 s:
:mod:`sqsq.scheduling.plan`), prepares the message (:func:`sqsq.sending.prepare`) and sends it, one at a time, in
SendMessageBatch calls, or buffered by :meth:`Sender.batch`. The App keeps the public methods (signatures,
overloads and docstrings) and hands each call here; this module does not import :mod:`sqsq.app`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqsq.grouping import NO_GROUP, GroupOptions
from sqsq.handle import AsyncResult, ResultSource
from sqsq.scheduling.one_time import Components, schedule_send
from sqsq.scheduling.plan import DeliveryPlan, due_time, plan_delivery
from sqsq.send_options import SendOptions, check_send_queue
from sqsq.sending import BatchBuffer, Prepared, check_size, prepare, send_prepared
from sqsq.task import Args, Task

if TYPE_CHECKING:
    from sqsq.signing import KeyRing
    from sqsq.transport.payloads import PayloadStore


class SendingApp(Components, ResultSource, Protocol):
    """What a :class:`Sender` needs of its app (:class:`sqsq.App` is one)."""

    @property
    def keyring(self) -> KeyRing | None: ...

    @property
    def payloads(self) -> PayloadStore | None: ...

    def get_task(self, name: str) -> Task[Any, Any]: ...

    def queue_name(self, logical: str | None) -> str: ...


class Sender:
    """Sends tasks for one app: one message, many, or a thread's buffered batch.

    Args:
        app: the app whose backends, keys and queue names the sends use.
    """

    def __init__(self, app: SendingApp):
        self.app = app
        self._batch = threading.local()

    def send(self, task: Task[Any, Any] | str, args: Args, options: SendOptions) -> AsyncResult[Any]:
        """One send (:meth:`sqsq.App.send`): scheduled past 900 s, buffered inside :meth:`batch`, else sent now."""
        plan = self._plan(task, options.delay_seconds, options.eta)
        group = GroupOptions(group_id=options.group_id, deduplication_id=options.deduplication_id,
                             tenant=options.tenant)
        prepared = self._prepare(task, args, plan, options, group)
        if plan.scheduled:
            return self._schedule(prepared, plan)
        buffer: BatchBuffer | None = getattr(self._batch, "buffer", None)
        if buffer is not None:
            buffer.add(prepared)
        else:
            prepared = check_size(self.app.transport, prepared, self.app.payloads)
            send_prepared(self.app.transport, [prepared])
        return AsyncResult(prepared.envelope.id, app=self.app, task=prepared.task)

    def send_many(
        self, task: Task[Any, Any] | str, args_list: Iterable[Args], options: SendOptions
    ) -> list[AsyncResult[Any]]:
        """Many sends of one task (:meth:`sqsq.App.send_many`): all validated first, then SendMessageBatch calls."""
        plan = self._plan(task, options.delay_seconds, options.eta)
        group = GroupOptions(group_id=options.group_id, tenant=options.tenant)
        prepared = [self._prepare(task, a, plan, options, group) for a in args_list]
        if plan.scheduled:
            return [self._schedule(p, plan) for p in prepared]
        prepared = [check_size(self.app.transport, p, self.app.payloads) for p in prepared]
        send_prepared(self.app.transport, prepared)
        return [AsyncResult(p.envelope.id, app=self.app, task=p.task) for p in prepared]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Buffer this thread's sends inside the block (:meth:`sqsq.App.batch`); a nested block joins the outer."""
        if getattr(self._batch, "buffer", None) is not None:
            yield  # nested: the outer block flushes
            return
        buffer = BatchBuffer(lambda: self.app.transport, lambda: self.app.payloads)
        self._batch.buffer = buffer
        try:
            yield
        finally:
            self._batch.buffer = None
        buffer.flush_all()

    def _prepare(
        self, task: Task[Any, Any] | str, args: Args, plan: DeliveryPlan, options: SendOptions,
        group: GroupOptions = NO_GROUP,
    ) -> Prepared:
        t = self.app.get_task(task) if isinstance(task, str) else task
        check_send_queue(options.queue)
        due_at = plan.due_at if plan.scheduled else None
        return prepare(
            t, args, plan.delay_seconds, self.app.queue_name(options.queue or t.queue), self.app.keyring, group,
            options.attributes, due_at,
        )

    def _plan(self, task: Task[Any, Any] | str, delay_seconds: int, eta: datetime | None) -> DeliveryPlan:
        """When the send is due and how it gets there (:mod:`sqsq.scheduling.plan`)."""
        now = time.time()
        name = task if isinstance(task, str) else task.name
        return plan_delivery(due_time(name, delay_seconds=delay_seconds, eta=eta, now=now), now)

    def _schedule(self, prepared: Prepared, plan: DeliveryPlan) -> AsyncResult[Any]:
        """A send due past 900 s: its one-time schedule and SCHEDULED record (:mod:`sqsq.scheduling.one_time`)."""
        prepared = check_size(self.app.transport, prepared, self.app.payloads)
        schedule_send(self.app, prepared.envelope, prepared.body, prepared.queue_name, plan)
        return AsyncResult(prepared.envelope.id, app=self.app, task=prepared.task)
