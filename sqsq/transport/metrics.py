"""Reading one CloudWatch metric (monitoring: the age of a queue's oldest message, which SQS only publishes there).

GetMetricStatistics: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
(SQS metrics arrive at 1-minute granularity, a few minutes late).
"""

from __future__ import annotations

import datetime as dt

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.transport.aws import AwsClients, wrap_boto_error


def max_metric_value(
    clients: AwsClients, namespace: str, metric: str, dimension: str, value: str, *, window_seconds: int, now: float
) -> float | None:
    """The Maximum of ``metric`` over the last ``window_seconds`` (60 s periods), or None without datapoints.

    Raises:
        AwsError: CloudWatch refused or is unreachable.
    """
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    try:
        response = clients.client("cloudwatch", read_timeout_seconds=5).get_metric_statistics(
            Namespace=namespace, MetricName=metric, Dimensions=[{"Name": dimension, "Value": value}],
            StartTime=end - dt.timedelta(seconds=window_seconds), EndTime=end, Period=60, Statistics=["Maximum"],
        )
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, f"reading {namespace} {metric}", clients.describe_endpoint()) from exc
    points = [p["Maximum"] for p in response.get("Datapoints", [])]
    return float(max(points)) if points else None
