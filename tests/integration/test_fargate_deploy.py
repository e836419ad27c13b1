"""The shop app's template with the Fargate worker section, deployed into the local CloudFormation (moto)."""

from __future__ import annotations

import ast
import uuid
from typing import Any

import boto3

from sqsq.local.cloudformation import deploy_template
from sqsq.local.server import LocalAwsServer
from tests.unit.test_fargate_template import SPEC, full_template


def _client(service: str, local_aws: LocalAwsServer) -> Any:
    return boto3.client(service, endpoint_url=local_aws.endpoint_url, region_name="us-east-1")


def test_worker_section_deploys_with_its_cluster_task_definition_roles_network_and_scaling(
    local_aws: LocalAwsServer,
) -> None:
    ec2, ecs, iam = (_client(s, local_aws) for s in ("ec2", "ecs", "iam"))
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    stage = f"f{uuid.uuid4().hex[:8]}"
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-worker:1"
    stack = deploy_template(full_template(), local_aws.endpoint_url, parameters={
        "Stage": stage, "WorkerImage": image, "VpcId": vpc, "Subnets": ",".join(subnets[:2])})
    cluster, service = f"shop-{stage}-workers", f"shop-{stage}-worker"
    assert stack.outputs["WorkerClusterName"] == cluster and stack.outputs["WorkerServiceName"] == service

    described = ecs.describe_clusters(clusters=[cluster], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in described["settings"]

    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    awsvpc = svc["networkConfiguration"]["awsvpcConfiguration"]
    assert awsvpc["subnets"] == subnets[:2] and awsvpc["securityGroups"] == [stack.outputs["WorkerSecurityGroupId"]]
    task = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("256", "512", "awsvpc")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    (container,) = task["containerDefinitions"]
    assert container["image"] == image
    assert container["command"][:7] == ["sqsq", "worker", SPEC, "-Q", "default", "-Q", "images"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["SQSQ_QUEUE_PREFIX"] == f"shop-{stage}-" and env["SQSQ_RESULTS_TABLE"] == f"shop-{stage}-results"
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/shop-{stage}-worker"

    task_role = task["taskRoleArn"].rsplit("/", 1)[1]
    (policy_name,) = iam.list_role_policies(RoleName=task_role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=task_role, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):  # moto 5.2.5 keeps a CloudFormation role's inline policy as the dict's repr()
        document = ast.literal_eval(document)
    resources = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    assert resources["ConsumeQueues"] == [f"arn:aws:sqs:us-east-1:123456789012:shop-{stage}-{q}"
                                          for q in ("default", "images")]
    assert resources["RecordResults"].endswith(f":table/shop-{stage}-results")

    group = ec2.describe_security_groups(GroupIds=[stack.outputs["WorkerSecurityGroupId"]])["SecurityGroups"][0]
    assert group["IpPermissions"] == []
    assert [(p["IpProtocol"], p.get("FromPort")) for p in group["IpPermissionsEgress"]] == [("tcp", 443)]

    aas = _client("application-autoscaling", local_aws)
    resource_id = f"service/{cluster}/{service}"
    (target,) = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"]
    metrics = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
    by_id = {m["Id"]: m for m in metrics}
    assert by_id["backlog_per_task"]["Expression"] == "SUM([visible0, visible1]) / running"
    queue_dims = [by_id[i]["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for i in ("visible0", "visible1")]
    assert queue_dims == [f"shop-{stage}-default", f"shop-{stage}-images"]
    assert {d["Value"] for d in by_id["running"]["MetricStat"]["Metric"]["Dimensions"]} == {cluster, service}

    logs = _client("logs", local_aws)
    (log_group,) = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/shop-{stage}-worker")["logGroups"]
    assert log_group["retentionInDays"] == 30
