"""The Fargate worker section: sizes and flags validated, least-privilege roles, the command, backlog-per-task
scaling, a template cfn-lint accepts, and the worker image's Dockerfile."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from sqsq.errors import ConfigError
from sqsq.template import dump_template, render_template
from sqsq.template.dockerfile import worker_dockerfile
from sqsq.template.fargate import (
    TASK_ROLE_ACTIONS,
    FargateOptions,
    FargateSection,
    fargate_memory_choices_mb,
    fargate_resources,
)

SQSQ = Path(__file__).resolve().parents[2] / "sqsq"
SPEC = "tests.apps.shop:app"


def _section(options: FargateOptions | None = None) -> tuple[dict[str, Any], FargateSection]:
    from tests.apps.shop import app

    base = render_template(app)
    env = base["Resources"]["DefaultFunction"]["Properties"]["Environment"]["Variables"]
    sqsq_env = {k: v for k, v in env.items() if k.startswith("SQSQ_")}
    return base, fargate_resources(app.name, SPEC, app.logical_queues(), sqsq_env, options)


def full_template(options: FargateOptions | None = None) -> dict[str, Any]:
    """The shop app's SAM template with the worker section merged in."""
    base, section = _section(options)
    return section.merge_into(base)


def _policy_statements(template: dict[str, Any], role: str) -> dict[str, Any]:
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


# -- the template as a whole ----------------------------------------------------------------------------------


def test_full_template_with_the_worker_section_is_cfn_lint_clean() -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(dump_template(full_template()), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_cfn_lint_sees_the_section_so_a_bad_size_would_fail() -> None:
    from cfnlint.api import ManualArgs, lint

    template = full_template()
    template["Resources"]["WorkerTaskDefinition"]["Properties"]["Memory"] = "4096"  # not with 256 CPU units
    matches = lint(dump_template(template), config=ManualArgs(regions=["us-east-1"]))
    assert any(m.rule.id == "E3047" for m in matches)


def test_merge_keeps_the_base_template_and_refuses_a_second_merge() -> None:
    base, section = _section()
    merged = section.merge_into(base)
    assert set(base["Resources"]) < set(merged["Resources"])
    assert "Stage" in merged["Parameters"] and "WorkerImage" in merged["Parameters"]
    assert "WorkerCluster" not in base["Resources"]
    with pytest.raises(ConfigError, match="already defined"):
        section.merge_into(merged)


def test_merge_refuses_a_template_without_the_sections_queues() -> None:
    base, _ = _section()
    other = fargate_resources("shop", SPEC, ["reports"], {})
    with pytest.raises(ConfigError, match="ReportsQueue"):
        other.merge_into(base)


# -- roles ----------------------------------------------------------------------------------------------------


def test_task_role_grants_exactly_the_workers_calls_on_its_queues_dlqs_and_table() -> None:
    statements = _policy_statements(full_template(), "WorkerTaskRole")
    assert {sid: sorted(s["Action"]) for sid, s in statements.items()} == {
        # SendMessage on the queues: rescued copies (sqsq.rescue); on the DLQs: dead-lettering, and the DLQ sweep
        # reads, deletes and releases there (sqsq.sweep)
        "ConsumeQueues": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                          "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
        "DeadLetterQueues": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                             "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
        "RecordResults": ["dynamodb:GetItem", "dynamodb:PutItem"],
        "Payloads": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
    }
    assert statements["Payloads"]["Resource"] == {"Fn::Sub": "${PayloadBucket.Arn}/sqsq/*"}
    assert statements["ConsumeQueues"]["Resource"] == [
        {"Fn::GetAtt": ["DefaultQueue", "Arn"]}, {"Fn::GetAtt": ["ImagesQueue", "Arn"]}]
    assert statements["DeadLetterQueues"]["Resource"] == [
        {"Fn::GetAtt": ["DefaultDeadLetterQueue", "Arn"]}, {"Fn::GetAtt": ["ImagesDeadLetterQueue", "Arn"]}]
    assert statements["RecordResults"]["Resource"] == {"Fn::GetAtt": ["ResultsTable", "Arn"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())


def _attribute_calls(path: Path, owner: str) -> set[str]:
    """Names ``x`` in ``self.app.<owner>.x(...)`` calls of a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if isinstance(target, ast.Attribute) and target.attr == owner:
                found.add(node.func.attr)
    return found


def test_task_role_actions_cover_every_transport_and_results_call_of_the_worker() -> None:
    # The role was written from these calls; a new one must come with its IAM action, or workers fail AccessDenied.
    iam = {"queue_info": {"sqs:GetQueueUrl", "sqs:GetQueueAttributes"}, "queue_url": {"sqs:GetQueueUrl"},
           "receive": {"sqs:ReceiveMessage"},
           "delete_batch": {"sqs:DeleteMessage"}, "change_visibility_batch": {"sqs:ChangeMessageVisibility"},
           "depth": {"sqs:GetQueueAttributes"}, "send_batch": {"sqs:SendMessage"},
           "put": {"dynamodb:PutItem"}, "claim": {"dynamodb:PutItem", "dynamodb:GetItem"}, "get": {"dynamodb:GetItem"}}
    modules = [*(SQSQ / "worker").glob("*.py"), *(SQSQ / "executor").glob("*.py"), SQSQ / "rescue.py", SQSQ / "sweep.py"]
    transport = set().union(*(_attribute_calls(m, "transport") for m in modules))
    results = set().union(*(_attribute_calls(m, "results") for m in modules))
    assert transport <= set(iam), f"new transport calls: {transport - set(iam)}"
    assert results <= set(iam), f"new results calls: {results - set(iam)}"
    granted = {a for sid, actions in TASK_ROLE_ACTIONS.items() if sid != "Payloads" for a in actions}
    needed = set().union(*(iam[c] for c in transport | results))
    assert needed == granted
    # The payload store's three calls (sqsq.transport.payloads.PayloadStore: put, get, delete), on the S3 prefix.
    assert set(TASK_ROLE_ACTIONS["Payloads"]) == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}


def test_execution_role_pulls_from_ecr_and_writes_only_the_worker_log_group() -> None:
    statements = _policy_statements(full_template(), "WorkerExecutionRole")
    assert statements["EcrToken"]["Action"] == "ecr:GetAuthorizationToken"
    assert sorted(statements["EcrPull"]["Action"]) == [
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert ":repository/" in statements["EcrPull"]["Resource"]["Fn::Sub"]
    assert statements["WriteWorkerLogs"]["Resource"] == {"Fn::GetAtt": ["WorkerLogGroup", "Arn"]}
    assert not any(str(a).startswith(("sqs:", "dynamodb:")) for s in statements.values() for a in s["Action"])


# -- container, network, service ------------------------------------------------------------------------------


def test_container_command_names_every_worker_queue_and_the_worker_flags() -> None:
    options = FargateOptions(concurrency=8, pool="process", shutdown_grace_seconds=45)
    template = full_template(options)
    (container,) = template["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Command"] == ["sqsq", "worker", SPEC, "-Q", "default", "-Q", "images", "-c", "8",
                                    "--pool", "process", "--shutdown-grace-seconds", "45"]
    assert container["StopTimeout"] == 55
    assert container["Image"] == {"Ref": "WorkerImage"}
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["SQSQ_QUEUE_PREFIX"] == {"Fn::Sub": "shop-${Stage}-"}
    assert env["SQSQ_RESULTS_TABLE"] == {"Fn::Sub": "shop-${Stage}-results"}
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "WorkerLogGroup"}


def test_task_definition_is_fargate_awsvpc_with_the_chosen_size() -> None:
    props = full_template(FargateOptions(cpu=1024, memory_mb=3072))["Resources"]["WorkerTaskDefinition"]["Properties"]
    assert (props["Cpu"], props["Memory"], props["NetworkMode"]) == ("1024", "3072", "awsvpc")
    assert props["RequiresCompatibilities"] == ["FARGATE"]


def test_security_group_has_no_ingress_and_service_runs_on_fargate_in_the_given_subnets() -> None:
    resources = full_template()["Resources"]
    group = resources["WorkerSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group and group["VpcId"] == {"Ref": "VpcId"}
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [("tcp", 443, 443)]
    service = resources["WorkerService"]["Properties"]
    assert service["LaunchType"] == "FARGATE" and "DesiredCount" not in service
    vpc = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc["Subnets"] == {"Ref": "Subnets"} and vpc["AssignPublicIp"] == {"Ref": "AssignPublicIp"}


def test_cluster_has_container_insights_for_the_running_task_count() -> None:
    settings = full_template()["Resources"]["WorkerCluster"]["Properties"]["ClusterSettings"]
    assert settings == [{"Name": "containerInsights", "Value": "enabled"}]


# -- scaling --------------------------------------------------------------------------------------------------


def test_scaling_policy_divides_the_queues_visible_messages_by_running_tasks() -> None:
    template = full_template(FargateOptions(target_backlog_per_task=25, min_tasks=2, max_tasks=9))
    target = template["Resources"]["WorkerScalableTarget"]["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 9)
    config = template["Resources"]["WorkerScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 25
    metrics = {m["Id"]: m for m in config["CustomizedMetricSpecification"]["Metrics"]}
    (returned,) = [m for m in metrics.values() if m["ReturnData"]]
    assert returned["Expression"] == "SUM([visible0, visible1]) / running"
    queues = [metrics[i]["MetricStat"]["Metric"] for i in ("visible0", "visible1")]
    assert {q["MetricName"] for q in queues} == {"ApproximateNumberOfMessagesVisible"}
    assert [q["Dimensions"][0]["Value"] for q in queues] == [
        {"Fn::GetAtt": ["DefaultQueue", "QueueName"]}, {"Fn::GetAtt": ["ImagesQueue", "QueueName"]}]
    running = metrics["running"]["MetricStat"]["Metric"]
    assert (running["Namespace"], running["MetricName"]) == ("ECS/ContainerInsights", "RunningTaskCount")
    dims = {d["Name"]: d["Value"]["Fn::Sub"] for d in running["Dimensions"]}
    cluster = template["Resources"]["WorkerCluster"]["Properties"]["ClusterName"]["Fn::Sub"]
    service = template["Resources"]["WorkerService"]["Properties"]["ServiceName"]["Fn::Sub"]
    assert dims == {"ClusterName": cluster, "ServiceName": service}
    assert target["ResourceId"] == {"Fn::Sub": f"service/{cluster}/{service}"}


def test_more_queues_than_the_metric_math_holds_are_refused() -> None:
    with pytest.raises(ConfigError, match=re.escape("1..8")):
        fargate_resources("shop", SPEC, [f"q{i}" for i in range(9)], {})
    with pytest.raises(ConfigError, match=re.escape("1..8")):
        fargate_resources("shop", SPEC, [], {})


# -- options --------------------------------------------------------------------------------------------------


def test_fargate_sizes_follow_aws_table() -> None:
    assert fargate_memory_choices_mb(256) == (512, 1024, 2048)
    assert fargate_memory_choices_mb(1024) == (2048, 3072, 4096, 5120, 6144, 7168, 8192)
    assert fargate_memory_choices_mb(4096)[-1] == 30720
    assert fargate_memory_choices_mb(8192)[:2] == (16384, 20480)
    assert fargate_memory_choices_mb(300) == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpu": 300}, "not a Fargate size"),
        ({"cpu": 256, "memory_mb": 4096}, "512, 1024, 2048"),
        ({"cpu": 2048, "memory_mb": 2048}, "4096-16384 in steps of 1024"),
        ({"concurrency": 0}, "1..256"),
        ({"pool": "greenlet"}, "'thread' or 'process'"),
        ({"min_tasks": 0}, "scale out from zero"),
        ({"min_tasks": 3, "max_tasks": 2}, "below min_tasks"),
        ({"target_backlog_per_task": 0}, "> 0"),
        ({"shutdown_grace_seconds": 111}, "0..110"),
        ({"log_retention_days": 10}, "retention"),
        ({"cpu_architecture": "ARM"}, "ARM64"),
    ],
)
def test_options_refuse_what_fargate_or_the_worker_cannot_run(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        FargateOptions(**kwargs)


def test_stop_timeout_leaves_ten_seconds_after_the_grace_and_fits_fargates_maximum() -> None:
    assert FargateOptions(shutdown_grace_seconds=110).stop_timeout_seconds == 120
    assert FargateOptions(shutdown_grace_seconds=2.5).stop_timeout_seconds == 13


# -- Dockerfile -----------------------------------------------------------------------------------------------


def test_dockerfile_runs_the_worker_as_a_non_root_user_and_stops_on_sigterm() -> None:
    text = worker_dockerfile("myapp.tasks:app", python_version="3.12", sqsq_requirement="sqsq==0.1.0")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "FROM python:3.12-slim"
    assert "USER 10001:10001" in lines and "STOPSIGNAL SIGTERM" in lines
    assert lines[-1] == 'CMD ["sqsq", "worker", "myapp.tasks:app"]'
    assert 'RUN pip install "sqsq==0.1.0" \\' in lines and "ENV PYTHONPATH=/app" in lines
    # a project without packaging metadata (just its package folder) builds too: /app is installed only if it can be
    assert any("if [ -f pyproject.toml ] || [ -f setup.py ]; then pip install /app; fi" in line for line in lines)
    assert lines.index("USER 10001:10001") > lines.index('RUN pip install "sqsq==0.1.0" \\')
    assert "no Docker" in text  # the header says it was never built here


@pytest.mark.parametrize(
    "kwargs",
    [{"app_spec": "myapp.tasks"}, {"app_spec": "a:b", "python_version": "3.10"},
     {"app_spec": "a:b", "sqsq_requirement": 'sqsq" && rm -rf /'}],
)
def test_dockerfile_refuses_malformed_inputs(kwargs: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        worker_dockerfile(**kwargs)
