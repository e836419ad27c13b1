"""Building the dashboard's FastAPI app from its page modules."""

from __future__ import annotations

import importlib

from sqsq.extras import require

require("sqsq dashboard", "fastapi_dashboard", "uvicorn", "jinja2", "prometheus_client")

from fastapi import FastAPI, Request, Response  # noqa: E402
from fastapi.responses import PlainTextResponse  # noqa: E402

from sqsq.dashboard.context import Dashboard, NavEntry  # noqa: E402
from sqsq.dashboard.middleware import guard  # noqa: E402
from sqsq.dashboard.pages import PAGES  # noqa: E402
from sqsq.dashboard.security import LOOPBACK_HOSTS  # noqa: E402
from sqsq.errors import SqsqError  # noqa: E402
from sqsq.monitoring import Monitor  # noqa: E402
from sqsq.monitoring.prometheus import CONTENT_TYPE, metrics_text  # noqa: E402


def create_app(
    monitor: Monitor, *, read_only: bool = False, token: str | None = None, refresh_seconds: float = 3.0,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
) -> FastAPI:
    """The dashboard of ``monitor``'s app.

    Args:
        monitor: what it reads (:class:`sqsq.monitoring.Monitor`).
        read_only: hide the actions and refuse every POST.
        token: require this token on every request (see :mod:`sqsq.dashboard.security`); None: no token
            (bind loopback only: ``sqsq dashboard`` checks).
        refresh_seconds: how often pages refresh their live part.
        allowed_hosts: without a token, the ``Host`` names served (default: loopback names only, against DNS
            rebinding; see :mod:`sqsq.dashboard.security`).

    Returns:
        A FastAPI app (serve it with uvicorn).

    Example:
        >>> uvicorn.run(create_app(Monitor(app)), host="127.0.0.1", port=8642)  # doctest: +SKIP
    """
    api = FastAPI(title=f"sqsq dashboard: {monitor.app.name}", docs_url=None, redoc_url=None, openapi_url=None)
    nav: list[NavEntry] = []
    for name in PAGES:
        module = importlib.import_module(f"sqsq.dashboard.pages.{name}")
        api.include_router(module.router)
        if module.NAV is not None:
            nav.append(module.NAV)
    api.state.dashboard = Dashboard(monitor=monitor, read_only=read_only, token=token,
                                    refresh_seconds=refresh_seconds, nav=nav, allowed_hosts=allowed_hosts)
    api.middleware("http")(guard)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/metrics")
    def metrics() -> Response:
        return Response(metrics_text(monitor), media_type=CONTENT_TYPE)

    @api.exception_handler(SqsqError)
    def sqsq_error(request: Request, exc: SqsqError) -> PlainTextResponse:
        return PlainTextResponse(str(exc), status_code=502)

    return api
