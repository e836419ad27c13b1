"""`sqsq provision` creates exactly what the template declares: queue by queue, attribute by attribute."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

import sqsq
from sqsq.local.cloudformation import deploy_template, settings_exports
from sqsq.local.provision import provision
from sqsq.local.server import LocalAwsServer
from sqsq.template import render_template

COMPARED_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled", "MaximumMessageSize")


def _app(name: str) -> sqsq.App:
    app = sqsq.App(name)

    @app.task(name="fast", queue="fast")
    def fast() -> None: ...

    @app.task(name="slow", queue="slow", time_limit_seconds=200)
    def slow() -> None: ...

    app.declare_queue("batchy", batching_window_seconds=20)
    app.declare_queue("pollers", consumer="worker")
    return app


def _queue(sqs: Any, name: str) -> dict[str, Any]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    shape = {k: attrs.get(k) for k in COMPARED_QUEUE_ATTRIBUTES}
    if "RedrivePolicy" in attrs:
        redrive = json.loads(attrs["RedrivePolicy"])
        shape["maxReceiveCount"] = int(redrive["maxReceiveCount"])
        shape["deadLetterTarget"] = redrive["deadLetterTargetArn"].rsplit(":", 1)[1].removeprefix(name)
    return shape


def _table(ddb: Any, name: str) -> dict[str, Any]:
    table = ddb.describe_table(TableName=name)["Table"]
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    return {
        "KeySchema": table["KeySchema"],
        "BillingMode": table["BillingModeSummary"]["BillingMode"],
        "TTL": (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")),
        "PITR": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
    }


def test_provision_creates_the_queues_and_table_the_template_declares(local_aws: LocalAwsServer) -> None:
    name = f"pm{uuid.uuid4().hex[:6]}"
    stage = "t1"
    templated = _app(name)
    deploy_template(render_template(templated), local_aws.endpoint_url, parameters={"Stage": stage})
    provisioned = _app(name)
    provisioned.configure(endpoint_url=local_aws.endpoint_url, queue_prefix=f"{name}-prov-",
                          results_table=f"{name}-prov-results")
    provision(provisioned)

    sqs = boto3.client("sqs", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    ddb = boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    queues = templated.logical_queues()
    assert queues == ["batchy", "default", "fast", "pollers", "slow"]
    for logical in queues:
        for suffix in ("", "-dlq"):
            from_template = _queue(sqs, f"{name}-{stage}-{logical}{suffix}")
            from_provision = _queue(sqs, f"{name}-prov-{logical}{suffix}")
            assert from_provision == from_template, f"{logical}{suffix}"
    assert _table(ddb, f"{name}-prov-results") == _table(ddb, f"{name}-{stage}-results")
    # and the values are the ones AWS's guidance asks for: 6 x function timeout (+ window) for Lambda queues
    assert _queue(sqs, f"{name}-prov-slow")["VisibilityTimeout"] == str(6 * 210)
    assert _queue(sqs, f"{name}-prov-batchy")["VisibilityTimeout"] == str(6 * 60 + 20)
    assert _queue(sqs, f"{name}-prov-pollers")["VisibilityTimeout"] == "30"
    assert _queue(sqs, f"{name}-prov-fast")["SqsManagedSseEnabled"] == "true"
    assert _queue(sqs, f"{name}-prov-fast-dlq")["MessageRetentionPeriod"] == "1209600"
    assert _table(ddb, f"{name}-prov-results")["PITR"] == "ENABLED"


FIFO_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")


def _fifo_app(name: str) -> sqsq.App:
    app = sqsq.App(name)
    app.declare_queue("orders", fifo=True, deduplication_scope="messageGroup", fifo_throughput_limit="perMessageGroupId")
    app.declare_queue("ledger", fifo=True, consumer="worker")
    return app


def test_provision_creates_the_fifo_queues_and_dlqs_the_template_declares(local_aws: LocalAwsServer) -> None:
    name = f"pf{uuid.uuid4().hex[:6]}"
    stage = "t1"
    templated = _fifo_app(name)
    deploy_template(render_template(templated), local_aws.endpoint_url, parameters={"Stage": stage})
    provisioned = _fifo_app(name)
    provisioned.configure(endpoint_url=local_aws.endpoint_url, queue_prefix=f"{name}-prov-",
                          results_table=f"{name}-prov-results")
    provision(provisioned)
    provision(provisioned)  # again: idempotent (FifoQueue cannot be set on an existing queue)

    sqs = boto3.client("sqs", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")

    def shape(prefix: str, queue: str) -> dict[str, Any]:
        url = sqs.get_queue_url(QueueName=prefix + queue)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        found = {**_queue(sqs, prefix + queue), **{k: attrs.get(k) for k in FIFO_ATTRIBUTES}}
        if "deadLetterTarget" in found:  # the DLQ's name without the prefix (not without the queue's: .fifo ends both)
            target = json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
            found["deadLetterTarget"] = target.removeprefix(prefix)
        return found

    template_prefix, provision_prefix = f"{name}-{stage}-", f"{name}-prov-"
    for logical in ("orders", "ledger"):
        for suffix in ("", "-dlq"):
            from_template = shape(template_prefix, f"{logical}{suffix}.fifo")
            from_provision = shape(provision_prefix, f"{logical}{suffix}.fifo")
            assert from_provision == from_template, f"{logical}{suffix}"
            assert (from_provision["FifoQueue"], from_provision["ContentBasedDeduplication"]) == ("true", "false")
    orders = shape(provision_prefix, "orders.fifo")
    assert (orders["DeduplicationScope"], orders["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert orders["deadLetterTarget"] == "orders-dlq.fifo"


def _bucket(s3: Any, name: str) -> dict[str, Any]:
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    return {
        "encryption": s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0][
            "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "public_access_block": s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        "expiry_days": sorted((r.get("Filter", {}).get("Prefix", r.get("Prefix")), r["Expiration"]["Days"]) for r in rules),
    }


def test_provision_creates_the_payload_bucket_the_template_declares(local_aws: LocalAwsServer) -> None:
    name = f"pb{uuid.uuid4().hex[:6]}"
    stack = deploy_template(render_template(_app(name)), local_aws.endpoint_url, parameters={"Stage": "t1"})
    provisioned = _app(name)
    provisioned.configure(endpoint_url=local_aws.endpoint_url, queue_prefix=f"{name}-prov-",
                          results_table=f"{name}-prov-results", payload_bucket=f"{name}-prov-payloads")
    assert provision(provisioned).payload_bucket == f"{name}-prov-payloads"
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    from_provision = _bucket(s3, f"{name}-prov-payloads")
    assert _bucket(s3, stack.physical_ids["PayloadBucket"]) == from_provision
    assert settings_exports(stack)["SQSQ_PAYLOAD_BUCKET"] == stack.physical_ids["PayloadBucket"]  # what functions get
    assert from_provision == {
        "encryption": "AES256",
        "public_access_block": {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                                "RestrictPublicBuckets": True},
        "expiry_days": [("sqsq/messages/", 15), ("sqsq/results/", 2)],  # DLQ retention 14 d, results TTL 1 d, +1
    }
