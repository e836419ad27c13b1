"""The workflows page (``/workflows``: the newest workflows and their states) and one workflow's page
(``/workflows/{workflow_id}``: its tree of steps, as ``sqsq result WORKFLOW_ID`` prints it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from sqsq.dashboard.context import NavEntry, dashboard_of

router = APIRouter()
NAV = NavEntry("Workflows", "/workflows")


@router.get("/api/workflows")
def workflows_json(request: Request, limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    """The newest workflows, newest first (Queries on the task index)."""
    return {"workflows": [w.to_json() for w in dashboard_of(request).monitor.workflows(limit)]}


@router.get("/workflows", response_class=HTMLResponse)
def workflows_page(request: Request, limit: int = Query(50, ge=1, le=1000)) -> HTMLResponse:
    """The workflows page."""
    board = dashboard_of(request)
    return board.render(request, "workflows.html", workflows=board.monitor.workflows(limit))


def _detail(request: Request, workflow_id: str) -> dict[str, Any]:
    detail = dashboard_of(request).monitor.workflow(workflow_id)
    if detail is None:
        raise HTTPException(404, f"no workflow {workflow_id} in the results table (not sent, or expired)")
    return detail


@router.get("/api/workflows/{workflow_id}")
def workflow_json(request: Request, workflow_id: str) -> dict[str, Any]:
    """One workflow: kind, state, value or error, and every step with its state."""
    return _detail(request, workflow_id)


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse)
def workflow_page(request: Request, workflow_id: str) -> HTMLResponse:
    """One workflow's page."""
    return dashboard_of(request).render(request, "workflow.html", workflow=_detail(request, workflow_id))
