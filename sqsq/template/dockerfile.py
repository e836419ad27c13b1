"""The worker image's Dockerfile, for ``sqsq template --fargate`` (written into the user's project when absent)."""

from __future__ import annotations

import re

from sqsq.errors import ConfigError

DOCKERFILE = """\
# syntax=docker/dockerfile:1
# The sqsq worker image for {app_spec}: `sqsq worker` on ECS Fargate (see sqsq.template.fargate).
# Written by sqsq.template.dockerfile.worker_dockerfile and never built by sqsq's own tests (they run where no Docker
# engine is available): build and run it once before deploying, e.g.
#   docker build -t worker . && docker run --rm -e AWS_REGION=... -e SQSQ_QUEUE_PREFIX=... worker
# Put it at the root of your project (beside template.yaml); keep .git, .venv and tests out with .dockerignore.
FROM python:{python_version}-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns nothing in the image: the worker only reads its code and talks to AWS.
RUN groupadd --system --gid 10001 worker \\
    && useradd --system --uid 10001 --gid worker --no-create-home --shell /usr/sbin/nologin worker

WORKDIR /app
COPY . /app
# sqsq, then your project's own dependencies where it declares them (pyproject.toml or setup.py, requirements.txt).
# The app's code runs from /app (on PYTHONPATH), installed or not, so a folder with just your package works too.
RUN pip install "{sqsq_requirement}" \\
    && if [ -f pyproject.toml ] || [ -f setup.py ]; then pip install /app; fi \\
    && if [ -f requirements.txt ]; then pip install -r requirements.txt; fi
ENV PYTHONPATH=/app

USER 10001:10001
# ECS sends SIGTERM, waits StopTimeout, then SIGKILL; the worker stops receiving at SIGTERM, lets running tasks
# finish for --shutdown-grace-seconds and releases the rest. Exec form: no shell swallows the signal (the task
# definition adds an init process that forwards it and reaps --pool process children).
STOPSIGNAL SIGTERM
CMD ["sqsq", "worker", "{app_spec}"]
"""


def worker_dockerfile(app_spec: str, python_version: str = "3.11", sqsq_requirement: str = "sqsq") -> str:
    """A Dockerfile for the worker image, to put at the root of the user's project.

    Slim Python base, sqsq installed with pip (and the project, when it has a pyproject.toml, setup.py or
    requirements.txt; its code runs from ``/app`` on ``PYTHONPATH`` either way), a non-root user, ``STOPSIGNAL SIGTERM`` and ``CMD
    ["sqsq", "worker", APP]`` (the task definition's command adds ``-Q``, ``-c``, ``--pool`` and the grace period).

    Args:
        app_spec: ``module:attribute`` of the app.
        python_version: ``3.X`` of the ``python:3.X-slim`` base image (sqsq needs 3.11 or later).
        sqsq_requirement: the pip requirement for sqsq, e.g. ``"sqsq==0.1.0"``.

    Returns:
        The Dockerfile's text.

    Raises:
        ConfigError: a malformed app spec, Python version or requirement.
    """
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", app_spec):
        raise ConfigError(f"app_spec={app_spec!r} must be module:attribute, e.g. 'myapp.tasks:app'")
    match = re.fullmatch(r"3\.(\d+)", python_version)
    if not match or int(match.group(1)) < 11:
        raise ConfigError(f"python_version={python_version!r} must be 3.11 or later, written 3.X")
    if not sqsq_requirement or re.search(r'["\s\\]', sqsq_requirement):
        raise ConfigError(f"sqsq_requirement={sqsq_requirement!r} must be one pip requirement without spaces or "
                          "quotes, e.g. 'sqsq==0.1.0'")
    return DOCKERFILE.format(app_spec=app_spec, python_version=python_version, sqsq_requirement=sqsq_requirement)
