"""Create an app's queues (each with a DLQ and a redrive policy) and its results table, idempotently, with exactly
the attributes ``sqsq template`` declares for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqsq import limits
from sqsq.app import App
from sqsq.scheduling.periodic import create_request, schedule_group
from sqsq.template import plan_queues
from sqsq.transport.admin import QueueSpec, ensure_queue, ensure_results_table
from sqsq.transport.aws import AwsClients
from sqsq.transport.scheduler_admin import ensure_schedule, ensure_schedule_group, queue_arn


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created or found.

    Attributes:
        queue_urls: physical queue name -> URL (DLQs not listed).
        table_name: the results table.
    """

    queue_urls: dict[str, str]
    table_name: str


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
    """Create (or update) the app's queues, DLQs and results table at the configured endpoint.

    Raises:
        AwsError: the endpoint refused or is unreachable.
    """
    clients = AwsClients(app.settings)
    specs = queue_specs(app)
    urls = {spec.name: ensure_queue(clients, spec) for spec in specs}
    ensure_results_table(clients, app.settings.table_name)
    if app.periodic_tasks:  # issue 12
        dlq_urls = {spec.name: clients.call(f"reading the URL of {spec.dlq_name}", clients.sqs.get_queue_url,
                                            QueueName=spec.dlq_name)["QueueUrl"] for spec in specs}
        provision_schedules(app, clients, urls, dlq_urls)
    return Provisioned(queue_urls=urls, table_name=app.settings.table_name)


def provision_schedules(
    app: App, clients: AwsClients, queue_urls: Mapping[str, str], dlq_urls: Mapping[str, str]
) -> list[str]:
    """Create (or update) the app's schedule group and one schedule per periodic task, as the template declares them.

    The schedules' role is ``arn:aws:iam::<account>:role/<group>-scheduler``: the local AWS does not check it; on
    AWS, create that role (see the template's ``SchedulerRole``) or deploy the template instead.

    Args:
        app: the app.
        clients: AWS clients at the app's endpoint.
        queue_urls / dlq_urls: physical queue name -> its URL / its DLQ's URL.

    Returns:
        the schedule names, sorted.

    Raises:
        AwsError: a Scheduler or SQS call failed.
    """
    group = schedule_group(app.settings)
    ensure_schedule_group(clients, group)
    keyring = app.keyring
    for periodic in app.periodic_tasks.values():
        physical = app.queue_name(periodic.queue or periodic.task.queue)
        target = queue_arn(clients, queue_urls[physical])
        account = target.split(":")[4]
        role = f"arn:aws:iam::{account}:role/{group}-scheduler"
        request = create_request(periodic, group, target, queue_arn(clients, dlq_urls[physical]), role, keyring)
        ensure_schedule(clients, request)
    return sorted(app.periodic_tasks)
