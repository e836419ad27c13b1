"""Sending workflow steps: the envelope of a step (deterministic id, the workflow's ``sent_at``, its ``flow``),
its size checked against the queue, and SendMessageBatch for groups (:func:`sqsq.sending.send_prepared`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqsq.app import App
from sqsq.errors import ConfigError, PayloadTooLarge, WorkflowTooLarge
from sqsq.message import Envelope
from sqsq.message_flow import Flow, StepSig
from sqsq.results import ResultRecord, Status
from sqsq.results.chords import ChordStore
from sqsq.sending import Prepared, check_size, send_prepared
from sqsq.workflows.ids import TREE_TASK_NAME, WORKFLOW_TASK_NAME, tree_id

NO_VALUE: Any = object()
"""Marks a step that receives no value (the first of a chain, a group member)."""


def build_step(
    app: App, sig: StepSig, *, task_id: str, sent_at: float, generation: int, flow: Flow, value: Any = NO_VALUE
) -> Prepared:
    """The signed, encoded message of one step (``value``, when given, passed as ``sig.pass_as``).

    Raises:
        TaskNotRegistered: the step's task is not registered in ``app``.
    """
    task = app.get_task(sig.task)
    args = dict(sig.args)
    if value is not NO_VALUE and sig.pass_as is not None:
        args[sig.pass_as] = value
    envelope = Envelope(id=task_id, task=task.name, args=args, sent_at=sent_at, generation=generation, flow=flow)
    keyring = app.keyring
    if keyring is not None:
        envelope = keyring.sign(envelope)
    return Prepared(task, envelope, app.queue_name(sig.queue or task.queue), envelope.to_body(), 0)


def send_steps(app: App, steps: Sequence[Prepared], what: str) -> None:
    """Check every size, then send (SendMessageBatch, 10 a request, failed entries retried).

    Raises:
        WorkflowTooLarge: a step's message is over its queue's MaximumMessageSize (nothing sent).
        SendFailed, AwsError: as :func:`sqsq.sending.send_prepared`.
    """
    for p in steps:
        try:
            check_size(app.transport, p)
        except PayloadTooLarge as exc:
            raise WorkflowTooLarge(exc.size_bytes, exc.limit_bytes, p.queue_name, f"{what}, step {p.envelope.id}") from None
    send_prepared(app.transport, steps)


def chord_store(app: App) -> ChordStore:
    """The app's results store as a :class:`ChordStore`.

    Raises:
        ConfigError: the store cannot count chords (a custom store without ``add_member``).
    """
    store = app.results
    if not all(hasattr(store, m) for m in ("add_member", "chord_state", "chord_transition", "get_many")):
        raise ConfigError(f"the results store {type(store).__name__} cannot count chords (no add_member); "
                          "use the DynamoDB or in-memory store")
    return cast(ChordStore, store)


def write_workflow(
    app: App, root: str, sent_at: float, status: Status, generation: int = 0, *,
    result_json: str | None = None, error: tuple[str, str] | None = None,
) -> bool:
    """Write the workflow's own record (forward-only: a final state is replaced only by a later generation)."""
    record = ResultRecord(
        task_id=root, status=status, task_name=WORKFLOW_TASK_NAME, result_json=result_json,
        error_type=error[0] if error else None, error_message=error[1] if error else None,
        generation=generation, sent_at=sent_at,
    )
    return app.results.put(record.stamped(app.settings.result_ttl_seconds))


def write_tree(app: App, root: str, sent_at: float, tree: dict[str, Any]) -> None:
    """Write the workflow's shape (for handles and ``sqsq result``) under :func:`~sqsq.workflows.ids.tree_id`."""
    record = ResultRecord(
        task_id=tree_id(root), status=Status.SUCCESS, task_name=TREE_TASK_NAME,
        result_json=json.dumps(tree, separators=(",", ":")), sent_at=sent_at,
    )
    app.results.put(record.stamped(app.settings.result_ttl_seconds))
