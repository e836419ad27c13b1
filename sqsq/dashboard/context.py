"""What every page needs: the monitor, the templates, the security settings, and rendering."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqsq.extras import require

require("sqsq dashboard", "fastapi_dashboard", "uvicorn", "jinja2", "prometheus_client")

import jinja2  # noqa: E402
from fastapi import Request  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402

from sqsq.dashboard.security import LOOPBACK_HOSTS, SESSION_COOKIE, Session, Sessions  # noqa: E402
from sqsq.monitoring import Monitor  # noqa: E402
from sqsq.monitoring.tasks import format_seconds  # noqa: E402

FRAGMENT_HEADER = "x-sqsq-fragment"
"""A request with this header gets only the page's live part (the ``live`` block), for the refresh script."""


@dataclass(frozen=True)
class NavEntry:
    """One entry of the navigation bar: a page module's ``NAV``."""

    title: str
    path: str


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("sqsq.dashboard", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
    env.filters["when"] = lambda t: "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    env.filters["secs"] = format_seconds
    return env


@dataclass
class Dashboard:
    """The dashboard's shared state (``request.app.state.dashboard``).

    Attributes:
        monitor: the app's monitoring reads.
        read_only: hide and refuse actions.
        token: the access token, or None (loopback only).
        refresh_seconds: how often pages refresh their live part.
        nav: the navigation entries, in order.
        allowed_hosts: the ``Host`` names served when there is no token (default: the loopback names).
    """

    monitor: Monitor
    read_only: bool = False
    token: str | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    refresh_seconds: float = 3.0
    nav: list[NavEntry] = field(default_factory=list)
    sessions: Sessions = field(default_factory=Sessions)
    env: jinja2.Environment = field(default_factory=_environment)

    def render(self, request: Request, template: str, **values: Any) -> HTMLResponse:
        """The page (or only its ``live`` block when the refresh script asks) rendered with ``values``."""
        session: Session | None = getattr(request.state, "session", None)
        context = {
            "request": request, "nav": self.nav, "app_name": self.monitor.app.name, "read_only": self.read_only,
            "csrf": session.csrf if session else "", "refresh_ms": int(self.refresh_seconds * 1000),
            "path": request.url.path, **values,
        }
        page = self.env.get_template(template)
        if request.headers.get(FRAGMENT_HEADER):
            return HTMLResponse("".join(page.blocks["live"](page.new_context(context))))
        return HTMLResponse(page.render(context))


def dashboard_of(request: Request) -> Dashboard:
    """The :class:`Dashboard` of the app serving ``request``."""
    board: Dashboard = request.app.state.dashboard
    return board


__all__ = ["FRAGMENT_HEADER", "SESSION_COOKIE", "Dashboard", "NavEntry", "dashboard_of"]
