"""The template's scheduling resources (issue 12): a schedule group, the scheduler's role, one schedule per
periodic task, and what senders need to create one-time schedules.

Per app and stage (whenever the app has queues, with or without periodic tasks: any send due past 900 s, and any
retry past 12 hours, creates a one-time schedule in the same group with the same role):

* ``SchedulesGroup``: an ``AWS::Scheduler::ScheduleGroup`` named ``<app>-<Stage>`` (the default
  ``schedule_group`` of the consumers' settings: their queue prefix without its ``-``);
* ``SchedulerRole``: the role EventBridge Scheduler assumes (``scheduler.amazonaws.com``, only for schedules of
  this account), allowed nothing but ``sqs:SendMessage`` to the app's queues and their DLQs (the scheduler's
  dead-letter target);
* :func:`sender_statements` / :func:`sender_environment`: what every function and service that sends or retries
  gets: ``scheduler:CreateSchedule``/``DeleteSchedule``/``GetSchedule`` on the group's schedules,
  ``iam:PassRole`` on the role (only to EventBridge Scheduler) and ``SQSQ_SCHEDULER_ROLE_ARN``;
* per ``app.schedule(...)``: an ``AWS::Scheduler::Schedule`` in that group: the task's ScheduleExpression and
  ScheduleExpressionTimezone, FlexibleTimeWindow as declared, the queue as its SQS target with the envelope as
  Input (:meth:`sqsq.scheduling.periodic.PeriodicTask.input`),
  :data:`sqsq.scheduling.periodic.RETRY_POLICY`, and the queue's DLQ as its DeadLetterConfig.

https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-scheduler-schedule.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqsq.errors import ConfigError
from sqsq.scheduling.periodic import RETRY_POLICY
from sqsq.template.naming import logical_id
from sqsq.template.resources import get_att, sub

if TYPE_CHECKING:
    from sqsq.app import App

__all__ = [
    "GROUP_RESOURCE",
    "ROLE_RESOURCE",
    "schedule_group_name",
    "schedule_resources",
    "sender_environment",
    "sender_statements",
]

GROUP_RESOURCE = "SchedulesGroup"
ROLE_RESOURCE = "SchedulerRole"


def schedule_group_name(app_name: str, stage: str = "${Stage}") -> str:
    """The app's schedule group: ``<app>-<stage>`` (``${Stage}`` in the template)."""
    return f"{app_name}-{stage}"


def schedule_resources(app: App, queue_ids: dict[str, str]) -> dict[str, Any]:
    """The group and role of ``app`` (whenever it has queues) and one schedule per periodic task.

    Args:
        app: the app (its ``periodic_tasks``; its keyring signs the Inputs when signing is on).
        queue_ids: logical queue name -> the queue's resource id stem (``"Files"`` for ``FilesQueue``); the role
            may send to each of these queues and its DLQ.

    Returns:
        ``{}`` without queues; else ``SchedulesGroup``, ``SchedulerRole`` and a ``<Name>Schedule`` per periodic task.

    Raises:
        ConfigError: two schedule names map to one logical id.
    """
    if not queue_ids:
        return {}
    group = schedule_group_name(app.name)
    keyring = app.keyring
    schedules: dict[str, Any] = {}
    for p in app.periodic_tasks.values():
        logical = p.queue or p.task.queue or app.settings.default_queue
        qid = queue_ids[logical]
        rid = f"{logical_id(p.name)}Schedule"
        if rid in schedules:
            raise ConfigError(f"periodic task {p.name!r} maps to logical id {rid}, as another does; rename one")
        schedules[rid] = {
            "Type": "AWS::Scheduler::Schedule",
            "DependsOn": GROUP_RESOURCE,
            "Properties": {
                "Name": p.name,
                "GroupName": sub(group),
                "Description": f"sqsq periodic task {p.task.name} ({p.schedule.expression})",
                "ScheduleExpression": p.schedule.expression,
                "ScheduleExpressionTimezone": p.schedule.timezone,
                "FlexibleTimeWindow": p.flexible_time_window(),
                "State": "ENABLED",
                "Target": {
                    "Arn": get_att(f"{qid}Queue", "Arn"),
                    "RoleArn": get_att(ROLE_RESOURCE, "Arn"),
                    "Input": p.input(keyring),
                    "RetryPolicy": dict(RETRY_POLICY),
                    "DeadLetterConfig": {"Arn": get_att(f"{qid}DeadLetterQueue", "Arn")},
                },
            },
        }
    targets = [f"{qid}{kind}" for qid in queue_ids.values() for kind in ("Queue", "DeadLetterQueue")]
    return {GROUP_RESOURCE: _group(group), ROLE_RESOURCE: _role(targets), **schedules}


def sender_statements(app_name: str) -> list[dict[str, Any]]:
    """IAM statements of a function or service that sends or retries: create, delete and read the one-time
    schedules of the app's group, and pass :data:`ROLE_RESOURCE` to EventBridge Scheduler (and to nothing else).

    CreateSchedule needs ``iam:PassRole`` on the target's role
    (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).
    """
    schedules = sub(
        "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/" + schedule_group_name(app_name)
        + "/*"
    )
    return [
        {
            "Sid": "ScheduleLongDelays",
            "Effect": "Allow",
            "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
            "Resource": schedules,
        },
        {
            "Sid": "PassSchedulerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": get_att(ROLE_RESOURCE, "Arn"),
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        },
    ]


def sender_environment() -> dict[str, Any]:
    """The variables a sender needs for sends due past 900 s: ``SQSQ_SCHEDULER_ROLE_ARN`` (the group needs none:
    it is the default ``schedule_group`` of the template's ``SQSQ_QUEUE_PREFIX``)."""
    return {"SQSQ_SCHEDULER_ROLE_ARN": get_att(ROLE_RESOURCE, "Arn")}


def _group(name: str) -> dict[str, Any]:
    return {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": sub(name)}}


def _role(queue_resources: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    # only schedules of this account may use the role (confused-deputy guard)
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }],
            },
            "Policies": [{
                "PolicyName": "send-scheduled-tasks",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": "sqs:SendMessage",
                        "Resource": [get_att(r, "Arn") for r in queue_resources],
                    }],
                },
            }],
        },
    }
