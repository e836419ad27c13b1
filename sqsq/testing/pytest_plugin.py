"""sqsq's pytest plugin: fixtures for testing code that sends tasks (registered as the ``pytest11`` entry point).

Fixtures (function-scoped unless said):

``sqsq_app``
    The :class:`sqsq.App` under test. Override it in your ``conftest.py`` (``return myproject.tasks.app``), set the
    ini option ``sqsq_app = myproject.tasks:app``, or parametrize it (``@pytest.mark.parametrize("sqsq_app",
    [app_a, app_b])``). Without any of these, a fixture that needs it fails and says so.
``sqsq_eager``
    :func:`sqsq.testing.eager` for the block of the test: tasks run when sent. Yields an
    :class:`sqsq.testing.EagerEnv`.
``sqsq_in_memory``
    :func:`sqsq.testing.in_memory`: sends are queued in memory; ``sqsq_in_memory.drain()`` runs a real worker until
    the queues are empty. Yields an :class:`sqsq.testing.InMemoryEnv`.
``sqsq_local_aws_server`` (session)
    The embedded local AWS (moto server) on a free port, started on first use and stopped by PID (its process
    group) at the end of the session. Needs ``sqsq[local]``: without it the fixture errors with the pip install
    line (:class:`sqsq.MissingExtra`), so a missing extra is never a silently skipped test.
``sqsq_local_aws``
    :func:`sqsq.testing.local_aws` on that server: fresh queues (with DLQs) and a results table for the test,
    the app pointed at them. Yields a :class:`sqsq.testing.LocalAwsEnv` (``client_environment()`` for
    subprocesses).

This module is imported in every pytest run where sqsq is installed, so it imports nothing of sqsq's at the top:
each fixture imports what it uses (moto and boto3 only when ``sqsq_local_aws*`` is used).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqsq.app import App
    from sqsq.local.server import LocalAwsServer
    from sqsq.testing import EagerEnv, InMemoryEnv, LocalAwsEnv

_NO_APP = (
    "no sqsq app for the sqsq_* fixtures: define a `sqsq_app` fixture returning your sqsq.App in conftest.py, "
    "or set `sqsq_app = package.module:app` in the [pytest] ini options"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``sqsq_app`` ini option."""
    parser.addini("sqsq_app", "the sqsq App (module:attribute) the sqsq_* fixtures test, unless sqsq_app is overridden")


@pytest.fixture
def sqsq_app(request: pytest.FixtureRequest) -> App:
    """The app under test: from the ``sqsq_app`` ini option; override this fixture to give it in code."""
    spec = str(request.config.getini("sqsq_app") or "").strip()
    if not spec:
        pytest.fail(_NO_APP, pytrace=False)
    from sqsq.app import import_app

    return import_app(spec)


@pytest.fixture
def sqsq_eager(sqsq_app: App) -> Iterator[EagerEnv]:
    """Tasks of ``sqsq_app`` run when sent, for this test (:func:`sqsq.testing.eager`)."""
    from sqsq.testing import eager

    with eager(sqsq_app) as env:
        yield env


@pytest.fixture
def sqsq_in_memory(sqsq_app: App) -> Iterator[InMemoryEnv]:
    """``sqsq_app`` on in-memory queues for this test; ``.drain()`` runs a worker (:func:`sqsq.testing.in_memory`)."""
    from sqsq.testing import in_memory

    with in_memory(sqsq_app) as env:
        yield env


@pytest.fixture(scope="session")
def sqsq_local_aws_server() -> Iterator[LocalAwsServer]:
    """The local AWS (moto server) on a free port for the session; stopped by PID at its end. Needs sqsq[local]."""
    from sqsq.local.server import LocalAwsServer

    server = LocalAwsServer(port=None)
    server.start()  # MissingExtra (with the pip install line) when sqsq[local] is not installed
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqsq_local_aws(sqsq_app: App, sqsq_local_aws_server: LocalAwsServer) -> Iterator[LocalAwsEnv]:
    """``sqsq_app`` on fresh queues and a results table on the local AWS, for this test (:func:`sqsq.testing.local_aws`)."""
    from sqsq.testing import local_aws

    with local_aws(sqsq_app, sqsq_local_aws_server) as env:
        yield env
