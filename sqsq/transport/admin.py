"""Creating queues and the results table: used by `sqsq provision` and `sqsq local`, never by runtime code.

The shapes match what ``template.yaml`` declares (the caller passes the same attributes the template renders, see
:mod:`sqsq.local.provision`): each queue has a dead-letter queue and a redrive policy; the results table is keyed
by ``task_id``, on-demand, with TTL on ``expires_at`` and point-in-time recovery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq import limits
from sqsq.results import index
from sqsq.transport.aws import AwsClients, wrap_boto_error


@dataclass(frozen=True)
class QueueSpec:
    """A queue to create.

    Attributes:
        name: physical queue name.
        dlq_name: its dead-letter queue's name.
        max_receive_count: redrive policy maxReceiveCount (>= 1).
        visibility_timeout_seconds: VisibilityTimeout, 0-43,200.
        max_message_size_bytes: MaximumMessageSize, 1,024-1,048,576.
        attributes: further queue attributes as SQS takes them (``MessageRetentionPeriod``,
            ``SqsManagedSseEnabled``, ...).
        dlq_attributes: the dead-letter queue's attributes.
    """

    name: str
    dlq_name: str
    max_receive_count: int = 5
    visibility_timeout_seconds: int = 30
    max_message_size_bytes: int = limits.SQS_DEFAULT_MAX_MESSAGE_SIZE_BYTES
    attributes: dict[str, str] = field(default_factory=dict)
    dlq_attributes: dict[str, str] = field(default_factory=dict)


def ensure_queue(clients: AwsClients, spec: QueueSpec) -> str:
    """Create the DLQ and the queue with its redrive policy (idempotent: attributes are set again).

    Returns:
        The queue URL.

    Raises:
        AwsError: the endpoint refused (EndpointUnreachable when nothing answers).
    """
    sqs = clients.sqs
    try:
        dlq_url = _create_or_update(sqs, spec.dlq_name, spec.dlq_attributes)
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {
            **spec.attributes,
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MaximumMessageSize": str(spec.max_message_size_bytes),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}),
        }
        return _create_or_update(sqs, spec.name, attributes)
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, f"creating queue {spec.name!r}", clients.describe_endpoint()) from exc


def _create_or_update(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    """CreateQueue, or SetQueueAttributes when it exists with other attributes; returns the URL."""
    try:
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        settable = {k: v for k, v in attributes.items() if k != "FifoQueue"}  # fixed at creation (the name says it)
        if settable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
    return url


def ensure_results_table(clients: AwsClients, table_name: str) -> None:
    """Create the results table (on-demand, key ``task_id``), enable TTL on ``expires_at`` and point-in-time
    recovery (idempotent).

    Raises:
        AwsError: the endpoint refused.
    """
    ddb = clients.dynamodb
    try:
        try:
            ddb.create_table(
                TableName=table_name,
                KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
                AttributeDefinitions=index.attribute_definitions(),
                GlobalSecondaryIndexes=[index.global_secondary_index()],
                BillingMode="PAY_PER_REQUEST",
            )
            ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        _ensure_task_index(ddb, table_name)
        ttl = ddb.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
            )
        ddb.update_continuous_backups(
            TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, f"creating table {table_name!r}", clients.describe_endpoint()) from exc


def ensure_payload_bucket(clients: AwsClients, bucket: str, expiry_days: dict[str, int]) -> None:
    """Create the payload bucket as the template declares it (idempotent): default encryption SSE-S3, all four
    public-access blocks on, a lifecycle rule expiring each prefix after ``expiry_days[prefix]`` days.

    The bucket policy refusing non-TLS requests is the template's alone (the local AWS speaks plain HTTP).

    Raises:
        AwsError: the endpoint refused (BucketAlreadyExists: the name is another account's; choose another).
    """
    s3 = clients.client("s3")
    try:
        try:
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if clients.settings.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": clients.settings.region}
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        rules = [{"ID": f"expire-{prefix.strip('/').replace('/', '-')}", "Status": "Enabled",
                  "Filter": {"Prefix": prefix}, "Expiration": {"Days": days}} for prefix, days in expiry_days.items()]
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, f"creating bucket {bucket!r}", clients.describe_endpoint()) from exc


def _ensure_task_index(ddb: Any, table_name: str) -> None:
    """Add the task index (:mod:`sqsq.results.index`) to a table created before it existed (UpdateTable)."""
    table = ddb.describe_table(TableName=table_name)["Table"]
    if any(g["IndexName"] == index.INDEX_NAME for g in table.get("GlobalSecondaryIndexes", [])):
        return
    ddb.update_table(
        TableName=table_name,
        AttributeDefinitions=index.attribute_definitions(),
        GlobalSecondaryIndexUpdates=[{"Create": index.global_secondary_index()}],
    )
