"""The template's periodic tasks (issue 12): a schedule group, the scheduler's role, one schedule per task.

Per app and stage:

* ``SchedulesGroup``: an ``AWS::Scheduler::ScheduleGroup`` named ``<app>-<Stage>``;
* ``SchedulerRole``: the role EventBridge Scheduler assumes (``scheduler.amazonaws.com``, only for schedules of
  this account), allowed nothing but ``sqs:SendMessage`` to the periodic tasks' queues and their DLQs (the
  scheduler's dead-letter target);
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

__all__ = ["GROUP_RESOURCE", "ROLE_RESOURCE", "schedule_group_name", "schedule_resources"]

GROUP_RESOURCE = "SchedulesGroup"
ROLE_RESOURCE = "SchedulerRole"


def schedule_group_name(app_name: str, stage: str = "${Stage}") -> str:
    """The app's schedule group: ``<app>-<stage>`` (``${Stage}`` in the template)."""
    return f"{app_name}-{stage}"


def schedule_resources(app: App, queue_ids: dict[str, str]) -> dict[str, Any]:
    """The group, role and schedules of ``app``'s periodic tasks; empty when it declares none.

    Args:
        app: the app (its ``periodic_tasks``; its keyring signs the Inputs when signing is on).
        queue_ids: logical queue name -> the queue's resource id stem (``"Files"`` for ``FilesQueue``).

    Raises:
        ConfigError: two schedule names map to one logical id.
    """
    periodic = list(app.periodic_tasks.values())
    if not periodic:
        return {}
    group = schedule_group_name(app.name)
    keyring = app.keyring
    schedules: dict[str, Any] = {}
    targets: list[str] = []
    for p in periodic:
        logical = p.queue or p.task.queue or app.settings.default_queue
        qid = queue_ids[logical]
        rid = f"{logical_id(p.name)}Schedule"
        if rid in schedules:
            raise ConfigError(f"periodic task {p.name!r} maps to logical id {rid}, as another does; rename one")
        for resource in (f"{qid}Queue", f"{qid}DeadLetterQueue"):
            if resource not in targets:
                targets.append(resource)
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
    return {GROUP_RESOURCE: _group(group), ROLE_RESOURCE: _role(targets), **schedules}


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
                "PolicyName": "send-periodic-tasks",
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
