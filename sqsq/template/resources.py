"""The template's resources, one builder per kind: queues, the results table, the consumer role, functions, layer.

Each builder returns plain dicts with long-form intrinsics (``Fn::Sub``, ``Fn::GetAtt``, ``Ref``), so the output is
plain YAML. Names follow :class:`sqsq.config.Settings` with the queue prefix ``<app>-<Stage>-``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqsq.results import index

if TYPE_CHECKING:
    from sqsq.template.plan import QueuePlan


def sub(text: str) -> dict[str, str]:
    """``{"Fn::Sub": text}``."""
    return {"Fn::Sub": text}


def get_att(resource_id: str, attribute: str) -> dict[str, list[str]]:
    """``{"Fn::GetAtt": [resource_id, attribute]}``."""
    return {"Fn::GetAtt": [resource_id, attribute]}


def queue_resources(plan: QueuePlan, prefix: str, dlq_suffix: str) -> dict[str, Any]:
    """A queue, its dead-letter queue (both SSE) and an alarm on the DLQ holding any message."""
    qid, q = plan.resource_id, plan.logical
    queue_res, dlq_res = f"{qid}Queue", f"{qid}DeadLetterQueue"
    return {
        dlq_res: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub(f"{prefix}{q}{dlq_suffix}{plan.name_suffix}"), **plan.dead_letter_queue_attributes(),
            },
        },
        queue_res: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub(f"{prefix}{q}{plan.name_suffix}"),
                **plan.queue_attributes({"Ref": "MaxReceiveCount"}, get_att(dlq_res, "Arn")),
            },
        },
        f"{qid}DeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": sub(f"{prefix}{q}{dlq_suffix}{plan.name_suffix}-not-empty"),
                "AlarmDescription": sub(
                    f"Messages in the dead-letter queue of {prefix}{q}: inspect with `sqsq dlq`, then redrive"
                ),
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": get_att(dlq_res, "QueueName")}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
            },
        },
    }


def results_table(table_name: str) -> dict[str, Any]:
    """The results table: on demand, key ``task_id``, TTL on ``expires_at``, point-in-time recovery, retained."""
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "TableName": sub(table_name),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": index.attribute_definitions(),
            "KeySchema": [{"AttributeName": "task_id", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [index.global_secondary_index()],  # the task index (issue 15)
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    }


def payload_bucket(expiry_days: dict[str, int]) -> dict[str, Any]:
    """The S3 bucket for payloads past SQS's and DynamoDB's limits (:mod:`sqsq.payloads`): SSE-S3, every public
    access block on, owner-enforced object ownership, and lifecycle rules expiring each prefix (sqsq deletes message
    objects itself; the rules are the backstop, and what deletes results after their TTL). Name chosen by
    CloudFormation (bucket names are global); the consumers get it as ``SQSQ_PAYLOAD_BUCKET``. Retained on stack
    deletion, as the results table is."""
    rules = [{"Id": f"expire-{prefix.strip('/').replace('/', '-')}", "Status": "Enabled", "Prefix": prefix,
              "ExpirationInDays": days, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
             for prefix, days in expiry_days.items()]
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": rules},
        },
    }


def payload_bucket_policy() -> dict[str, Any]:
    """The payload bucket's policy: every request without TLS is denied (aws:SecureTransport false)."""
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "PayloadBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [get_att("PayloadBucket", "Arn"), sub("${PayloadBucket.Arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }]},
        },
    }


def log_group(name: str) -> dict[str, Any]:
    """A log group kept 30 days and deleted with the stack."""
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": sub(name), "RetentionInDays": 30},
    }


DLQ_SWEEP_SCHEDULE = "rate(1 minute)"
"""How often each function sweeps its queue's DLQ (EventBridge Scheduler; about 43,000 invocations a month)."""

CONSUMER_ACTIONS = {
    "ConsumeQueues": ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                      "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"),
    "DeadLetterQueues": ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                         "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"),
    "RecordResults": ("dynamodb:GetItem", "dynamodb:PutItem"),
    "Payloads": ("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
}
"""A consumer's calls, by statement. On its queues: GetQueueUrl + GetQueueAttributes (queue_info, depth),
ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch, and SendMessageBatch of a rescued copy
(:mod:`sqsq.rescue`). On the DLQs: SendMessageBatch when it dead-letters a message itself, and the DLQ sweep's
reads, deletes and visibility changes (:mod:`sqsq.sweep`). On the table: conditional PutItem (results, claims,
markers) and GetItem. On the payload bucket's ``sqsq/`` prefix (:mod:`sqsq.payloads`): GetObject of an offloaded body,
DeleteObject once it is acknowledged, PutObject of a result past DynamoDB's item size. Batch calls are authorised by
the single-message actions."""


def consumer_statements(queue_ids: Sequence[str]) -> list[dict[str, Any]]:
    """What a consumer does to its queues and the table: receive/delete/extend, move to DLQs, read/write results.

    Shared by the Lambda role and the Fargate task role, so both grant exactly :data:`CONSUMER_ACTIONS`.

    Args:
        queue_ids: the queues' id stems (``"Images"`` for ``ImagesQueue``/``ImagesDeadLetterQueue``).
    """
    where = {
        "ConsumeQueues": [get_att(f"{qid}Queue", "Arn") for qid in queue_ids],
        "DeadLetterQueues": [get_att(f"{qid}DeadLetterQueue", "Arn") for qid in queue_ids],
        "RecordResults": get_att("ResultsTable", "Arn"),
        "Payloads": sub("${PayloadBucket.Arn}/sqsq/*"),
    }
    return [
        {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": where[sid]}
        for sid, actions in CONSUMER_ACTIONS.items()
    ]


def signing_keys_statement(parameter: str | None, secret: str | None) -> dict[str, Any] | None:
    """Read access to exactly the parameter or secret holding the signing keys, or ``None`` when neither is given.

    SSM: ``ssm:GetParameter`` on ``arn:...:parameter/<name>`` (a SecureString under the AWS-managed ``aws/ssm`` key
    needs no KMS grant; a customer-managed key also needs ``kms:Decrypt``). Secrets Manager: ``GetSecretValue``
    on the secret; a name becomes ``secret:<name>-??????`` (AWS appends six random characters to a secret's ARN,
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html).
    """
    if parameter is not None:
        arn: Any = parameter if parameter.startswith("arn:") else sub(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/" + parameter.lstrip("/")
        )
        return {"Sid": "ReadSigningKeys", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": arn}
    if secret is not None:
        arn = secret if secret.startswith("arn:") else sub(
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + secret + "-??????"
        )
        return {"Sid": "ReadSigningKeys", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": arn}
    return None


def consumer_role(plans: Sequence[QueuePlan], extra_statements: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The Lambda consumers' role: :func:`consumer_statements` on their queues plus writing their own logs (plus
    ``extra_statements``, e.g. :func:`signing_keys_statement`)."""
    statements = [
        *consumer_statements([p.resource_id for p in plans]),
        *extra_statements,
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [get_att(f"{p.resource_id}FunctionLogGroup", "Arn") for p in plans],
        },
    ]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "Policies": [
                {
                    "PolicyName": "sqsq-consumer",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def dependencies_layer(layer_name: str, layer_uri: str, runtime: str) -> dict[str, Any]:
    """The layer ``sam build`` fills from ``<layer_uri>/requirements.txt`` (sqsq with its lambda extra)."""
    return {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "LayerName": sub(layer_name),
            "Description": "sqsq and its Lambda dependencies (sam build installs the folder's requirements.txt)",
            "ContentUri": layer_uri,
            "CompatibleRuntimes": [runtime],
            "RetentionPolicy": "Delete",
        },
        "Metadata": {"BuildMethod": runtime},
    }


def consumer_function(
    plan: QueuePlan,
    function_name: str,
    *,
    code_uri: str,
    handler: str,
    runtime: str,
    environment: dict[str, Any],
) -> dict[str, Any]:
    """One queue's SQS-triggered function, sized by its plan, with partial batch responses."""
    qid = plan.resource_id
    return {
        "Type": "AWS::Serverless::Function",
        "DependsOn": [f"{qid}FunctionLogGroup"],
        "Properties": {
            "FunctionName": sub(function_name),
            "CodeUri": code_uri,
            "Handler": handler,
            "Runtime": runtime,
            "MemorySize": plan.memory_size_mb,
            "Timeout": plan.function_timeout_seconds,
            "Role": get_att("ConsumerRole", "Arn"),
            "Layers": [{"Ref": "DependenciesLayer"}],
            "Environment": {"Variables": environment},
            "Events": {
                f"{qid}Messages": {
                    "Type": "SQS",
                    "Properties": {
                        "Queue": get_att(f"{qid}Queue", "Arn"),
                        "BatchSize": plan.batch_size,
                        # Lambda supports no batching window on a FIFO queue: left out there
                        **({} if plan.fifo else {"MaximumBatchingWindowInSeconds": plan.batching_window_seconds}),
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        "ScalingConfig": {"MaximumConcurrency": plan.maximum_concurrency},
                    },
                },
                # EventBridge Scheduler invokes the function with a sweep event: what SQS's redrive moved to the
                # DLQ without an outcome is rescued or recorded within a minute (sqsq.sweep); an empty DLQ costs
                # one GetQueueAttributes.
                f"{qid}DeadLetterSweep": {
                    "Type": "ScheduleV2",
                    "Properties": {
                        # Named per stack: schedule names are unique per schedule group and account.
                        "Name": sub(f"{function_name}-dlq-sweep"),  # within 64: see render.longest_stage
                        "ScheduleExpression": DLQ_SWEEP_SCHEDULE,
                        "Description": f"sqsq: sweep the DLQ of queue {plan.logical!r}",
                        "Input": json.dumps({"sqsq": "sweep", "queues": [plan.logical]}),
                    },
                },
            },
        },
    }
