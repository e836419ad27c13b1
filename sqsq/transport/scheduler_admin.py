"""EventBridge Scheduler calls for periodic tasks (issue 12): schedule groups, create/update, list, get.

The only code that talks to the Scheduler API for periodic tasks (layer 2). Every call goes through
:meth:`sqsq.transport.aws.AwsClients.call`, so botocore errors arrive as :class:`sqsq.errors.AwsError` with their
AWS code (``ResourceNotFoundException``, ``ConflictException``...).
https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Operations.html
"""

from __future__ import annotations

from typing import Any

from sqsq.errors import AwsError
from sqsq.transport.aws import AwsClients

__all__ = ["ensure_schedule", "ensure_schedule_group", "get_schedule", "list_schedule_names", "queue_arn"]


def _scheduler(clients: AwsClients) -> Any:
    return clients.client("scheduler")


def ensure_schedule_group(clients: AwsClients, name: str) -> bool:
    """Create the schedule group unless it exists.

    Returns:
        True when it was created.

    Raises:
        AwsError: the call failed.
    """
    scheduler = _scheduler(clients)
    try:
        clients.call(f"reading schedule group {name!r}", scheduler.get_schedule_group, Name=name)
        return False
    except AwsError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
    clients.call(f"creating schedule group {name!r}", scheduler.create_schedule_group, Name=name)
    return True


def ensure_schedule(clients: AwsClients, request: dict[str, Any]) -> str:
    """Create the schedule, or update it when one of that name exists in its group (idempotent).

    Args:
        clients: the AWS clients.
        request: CreateSchedule's request (``Name``, ``GroupName``, ``ScheduleExpression``, ``Target``...).

    Returns:
        ``"created"`` or ``"updated"``.

    Raises:
        AwsError: the call failed.
    """
    scheduler = _scheduler(clients)
    name = request["Name"]
    try:
        clients.call(f"creating schedule {name!r}", scheduler.create_schedule, **request)
        return "created"
    except AwsError as exc:
        if exc.code != "ConflictException":
            raise
    clients.call(f"updating schedule {name!r}", scheduler.update_schedule, **request)
    return "updated"


def list_schedule_names(clients: AwsClients, group: str) -> list[str]:
    """Names of the schedules in ``group`` (ListSchedules, every page), sorted.

    Raises:
        AwsError: the call failed (``ResourceNotFoundException``: no such group).
    """
    scheduler = _scheduler(clients)
    names: list[str] = []
    token: str | None = None
    while True:
        page = clients.call(f"listing schedules of group {group!r}", scheduler.list_schedules, GroupName=group,
                            **({"NextToken": token} if token else {}))
        names.extend(s["Name"] for s in page.get("Schedules", []))
        token = page.get("NextToken")
        if not token:
            return sorted(names)


def get_schedule(clients: AwsClients, group: str, name: str) -> dict[str, Any]:
    """GetSchedule's answer for one schedule (``ScheduleExpression``, ``ScheduleExpressionTimezone``, ``State``...).

    Raises:
        AwsError: the call failed.
    """
    answer: dict[str, Any] = clients.call(f"reading schedule {name!r}", _scheduler(clients).get_schedule,
                                          GroupName=group, Name=name)
    return answer


def queue_arn(clients: AwsClients, queue_url: str) -> str:
    """The ARN of the queue at ``queue_url`` (GetQueueAttributes QueueArn).

    Raises:
        AwsError: the call failed.
    """
    answer = clients.call(f"reading the ARN of {queue_url}", clients.sqs.get_queue_attributes, QueueUrl=queue_url,
                          AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])
