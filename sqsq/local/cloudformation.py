"""Deploy a SAM template (``template.yaml``) into the local AWS (moto server) as a CloudFormation stack.

``sam deploy`` against moto reports success while dropping the function (moto ignores the
``AWS::Serverless-2016-10-31`` transform), so sqsq does the transform itself, offline, with aws-sam-translator
and sends plain CloudFormation to moto's CreateStack over HTTP. Then it puts back what moto's CloudFormation
silently skips, checked against moto 5.2.5's resource handlers:

* ``AWS::DynamoDB::Table``: ``TimeToLiveSpecification`` and ``PointInTimeRecoverySpecification`` are ignored
  -> UpdateTimeToLive and UpdateContinuousBackups are called;
* ``AWS::SQS::Queue``: attributes are compared after creation and any that differ are set again
  (SetQueueAttributes), so the queues match the template exactly;
* ``AWS::Scheduler::Schedule`` (the DLQ sweep schedules, the periodic tasks) and ``AWS::Scheduler::ScheduleGroup``:
  not created -> CreateScheduleGroup, CreateSchedule; the local scheduler (:mod:`sqsq.local.scheduler`) fires the
  ones with SQS targets (periodic tasks); the sweep schedules, whose target is a function, are not fired;
* ``AWS::Lambda::EventSourceMapping``: created *disabled*. An enabled mapping makes moto invoke the function
  inside SendMessage (which needs Docker) and delete the messages; in sqsq the local event source mapping
  (:mod:`sqsq.local.esm`) plays that part, reading the same settings from the template;
* ``AWS::Serverless::Function``: its ``CodeUri`` (a local folder) is replaced by a one-line ``InlineCode``
  placeholder before the transform, so no S3 upload is needed; moto never runs it;
* ``AWS::Serverless::LayerVersion`` (the dependencies layer) is left out, with the functions' ``Layers``: locally
  the handler runs in this Python environment, which has the dependencies already;
* ECS clusters, task definitions, services, security group egress and Application Auto Scaling targets and
  policies (the Fargate worker section): see :mod:`sqsq.local.cfn_ecs`.

Example:
    >>> stack = deploy_template("template.yaml", "http://127.0.0.1:4566", parameters={"Stage": "dev"})  # doctest: +SKIP
    >>> stack.outputs["ResultsTableName"]
    'census-dev-results'
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqsq.config import load_settings
from sqsq.errors import AwsError, ConfigError
from sqsq.extras import require
from sqsq.local.cfn_ecs import apply_ecs_gaps
from sqsq.local.cfn_s3 import ensure_bucket_settings
from sqsq.template import Resolver, load_template, sqs_functions
from sqsq.transport.aws import AwsClients

log = logging.getLogger("sqsq.local.cloudformation")

LOCAL_ACCOUNT_ID = "123456789012"
"""moto's default account id."""
INLINE_CODE_PLACEHOLDER = (
    "# Placeholder: on the local AWS this function runs in-process under `sqsq lambda-local` (handler {handler}).\n"
)


class StackDeployFailed(AwsError):
    """CreateStack/UpdateStack on the local AWS did not complete (the message carries the stack events)."""


@dataclass(frozen=True)
class DeployedStack:
    """A stack created from a template on the local AWS.

    Attributes:
        stack_name: the stack's name.
        parameters: the parameter values it was created with (defaults filled in).
        outputs: Outputs by key.
        physical_ids: logical id -> physical id (queue URL, table name, function name, ...).
        applied: what sqsq set after the stack was created because moto's CloudFormation skipped it.
        template: the SAM template that was deployed (long-form intrinsics).
    """

    stack_name: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    applied: list[str] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)


class _OfflineSession:
    """What aws-sam-translator reads from a boto3 session: only the region. No credentials, no network."""

    def __init__(self, region_name: str):
        self.region_name = region_name


def _no_managed_policy_names() -> dict[str, str]:
    raise ConfigError(
        "the template names an IAM managed policy by name; offline translation cannot look names up. "
        "Use the policy's full ARN (arn:aws:iam::aws:policy/...) or an inline policy"
    )


def translate_sam(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """Transform a SAM template to plain CloudFormation offline (aws-sam-translator, no AWS credentials).

    ``CodeUri`` of each function is replaced by an ``InlineCode`` placeholder first (local runs do not upload code).

    Args:
        template: the SAM template (long-form intrinsics).
        parameters: parameter values for the transform (pseudo parameters are filled from ``region``).
        region: region for ARNs the transform builds.

    Returns:
        The CloudFormation template.

    Raises:
        ConfigError: the template is not valid SAM (its messages included).
        MissingExtra: aws-sam-translator is not installed (``pip install "sqsq[local]"``).
    """
    require("deploying a SAM template on the local AWS", "samtranslator")
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(dict(template))
    resources = sam.get("Resources") or {}
    for layer in [k for k, r in resources.items() if r.get("Type") == "AWS::Serverless::LayerVersion"]:
        del resources[layer]
    for res in resources.values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.get("Properties", {}).pop("Layers", None)
            props = res.setdefault("Properties", {})
            if "CodeUri" in props:
                props.pop("CodeUri")
                props["InlineCode"] = INLINE_CODE_PLACEHOLDER.format(handler=props.get("Handler", "?"))
    translator = Translator(None, Parser(), boto_session=_OfflineSession(region))
    values: dict[str, Any] = {"AWS::Region": region, "AWS::AccountId": LOCAL_ACCOUNT_ID, "AWS::Partition": "aws"}
    values.update(parameters or {})
    try:
        out: dict[str, Any] = translator.translate(
            sam, parameter_values=values, get_managed_policy_map=_no_managed_policy_names
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(str(c) for c in exc.causes)
        raise ConfigError(f"template is not valid SAM: {causes}") from exc
    return out


def _disable_event_source_mappings(cfn: dict[str, Any]) -> list[str]:
    disabled = []
    for rid, res in (cfn.get("Resources") or {}).items():
        if res.get("Type") == "AWS::Lambda::EventSourceMapping":
            res.setdefault("Properties", {})["Enabled"] = False
            disabled.append(rid)
    return disabled


def deploy_template(
    template: str | Path | Mapping[str, Any],
    endpoint_url: str,
    *,
    stack_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
    region: str | None = None,
) -> DeployedStack:
    """Create (or update) a stack from a SAM template on the local AWS, then apply what moto skips.

    Args:
        template: path, YAML text or dict of the SAM template.
        endpoint_url: the local AWS endpoint (``http://127.0.0.1:4566``).
        stack_name: default ``<app>-<Stage>`` as the generated samconfig.toml names it (the app from the
            consumers' ``SQSQ_APP_NAME``, else ``sqsq``; without a Stage parameter, just the app).
        parameters: parameter values (strings, as CloudFormation takes them); others take their Default.
        region: default from the environment (``AWS_REGION``), else us-east-1.

    Returns:
        What was deployed, with outputs and physical ids.

    Raises:
        ConfigError: the template is not valid SAM.
        StackDeployFailed: CloudFormation reported a failed create/update (with the stack events' reasons).
        AwsError: the endpoint refused a call (EndpointUnreachable when nothing answers).
    """
    sam = load_template(template)
    settings = load_settings(endpoint_url=endpoint_url, region=region)
    region_name = settings.region
    params = {k: str(v) for k, v in (parameters or {}).items()}
    resolver = Resolver(sam, params, region=region_name, account_id=LOCAL_ACCOUNT_ID)
    all_params = {k: str(resolver.values[k]) for k in (sam.get("Parameters") or {}) if k in resolver.values}
    name = stack_name or _default_stack_name(sam, all_params)
    cfn = translate_sam(sam, all_params, region=region_name)
    disabled = _disable_event_source_mappings(cfn)
    for rid, res in (cfn.get("Resources") or {}).items():  # named as the local functions resolve them offline
        if res.get("Type") == "AWS::S3::Bucket" and "BucketName" not in (res.get("Properties") or {}):
            res.setdefault("Properties", {})["BucketName"] = resolver.offline_bucket_name(rid)

    clients = AwsClients(settings)
    cf = clients.client("cloudformation")
    cfn_params = [{"ParameterKey": k, "ParameterValue": v} for k, v in all_params.items()]
    request = {"StackName": name, "TemplateBody": json.dumps(cfn), "Parameters": cfn_params,
               "Capabilities": ["CAPABILITY_IAM"]}
    stack = _create_or_update_stack(clients, name, request)
    resources = clients.call(f"reading stack {name!r}", cf.describe_stack_resources, StackName=name)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources if "LogicalResourceId" in r}
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    applied = [f"{rid}: created disabled (sqsq lambda-local polls instead of moto)" for rid in disabled]
    applied += _apply_skipped_settings(clients, cfn, resolver, physical)
    for line in applied:
        log.debug("stack %s: %s", name, line)  # returned in DeployedStack.applied: callers show them
    return DeployedStack(
        stack_name=name, parameters=all_params, outputs=outputs, physical_ids=physical, applied=applied, template=sam
    )


def _create_or_update_stack(clients: AwsClients, name: str, request: dict[str, Any]) -> dict[str, Any]:
    """CreateStack (UpdateStack when it exists), then the stack as DescribeStacks reads it.

    Raises:
        StackDeployFailed: the stack did not end in a ``*_COMPLETE`` status without rollback (with the reasons).
    """
    cf = clients.client("cloudformation")
    try:
        clients.call(f"creating stack {name!r}", cf.create_stack, **request)
    except AwsError as exc:
        if exc.code != "AlreadyExistsException":
            raise
        clients.call(f"updating stack {name!r}", cf.update_stack, **request)
    stack = clients.call(f"reading stack {name!r}", cf.describe_stacks, StackName=name)["Stacks"][0]
    status = stack["StackStatus"]
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        events = clients.call(f"reading stack {name!r}", cf.describe_stack_events, StackName=name)
        reasons = "; ".join(
            f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}"
            for e in events.get("StackEvents", [])
            if e.get("ResourceStatusReason")
        )
        where = clients.describe_endpoint()
        raise StackDeployFailed(f"stack {name} ended {status} at {where}: {reasons or 'no reason given'}")
    return stack  # type: ignore[no-any-return]


def _default_stack_name(template: Mapping[str, Any], parameters: Mapping[str, str]) -> str:
    app = "sqsq"
    for fn in sqs_functions(template, parameters):
        app = fn.environment.get("SQSQ_APP_NAME") or app
    return f"{app}-{parameters['Stage']}" if "Stage" in parameters else app


def settings_exports(stack: DeployedStack) -> dict[str, str]:
    """The ``SQSQ_*`` variables the stack's functions get, for producers and workers that use the same resources.

    Returns:
        e.g. ``{"SQSQ_APP_NAME": "census", "SQSQ_QUEUE_PREFIX": "census-dev-", "SQSQ_RESULTS_TABLE": "census-dev-results"}``.
    """
    out: dict[str, str] = {}
    for fn in sqs_functions(stack.template, stack.parameters, stack.physical_ids):
        out.update({k: v for k, v in fn.environment.items() if k.startswith("SQSQ_")})
    return out


def _apply_skipped_settings(
    clients: AwsClients, cfn: Mapping[str, Any], resolver: Resolver, physical: Mapping[str, str]
) -> list[str]:
    """Set what moto's CloudFormation ignored; returns one line per setting applied."""
    applied: list[str] = []
    ddb, sqs = clients.dynamodb, clients.sqs
    cfn_resolver = Resolver(cfn, resolver.values, region=resolver.values["AWS::Region"], account_id=LOCAL_ACCOUNT_ID)
    for rid, res in (cfn.get("Resources") or {}).items():
        kind = res.get("Type")
        if kind == "AWS::CloudWatch::Alarm":
            applied += _ensure_alarm(clients, rid, cfn_resolver.resolve(res.get("Properties") or {}))
            continue
        if kind == "AWS::Scheduler::ScheduleGroup":
            applied += _ensure_schedule_group(clients, rid, cfn_resolver.resolve(res.get("Properties") or {}))
            continue
        if kind == "AWS::S3::Bucket" and rid in physical:
            props = cfn_resolver.resolve(res.get("Properties") or {})
            applied += ensure_bucket_settings(clients, rid, physical[rid], props)
            continue
        if kind not in ("AWS::DynamoDB::Table", "AWS::SQS::Queue") or rid not in physical:
            continue
        props = cfn_resolver.resolve(res.get("Properties") or {})
        if kind == "AWS::DynamoDB::Table":
            table = physical[rid]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                current = clients.call(f"reading TTL of {table}", ddb.describe_time_to_live, TableName=table)
                if current.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                    clients.call(
                        f"enabling TTL on {table}",
                        ddb.update_time_to_live,
                        TableName=table,
                        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                    )
                    applied.append(f"{rid}: TTL on {ttl['AttributeName']} (UpdateTimeToLive)")
            pitr = props.get("PointInTimeRecoverySpecification") or {}
            if pitr.get("PointInTimeRecoveryEnabled"):
                clients.call(
                    f"enabling point-in-time recovery on {table}",
                    ddb.update_continuous_backups,
                    TableName=table,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
                applied.append(f"{rid}: point-in-time recovery (UpdateContinuousBackups)")
        else:
            url = physical[rid]
            wanted = {k: _queue_attribute(v) for k, v in props.items() if k not in ("QueueName", "Tags")}
            got = clients.call(
                f"reading queue {url}", sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"]
            ).get("Attributes", {})
            differ = {k: v for k, v in wanted.items() if not _same_attribute(k, got.get(k), v)}
            if differ:
                clients.call(f"setting attributes of {url}", sqs.set_queue_attributes, QueueUrl=url, Attributes=differ)
                applied.append(f"{rid}: {', '.join(sorted(differ))} (SetQueueAttributes)")
    for rid, res in (cfn.get("Resources") or {}).items():  # after the groups they belong to
        if res.get("Type") == "AWS::Scheduler::Schedule":
            applied += _ensure_schedule(clients, rid, cfn_resolver.resolve(res.get("Properties") or {}), physical)
    applied += apply_ecs_gaps(clients, cfn, cfn_resolver, physical, LOCAL_ACCOUNT_ID)
    return applied


def _ensure_schedule_group(clients: AwsClients, rid: str, props: Mapping[str, Any]) -> list[str]:
    """moto 5.2.5's CloudFormation does not create AWS::Scheduler::ScheduleGroup: CreateScheduleGroup (issue 12)."""
    scheduler = clients.client("scheduler")
    name = str(props["Name"])
    try:
        scheduler.get_schedule_group(Name=name)
        return []
    except Exception as exc:  # botocore's ResourceNotFoundException, typed per client
        if "ResourceNotFound" not in type(exc).__name__ and "ResourceNotFound" not in str(exc):
            raise
    clients.call(f"creating schedule group {name!r}", scheduler.create_schedule_group, Name=name)
    return [f"{rid}: schedule group {name} (CreateScheduleGroup)"]


def _ensure_alarm(clients: AwsClients, rid: str, props: Mapping[str, Any]) -> list[str]:
    """moto's CloudFormation does not create AWS::CloudWatch::Alarm resources: PutMetricAlarm with the same settings."""
    cloudwatch = clients.client("cloudwatch")
    name = str(props["AlarmName"])
    if clients.call(f"reading alarm {name!r}", cloudwatch.describe_alarms, AlarmNames=[name]).get("MetricAlarms"):
        return []
    keys = (
        "AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
        "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions",
    )
    kwargs = {k: props[k] for k in keys if props.get(k) is not None}
    for k in ("Period", "EvaluationPeriods"):
        kwargs[k] = int(kwargs[k])
    kwargs["Threshold"] = float(kwargs["Threshold"])
    clients.call(f"creating alarm {name!r}", cloudwatch.put_metric_alarm, **kwargs)
    return [f"{rid}: alarm {name} (PutMetricAlarm)"]


def _ensure_schedule(
    clients: AwsClients, rid: str, props: Mapping[str, Any], physical: Mapping[str, str]
) -> list[str]:
    """moto 5.2.5's CloudFormation does not create AWS::Scheduler::Schedule resources: CreateSchedule with the same
    settings (the target's function and role ARNs built from their physical names)."""
    scheduler = clients.client("scheduler")
    name = str(props["Name"])
    group = {"GroupName": str(props["GroupName"])} if props.get("GroupName") else {}
    try:
        scheduler.get_schedule(Name=name, **group)
        return []
    except Exception as exc:  # botocore's ResourceNotFoundException, typed per client
        if "ResourceNotFound" not in type(exc).__name__ and "ResourceNotFound" not in str(exc):
            raise
    region = clients.settings.region
    target = dict(props["Target"])
    for key, arn_of in (("Arn", "arn:aws:lambda:{region}:{account}:function:{name}"),
                        ("RoleArn", "arn:aws:iam::{account}:role/{name}")):
        value = target.get(key)
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target[key] = arn_of.format(region=region, account=LOCAL_ACCOUNT_ID, name=physical[value["Fn::GetAtt"][0]])
    kwargs = {k: props[k] for k in ("ScheduleExpression", "Description", "State", "GroupName",
                                    "ScheduleExpressionTimezone", "StartDate", "EndDate", "ActionAfterCompletion")
              if props.get(k) is not None}
    clients.call(f"creating schedule {name!r}", scheduler.create_schedule, Name=name, Target=target,
                 FlexibleTimeWindow=dict(props.get("FlexibleTimeWindow") or {"Mode": "OFF"}), **kwargs)
    return [f"{rid}: schedule {name} (CreateSchedule)"]


def _queue_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _same_attribute(name: str, got: str | None, wanted: str) -> bool:
    if got is None:
        return False
    if name in ("RedrivePolicy", "RedriveAllowPolicy", "Policy"):
        try:
            a, b = json.loads(got), json.loads(wanted)
        except ValueError:
            return got == wanted
        return {k: str(v) for k, v in a.items()} == {k: str(v) for k, v in b.items()}
    return got.lower() == wanted.lower()
