"""What the executor does after a workflow step (issue 13): the next chain step, the chord count and callback,
the workflow's record. Called from :mod:`sqsq.executor` for messages with a ``flow`` (poller and Lambda alike).

Every action is idempotent, because a step's message may be delivered again after it finished (a delete lost, a
worker killed between the result write and the send): the next step's id is derived from the workflow id
(:mod:`sqsq.workflows.ids`) and it runs *claimed*, so a second send of it runs once; on such a duplicate the
next step is sent again only while it has no record. A chord is triggered by the one conditional transition
``fired`` (:mod:`sqsq.results.chords`), recorded *before* the callback is sent; a worker that dies between the two
leaves its member's message in the queue, and its redelivery finds ``fired`` set and the callback without a
record, and sends it again (same id, claimed: it runs once). A member is counted *after* its SUCCESS is recorded,
by a conditional add to a set (:meth:`~sqsq.results.chords.ChordStore.add_member`): a worker that dies between
the two leaves the message to come back, and the redelivery (finding SUCCESS) counts it; a second count is refused.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqsq.app import App
from sqsq.errors import TaskNotRegistered, WorkflowError, WorkflowTooLarge
from sqsq.message import Envelope
from sqsq.message_flow import ChordRef, CollectRef, Flow, StepSig
from sqsq.results import Status
from sqsq.workflows.dispatch import NO_VALUE, build_step, chord_store, send_steps, write_workflow
from sqsq.workflows.ids import (
    CHORD_SHARD_SIZE,
    callback_id,
    counter_id,
    error_callback_id,
    shard_counter_id,
    shard_size,
    shards,
    step_id,
)

log = logging.getLogger(__name__)


def after_success(app: App, envelope: Envelope, result_json: str | None, *, duplicate: bool = False) -> None:
    """Go on after a step succeeded (its SUCCESS recorded): next step, chord check, or the workflow's SUCCESS.

    Args:
        duplicate: this delivery found the step already SUCCESS (resend only what has no record yet).

    Raises:
        AwsError, SendFailed: the message should come back (all of this is safe to repeat).
    """
    flow = envelope.flow
    if flow is None or not _own_step(envelope, flow):
        return
    if flow.rest:
        _send_next(app, envelope, flow, None if result_json is None else json.loads(result_json), duplicate)
    elif flow.chord is not None:
        _member_done(app, envelope, flow.chord, duplicate)
    elif flow.final:
        write_workflow(app, flow.root, envelope.sent_at, Status.SUCCESS, envelope.generation, result_json=result_json)


def after_failure(app: App, envelope: Envelope, error_type: str, error_message: str, *, duplicate: bool = False) -> None:
    """A step failed for good: the workflow is FAILURE with its reason; a chord's ``on_error`` is sent once.

    Raises:
        AwsError, SendFailed: as :func:`after_success`.
    """
    flow = envelope.flow
    if flow is None or (flow.chord is None and not flow.rest and not flow.final and flow.collect is None):
        return  # a group member: the group's handle reports it
    if not _own_step(envelope, flow):
        return
    reason = (error_type, f"step {envelope.id} ({envelope.task}) failed: {error_message}")
    chord = flow.chord
    if chord is None:
        write_workflow(app, flow.root, envelope.sent_at, Status.FAILURE, envelope.generation, error=reason)
        return
    store = chord_store(app)
    won = store.chord_transition(counter_id(chord.id), "failed", 0, _expires_at(app))
    if won:
        write_workflow(app, flow.root, envelope.sent_at, Status.FAILURE, envelope.generation, error=reason)
    if chord.on_error is not None and (won or (duplicate and app.results.get(error_callback_id(chord.id)) is None)):
        failure = {"workflow_id": flow.root, "task_id": envelope.id, "task": envelope.task,
                   "error_type": error_type, "error_message": error_message}
        _send(app, chord.on_error, error_callback_id(chord.id), envelope,
              Flow(root=flow.root, claim=True), failure)


def collect_args(app: App, envelope: Envelope) -> Envelope:
    """A chord callback's envelope with the members' results, in order, as its ``pass_as`` argument.

    Raises:
        WorkflowError: a member has no SUCCESS record (expired, or the chord was tampered with).
        AwsError: the store could not be read (the message should come back).
    """
    collect: CollectRef | None = envelope.flow.collect if envelope.flow is not None else None
    if collect is None:
        return envelope
    ids = [step_id(collect.id, i) for i in range(collect.size)]
    records = chord_store(app).get_many(ids)
    missing = [i for i in ids if i not in records or records[i].status is not Status.SUCCESS]
    if missing:
        raise WorkflowError(f"chord {collect.id}: {len(missing)} of {collect.size} members have no SUCCESS record "
                            f"(first: {missing[0]}); their results expired or were never written: send the chord again")
    values = [None if records[i].result_json is None else json.loads(records[i].result_json or "null") for i in ids]
    return envelope.model_copy(update={"args": {**envelope.args, collect.pass_as: values}})


def _send_next(app: App, envelope: Envelope, flow: Flow, value: Any, duplicate: bool) -> None:
    nxt, next_id = flow.rest[0], step_id(flow.root, flow.step + 1)
    if duplicate and app.results.get(next_id) is not None:
        return
    new_flow = Flow(root=flow.root, step=flow.step + 1, claim=True, rest=flow.rest[1:], final=len(flow.rest) == 1)
    _send(app, nxt, next_id, envelope, new_flow, value)


def _own_step(envelope: Envelope, flow: Flow) -> bool:
    """Whether the message is the step its flow says it is: a chain step or chord member has the id its workflow
    gives it (``step_id(root, index)``, index within the chord). A message whose flow claims a place under another
    id (a forgery when signing is off: signed flows cannot be altered) continues nothing: it cannot count itself
    as a chord member, fire a callback early, or fail a workflow it is not part of."""
    chord = flow.chord
    if chord is not None:
        own = 0 <= chord.index < chord.size and envelope.id == step_id(chord.id, chord.index)
    elif flow.rest:
        own = envelope.id == step_id(flow.root, flow.step)
    else:
        return True
    if not own:
        log.warning("task %s claims a place in workflow %s under another id; not continued", envelope.id, flow.root)
    return own


def _member_done(app: App, envelope: Envelope, chord: ChordRef, duplicate: bool) -> None:
    """Count the member (in its shard; a full shard in the top counter); the last one fires the callback."""
    store, expires_at = chord_store(app), _expires_at(app)
    shard = chord.index // CHORD_SHARD_SIZE
    if store.add_member(shard_counter_id(chord.id, shard), chord.index, expires_at) < shard_size(chord.size, shard):
        return
    if store.add_member(counter_id(chord.id), shard, expires_at) < shards(chord.size) or chord.callback is None:
        return
    state = store.chord_state(counter_id(chord.id))
    if state is None or not state.fired:
        if not store.chord_transition(counter_id(chord.id), "fired", shards(chord.size), expires_at):
            return  # another member fired it at the same instant
    elif not (duplicate and app.results.get(callback_id(chord.id)) is None):
        return  # fired and sent (or sent and running): nothing to redo
    collect = CollectRef(id=chord.id, size=chord.size, pass_as=chord.callback.pass_as or "")
    flow = Flow(root=envelope.flow.root if envelope.flow else chord.id, claim=True, final=True, collect=collect)
    _send(app, chord.callback, callback_id(chord.id), envelope, flow, NO_VALUE)


def _send(app: App, sig: StepSig, task_id: str, after: Envelope, flow: Flow, value: Any) -> None:
    """Send one step; one that cannot be sent (too large, task unknown here) fails the workflow instead."""
    try:
        step = build_step(app, sig, task_id=task_id, sent_at=after.sent_at, generation=after.generation, flow=flow,
                          value=value)
        send_steps(app, [step], f"workflow {flow.root}")
    except (WorkflowTooLarge, TaskNotRegistered) as exc:
        reason = (type(exc).__name__, f"step {task_id} ({sig.task}) could not be sent after {after.id}: {exc}")
        write_workflow(app, flow.root, after.sent_at, Status.FAILURE, after.generation, error=reason)


def _expires_at(app: App) -> int:
    return int(time.time() + app.settings.result_ttl_seconds)
