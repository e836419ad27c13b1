"""What moto's CloudFormation skips for an ECS Fargate worker service, set after the stack is created.

Checked against moto 5.2.5's resource handlers (the version :mod:`sqsq.local.server` pins), for the resources
:mod:`sqsq.template.fargate` renders:

* ``AWS::ECS::Cluster``: ``ClusterSettings`` ignored (Container Insights stays off) -> UpdateCluster;
* ``AWS::ECS::TaskDefinition``: only family, containers, volumes and memory are kept (no cpu, awsvpc, FARGATE,
  roles, runtime platform) -> RegisterTaskDefinition of a new revision with every property, and the services
  using the first revision are moved to it;
* ``AWS::ECS::Service``: ``NetworkConfiguration`` ignored -> UpdateService sets it with the new task definition.
  Its ``LaunchType`` stays EC2 and its DesiredCount 0 (UpdateService cannot change a launch type; moto runs no
  tasks either way);
* ``AWS::EC2::SecurityGroup``: ``SecurityGroupEgress`` ignored (the default allow-all egress stays) -> the default
  rule is revoked and the template's rules authorised;
* ``AWS::ApplicationAutoScaling::ScalableTarget`` and ``::ScalingPolicy``: not modelled, so not created ->
  RegisterScalableTarget and PutScalingPolicy with the same properties (a policy must name its target by
  ``ServiceNamespace``/``ResourceId``/``ScalableDimension``, as sqsq renders it, not by ``ScalingTargetId``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqsq.errors import ConfigError
from sqsq.template import Resolver
from sqsq.transport.aws import AwsClients

_KEEP_KEYS_UNDER = ("Options", "DockerLabels")
"""Container definition maps whose keys are data, not property names (``awslogs-group`` stays as written)."""


def apply_ecs_gaps(
    clients: AwsClients, cfn: Mapping[str, Any], resolver: Resolver, physical: Mapping[str, str], account_id: str
) -> list[str]:
    """Set what moto's CloudFormation skipped for ECS clusters, task definitions, services, security groups and
    Application Auto Scaling; returns one line per setting applied.

    Args:
        clients: clients for the local AWS.
        cfn: the deployed (translated) CloudFormation template.
        resolver: evaluates parameters and pseudo parameters of ``cfn``.
        physical: logical id -> physical id of the stack's resources.
        account_id: the local account (for role ARNs).

    Raises:
        ConfigError: a scaling policy names its target by ScalingTargetId.
        AwsError: a call to the local AWS failed.
    """
    resources = cfn.get("Resources") or {}

    def props(rid: str) -> dict[str, Any]:
        bound = _bind(resources[rid].get("Properties") or {}, resources, physical, account_id)
        out: dict[str, Any] = resolver.resolve(bound)
        return out

    def of_type(kind: str) -> list[str]:
        """Resources of a type; moto creates no Application Auto Scaling ones, the others must exist."""
        found = [rid for rid, res in resources.items() if res.get("Type") == kind]
        return found if kind.startswith("AWS::ApplicationAutoScaling::") else [r for r in found if r in physical]

    applied: list[str] = []
    for rid in of_type("AWS::ECS::Cluster"):
        applied += _cluster(clients, rid, physical[rid], props(rid))
    for rid in of_type("AWS::EC2::SecurityGroup"):
        applied += _egress(clients, rid, physical[rid], props(rid))
    revisions: dict[str, str] = {}
    for rid in of_type("AWS::ECS::TaskDefinition"):
        revisions[rid], registered = _task_definition(clients, props(rid))
        if registered:
            revision = revisions[rid].rsplit("/", 1)[1]
            applied.append(f"{rid}: cpu, memory, network mode, roles (RegisterTaskDefinition {revision})")
    for rid in of_type("AWS::ECS::Service"):
        applied += _service(clients, rid, props(rid), {physical[t]: arn for t, arn in revisions.items()})
    for rid in of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        applied += _scalable_target(clients, rid, props(rid))
    for rid in of_type("AWS::ApplicationAutoScaling::ScalingPolicy"):
        applied += _scaling_policy(clients, rid, props(rid))
    return applied


def _bind(value: Any, resources: Mapping[str, Any], physical: Mapping[str, str], account_id: str) -> Any:
    """``value`` with Ref to stack resources and GetAtt Role.Arn replaced by their physical values."""
    if isinstance(value, list):
        return [_bind(v, resources, physical, account_id) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and arg in physical:
            return physical[arg]
        if key == "Fn::GetAtt":
            rid, att = arg.split(".", 1) if isinstance(arg, str) else arg
            if att == "Arn" and resources.get(rid, {}).get("Type") == "AWS::IAM::Role" and rid in physical:
                return f"arn:aws:iam::{account_id}:role/{physical[rid]}"
    return {k: _bind(v, resources, physical, account_id) for k, v in value.items()}


def _camel(value: Any, keep_keys: bool = False) -> Any:
    """CloudFormation's PascalCase property names as the ECS API's camelCase, recursively."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {(k if keep_keys else k[:1].lower() + k[1:]): _camel(v, keep_keys=k in _KEEP_KEYS_UNDER)
            for k, v in value.items()}


def _cluster(clients: AwsClients, rid: str, name: str, props: Mapping[str, Any]) -> list[str]:
    wanted = _camel(props.get("ClusterSettings") or [])
    if not wanted:
        return []
    ecs = clients.client("ecs")
    got = clients.call(f"reading cluster {name}", ecs.describe_clusters, clusters=[name], include=["SETTINGS"])
    if got["clusters"] and got["clusters"][0].get("settings") == wanted:
        return []
    clients.call(f"updating cluster {name}", ecs.update_cluster, cluster=name, settings=wanted)
    shown = ", ".join(f"{s['name']}={s['value']}" for s in wanted)
    return [f"{rid}: {shown} (UpdateCluster)"]


def _egress(clients: AwsClients, rid: str, group_id: str, props: Mapping[str, Any]) -> list[str]:
    rules = props.get("SecurityGroupEgress")
    if rules is None:
        return []
    wanted = []
    for r in rules:
        perm: dict[str, Any] = {"IpProtocol": str(r["IpProtocol"])}
        if "FromPort" in r:
            perm.update(FromPort=int(r["FromPort"]), ToPort=int(r["ToPort"]))
        perm["IpRanges"] = [{"CidrIp": r["CidrIp"], **({"Description": r["Description"]} if "Description" in r else {})}]
        wanted.append(perm)
    ec2 = clients.client("ec2")
    group = clients.call(f"reading security group {group_id}", ec2.describe_security_groups, GroupIds=[group_id])
    current = group["SecurityGroups"][0].get("IpPermissionsEgress", [])
    if _rule_keys(current) == _rule_keys(wanted):
        return []
    if current:
        clients.call(f"revoking egress of {group_id}", ec2.revoke_security_group_egress, GroupId=group_id,
                     IpPermissions=current)
    if wanted:
        clients.call(f"authorising egress of {group_id}", ec2.authorize_security_group_egress, GroupId=group_id,
                     IpPermissions=wanted)
    return [f"{rid}: egress {len(wanted)} rule(s) instead of allow-all (AuthorizeSecurityGroupEgress)"]


def _rule_keys(permissions: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    return {(str(p["IpProtocol"]), int(p.get("FromPort", -1)), int(p.get("ToPort", -1)), r["CidrIp"])
            for p in permissions for r in p.get("IpRanges", [])}


def _task_definition(clients: AwsClients, props: Mapping[str, Any]) -> tuple[str, bool]:
    """The ARN of the family's latest revision if it has the template's size, network mode and roles, else of a
    new revision registered with every property (so a second deploy registers nothing)."""
    request = _camel({k: v for k, v in props.items() if k != "Tags"})
    ecs = clients.client("ecs")
    latest = clients.call(f"reading task definition {request['family']}", ecs.describe_task_definition,
                          taskDefinition=request["family"])["taskDefinition"]
    if all(latest.get(k) == request.get(k) for k in ("cpu", "memory", "networkMode", "taskRoleArn", "executionRoleArn")):
        return str(latest["taskDefinitionArn"]), False
    response = clients.call(f"registering task definition {request.get('family')}", ecs.register_task_definition,
                            **request)
    return str(response["taskDefinition"]["taskDefinitionArn"]), True


def _service(clients: AwsClients, rid: str, props: Mapping[str, Any], revisions: Mapping[str, str]) -> list[str]:
    ecs = clients.client("ecs")
    cluster, name = str(props["Cluster"]), str(props["ServiceName"])
    request: dict[str, Any] = {"cluster": cluster, "service": name}
    if str(props.get("TaskDefinition")) in revisions:
        request["taskDefinition"] = revisions[str(props["TaskDefinition"])]
    network = _camel(props.get("NetworkConfiguration"))
    if network:
        vpc = network["awsvpcConfiguration"]
        if isinstance(vpc.get("subnets"), str):  # a List<...> parameter's value is one comma-separated string
            vpc["subnets"] = vpc["subnets"].split(",")
        request["networkConfiguration"] = network
    current = clients.call(f"reading service {name}", ecs.describe_services, cluster=cluster, services=[name])
    now = (current.get("services") or [{}])[0]
    request = {k: v for k, v in request.items() if k in ("cluster", "service") or now.get(k) != v}
    if len(request) == 2:
        return []
    clients.call(f"updating service {name}", ecs.update_service, **request)
    return [f"{rid}: {', '.join(k for k in request if k not in ('cluster', 'service'))} (UpdateService)"]


def _scalable_target(clients: AwsClients, rid: str, props: Mapping[str, Any]) -> list[str]:
    aas = clients.client("application-autoscaling")
    request = {k: props[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension", "RoleARN") if k in props}
    request.update(MinCapacity=int(props["MinCapacity"]), MaxCapacity=int(props["MaxCapacity"]))
    clients.call(f"registering scalable target {props['ResourceId']}", aas.register_scalable_target, **request)
    return [f"{rid}: {props['ResourceId']} {request['MinCapacity']}..{request['MaxCapacity']} (RegisterScalableTarget)"]


def _scaling_policy(clients: AwsClients, rid: str, props: Mapping[str, Any]) -> list[str]:
    if "ScalingTargetId" in props:
        raise ConfigError(f"scaling policy {rid} names its target by ScalingTargetId, which the local deploy cannot "
                          "resolve; give ServiceNamespace, ResourceId and ScalableDimension instead")
    aas = clients.client("application-autoscaling")
    keys = ("PolicyName", "PolicyType", "ServiceNamespace", "ResourceId", "ScalableDimension",
            "TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration")
    request = {k: props[k] for k in keys if k in props}
    clients.call(f"putting scaling policy {props['PolicyName']}", aas.put_scaling_policy, **request)
    return [f"{rid}: {props['PolicyType']} policy {props['PolicyName']} (PutScalingPolicy)"]
