"""One message in, one :data:`Outcome` out: decode, look up, validate, run, record. Shared by poller and Lambda.

The parts: :mod:`~sqsq.executor.outcomes` (what to do with the message, and a message ready to run),
:mod:`~sqsq.executor.run` (:class:`Executor`: prepare, run, finish), :mod:`~sqsq.executor.recording` (writes to the
results store and what their fate means), :mod:`~sqsq.executor.rules` (attempts, leases, result encoding) and
:mod:`~sqsq.executor.throttle` (logging a recurring failure once per interval).

Delivery semantics
------------------
SQS delivers every message *at least once*; sqsq builds on that and promises no more than it can keep.

Guaranteed:

* **No loss.** The outcome (SUCCESS, RETRY or FAILURE) is written to the results store *before* the executor
  returns an outcome that lets the caller delete the message. If the write fails (DynamoDB throttled or down)
  the outcome is :class:`Release`: the message stays in the queue and comes back. A process that dies at any
  point leaves the message in the queue; it is delivered again after its visibility timeout.
* **Retries are the message itself.** A retry is a visibility change on the message being handled
  (:class:`RetryAfter`), never a re-sent copy, so SQS's ``ApproximateReceiveCount`` is the attempt number and
  the queue's redrive policy still applies. A task gets ``min(max_retries + 1, maxReceiveCount)`` attempts
  (``max_retries=None``: the queue's maxReceiveCount; without a redrive policy either: 4 attempts).
* **Dead letters carry a reason.** A task out of attempts, or failing permanently (unknown task, invalid
  arguments, undecodable body, result too large, an exception outside ``retry_on``), is recorded as FAILURE
  with the error type and message, the attempt count, the task name and the time, then :class:`DeadLetter`
  tells the caller to move the message to the DLQ.
* **A finished task is not run again by a redelivery.** On a redelivery (``ApproximateReceiveCount > 1``) the
  executor reads the task's record; if it is SUCCESS the message is acknowledged as a duplicate
  (``Ack(duplicate=True)``) without running the task, and if it is FAILURE it goes to the DLQ again. This
  covers a delete that failed after the result was written. First deliveries read nothing: one DynamoDB write
  per task, no reads.
* **The last receive leaves a trace.** On the receive SQS counts as the last before its redrive policy moves the
  message (``ApproximateReceiveCount >= maxReceiveCount``), the executor first records STARTED with the reason
  ``ConsumerDied`` (one more write, on that receive only). If the consumer then dies while running it (a worker or
  pool process killed, a Lambda timeout), the message reaches the DLQ with that record, and the DLQ sweep
  (:mod:`sqsq.sweep`) rescues it or records FAILURE with the reason. A rescued copy (``rescues > 0`` in its
  envelope, see :mod:`sqsq.rescue`) reads the record before running, like a redelivery.
* **A redriven copy of a finished task is not run again.** A redrive (``sqsq dlq redrive``) sends each message
  back with ``generation`` + 1, and may send one twice (a DLQ delete that failed after the send; the operator
  redrives again). So a message with ``generation > 0`` is read first, even on its first receive: SUCCESS of any
  generation acknowledges it as a duplicate (the record is never moved back), FAILURE of its own or a later
  generation dead-letters it again. Then it is *claimed* like a ``claim=True`` task (below), so two copies
  received at once run once: the other is deferred and acknowledged when it comes back. This costs one
  consistent GetItem and one conditional write per redriven message; fresh sends are unaffected.
* **Claimed tasks (``@app.task(claim=True)``) do not run twice at once.** Before running, the executor claims
  the task id with a conditional write of a STARTED record holding a *lease* until
  ``now + max(CLAIM_LEASE_MIN_SECONDS, min(remaining invocation time, time_limit_seconds))``
  (``time_limit_seconds`` defaults to :data:`CLAIM_LEASE_DEFAULT_SECONDS`; the floor applies even when the
  remaining time reads 0). Of two deliveries of one task id racing on two workers, one claim succeeds and
  runs the task; the other finds the live lease and is deferred (:class:`Release` with ``deferred=True``
  and a delay until the lease ends): it records nothing, is not a failed attempt and is never dead-lettered
  by sqsq. When it comes back, the task is SUCCESS (acknowledged as a duplicate) or its lease has expired
  (it takes over and runs).

Not guaranteed:

* **Exactly-once side effects.** A task whose result could not be recorded, or whose process died after the
  side effect but before the write, runs again. A claimed task that outlives its lease (it runs longer than
  ``time_limit_seconds``, or the process running it died) may be taken over and run again, possibly while the
  first run is still going. Make side effects idempotent (keyed by the task id) where that matters.
* **Duplicate detection without a record.** Tasks with ``ignore_result=True`` store no SUCCESS, so a
  redelivery after a failed delete runs them again.
* **Receive counts.** A deferred duplicate, a message released at shutdown and a message released because
  the results store was unavailable each use one SQS receive. On the last receive the worker rescues such a
  message instead (a fresh copy, see :mod:`sqsq.rescue`); what reaches the DLQ anyway (a worker killed while
  holding it) is rescued or recorded by the DLQ sweep. Keep maxReceiveCount at 5 or more.
* **Ordering.** Standard queues do not order messages, and retries reorder further.

Workflow steps
--------------
A message with a ``flow`` (issue 13, :mod:`sqsq.message_flow`) goes on after its outcome is recorded
(:mod:`sqsq.executor.flows`): the next chain step, the chord count and callback, or the workflow's record, before
the outcome is returned; if that fails the message is released and its redelivery goes on instead. Steps that a
continuation may send twice run claimed (above).

Signed messages
---------------
With signing on (``SQSQ_SIGNING_KEYS``, see :mod:`sqsq.signing`) a message that is unsigned, signed with an
unknown key or whose signature does not match is never run and writes nothing under the task id it claims: its
FAILURE (``SignatureMissing``, ``SignatureKeyUnknown``, ``SignatureInvalid``) is filed under the id derived from
its body (:func:`sqsq.message.undecodable_id`, as for undecodable bodies) and it goes to the DLQ.

Foreign task ids
----------------
A result record is only replaced by the message that wrote it (:func:`sqsq.results.same_message`: same task
name and ``sent_at``). When a write of this executor is refused, it reads the record once; if the record belongs
to another message (a message forged with another task's id, or a producer that reused an id), the message is
dead-lettered with ``TaskIdConflict``, filed under its body-derived id, and logged as an error: it is never
acknowledged as a duplicate of a record it did not write. Found before running (on a redelivery, or by the
claim or STARTED write of ``claim=True`` / ``track_started=True`` tasks), the task does not run; found after
(a first delivery, which reads nothing), it has run, and only its result is kept out of the other task's record.
"""

from __future__ import annotations

from sqsq.executor.outcomes import Ack, DeadLetter, Outcome, Prepared, Release, RetryAfter
from sqsq.executor.recording import (
    CLAIM_DEFER_MARGIN_SECONDS,
    FINAL_WRITE_ATTEMPTS,
    FINAL_WRITE_RETRY_SECONDS,
    STORE_UNAVAILABLE_RETRY_SECONDS,
)
from sqsq.executor.rules import (
    CLAIM_LEASE_DEFAULT_SECONDS,
    CLAIM_LEASE_MIN_SECONDS,
    CONSUMER_DIED,
    DEFAULT_ATTEMPTS_WITHOUT_REDRIVE,
    TRACEBACK_MAX_CHARS,
    attempts_allowed,
    claim_lease_seconds,
    encode_result,
)
from sqsq.executor.run import Executor
from sqsq.executor.throttle import LOG_INTERVAL_SECONDS, LogThrottle

__all__ = [
    "CLAIM_DEFER_MARGIN_SECONDS",
    "CLAIM_LEASE_DEFAULT_SECONDS",
    "CLAIM_LEASE_MIN_SECONDS",
    "CONSUMER_DIED",
    "DEFAULT_ATTEMPTS_WITHOUT_REDRIVE",
    "FINAL_WRITE_ATTEMPTS",
    "FINAL_WRITE_RETRY_SECONDS",
    "LOG_INTERVAL_SECONDS",
    "STORE_UNAVAILABLE_RETRY_SECONDS",
    "TRACEBACK_MAX_CHARS",
    "Ack",
    "DeadLetter",
    "Executor",
    "LogThrottle",
    "Outcome",
    "Prepared",
    "Release",
    "RetryAfter",
    "attempts_allowed",
    "claim_lease_seconds",
    "encode_result",
]
