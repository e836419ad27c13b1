"""``sqsq dashboard APP``: the web dashboard (:mod:`sqsq.dashboard`) on uvicorn."""

from __future__ import annotations

import click

from sqsq.cli.options import Finite, app_argument, load_app
from sqsq.extras import require

DEFAULT_PORT = 8642


@click.command()
@app_argument
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs --token.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--read-only", is_flag=True, help="Hide and refuse every action (retry, redrive, purge).")
@click.option("--token", envvar="SQSQ_DASHBOARD_TOKEN", show_envvar=True, default=None,
              help="Require this token (Authorization: Bearer, or open /login?token=... once).")
@click.option("--refresh-seconds", default=3.0, show_default=True, type=Finite(0.5),
              help="How often pages refresh their live part.")
def dashboard(app_spec: str, host: str, port: int, read_only: bool, token: str | None, refresh_seconds: float) -> None:
    """Serve APP's monitoring dashboard: queues, tasks, failures, workers, JSON under /api and /metrics."""
    require("sqsq dashboard", "fastapi_dashboard", "uvicorn", "jinja2", "prometheus_client")
    from sqsq.dashboard.security import check_bind

    check_bind(host, token)
    import uvicorn

    from sqsq.dashboard import create_app
    from sqsq.dashboard.security import LOOPBACK_HOSTS
    from sqsq.monitoring import Monitor

    app = load_app(app_spec)
    api = create_app(Monitor(app), read_only=read_only, token=token or None, refresh_seconds=refresh_seconds,
                     allowed_hosts=(*LOOPBACK_HOSTS, host))
    click.echo(f"sqsq dashboard of {app.name} on http://{host}:{port}/" + (" (read-only)" if read_only else ""),
               err=True)
    uvicorn.run(api, host=host, port=port, log_level="warning")
