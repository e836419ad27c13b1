"""Create an app's queues (each with a DLQ and a redrive policy) and its results table, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from sqsq.app import App
from sqsq.transport.admin import QueueSpec, ensure_queue, ensure_results_table
from sqsq.transport.aws import AwsClients


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created or found.

    Attributes:
        queue_urls: physical queue name -> URL (DLQs not listed).
        table_name: the results table.
    """

    queue_urls: dict[str, str]
    table_name: str


def queue_specs(app: App) -> list[QueueSpec]:
    """The queue shapes an app needs, from its settings and tasks (same as template.yaml declares)."""
    s = app.settings
    return [
        QueueSpec(
            name=app.queue_name(q),
            dlq_name=s.dlq_name(q),
            max_receive_count=s.max_receive_count,
            visibility_timeout_seconds=s.visibility_timeout_seconds,
        )
        for q in app.logical_queues()
    ]


def provision(app: App) -> Provisioned:
    """Create (or update) the app's queues, DLQs and results table at the configured endpoint.

    Raises:
        AwsError: the endpoint refused or is unreachable.
    """
    clients = AwsClients(app.settings)
    urls = {spec.name: ensure_queue(clients, spec) for spec in queue_specs(app)}
    ensure_results_table(clients, app.settings.table_name)
    return Provisioned(queue_urls=urls, table_name=app.settings.table_name)
