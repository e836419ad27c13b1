"""Cancelling a task: ``AsyncResult.cancel()`` and ``sqsq cancel APP TASK_ID``.

What happens, by where the task is:

* **Scheduled, not fired** (sent past 900 s): its one-time schedule is deleted (DeleteSchedule) and its record
  becomes REVOKED. It never reaches a queue: :data:`CANCELLED`.
* **In a queue** (sent within 900 s, or its schedule fired): its record becomes REVOKED (a conditional write:
  refused once the task finished) and its id joins the app's revocation marker
  (:mod:`sqsq.results.revocations`). A consumer that checks revocations (``revocation_check_seconds`` > 0, the
  default 5 s) and receives it after its next marker read deletes it without running it: :data:`REVOKED`. The window: a consumer
  that read the marker just before the revocation runs the task if it receives it within
  ``revocation_check_seconds``.
* **Running**: it is not interrupted. It finishes; its result write is refused (REVOKED is final), so the record
  stays REVOKED and ``get()`` raises :class:`sqsq.errors.TaskRevoked` although the task ran.
* **Finished** (SUCCESS, FAILURE or already REVOKED): nothing changes: :data:`FINISHED`.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

from sqsq.config import Settings
from sqsq.errors import ConfigError
from sqsq.results import ResultRecord, ResultStore, Status
from sqsq.results.revocations import RevocationStore, marker_key
from sqsq.scheduling.one_time import schedule_name
from sqsq.transport.schedules import Scheduler

CancelResult = Literal["cancelled", "revoked", "finished"]
CANCELLED: CancelResult = "cancelled"
REVOKED: CancelResult = "revoked"
FINISHED: CancelResult = "finished"


class CancelComponents(Protocol):
    """What cancelling needs of an app (:class:`sqsq.App` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def results(self) -> ResultStore: ...

    @property
    def scheduler(self) -> Scheduler: ...


def cancel(app: CancelComponents, task_id: str, task_name: str | None = None) -> CancelResult:
    """Cancel or revoke one task (see the module docstring for what each result means).

    Args:
        app: the app the task was sent on.
        task_id: the task id.
        task_name: the task's registered name, when known (names a REVOKED record for an id without one).

    Returns:
        ``"cancelled"`` (its schedule deleted: it never runs), ``"revoked"`` (queued or running: see the module
        docstring) or ``"finished"`` (too late: it had finished).

    Raises:
        ConfigError: the task is not scheduled and the results store keeps no revocation marker.
        AwsError: a request failed (DeleteSchedule, GetItem, PutItem, UpdateItem).
    """
    existing = app.results.get(task_id)
    if existing is not None and existing.status.is_final:
        return FINISHED
    # A retry scheduled past 12 hours is named after the attempts its SCHEDULED record keeps.
    attempts = existing.attempts if existing is not None and existing.status is Status.SCHEDULED else 0
    deleted = app.scheduler.delete(app.settings.schedule_group_name, schedule_name(task_id, attempts))
    name = existing.task_name if existing is not None else task_name
    if not deleted:
        store = app.results
        if not isinstance(store, RevocationStore):
            raise ConfigError(f"results store {type(store).__name__} keeps no revocation marker; cannot revoke {task_id}")
        store.add_revocation(marker_key(app.name), task_id, app.settings.result_ttl_seconds)
    if name is None:
        # No record and no name: a REVOKED record under a guessed name would read as another message's to the
        # task's own writes. The consumer that skips it writes the record (it knows the name).
        return REVOKED
    record = ResultRecord(
        task_id=task_id, status=Status.REVOKED, task_name=name,
        sent_at=existing.sent_at if existing is not None else None,
        generation=existing.generation if existing is not None else 0,
        attempts=existing.attempts if existing is not None else 0,
        error_type="TaskRevoked",
        error_message="cancelled before its schedule fired" if deleted else "revoked",
    ).stamped(app.settings.result_ttl_seconds, time.time())
    if not app.results.put(record):
        return FINISHED  # it finished between the read and the write
    return CANCELLED if deleted else REVOKED
