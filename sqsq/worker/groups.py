"""FIFO message groups in the worker: one message of a group runs at a time, in the order received.

SQS FIFO withholds a group's later messages while one of it is in flight, but one ReceiveMessage may return several
messages of one group, in order (https://repost.aws/knowledge-center/sqs-fifo-messages-not-returned). The gate
between the receiver and the pool keeps that order here:

* a message of a FIFO queue (its queue name ends with ``.fifo``) whose group has a message running waits, held
  (its visibility is extended like any held message's), and starts when the one before it is done (behind a
  delivery of its own task id it reads the record first, as :mod:`sqsq.worker.duplicates` has it);
* the next starts only when the one before *succeeded or was dead-lettered* (outcome Ack, or DeadLetter once the
  acknowledger has its copy in the DLQ: :meth:`GroupGate.moved`). If it is to be retried or was released
  (RetryAfter, Release), or its copy to the DLQ failed (it stays in its queue and comes back), the group's waiting
  messages are given back at once (visibility 0) without running: the failed message, back in SQS at the head of
  its group, blocks the group until it succeeds or is dead-lettered, and the others come after it again.

Messages of a standard queue (a fair queue's tenant is a MessageGroupId too) pass straight through: a fair queue
keeps no order. Not covered: a thread-pool run past its time limit is recorded by the watchdog and the thread runs
on (:mod:`sqsq.worker.dispatch`); the group's next message may then start beside it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from sqsq.executor import Ack, DeadLetter, Outcome
from sqsq.grouping import is_fifo_queue
from sqsq.transport.copies import group_of
from sqsq.worker.slots import Held

GroupKey = tuple[str, str]
"""(physical queue name, MessageGroupId)."""


def group_key(held: Held) -> GroupKey | None:
    """The FIFO group a held message belongs to, or None (a standard queue, or no MessageGroupId)."""
    if not is_fifo_queue(held.message.queue_name):
        return None
    group = group_of(held.message)
    return None if group is None else (held.message.queue_name, group)


class GroupGate:
    """Per FIFO message group, at most one message submitted to the pool; the rest wait in receive order.

    Args:
        submit: hands a message to the pool (:meth:`sqsq.worker.dispatch.Dispatcher.submit`; must not block).
        release: gives messages back to SQS without running them (:meth:`sqsq.worker.acknowledger.Acknowledger.release`;
            it waits for its SQS calls, so the gate calls it on a thread of its own).
    """

    def __init__(self, submit: Callable[[Held], None], release: Callable[[Sequence[Held]], None]):
        self._submit = submit
        self._release = release
        self._lock = threading.Lock()
        self._active: dict[GroupKey, Held] = {}
        self._waiting: dict[GroupKey, deque[Held]] = {}
        self.released_behind_failure = 0
        """Messages given back without running because an earlier one of their group failed (a counter)."""
        # A DeadLetter's group waits for the acknowledger's DLQ copy; the two reports may come in either order.
        self._awaiting_move: set[Held] = set()
        self._early_moves: dict[Held, bool] = {}

    def dispatch(self, held: Held) -> None:
        """Submit ``held``, or queue it behind the running message of its group. Never blocks."""
        key = group_key(held)
        if key is not None:
            with self._lock:
                if key in self._active:
                    waiting = self._waiting.setdefault(key, deque())
                    task_id = None if held.envelope is None else held.envelope.id
                    # Behind a delivery of its own task id: its record is read first (sqsq.worker.duplicates).
                    held.behind_same_task = held.behind_same_task or (task_id is not None and any(
                        h.envelope is not None and h.envelope.id == task_id for h in (self._active[key], *waiting)
                    ))
                    waiting.append(held)
                    return
                self._active[key] = held
        self._submit(held)

    def finished(self, held: Held, outcome: Outcome) -> None:
        """``held`` has its outcome: start its group's next message, or give the group's waiting ones back.

        A DeadLetter decides nothing yet: the group goes on when :meth:`moved` reports the copy to the DLQ.
        """
        key = group_key(held)
        if key is None:
            return
        if isinstance(outcome, DeadLetter):
            with self._lock:
                moved = self._early_moves.pop(held, None)
                if moved is None:
                    self._awaiting_move.add(held)
                    return
            self._advance(held, key, proceed=moved)
            return
        self._advance(held, key, proceed=isinstance(outcome, Ack))

    def moved(self, held: Held, moved: bool) -> None:
        """The acknowledger's report on a dead-lettered message: its copy is in the DLQ (``moved``), or it is not
        (it stays in its queue and comes back first). Thread-safe; may come before or after :meth:`finished`."""
        key = group_key(held)
        if key is None:
            return
        with self._lock:
            if held not in self._awaiting_move:
                self._early_moves[held] = moved
                return
            self._awaiting_move.discard(held)
        self._advance(held, key, proceed=moved)

    def _advance(self, held: Held, key: GroupKey, *, proceed: bool) -> None:
        """Start the group's next message (``proceed``), or give its waiting ones back."""
        nxt: Held | None = None
        give_back: list[Held] = []
        with self._lock:
            if self._active.get(key) is not held:
                return
            waiting = self._waiting.pop(key, deque())
            if waiting and proceed:
                nxt = waiting.popleft()
                self._active[key] = nxt
                if waiting:
                    self._waiting[key] = waiting
            else:
                del self._active[key]
                give_back = [h for h in waiting if not h.released]
                for h in give_back:
                    h.released = True
                self.released_behind_failure += len(give_back)
        if nxt is not None:
            self._submit(nxt)
        if give_back:
            threading.Thread(target=self._release, args=(give_back,), name="sqsq-group-release", daemon=True).start()

    def waiting(self) -> int:
        """Messages waiting behind a running message of their group."""
        with self._lock:
            return sum(len(w) for w in self._waiting.values())
