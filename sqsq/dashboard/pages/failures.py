"""The failures page (``/failures``): dead letters with their reasons; retry one, redrive by filter, purge.

The actions are POSTs with the session's CSRF token (:mod:`sqsq.dashboard.security`) and run
:meth:`sqsq.dlq.DeadLetterQueue.redrive` / ``purge``: the code of ``sqsq dlq redrive`` / ``sqsq dlq purge``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sqsq.dashboard.context import NavEntry, dashboard_of
from sqsq.dlq import RedriveReport, Selection
from sqsq.results.listing import TaskFilter

router = APIRouter()
NAV = NavEntry("Failures", "/failures")


def _form(request: Request) -> dict[str, list[str]]:
    form: dict[str, list[str]] = getattr(request.state, "form", {})
    return form


def _one(form: dict[str, list[str]], key: str) -> str | None:
    values = [v for v in form.get(key, []) if v]
    return values[0] if values else None


def _report_json(reports: list[RedriveReport]) -> dict[str, Any]:
    return {"moved": sum(len(r.moved) for r in reports), "reports": [r.to_json() for r in reports]}


@router.get("/api/failures")
def failures_json(request: Request, limit: int = 50) -> dict[str, Any]:
    """Dead letters (every DLQ) and the most recent FAILURE records (task index)."""
    monitor = dashboard_of(request).monitor
    return {"dead_letters": [d.to_json() for d in monitor.failures.dead_letters()],
            "failed_tasks": [r.to_json() for r in monitor.tasks(TaskFilter(states=("FAILURE",), limit=limit))]}


@router.get("/failures", response_class=HTMLResponse)
def failures_page(request: Request, done: str | None = None) -> HTMLResponse:
    """The failures page."""
    board = dashboard_of(request)
    monitor = board.monitor
    return board.render(request, "failures.html", dead=[d.to_json() for d in monitor.failures.dead_letters()],
                        failed=monitor.tasks(TaskFilter(states=("FAILURE",), limit=50)), done=done,
                        queues=monitor.app.logical_queues(), names=sorted(monitor.app.tasks))


def _answer(request: Request, result: dict[str, Any], message: str) -> Any:
    if "application/json" in request.headers.get("accept", ""):
        return result
    return RedirectResponse(f"/failures?done={quote(message)}", status_code=303)


@router.post("/api/failures/retry")
def retry(request: Request) -> Any:
    """Redrive one task's dead letter (form field ``task_id``)."""
    task_id = _one(_form(request), "task_id")
    if task_id is None:
        raise HTTPException(400, "task_id is required")
    reports = dashboard_of(request).monitor.failures.redrive(Selection(task_ids=frozenset({task_id})))
    result = _report_json(reports)
    return _answer(request, result, f"retried {result['moved']}")


@router.post("/api/failures/redrive")
def redrive(request: Request) -> Any:
    """Redrive every dead letter matching the form's ``task_name`` and ``error_type`` (``all=1``: everything)."""
    form = _form(request)
    names = frozenset(v for v in form.get("task_name", []) if v)
    errors = frozenset(v for v in form.get("error_type", []) if v)
    everything = _one(form, "all") == "1"
    if not (names or errors or everything):
        raise HTTPException(400, "give a task_name or error_type filter, or all=1")
    selection = Selection(task_names=names, error_types=errors, everything=everything and not (names or errors))
    reports = dashboard_of(request).monitor.failures.redrive(selection)
    result = _report_json(reports)
    return _answer(request, result, f"redrove {result['moved']}")


@router.post("/api/failures/purge")
def purge(request: Request) -> Any:
    """Purge one queue's DLQ (form ``queue``, and ``confirm`` equal to that queue's name)."""
    form = _form(request)
    queue = _one(form, "queue")
    if queue is None or _one(form, "confirm") != queue:
        raise HTTPException(400, "type the queue's name in confirm to purge its DLQ")
    dashboard_of(request).monitor.failures.purge(queue)
    return _answer(request, {"purged": queue}, f"purged {queue}")
