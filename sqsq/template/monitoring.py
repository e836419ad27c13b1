"""The template's monitoring resources (issue 15): an alarm per queue on the age of its oldest message, and one
CloudWatch dashboard of the app's queues (the DLQ-not-empty alarms are :func:`sqsq.template.resources.queue_resources`).

Prices (us-east-1, at the time of writing; https://aws.amazon.com/cloudwatch/pricing/): a standard-resolution alarm
$0.10 a month (one per queue here, plus one per DLQ); a dashboard $3.00 a month beyond the free tier's three.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqsq.template.resources import get_att, sub

if TYPE_CHECKING:
    from sqsq.template.plan import QueuePlan

OLDEST_AGE_PARAMETER = "OldestMessageAgeAlarmSeconds"
DEFAULT_OLDEST_AGE_ALARM_SECONDS = 900


def monitoring_parameters() -> dict[str, Any]:
    """The template parameter of the oldest-message alarms' threshold."""
    return {OLDEST_AGE_PARAMETER: {
        "Type": "Number", "Default": DEFAULT_OLDEST_AGE_ALARM_SECONDS, "MinValue": 60,
        "Description": "Alarm when a queue's oldest message is older than this many seconds (consumers behind)",
    }}


def _oldest_age_alarm(plan: QueuePlan, prefix: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(f"{prefix}{plan.logical}-oldest-message-age"),
            "AlarmDescription": sub(f"The oldest message of {prefix}{plan.logical} waits longer than the threshold: "
                                    "consumers are behind or stopped (see `sqsq dashboard` / `sqsq top`)"),
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Dimensions": [{"Name": "QueueName", "Value": get_att(f"{plan.resource_id}Queue", "QueueName")}],
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 5,
            "Threshold": {"Ref": OLDEST_AGE_PARAMETER},
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
        },
    }


def _widget(title: str, metric: str, queues: list[tuple[str, str]], y: int) -> dict[str, Any]:
    return {"type": "metric", "x": 0, "y": y, "width": 24, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "stat": "Maximum", "period": 60, "view": "timeSeries",
        "metrics": [["AWS/SQS", metric, "QueueName", name] for _, name in queues],
    }}


def dashboard(plans: Sequence[QueuePlan], prefix: str, dlq_suffix: str) -> dict[str, Any]:
    """An AWS::CloudWatch::Dashboard: depth, oldest age and DLQ depth of every queue (by the queues' physical names,
    ``.fifo`` ending a FIFO queue's and its DLQ's, as :func:`sqsq.template.resources.queue_resources` names them)."""
    queues = [(p.logical, f"{prefix}{p.logical}{p.name_suffix}") for p in plans]
    dlqs = [(p.logical, f"{prefix}{p.logical}{dlq_suffix}{p.name_suffix}") for p in plans]
    body = {"widgets": [
        _widget("Messages visible", "ApproximateNumberOfMessagesVisible", queues, 0),
        _widget("Age of oldest message (s)", "ApproximateAgeOfOldestMessage", queues, 6),
        _widget("Dead letters", "ApproximateNumberOfMessagesVisible", dlqs, 12),
    ]}
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": sub(f"{prefix}queues"), "DashboardBody": sub(json.dumps(body, separators=(",", ":"))),
    }}


def monitoring_resources(plans: Sequence[QueuePlan], prefix: str, dlq_suffix: str) -> dict[str, Any]:
    """The oldest-message alarm of every queue and the app's dashboard, by logical id."""
    out = {f"{p.resource_id}OldestMessageAlarm": _oldest_age_alarm(p, prefix) for p in plans}
    out["QueuesDashboard"] = dashboard(plans, prefix, dlq_suffix)
    return out
