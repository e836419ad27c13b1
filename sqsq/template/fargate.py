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

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqsq.errors import ConfigError
from sqsq.template.naming import logical_id
from sqsq.template.resources import CONSUMER_ACTIONS, consumer_statements

FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120
"""Longest ECS StopTimeout on Fargate (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html)."""
STOP_MARGIN_SECONDS = 10
"""StopTimeout beyond the worker's grace period: releasing what still runs and flushing acknowledgements."""
MAX_SHUTDOWN_GRACE_SECONDS = FARGATE_MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS
MAX_METRIC_QUERIES = 10
"""Metric data queries one target tracking metric specification may hold; counted here with the expression, which
leaves room for 8 queues (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking-metric-math.html)."""
MAX_WORKER_QUEUES = MAX_METRIC_QUERIES - 2
WORKER_MAX_CONCURRENCY = 256
"""The largest ``sqsq worker -c``."""
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
"""CloudWatch Logs' allowed RetentionInDays (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)."""
CONTAINER_NAME = "worker"

TASK_ROLE_ACTIONS = CONSUMER_ACTIONS
"""The worker task role's actions: the same as the Lambda consumers' (:data:`sqsq.template.resources.CONSUMER_ACTIONS`)."""


def fargate_memory_choices_mb(cpu: int) -> tuple[int, ...]:
    """Memory sizes (MB) Fargate accepts with ``cpu`` units; empty for a cpu value Fargate does not offer.

    From AWS's table (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html);
    8192 and 16384 units need Linux platform 1.4.0, which ``LATEST`` is.
    """
    if cpu == 256:
        return (512, 1024, 2048)
    ranges = {512: (1024, 1024, 4096), 1024: (2048, 1024, 8192), 2048: (4096, 1024, 16384),
              4096: (8192, 1024, 30720), 8192: (16384, 4096, 61440), 16384: (32768, 8192, 122880)}
    if cpu not in ranges:
        return ()
    low, step, high = ranges[cpu]
    return tuple(range(low, high + 1, step))


@dataclass(frozen=True)
class FargateOptions:
    """Size, worker flags and scaling of the Fargate workers.

    Attributes:
        cpu: task CPU units (256 = 0.25 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384.
        memory_mb: task memory, MB; one of :func:`fargate_memory_choices_mb` for ``cpu``.
        concurrency: the worker's ``-c``, 1-256 (threads, or child processes with ``pool="process"``).
        pool: ``"thread"`` or ``"process"`` (CPU-bound tasks; then keep ``concurrency`` near the vCPUs).
        min_tasks: fewest running tasks, >= 1 (backlog per task is undefined at zero; see the module notes).
        max_tasks: most running tasks, >= ``min_tasks``.
        target_backlog_per_task: visible messages per running task the policy holds, > 0; e.g. acceptable latency
            / average seconds per message x ``concurrency``.
        shutdown_grace_seconds: the worker's ``--shutdown-grace-seconds``, 0-110 (StopTimeout adds 10 s; 120 max).
        log_retention_days: the log group's retention, one of CloudWatch's values (1, 3, 5, 7, 14, 30, ...).
        cpu_architecture: ``"X86_64"`` or ``"ARM64"``; must match the image.
        scale_out_cooldown_seconds: ScaleOutCooldown, >= 0.
        scale_in_cooldown_seconds: ScaleInCooldown, >= 0.
    """

    cpu: int = 256
    memory_mb: int = 512
    concurrency: int = 4
    pool: str = "thread"
    min_tasks: int = 1
    max_tasks: int = 4
    target_backlog_per_task: float = 100.0
    shutdown_grace_seconds: float = 30.0
    log_retention_days: int = 30
    cpu_architecture: str = "X86_64"
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 300

    def __post_init__(self) -> None:
        choices = fargate_memory_choices_mb(self.cpu)
        if not choices:
            raise ConfigError(f"cpu={self.cpu} is not a Fargate size; use 256, 512, 1024, 2048, 4096, 8192 or 16384")
        if self.memory_mb not in choices:
            shown = ", ".join(str(m) for m in choices) if len(choices) <= 8 else (
                f"{choices[0]}-{choices[-1]} in steps of {choices[1] - choices[0]}")
            raise ConfigError(f"memory_mb={self.memory_mb} does not fit Fargate's cpu={self.cpu}; use {shown} "
                              "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html)")
        if not 1 <= self.concurrency <= WORKER_MAX_CONCURRENCY:
            raise ConfigError(f"concurrency={self.concurrency} must be within 1..{WORKER_MAX_CONCURRENCY} (sqsq worker -c)")
        if self.pool not in ("thread", "process"):
            raise ConfigError(f"pool={self.pool!r} must be 'thread' or 'process'")
        if self.min_tasks < 1:
            raise ConfigError(f"min_tasks={self.min_tasks}: backlog per task cannot scale out from zero running tasks; "
                              "use min_tasks >= 1")
        if self.max_tasks < self.min_tasks:
            raise ConfigError(f"max_tasks={self.max_tasks} is below min_tasks={self.min_tasks}; raise max_tasks")
        if not self.target_backlog_per_task > 0:
            raise ConfigError(f"target_backlog_per_task={self.target_backlog_per_task} must be > 0 (messages per task)")
        if not 0 <= self.shutdown_grace_seconds <= MAX_SHUTDOWN_GRACE_SECONDS:
            raise ConfigError(
                f"shutdown_grace_seconds={self.shutdown_grace_seconds} must be within 0..{MAX_SHUTDOWN_GRACE_SECONDS}: "
                f"Fargate kills a container {FARGATE_MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM at most, and the worker "
                f"needs {STOP_MARGIN_SECONDS} s after the grace period to release messages and flush deletes")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigError(f"log_retention_days={self.log_retention_days} is not a CloudWatch Logs retention; use "
                              f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.cpu_architecture not in ("X86_64", "ARM64"):
            raise ConfigError(f"cpu_architecture={self.cpu_architecture!r} must be 'X86_64' or 'ARM64'")
        if self.scale_out_cooldown_seconds < 0 or self.scale_in_cooldown_seconds < 0:
            raise ConfigError("scale_out_cooldown_seconds and scale_in_cooldown_seconds must be >= 0")

    @property
    def stop_timeout_seconds(self) -> int:
        """The container's StopTimeout: the grace period (rounded up) + :data:`STOP_MARGIN_SECONDS`."""
        return math.ceil(self.shutdown_grace_seconds) + STOP_MARGIN_SECONDS


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
        "WorkerScalableTarget": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "DependsOn": ["WorkerService"],
                                 "Properties": {
            "ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": _sub(f"service/{cluster}/{service}"),
            "MinCapacity": opts.min_tasks, "MaxCapacity": opts.max_tasks}},
        "WorkerScalingPolicy": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                                "DependsOn": ["WorkerScalableTarget"],
                                "Properties": _scaling_policy(queue_ids, cluster, service, opts)},
    }
    parameters = {
        "WorkerImage": {"Type": "String", "Description": "Worker image URI (from worker_dockerfile's Dockerfile), "
                        "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-worker:1.0"},
        "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the worker tasks' security group"},
        "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>",
                    "Description": "Subnets of the worker tasks (in VpcId), with a route to the AWS APIs and ECR"},
        "AssignPublicIp": {"Type": "String", "Default": "DISABLED", "AllowedValues": ["ENABLED", "DISABLED"],
                           "Description": "ENABLED for public subnets without a NAT gateway or VPC endpoints"},
    }
    outputs = {
        "WorkerClusterName": {"Description": "ECS cluster of the workers", "Value": {"Ref": "WorkerCluster"}},
        "WorkerServiceName": {"Description": "ECS service of the workers",
                              "Value": {"Fn::GetAtt": ["WorkerService", "Name"]}},
        "WorkerLogGroupName": {"Description": "The workers' log group", "Value": {"Ref": "WorkerLogGroup"}},
        "WorkerSecurityGroupId": {"Description": "Security group of the worker tasks (add egress rules here)",
                                  "Value": {"Ref": "WorkerSecurityGroup"}},
    }
    requires = ("Stage", "ResultsTable", *(f"{qid}{kind}" for qid in queue_ids
                                          for kind in ("Queue", "DeadLetterQueue")))
    return FargateSection(parameters=parameters, conditions={}, resources=resources, outputs=outputs,
                          requires=requires)
