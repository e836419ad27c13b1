"""Create an app's queues (each with a DLQ and a redrive policy) and its results table, idempotently, with exactly
the attributes ``sqsq template`` declares for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqsq import limits
from sqsq.app import App
from sqsq.payloads import expiry_days
from sqsq.template import plan_queues
from sqsq.template.plan import DLQ_RETENTION_SECONDS
from sqsq.transport.admin import QueueSpec, ensure_payload_bucket, ensure_queue, ensure_results_table
from sqsq.transport.aws import AwsClients


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created or found.

    Attributes:
        queue_urls: physical queue name -> URL (DLQs not listed).
        table_name: the results table.
        payload_bucket: the S3 payload bucket (``payload_bucket`` setting), or None when not set.
    """

    queue_urls: dict[str, str]
    table_name: str
    payload_bucket: str | None = None


def _as_sqs_attributes(attributes: Mapping[str, object]) -> dict[str, str]:
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in attributes.items()}


def queue_specs(app: App) -> list[QueueSpec]:
    """The queue shapes an app needs: the same plans and attributes ``sqsq template`` renders.

    VisibilityTimeout, retention and SSE come from :func:`sqsq.template.plan_queues` (a Lambda queue's visibility is
    6 x its function timeout + window); maxReceiveCount is the app's ``max_receive_count`` setting (the template's
    ``MaxReceiveCount`` parameter defaults to the same 5).
    """
    s = app.settings
    out = []
    for plan in plan_queues(app):
        attributes = _as_sqs_attributes(plan.queue_attributes(s.max_receive_count, None))
        # QueueSpec fields (the redrive policy is set with the DLQ's ARN)
        del attributes["RedrivePolicy"], attributes["VisibilityTimeout"], attributes["MaximumMessageSize"]
        out.append(
            QueueSpec(
                name=app.queue_name(plan.logical),
                dlq_name=s.dlq_name(plan.logical),
                max_receive_count=s.max_receive_count,
                visibility_timeout_seconds=plan.visibility_timeout_seconds,
                max_message_size_bytes=limits.SQS_MAX_MESSAGE_SIZE_BYTES,
                attributes=attributes,
                dlq_attributes=_as_sqs_attributes(plan.dead_letter_queue_attributes()),
            )
        )
    return out


def provision(app: App) -> Provisioned:
    """Create (or update) the app's queues, DLQs, results table and (when ``payload_bucket`` is set) payload bucket.

    Raises:
        AwsError: the endpoint refused or is unreachable.
    """
    clients = AwsClients(app.settings)
    urls = {spec.name: ensure_queue(clients, spec) for spec in queue_specs(app)}
    ensure_results_table(clients, app.settings.table_name)
    bucket = app.settings.payload_bucket
    if bucket is not None:
        ensure_payload_bucket(clients, bucket, expiry_days(DLQ_RETENTION_SECONDS, app.settings.result_ttl_seconds))
    return Provisioned(queue_urls=urls, table_name=app.settings.table_name, payload_bucket=bucket)
