"""The tasks page (``/tasks``, filters by name, state and time) and one task's page (``/tasks/{task_id}``)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from sqsq.dashboard.context import NavEntry, dashboard_of
from sqsq.results.listing import LISTED_STATES, TaskFilter

router = APIRouter()
NAV = NavEntry("Tasks", "/tasks")
WINDOWS_MINUTES = {"15": 15, "60": 60, "360": 360, "1440": 1440, "10080": 10080}
"""The time filter's choices (minutes back from now)."""


def _filter(name: str | None, state: str | None, minutes: str | None, limit: int) -> TaskFilter:
    if state and state not in {s.value for s in LISTED_STATES}:
        raise HTTPException(400, f"unknown state {state!r}; use one of {[s.value for s in LISTED_STATES]}")
    if minutes and minutes not in WINDOWS_MINUTES:
        raise HTTPException(400, f"unknown window {minutes!r} minutes; use one of {list(WINDOWS_MINUTES)}")
    since = time.time() - WINDOWS_MINUTES[minutes] * 60 if minutes else None
    return TaskFilter(states=(state,) if state else (), name=name or None, since=since, limit=limit)


@router.get("/api/tasks")
def tasks_json(request: Request, name: str | None = None, state: str | None = None, minutes: str | None = None,
               limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    """Recent tasks, newest first (Queries on the task index)."""
    rows = dashboard_of(request).monitor.tasks(_filter(name, state, minutes, limit))
    return {"tasks": [r.to_json() for r in rows]}


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, name: str | None = None, state: str | None = None, minutes: str | None = None,
               limit: int = Query(50, ge=1, le=1000)) -> HTMLResponse:
    """The tasks page."""
    board = dashboard_of(request)
    rows = board.monitor.tasks(_filter(name, state, minutes, limit))
    names = sorted(board.monitor.app.tasks)
    return board.render(request, "tasks.html", tasks=rows, names=names, states=[s.value for s in LISTED_STATES],
                        windows=list(WINDOWS_MINUTES), f={"name": name or "", "state": state or "",
                                                          "minutes": minutes or "", "limit": limit})


@router.get("/api/tasks/{task_id}")
def task_json(request: Request, task_id: str) -> dict[str, Any]:
    """One task: record, masked arguments (when its message is in a DLQ), result or error and traceback."""
    return dashboard_of(request).monitor.task(task_id).to_json()


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: str) -> HTMLResponse:
    """One task's page."""
    board = dashboard_of(request)
    return board.render(request, "task.html", task=board.monitor.task(task_id).to_json())
