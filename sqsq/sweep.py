"""The DLQ sweep: nothing stays in a dead-letter queue without a reason, and nothing innocent stays there at all.

sqsq records FAILURE before it moves a message to a DLQ itself. Messages also reach a DLQ through SQS's redrive
policy, with nothing recorded: their receives ran out while no consumer recorded an outcome (a worker or Lambda
invocation killed while running them, or while holding them unstarted; see :mod:`sqsq.rescue` for the receives
sqsq gives back). The sweep reads a DLQ and, for each sqsq message without a FAILURE record:

* **rescues** it (a copy with ``rescues`` + 1 sent back to the source queue, the DLQ copy deleted) while it has
  rescues left: it never got a run that ended, so it gets another. A message whose last run started and never
  ended (the ``ConsumerDied`` marker: the worker runs a last-receive message alone, so the marker names the task
  that was running when its consumer died) has :data:`sqsq.rescue.MAX_RESCUES`; one whose last receive never
  started a run is innocent of whatever happened and has :data:`MAX_SPENT_RESCUES`;
* otherwise **records FAILURE** with the reason: ``ConsumerDied`` (the consumer died while running it, once per
  round) or ``ReceivesExhausted`` (its receives kept being spent without a run).

Dead letters of tasks that have since succeeded (a copy left behind by a delete that failed) are removed.

A letter that fails signature verification (signing on) is never rescued nor recorded under the id it claims: its
FAILURE (``Signature*``) is filed under the id derived from its body, as the executor files it.

A task that kills its consumer every time thus ends FAILURE with its reason after ``MAX_RESCUES`` + 1 rounds; a task
that was only unlucky (received alongside it, or during an outage) runs again. Records are written conditionally,
so two sweeps racing do no harm; a rescue is sent first and deleted second, so a crash duplicates, never loses (the
copy reads the record before it runs).

Poller workers sweep their queues' DLQs every ``dlq_sweep_interval_seconds`` (one GetQueueAttributes per DLQ per
interval while it is empty); ``sqsq dlq sweep APP QUEUE`` sweeps by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqsq.app import App
from sqsq.dlq import DeadLetterQueue, DlqEntry, Selection
from sqsq.errors import SignatureError
from sqsq.executor import CONSUMER_DIED
from sqsq.rescue import MAX_RESCUES
from sqsq.results import ResultRecord, Status

log = logging.getLogger("sqsq.sweep")

MAX_SPENT_RESCUES = 10
"""Rescues of a message whose last receives never started a run (a worker killed while it waited, outages)."""
RECEIVES_EXHAUSTED = "ReceivesExhausted"
"""Error type recorded for a message whose receives were spent without a run, rescue after rescue."""


@dataclass
class SweepReport:
    """What one sweep of a DLQ did.

    Attributes:
        dlq: the DLQ swept.
        scanned: distinct messages read.
        rescued: task ids sent back to the source queue as rescued copies.
        recorded: task id -> error type of the FAILURE recorded for it.
        removed: task ids whose dead letter was a stale copy of a task that succeeded (deleted).
        failed: task id -> why a rescue failed (it stays in the DLQ; the next sweep tries again).
    """

    dlq: str
    scanned: int = 0
    rescued: list[str] = field(default_factory=list)
    recorded: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _needs_attention(entry: DlqEntry) -> bool:
    """A sqsq message with no final record of its generation."""
    if entry.envelope is None or entry.record_id is not None:
        return False  # undecodable, unverified or conflicting: filed under the body-derived id (see _unverified)
    r = entry.record
    return r is None or not (r.status.is_final and r.generation >= entry.envelope.generation)


def _stale(entry: DlqEntry) -> bool:
    """A dead letter of a task that has succeeded since (its generation or a later one)."""
    r = entry.record
    return entry.envelope is not None and r is not None and r.status is Status.SUCCESS and (
        r.generation >= entry.envelope.generation)


def _failure_for(entry: DlqEntry, max_receive_count: int | None) -> ResultRecord:
    assert entry.envelope is not None
    env, r = entry.envelope, entry.record
    rounds = env.rescues + 1
    if r is not None and r.error_type == CONSUMER_DIED:
        error_type = CONSUMER_DIED
        message = (
            f"the consumer stopped while running it on its last receive, {rounds} time(s) (maxReceiveCount "
            f"{max_receive_count}; {env.rescues} rescue(s)): a worker or pool process killed (out of memory, SIGKILL) "
            "or a Lambda invocation that timed out or crashed while running it; see the consumer's logs"
        )
    else:
        error_type = RECEIVES_EXHAUSTED
        last = f"last recorded status {r.status.value}" if r is not None else "nothing recorded"
        message = (
            f"SQS's redrive policy moved it to the DLQ {rounds} time(s) after maxReceiveCount ({max_receive_count}) "
            f"receives without an outcome ({last}): its receives were spent without a run that ended (workers stopped "
            "or killed while holding it, results-store outages, deferred duplicates); redrive it once the cause is gone"
        )
    return ResultRecord(
        task_id=env.id,
        status=Status.FAILURE,
        task_name=env.task,
        error_type=error_type,
        error_message=message,
        attempts=r.attempts if r is not None else (max_receive_count or 0),
        generation=env.generation,
        # as the executor records it: a body that gave no sent_at is recorded as unknown (matches only a record without one)
        sent_at=env.sent_at if "sent_at" in env.model_fields_set else None,
    )


def _unverified_failure(dlq: DeadLetterQueue, entry: DlqEntry) -> ResultRecord | None:
    """The FAILURE to file for a letter that fails signature verification and has none yet (a results-store outage
    kept the executor from filing it): under the id derived from its body, never under the id it claims."""
    env = entry.envelope
    if env is None or entry.record_id is None or dlq.keyring is None:
        return None
    if entry.record is not None and entry.record.status is Status.FAILURE:
        return None
    try:
        dlq.keyring.verify(env)
    except SignatureError as exc:
        return ResultRecord(task_id=entry.record_id, status=Status.FAILURE, task_name=env.task,
                            error_type=type(exc).__name__, error_message=str(exc), generation=env.generation)
    return None


def sweep_dead_letters(
    app: App, queue: str, *, max_rescues: int = MAX_RESCUES, max_spent_rescues: int = MAX_SPENT_RESCUES
) -> SweepReport:
    """Rescue or record every sqsq message of ``queue``'s DLQ that has no FAILURE record (see the module docstring).

    Args:
        app: the app (its transport and results store).
        queue: logical queue name (``"files"``) or the physical name of the source queue.
        max_rescues: rescues per generation of a message whose last run never ended, before FAILURE is recorded.
        max_spent_rescues: the same for a message whose last receive never started a run.

    Returns:
        What was rescued and recorded.

    Raises:
        QueueNotFound: the queue or its DLQ does not exist.
        AwsError: reading the DLQ or writing a record failed (what was done so far stays done).
    """
    dlq = DeadLetterQueue(app, queue)
    report = SweepReport(dlq=dlq.dlq_name)
    if dlq.depth() == 0:  # the usual case: one GetQueueAttributes
        return report
    entries = dlq.entries()
    report.scanned = len(entries)
    mrc = app.transport.queue_info(dlq.source_queue).max_receive_count
    to_rescue, stale = [], []
    for entry in entries:
        unverified = _unverified_failure(dlq, entry)
        if unverified is not None and app.results.put(unverified.stamped(app.settings.result_ttl_seconds)):
            report.recorded[unverified.task_id] = unverified.error_type or ""
        if _stale(entry):
            stale.append(entry.task_id)
        if not _needs_attention(entry):
            continue
        assert entry.envelope is not None
        died_running = entry.record is not None and entry.record.error_type == CONSUMER_DIED
        if entry.envelope.rescues < (max_rescues if died_running else max_spent_rescues):
            to_rescue.append(entry.task_id)
            continue
        record = _failure_for(entry, mrc)
        ttl = app.settings.result_ttl_seconds
        if app.results.put(record.stamped(ttl)):
            report.recorded[entry.task_id] = record.error_type or ""
            log.warning("dead letter %s %s: recorded FAILURE %s", entry.task_id, entry.task_name, record.error_type)
    if stale:
        report.removed = dlq.remove(stale)
    if to_rescue:
        moved = dlq.redrive(
            Selection(task_ids=frozenset(to_rescue)),
            body=lambda e: _rescue_body(e, max(max_rescues, max_spent_rescues)),
        )
        report.rescued = list(moved.moved)
        report.failed = {**moved.failed, **moved.not_deleted}
        for task_id in report.rescued:
            log.warning("dead letter %s: moved by SQS's redrive without an outcome; rescued to %s", task_id,
                        dlq.source_queue)
    return report


def _rescue_body(entry: DlqEntry, max_rescues: int) -> str:
    """The rescued copy's body: the entry's envelope (read through its S3 pointer for an offloaded letter, which the
    redrive then stores again) with ``rescues`` + 1, or the body unchanged when it has no rescue left."""
    envelope = entry.envelope
    if envelope is None or envelope.rescues >= max_rescues:
        return entry.message.body
    return envelope.model_copy(update={"rescues": envelope.rescues + 1}).to_body()
