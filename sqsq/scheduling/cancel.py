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

An id without a record (a task still waiting in its queue, e.g. sent with ``delay_seconds``) and without a known
task name gets a REVOKED record named :data:`UNNAMED` and joins the marker: the executor matches such a record on
the id alone (:func:`revoked_by_id`), so the task's own writes never replace it and a delivery is acknowledged
unrun. An id that is not shaped like a task id (:func:`is_task_id`) is refused, so a typo is not "revoked".
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Literal, Protocol

from sqsq.config import Settings
from sqsq.errors import ConfigError
from sqsq.results import ResultRecord, ResultStore, Status
from sqsq.results.revocations import RevocationStore, marker_key

if TYPE_CHECKING:
    from sqsq.transport.schedules import Scheduler

CancelResult = Literal["cancelled", "revoked", "finished"]
CANCELLED: CancelResult = "cancelled"
REVOKED: CancelResult = "revoked"
FINISHED: CancelResult = "finished"

UNNAMED = "?"
"""The ``task_name`` of a REVOKED record written for an id that had no record and no known task name."""
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TASK_ID = re.compile(
    rf"{_UUID}(-(\d+|cb|err))?"  # a send's id (sqsq.message.new_task_id), or a workflow step's (sqsq.workflows.ids)
    r"|[A-Za-z0-9_.-]+:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # a periodic firing's (schedule id:scheduled time)
)


def is_task_id(text: str) -> bool:
    """True when ``text`` has the shape of an id sqsq gives tasks (a UUID4 string, a workflow step's id, or a
    periodic firing's ``<schedule id>:<time>``)."""
    return _TASK_ID.fullmatch(text) is not None


def revoked_by_id(record: ResultRecord | None) -> bool:
    """True for a REVOKED record :func:`cancel` wrote for an id that had no record (no ``sent_at``; named
    :data:`UNNAMED` unless the caller knew the name): it stands for whatever message carries its id, so the executor
    acknowledges such a message (unrun where it can) instead of calling the id another message's."""
    return (record is not None and record.status is Status.REVOKED
            and (record.task_name == UNNAMED or record.sent_at is None))


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

    :func:`cancel_explained` does the same and also says how (for ``sqsq cancel``).

    Args:
        app: the app the task was sent on.
        task_id: the task id.
        task_name: the task's registered name, when known (names a REVOKED record for an id without one).

    Returns:
        ``"cancelled"`` (its schedule deleted: it never runs), ``"revoked"`` (queued or running: see the module
        docstring) or ``"finished"`` (too late: it had finished).

    Raises:
        ConfigError: the task is not scheduled and the results store keeps no revocation marker.
        ValueError: ``task_id`` has no record and is not shaped like a task id (:func:`is_task_id`).
        AwsError: a request failed (DeleteSchedule, GetItem, PutItem, UpdateItem).
    """
    return cancel_explained(app, task_id, task_name)[0]


def cancel_explained(
    app: CancelComponents, task_id: str, task_name: str | None = None
) -> tuple[CancelResult, str | None]:
    """:func:`cancel`, plus a note on what was done when the answer alone would mislead (else None).

    Raises:
        As :func:`cancel`.
    """
    existing = app.results.get(task_id)
    if existing is not None and existing.status.is_final:
        return FINISHED, f"already {existing.status.value}"
    if existing is None and not is_task_id(task_id):
        raise ValueError(
            f"{task_id!r} is not a task id (ids look like 1b4e28ba-2fa1-41d2-883f-0016d3cca427, as `sqsq send` "
            "prints); nothing was revoked. Check the id (and pass the app that sent it)"
        )
    # A retry scheduled past 12 hours is named after the attempts its SCHEDULED record keeps.
    attempts = existing.attempts if existing is not None and existing.status is Status.SCHEDULED else 0
    from sqsq.scheduling.one_time import schedule_name  # only a cancel needs it (consumers import this module)

    deleted = app.scheduler.delete(app.settings.schedule_group_name, schedule_name(task_id, attempts))
    name = existing.task_name if existing is not None else (task_name or UNNAMED)
    if not deleted:
        store = app.results
        if not isinstance(store, RevocationStore):
            raise ConfigError(f"results store {type(store).__name__} keeps no revocation marker; cannot revoke {task_id}")
        store.add_revocation(marker_key(app.name), task_id, app.settings.result_ttl_seconds)
    record = ResultRecord(
        task_id=task_id, status=Status.REVOKED, task_name=name,
        sent_at=existing.sent_at if existing is not None else None,
        generation=existing.generation if existing is not None else 0,
        attempts=existing.attempts if existing is not None else 0,
        error_type="TaskRevoked",
        error_message="cancelled before its schedule fired" if deleted else "revoked",
    ).stamped(app.settings.result_ttl_seconds, time.time())
    if not app.results.put(record):
        now = app.results.get(task_id)  # refused: it finished, or (no record read) its first write came in between
        if now is None or now.status.is_final:
            return FINISHED, f"already {now.status.value}" if now is not None else None
        return REVOKED, f"its record ({now.status.value}) was written meanwhile; the id is in the revocation marker"
    if deleted or existing is not None:
        return (CANCELLED if deleted else REVOKED), None
    return REVOKED, (
        "no record yet: REVOKED recorded under the id and the id added to the revocation marker; a consumer that "
        "checks revocations (revocation_check_seconds > 0) acknowledges it unrun, one that does not runs it "
        "and its outcome is not recorded"
    )
