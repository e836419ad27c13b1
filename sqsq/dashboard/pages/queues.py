"""The queues page (``/``): depth, in flight, delayed, DLQ depth, oldest age, and throughput over the last hour."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sqsq.dashboard.context import NavEntry, dashboard_of
from sqsq.monitoring.chart import throughput_svg

router = APIRouter()
NAV = NavEntry("Queues", "/")


def _data(request: Request) -> dict[str, Any]:
    monitor = dashboard_of(request).monitor
    t = monitor.throughput()
    return {"queues": [q.to_json() for q in monitor.queues()],
            "throughput": {"start": t.start, "succeeded": t.succeeded, "failed": t.failed}, "_t": t}


@router.get("/api/queues")
def queues_json(request: Request) -> dict[str, Any]:
    """Every queue's figures and the per-minute throughput of the last hour."""
    data = _data(request)
    del data["_t"]
    return data


@router.get("/", response_class=HTMLResponse)
def queues_page(request: Request) -> HTMLResponse:
    """The queues page."""
    data = _data(request)
    return dashboard_of(request).render(request, "queues.html", queues=data["queues"], chart=throughput_svg(data["_t"]))
