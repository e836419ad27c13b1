"""The handle of a sent workflow: :class:`WorkflowResult` (``get()``, ``state``/``status``, ``result``, ``ready()``,
``steps()``: :class:`sqsq.AsyncResult`'s names where they make sense)."""

from __future__ import annotations

import json
import time
from typing import Any, Generic, TypeVar

from sqsq.app import App
from sqsq.errors import ResultTimeout, TaskFailed
from sqsq.handle import AsyncResult, StatusPredicates
from sqsq.results import ResultRecord, Status
from sqsq.workflows.dispatch import chord_store
from sqsq.workflows.ids import tree_id
from sqsq.workflows.tree import StepState, load_tree, mark_not_run, planned_steps, step_states

R = TypeVar("R")


class WorkflowResult(StatusPredicates, Generic[R]):
    """A handle on a workflow, by its id (``sqsq result ID`` shows the same).

    Args:
        workflow_id: the workflow id (``.id``).
        app: the app whose results table holds it.
        tree: the workflow's shape; None: read from the table.

    ``get()`` returns the last step's value (chain), the callback's (chord), or the list of results in order
    (group); it raises :class:`sqsq.TaskFailed` with the failing step's reason when the workflow failed.
    """

    def __init__(self, workflow_id: str, *, app: App, tree: dict[str, Any] | None = None):
        self.id = workflow_id
        self.app = app
        self._tree = tree

    def __repr__(self) -> str:
        return f"<WorkflowResult {self.id}>"

    @property
    def tree(self) -> dict[str, Any]:
        """The workflow's shape (read once).

        Raises:
            ResultTimeout: no workflow under this id (never sent, or expired).
        """
        if self._tree is None:
            self._tree = load_tree(self.app.results.get(tree_id(self.id)))
            if self._tree is None:
                raise ResultTimeout(f"no workflow {self.id} in the results table (not sent, or expired)")
        return self._tree

    def steps(self) -> list[StepState]:
        """Every step with its state now (one BatchGetItem per 100 steps, the workflow's own record included);
        steps the workflow's outcome rules out are marked ``not_run`` (:func:`~sqsq.workflows.tree.mark_not_run`)."""
        planned = planned_steps(self.id, self.tree)
        records = chord_store(self.app).get_many([self.id, *(p[0] for p in planned)])
        return mark_not_run(self.tree["kind"], step_states(planned, records), records.get(self.id))

    def cancel(self) -> str:
        """Revoke the workflow (see :mod:`sqsq.scheduling.cancel`): its record becomes REVOKED and its id joins the
        revocation marker, so consumers that check revocations skip every step of it not yet started (a running
        step is not interrupted; what it would send next is skipped in turn).

        Returns:
            ``"revoked"``, or ``"finished"`` when the workflow had already ended.

        Raises:
            AwsError: a request failed. ConfigError: the app cannot revoke.
        """
        from sqsq.scheduling.cancel import cancel

        return cancel(self.app, self.id)

    @property
    def status(self) -> Status:
        """:attr:`state` as a :class:`sqsq.Status` (as :attr:`sqsq.AsyncResult.status`)."""
        return Status(self.state)

    @property
    def result(self) -> R | TaskFailed | None:
        """Celery's ``result``, without waiting (as :attr:`sqsq.AsyncResult.result`): the value :meth:`get` would
        return when finished, the :class:`sqsq.TaskFailed` it would raise when failed, else None."""
        try:
            done, value = self._poll()
        except TaskFailed as exc:
            return exc
        return value if done else None

    def outcome(self) -> tuple[str, Any, str | None]:
        """``(state, value, error)`` as ``sqsq result`` shows them: the value as JSON data when SUCCESS (a
        group's: the list of its members' results in order, as :meth:`get` builds it), ``"Type: message"`` of the
        failure when FAILURE."""
        if self.tree["kind"] == "group":
            planned = planned_steps(self.id, self.tree)
            records = chord_store(self.app).get_many([p[0] for p in planned])
            failed = [records[p[0]] for p in planned if p[0] in records and records[p[0]].status is Status.FAILURE]
            if failed:
                return Status.FAILURE.value, None, f"{failed[0].error_type}: {failed[0].error_message or ''}"
            if len(records) < len(planned) or any(r.status is not Status.SUCCESS for r in records.values()):
                return Status.STARTED.value, None, None
            values = [json.loads(records[p[0]].result_json or "null") for p in planned]
            return Status.SUCCESS.value, values, None
        record = self.app.results.get(self.id)
        if record is None:
            return Status.PENDING.value, None, None
        value = json.loads(record.result_json) if record.result_json else None
        error = f"{record.error_type}: {record.error_message}" if record.error_type else None
        return record.status.value, value, error

    @property
    def state(self) -> str:
        """PENDING/STARTED/SUCCESS/FAILURE of the workflow (a group: FAILURE if a member failed, SUCCESS when all did)."""
        if self.tree["kind"] == "group":
            statuses = {s.status for s in self.steps()}
            if Status.FAILURE in statuses:
                return Status.FAILURE.value
            return Status.SUCCESS.value if statuses == {Status.SUCCESS} else Status.STARTED.value
        record = self.app.results.get(self.id)
        return Status.PENDING.value if record is None else record.status.value

    def get(self, timeout_seconds: float = 30.0, poll_interval_seconds: float = 0.2) -> R:
        """Wait for the workflow and return its value.

        Raises:
            TaskFailed: the workflow failed (``task_id`` the workflow's, the failing step's error type and message).
            ResultTimeout: not finished within ``timeout_seconds``.
        """
        deadline = time.monotonic() + timeout_seconds
        interval = poll_interval_seconds
        while True:
            done, value = self._poll()
            if done:
                return value  # type: ignore[no-any-return]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ResultTimeout(f"workflow {self.id} is not finished after {timeout_seconds} s; "
                                    f"`sqsq result {self.id}` shows its steps (is a worker running?)")
            time.sleep(min(interval, remaining))
            interval = min(1.0, interval * 1.5)

    def _poll(self) -> tuple[bool, Any]:
        if self.tree["kind"] == "group":
            return self._poll_group()
        record = self.app.results.get(self.id)
        if record is None or not record.status.is_final:
            return False, None
        if record.status is Status.FAILURE:
            raise TaskFailed(self.id, record.error_type or "Error", record.error_message or "", record.traceback)
        return True, self._value(record)

    def _value(self, record: ResultRecord) -> Any:
        final = self.tree["callback"] if self.tree["kind"] == "chord" else self.tree["tasks"][-1]
        task = self.app.tasks.get(final)
        if record.result_json is None:
            return None
        return json.loads(record.result_json) if task is None else task.load_result(record.result_json)

    def _poll_group(self) -> tuple[bool, Any]:
        planned = planned_steps(self.id, self.tree)
        records = chord_store(self.app).get_many([p[0] for p in planned])
        for task_id, _task, _role in planned:
            record = records.get(task_id)
            if record is not None and record.status is Status.FAILURE:
                raise TaskFailed(task_id, record.error_type or "Error", record.error_message or "", record.traceback)
        if len(records) < len(planned) or any(r.status is not Status.SUCCESS for r in records.values()):
            return False, None
        return True, [AsyncResult(p[0], app=self.app)._value(records[p[0]]) for p in planned]
