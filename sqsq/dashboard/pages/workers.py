"""The workers page (``/workers``): live poller workers from the registry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sqsq.dashboard.context import NavEntry, dashboard_of

router = APIRouter()
NAV = NavEntry("Workers", "/workers")


@router.get("/api/workers")
def workers_json(request: Request) -> dict[str, Any]:
    """Live workers, most recently seen first."""
    return {"workers": [asdict(w) for w in dashboard_of(request).monitor.workers()]}


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request) -> HTMLResponse:
    """The workers page."""
    board = dashboard_of(request)
    return board.render(request, "workers.html", workers=board.monitor.workers())
