"""Integration-test mode: the app on fresh queues and a fresh results table on the embedded local AWS (moto server).

Needs the ``local`` extra (``pip install "sqsq[local]"``); without it, starting the server raises
:class:`sqsq.errors.MissingExtra` naming that pip install.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqsq.app import App
from sqsq.dlq import DeadLetterQueue, DlqEntry
from sqsq.local.provision import Provisioned, provision
from sqsq.local.server import LOCAL_CREDENTIALS, LocalAwsServer
from sqsq.results import ResultRecord, ResultStore
from sqsq.transport import QueueDepth, Transport
from sqsq.transport.payloads import PayloadStore


@dataclass(frozen=True)
class LocalAwsEnv:
    """What :func:`local_aws` yields.

    Attributes:
        app: the app, pointed at the local AWS inside the block.
        server: the running local AWS (``endpoint_url``, ``pid``, ``request_counts()``).
        provisioned: the queue URLs and the table name created for this block.
        settings: the settings applied to the app in the block (``endpoint_url``, ``queue_prefix``,
            ``results_table`` and any given).
        transport: the app's queue backend in the block (SQS on the local AWS).
        results: the app's results backend in the block (DynamoDB on the local AWS).
        payloads: the app's payload store in the block (an S3 bucket on the local AWS, created for the block as
            ``sqsq local`` creates one), so a body past the queue's 1 MiB is offloaded there as on AWS.
    """

    app: App
    server: LocalAwsServer
    provisioned: Provisioned
    settings: Mapping[str, Any] = field(default_factory=dict)
    transport: Transport = field(kw_only=True)
    results: ResultStore = field(kw_only=True)
    payloads: PayloadStore | None = field(default=None, kw_only=True)

    def depth(self, queue: str | None = None) -> QueueDepth:
        """Visible, in-flight and delayed messages of a logical queue (``None``: the default queue); SQS's
        ApproximateNumberOfMessages* attributes, so approximate."""
        return self.transport.depth(self.app.queue_name(queue))

    def record(self, task_id: str) -> ResultRecord | None:
        """The stored result record of a task (status, result JSON, error, attempts), or ``None`` (PENDING)."""
        return self.results.get(task_id)

    def dead_letters(self, queue: str | None = None) -> list[DlqEntry]:
        """The messages in the DLQ of a logical queue, or of every queue of the app (``queue=None``), oldest first.

        Each :class:`sqsq.dlq.DlqEntry` has ``task_id``, ``task_name``, ``error_type``, ``error_message``,
        ``attempts`` and the ``envelope``; nothing is consumed (as ``sqsq dlq list`` reads them: each read message
        is made visible again).
        """
        queues = [queue] if queue is not None else self.app.logical_queues()
        entries: list[DlqEntry] = []
        with self.app.using(transport=self.transport, results=self.results, payloads=self.payloads):
            for q in queues:
                entries.extend(DeadLetterQueue(self.app, q, wait_seconds=0).entries())
        return entries

    def client_environment(self) -> dict[str, str]:
        """Environment variables for a subprocess (``sqsq worker APP``, a service) to use the same resources:
        the endpoint, region, dummy credentials and the ``SQSQ_*`` settings of the block."""
        return {
            **self.server.client_environment(region=self.app.settings.region),
            **{f"SQSQ_{k.upper()}": str(v) for k, v in self.settings.items() if k != "endpoint_url"},
        }


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def payload_bucket_name(app_name: str, unique: str) -> str:
    """A valid S3 bucket name (3-63 lowercase letters, digits, hyphens) for one block: ``<app>-t<unique>-payloads``."""
    stem = re.sub(r"[^a-z0-9-]+", "-", app_name.lower()).strip("-")[:40].rstrip("-") or "sqsq"
    return f"{stem}-t{unique}-payloads"


@contextlib.contextmanager
def local_aws(app: App, server: LocalAwsServer | None = None, **setting_overrides: Any) -> Iterator[LocalAwsEnv]:
    """Point the app at fresh, uniquely named queues (with DLQs) and a results table on the local AWS.

    The resources are created as ``sqsq provision`` creates them (the shapes ``sqsq template`` renders), under a
    queue prefix and table name unique to this block, so tests sharing one server never see each other's messages.
    A payload bucket is created too (``<app>-t<unique>-payloads``, unless ``payload_bucket=`` is given), so bodies
    past the queue's 1 MiB and results past DynamoDB's item size go to S3 on the local AWS, as under ``sqsq local``.
    Inside the block the process's AWS credentials are moto's dummy ones (no real key is ever sent to the local
    server); on exit the app's configuration and the environment are restored.

    Args:
        app: the app under test.
        server: a running :class:`sqsq.local.server.LocalAwsServer` to use; ``None``: one is started on a free port
            for the block and stopped (its process group, by PID) at the end.
        **setting_overrides: more :class:`sqsq.config.Settings` for the block, e.g. ``visibility_timeout_seconds=2``,
            ``max_receive_count=3``.

    Yields:
        A :class:`LocalAwsEnv`.

    Raises:
        MissingExtra: moto's server is not installed (``pip install "sqsq[local]"``).
        LocalServerError: the server did not start.
        AwsError: provisioning failed.

    Example:
        >>> with sqsq.testing.local_aws(app) as env:      # doctest: +SKIP
        ...     h = sqsq.send(add, {"x": 1, "y": 2})
        ...     Worker(app, burst=True).run()
        ...     assert h.get() == 3
    """
    own = server is None
    if server is None:
        server = LocalAwsServer()
        server.start()
    try:
        unique = uuid.uuid4().hex[:8]
        settings: dict[str, Any] = {
            "endpoint_url": server.endpoint_url,
            "queue_prefix": f"{app.name}-t{unique}-",
            "results_table": f"{app.name}-t{unique}-results",
            "payload_bucket": payload_bucket_name(app.name, unique),
            **setting_overrides,
        }
        with _environ(LOCAL_CREDENTIALS), app.using(**settings):
            provisioned = provision(app)
            yield LocalAwsEnv(app, server, provisioned, settings, transport=app.transport, results=app.results,
                              payloads=app.payloads)
    finally:
        if own:
            server.stop()
