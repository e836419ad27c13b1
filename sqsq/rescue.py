"""Rescuing a message whose receive was spent without an outcome: a fresh copy instead of a step toward the DLQ.

SQS counts every receive toward the redrive policy's maxReceiveCount, including receives that ran nothing: a
message received ahead and given back at shutdown, one deferred because another delivery holds its claim, one
released because the results store was down, one held by a worker that was killed. On the *last* receive such a
give-back would send an innocent task to the DLQ with no reason. Instead sqsq sends a copy of the envelope with
``rescues`` + 1 (same task id and generation, so the copy's result lands where the original's would) and then
deletes the original: send first, delete second, so a crash in between duplicates, never loses. The copy starts at
receive count 1 and reads the task's record before running (:mod:`sqsq.executor`), so a task that finished
meanwhile is acknowledged, not run again.

Rescues are bounded (:data:`MAX_RESCUES` per generation): a message whose receives keep being spent without a
run ends in the DLQ, where the sweep (:mod:`sqsq.sweep`) records FAILURE with the reason.
"""

from __future__ import annotations

from sqsq.app import App
from sqsq.errors import AwsError, MessageDecodeError
from sqsq.message import Envelope
from sqsq.transport import ReceivedMessage

MAX_RESCUES = 3
"""Copies sqsq sends of one generation of a task before it lets SQS's redrive policy take it."""


def is_last_receive(receive_count: int, max_receive_count: int | None) -> bool:
    """Whether this receive is the last SQS delivers before its redrive policy moves the message to the DLQ."""
    return max_receive_count is not None and receive_count >= max_receive_count


def rescued_body(body: str, max_rescues: int = MAX_RESCUES) -> str | None:
    """The body of the rescued copy (the envelope with ``rescues`` + 1), or None when there is none to send.

    None when the body is not a sqsq envelope (nothing to run: its FAILURE is recorded instead) or the envelope was
    rescued ``max_rescues`` times already.
    """
    try:
        envelope = Envelope.from_body(body)
    except MessageDecodeError:
        return None
    if envelope.rescues >= max_rescues:
        return None
    return envelope.model_copy(update={"rescues": envelope.rescues + 1}).to_body()


def send_rescue(app: App, queue_name: str, message: ReceivedMessage, max_rescues: int = MAX_RESCUES) -> bool:
    """Send the rescued copy of ``message`` to ``queue_name``; True when SQS accepted it (delete the original then).

    False when there is no copy to send (see :func:`rescued_body`) or the send failed: give the message back as
    usual then. Never raises for an AWS failure.
    """
    body = rescued_body(message.body, max_rescues)
    if body is None:
        return False
    from sqsq.transport.copies import copy_of  # only a last receive sends a copy

    copy = copy_of(message, queue_name, "rescue", body=body)  # a FIFO copy keeps its group (at the group's end)
    try:
        return not app.transport.send_batch(queue_name, [copy])
    except AwsError:
        return False
