"""The ECS Fargate section of an app's SAM template: long-running ``sqsq worker`` pollers that scale on backlog.

:func:`fargate_resources` returns parameters, resources and outputs to merge into the template that
:func:`sqsq.template.render_template` renders (it reads that template's ``<Q>Queue``/``<Q>DeadLetterQueue``
resources, ``ResultsTable`` and ``Stage`` parameter); :func:`worker_dockerfile` writes the image's Dockerfile.
Pure functions over plain data; no I/O.

What is rendered (resource ids ``Worker*``, names ``<app>-<Stage>-worker...``):

* ``WorkerCluster`` with Container Insights on: the scaling metric needs its ``RunningTaskCount``, which is why the
  section creates its own cluster rather than take an existing one whose settings it cannot vouch for;
* ``WorkerTaskDefinition`` (Fargate, awsvpc): one container running ``sqsq worker APP -Q q1 -Q q2 -c N --pool P
  --shutdown-grace-seconds S``, image from the ``WorkerImage`` parameter, ``StopTimeout`` = grace + 10 s (Fargate's
  maximum is 120 s), an init process (reaps ``--pool process`` children), awslogs to ``WorkerLogGroup``;
* ``WorkerTaskRole``: exactly the worker's calls (see :data:`TASK_ROLE_ACTIONS`); ``WorkerExecutionRole``: ECR pull
  from the account's repositories in the region and writing to ``WorkerLogGroup``;
* ``WorkerSecurityGroup`` in the ``VpcId`` parameter's VPC: no ingress, egress HTTPS only (AWS APIs and ECR);
* ``WorkerService`` (Fargate, ``Subnets``/``AssignPublicIp`` parameters, deployment circuit breaker with rollback).
  It sets no ``DesiredCount``: scaling owns it, and a template value would reset it on every stack update;
* ``WorkerScalableTarget`` (``min_tasks``..``max_tasks``) and ``WorkerScalingPolicy``: target tracking on the
  backlog per task, ``SUM(ApproximateNumberOfMessagesVisible of every queue) / RunningTaskCount`` in metric math,
  as in https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking-metric-math.html

Caveat: backlog per task has no value while no task runs (division by zero gives no data point), so target tracking
cannot scale out from zero; ``min_tasks`` is therefore at least 1. Scaling to zero would need a second, step scaling
policy on an alarm on the queues' depth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqsq.errors import ConfigError
from sqsq.template.fargate_options import (
    FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    LOG_RETENTION_DAYS,
    MAX_METRIC_QUERIES,
    MAX_SHUTDOWN_GRACE_SECONDS,
    MAX_WORKER_QUEUES,
    STOP_MARGIN_SECONDS,
    WORKER_MAX_CONCURRENCY,
    FargateOptions,
    fargate_memory_choices_mb,
)
from sqsq.template.naming import logical_id
from sqsq.template.resources import CONSUMER_ACTIONS, consumer_statements

__all__ = [
    "CONTAINER_NAME",
    "FARGATE_MAX_STOP_TIMEOUT_SECONDS",
    "LOG_RETENTION_DAYS",
    "MAX_METRIC_QUERIES",
    "MAX_SHUTDOWN_GRACE_SECONDS",
    "MAX_WORKER_QUEUES",
    "STOP_MARGIN_SECONDS",
    "TASK_ROLE_ACTIONS",
    "WORKER_MAX_CONCURRENCY",
    "FargateOptions",
    "FargateSection",
    "fargate_memory_choices_mb",
    "fargate_resources",
    "worker_command",
]

CONTAINER_NAME = "worker"

TASK_ROLE_ACTIONS = CONSUMER_ACTIONS
"""The worker task role's actions: the same as the Lambda consumers' (:data:`sqsq.template.resources.CONSUMER_ACTIONS`)."""


@dataclass(frozen=True)
class FargateSection:
    """Template sections to merge into a SAM template; see :meth:`merge_into`.

    Attributes:
        parameters: new Parameters (``WorkerImage``, ``VpcId``, ``Subnets``, ``AssignPublicIp``).
        conditions: new Conditions (none today; kept so callers merge every section the same way).
        resources: new Resources (``Worker*``).
        outputs: new Outputs.
        requires: ids the section refers to that the template must define (parameters and resources).
    """

    parameters: dict[str, Any]
    conditions: dict[str, Any]
    resources: dict[str, Any]
    outputs: dict[str, Any]
    requires: tuple[str, ...] = field(default=())

    def merge_into(self, template: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``template`` with this section's entries added (the input is not changed).

        Raises:
            ConfigError: an id is already defined, or an id the section refers to is missing from the template.
        """
        out = dict(template)
        defined = set(out.get("Parameters") or {}) | set(out.get("Resources") or {})
        missing = [r for r in self.requires if r not in defined]
        if missing:
            raise ConfigError(f"the template lacks {', '.join(missing)}, which the worker section uses; render the "
                              "section with the queues of the template it is merged into")
        for key, part in (("Parameters", self.parameters), ("Conditions", self.conditions),
                          ("Resources", self.resources), ("Outputs", self.outputs)):
            existing = dict(out.get(key) or {})
            clash = sorted(set(existing) & set(part))
            if clash:
                raise ConfigError(f"{key} {', '.join(clash)} already defined in the template; merge the section once")
            if part or existing:
                out[key] = {**existing, **part}
        return out


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def _assume(service: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def worker_command(app_spec: str, queues: Sequence[str], options: FargateOptions) -> list[str]:
    """The container's command: ``sqsq worker APP -Q q1 ... -c N --pool P --shutdown-grace-seconds S``."""
    command = ["sqsq", "worker", app_spec]
    for q in queues:
        command += ["-Q", q]
    grace = f"{options.shutdown_grace_seconds:g}"
    return [*command, "-c", str(options.concurrency), "--pool", options.pool, "--shutdown-grace-seconds", grace]


def _check_inputs(app_name: str, app_spec: str, queues: Sequence[str]) -> dict[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}", app_name):
        raise ConfigError(f"app name {app_name!r} must be 1-40 letters, digits or '-' to name ECS resources")
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", app_spec):
        raise ConfigError(f"app_spec={app_spec!r} must be module:attribute, e.g. 'myapp.tasks:app'")
    if not 1 <= len(queues) <= MAX_WORKER_QUEUES:
        raise ConfigError(f"{len(queues)} queues given; one worker service consumes 1..{MAX_WORKER_QUEUES} (its "
                          f"scaling metric holds at most {MAX_METRIC_QUERIES} metric queries); split the queues "
                          "over several sections")
    ids = {q: logical_id(q) for q in queues}
    if len(set(ids.values())) != len(ids):
        raise ConfigError(f"queue names {list(queues)} collide as CloudFormation logical ids {sorted(ids.values())}")
    return ids


def _roles(queue_ids: Sequence[str]) -> dict[str, Any]:
    task_statements = consumer_statements(queue_ids)
    pull: list[dict[str, Any]] = [
        {"Sid": "EcrToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "EcrPull", "Effect": "Allow",
         "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": _sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*")},
        {"Sid": "WriteWorkerLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": {"Fn::GetAtt": ["WorkerLogGroup", "Arn"]}},
    ]
    return {
        "WorkerTaskRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
            "Policies": [_policy("sqsq-worker", task_statements)]}},
        "WorkerExecutionRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
            "Policies": [_policy("sqsq-worker-execution", pull)]}},
    }


def _scaling_policy(queue_ids: Sequence[str], cluster: str, service: str, options: FargateOptions) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = [
        {"Id": f"visible{i}", "Label": f"Visible messages in {qid}Queue", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                       "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [f"{qid}Queue", "QueueName"]}}]},
            "Stat": "Sum"}}
        for i, qid in enumerate(queue_ids)
    ]
    metrics.append({"Id": "running", "Label": "Running worker tasks", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "ECS/ContainerInsights", "MetricName": "RunningTaskCount",
                   "Dimensions": [{"Name": "ClusterName", "Value": _sub(cluster)},
                                  {"Name": "ServiceName", "Value": _sub(service)}]},
        "Stat": "Average"}})
    visible = ", ".join(f"visible{i}" for i in range(len(queue_ids)))
    metrics.append({"Id": "backlog_per_task", "Label": "Visible messages per running task", "ReturnData": True,
                    "Expression": f"SUM([{visible}]) / running"})
    return {
        "PolicyName": _sub(f"{service}-backlog-per-task"),
        "PolicyType": "TargetTrackingScaling",
        "ServiceNamespace": "ecs",
        "ScalableDimension": "ecs:service:DesiredCount",
        "ResourceId": _sub(f"service/{cluster}/{service}"),
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(options.target_backlog_per_task),
            "ScaleOutCooldown": options.scale_out_cooldown_seconds,
            "ScaleInCooldown": options.scale_in_cooldown_seconds,
            "CustomizedMetricSpecification": {"Metrics": metrics},
        },
    }


def _task_and_service(app_spec: str, queues: Sequence[str], env: Mapping[str, Any], cluster: str, service: str,
                      opts: FargateOptions) -> dict[str, Any]:
    container = {
        "Name": CONTAINER_NAME,
        "Image": {"Ref": "WorkerImage"},
        "Essential": True,
        "Command": worker_command(app_spec, queues, opts),
        "Environment": [{"Name": k, "Value": v} for k, v in env.items()],
        "StopTimeout": opts.stop_timeout_seconds,
        "LinuxParameters": {"InitProcessEnabled": True},
        "LogConfiguration": {"LogDriver": "awslogs", "Options": {
            "awslogs-group": {"Ref": "WorkerLogGroup"}, "awslogs-region": {"Ref": "AWS::Region"},
            "awslogs-stream-prefix": CONTAINER_NAME}},
    }
    return {
        "WorkerTaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": _sub(service), "Cpu": str(opts.cpu), "Memory": str(opts.memory_mb), "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": opts.cpu_architecture},
            "ExecutionRoleArn": {"Fn::GetAtt": ["WorkerExecutionRole", "Arn"]},
            "TaskRoleArn": {"Fn::GetAtt": ["WorkerTaskRole", "Arn"]},
            "ContainerDefinitions": [container]}},
        "WorkerService": {"Type": "AWS::ECS::Service", "Properties": {
            "ServiceName": _sub(service), "Cluster": {"Ref": "WorkerCluster"},
            "TaskDefinition": {"Ref": "WorkerTaskDefinition"}, "LaunchType": "FARGATE", "PlatformVersion": "LATEST",
            "NetworkConfiguration": {"AwsvpcConfiguration": {
                "Subnets": {"Ref": "Subnets"}, "SecurityGroups": [{"Ref": "WorkerSecurityGroup"}],
                "AssignPublicIp": {"Ref": "AssignPublicIp"}}},
            "DeploymentConfiguration": {"MinimumHealthyPercent": 100, "MaximumPercent": 200,
                                        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}},
            "PropagateTags": "SERVICE", "EnableECSManagedTags": True}},
    }


def fargate_resources(
    app_name: str,
    app_spec: str,
    queues: Sequence[str],
    environment: Mapping[str, Any],
    options: FargateOptions | None = None,
) -> FargateSection:
    """The Fargate worker section for a template rendered by :func:`sqsq.template.render_template`.

    Args:
        app_name: the app's name (resources are named ``<app>-<Stage>-worker...``).
        app_spec: ``module:attribute`` the container passes to ``sqsq worker``.
        queues: logical queue names the workers consume (1-8); ``<Q>Queue``/``<Q>DeadLetterQueue`` must exist.
        environment: the container's variables, values plain or intrinsic (e.g. the function's ``SQSQ_*``);
            ``AWS_REGION`` is added when absent.
        options: size, worker flags and scaling; defaults from :class:`FargateOptions`.

    Returns:
        The section; merge it with :meth:`FargateSection.merge_into`.

    Raises:
        ConfigError: a malformed app name or spec, no queues or more than 8, or queue names that collide as ids.

    Example:
        >>> section = fargate_resources("shop", "shop.tasks:app", ["default"], {"SQSQ_APP_NAME": "shop"})
        >>> section.resources["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"][:5]
        ['sqsq', 'worker', 'shop.tasks:app', '-Q', 'default']
    """
    opts = options or FargateOptions()
    ids = _check_inputs(app_name, app_spec, queues)
    queue_ids = [ids[q] for q in queues]
    base = f"{app_name}-${{Stage}}-worker"
    cluster, service = f"{base}s", base
    env = {**environment}
    env.setdefault("AWS_REGION", {"Ref": "AWS::Region"})
    resources: dict[str, Any] = {
        "WorkerCluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterName": _sub(cluster), "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}},
        "WorkerLogGroup": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
                           "Properties": {"LogGroupName": _sub(f"/ecs/{base}"),
                                          "RetentionInDays": opts.log_retention_days}},
        **_roles(queue_ids),
        "WorkerSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": _sub(f"{base}: no ingress; HTTPS out to AWS APIs and ECR"),
            "VpcId": {"Ref": "VpcId"},
            "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0",
                                     "Description": "HTTPS to AWS APIs and ECR"}]}},
        **_task_and_service(app_spec, queues, env, cluster, service, opts),
        **_scaling(queue_ids, cluster, service, opts),
    }
    requires = ("Stage", "ResultsTable", *(f"{qid}{kind}" for qid in queue_ids
                                          for kind in ("Queue", "DeadLetterQueue")))
    return FargateSection(parameters=_parameters(), conditions={}, resources=resources, outputs=_outputs(),
                          requires=requires)


def _parameters() -> dict[str, Any]:
    """The parameters the worker section adds: its image, VPC, subnets and public IP choice."""
    return {
        "WorkerImage": {"Type": "String", "Description": "Worker image URI (from worker_dockerfile's Dockerfile), "
                        "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-worker:1.0"},
        "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the worker tasks' security group"},
        "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>",
                    "Description": "Subnets of the worker tasks (in VpcId), with a route to the AWS APIs and ECR"},
        "AssignPublicIp": {"Type": "String", "Default": "DISABLED", "AllowedValues": ["ENABLED", "DISABLED"],
                           "Description": "ENABLED for public subnets without a NAT gateway or VPC endpoints"},
    }


def _outputs() -> dict[str, Any]:
    """The outputs the worker section adds: cluster, service, log group and security group."""
    return {
        "WorkerClusterName": {"Description": "ECS cluster of the workers", "Value": {"Ref": "WorkerCluster"}},
        "WorkerServiceName": {"Description": "ECS service of the workers",
                              "Value": {"Fn::GetAtt": ["WorkerService", "Name"]}},
        "WorkerLogGroupName": {"Description": "The workers' log group", "Value": {"Ref": "WorkerLogGroup"}},
        "WorkerSecurityGroupId": {"Description": "Security group of the worker tasks (add egress rules here)",
                                  "Value": {"Ref": "WorkerSecurityGroup"}},
    }


def _scaling(queue_ids: list[str], cluster: str, service: str, opts: FargateOptions) -> dict[str, Any]:
    """The service's scalable target (min/max tasks) and its scaling policy on the queues' backlog."""
    return {
        "WorkerScalableTarget": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "DependsOn": ["WorkerService"],
                                 "Properties": {
            "ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": _sub(f"service/{cluster}/{service}"),
            "MinCapacity": opts.min_tasks, "MaxCapacity": opts.max_tasks}},
        "WorkerScalingPolicy": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                                "DependsOn": ["WorkerScalableTarget"],
                                "Properties": _scaling_policy(queue_ids, cluster, service, opts)},
    }
