"""The web dashboard (issue 15): ``sqsq dashboard APP`` serves it; :func:`create_app` builds the FastAPI app.

Server-rendered Jinja2 pages (package data under ``templates/``), a small inline script that refreshes each page's
live part by polling (no build step), JSON twins of every page under ``/api``, and ``/metrics`` for Prometheus.
Pages are modules of :mod:`sqsq.dashboard.pages`; the security model is :mod:`sqsq.dashboard.security`.
"""

from __future__ import annotations

from sqsq.dashboard.app import create_app

__all__ = ["create_app"]
