"""Reading SAM templates: YAML with CloudFormation's short tags, offline evaluation of the intrinsics sqsq uses, and
the SQS-triggered functions with their event settings."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqsq.errors import ConfigError
from sqsq.extras import require
from sqsq.template.options import LAMBDA_DEFAULT_TIMEOUT_SECONDS

_SHORT_TAGS = (
    "Ref", "Condition", "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
    "Transform", "And", "Equals", "If", "Not", "Or", "GetAtt",
)


def load_template(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A template as a dict with long-form intrinsics, from a path, YAML/JSON text or a dict.

    Raises:
        ConfigError: the file is missing or is not a YAML mapping.
        MissingExtra: PyYAML is not installed (``pip install "sqsq[cli]"``).
    """
    if isinstance(source, Mapping):
        return dict(source)
    require("reading a SAM template", "yaml")
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def construct(tag: str) -> Any:
        key = "Ref" if tag in ("Ref", "Condition") else f"Fn::{tag}"

        def build(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
            if isinstance(node, yaml.ScalarNode):
                value: Any = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = str(value).split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
            return {key: value} if tag != "Condition" else {"Condition": value}

        return build

    for tag in _SHORT_TAGS:
        _Loader.add_constructor(f"!{tag}", construct(tag))
    text = source
    is_path = isinstance(source, str) and "\n" not in source and (
        source.lower().endswith((".yaml", ".yml", ".json", ".template", ".cfn")) or Path(source).is_file()
    )
    if isinstance(source, Path) or is_path:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"template {str(path)!r} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"template {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        data = yaml.load(str(text), Loader=_Loader)  # a SafeLoader with the CFN tags only
    except yaml.YAMLError as exc:
        where = f" {str(source)!r}" if is_path or isinstance(source, Path) else ""
        raise ConfigError(f"template{where} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict) or "Resources" not in data:
        raise ConfigError("the template is not a CloudFormation/SAM mapping with Resources")
    return data


class Resolver:
    """Evaluates the intrinsics sqsq's templates use (Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::If) offline.

    Args:
        template: the template (long-form intrinsics).
        parameters: parameter values; missing ones take their Default.
        region: value of ``AWS::Region``.
        account_id: value of ``AWS::AccountId`` (moto's default account).
        stack_name: value of ``AWS::StackName``.
        physical_ids: logical id -> physical id of a deployed stack's resources (an IAM role's name); without
            one, an unnamed role's ARN is ``arn:aws:iam::<account>:role/<stack_name>-<logical id>`` (offline:
            CloudFormation names roles itself).

    Raises:
        ConfigError: a parameter without a value or Default is referenced.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        stack_name: str = "sqsq",
        physical_ids: Mapping[str, str] | None = None,
    ):
        self.template = template
        self.physical_ids: Mapping[str, str] = physical_ids or {}
        self.values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        for name, spec in (template.get("Parameters") or {}).items():
            if parameters and name in parameters:
                self.values[name] = parameters[name]
            elif "Default" in spec:
                self.values[name] = spec["Default"]
        self.resources: Mapping[str, Any] = template.get("Resources") or {}

    def resolve(self, value: Any) -> Any:
        """The value with every supported intrinsic evaluated (unsupported ones are returned unchanged)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(parts[0], parts[1])
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(i)) for i in items)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self._evaluate(value)
        resolved = ((k, self.resolve(v)) for k, v in value.items())
        return {k: v for k, v in resolved if v is not None}

    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's Conditions section."""
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise ConfigError(f"template uses condition {name!r}, which its Conditions section does not define")
        return self._evaluate(conditions[name])

    def _evaluate(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            (key, arg), = expr.items()
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._evaluate(arg[0])
            if key == "Fn::And":
                return all(self._evaluate(x) for x in arg)
            if key == "Fn::Or":
                return any(self._evaluate(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        return bool(self.resolve(expr))

    def _ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.resources:
            res = self.resources[name]
            if res.get("Type") == "AWS::SQS::Queue":
                return self._queue_url(name)
            props = res.get("Properties") or {}
            if res.get("Type") == "AWS::S3::Bucket" and "BucketName" not in props:
                return self.offline_bucket_name(name)
            for key in ("TableName", "FunctionName", "QueueName", "LogGroupName"):
                if key in props:
                    return self.resolve(props[key])
            return name
        raise ConfigError(f"template refers to {name!r}, which is neither a parameter with a value nor a resource")

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in extra:
                return str(self.resolve(extra[key]))
            if "." in key:
                res, att = key.split(".", 1)
                return str(self._get_att(res, att))
            return str(self._ref(key))

        return re.sub(r"\$\{([^!}][^}]*)\}", repl, str(text))

    def offline_bucket_name(self, resource_id: str) -> str:
        """The name an unnamed ``AWS::S3::Bucket`` gets off AWS (on AWS, CloudFormation chooses one).

        ``<resource id, lowercase>-<12 hex of SHA-256 over the template's queue names>``: unique per app and Stage, so
        the local AWS's CloudFormation creates the bucket under the name the local functions resolve.
        """
        queues = sorted(self.queue_name(rid) for rid, r in self.resources.items()
                        if r.get("Type") == "AWS::SQS::Queue" and "QueueName" in (r.get("Properties") or {}))
        digest = hashlib.sha256("\n".join(queues).encode()).hexdigest()[:12]
        return f"{resource_id.lower()[:40]}-{digest}"

    def queue_name(self, resource_id: str) -> str:
        """The physical name of an ``AWS::SQS::Queue`` resource (its QueueName, resolved)."""
        props = self.resources[resource_id].get("Properties") or {}
        if "QueueName" not in props:
            raise ConfigError(f"queue {resource_id} has no QueueName; sqsq needs named queues to find them")
        return str(self.resolve(props["QueueName"]))

    def _queue_url(self, resource_id: str) -> str:
        return f"https://sqs.{self.values['AWS::Region']}.amazonaws.com/{self.values['AWS::AccountId']}/" + (
            self.queue_name(resource_id)
        )

    def _get_att(self, resource_id: str, attribute: str) -> Any:
        res = self.resources.get(resource_id)
        if res is None:
            raise ConfigError(f"Fn::GetAtt names {resource_id!r}, which is not a resource of the template")
        region, account = self.values["AWS::Region"], self.values["AWS::AccountId"]
        if res.get("Type") == "AWS::SQS::Queue":
            if attribute == "Arn":
                return f"arn:aws:sqs:{region}:{account}:{self.queue_name(resource_id)}"
            if attribute == "QueueName":
                return self.queue_name(resource_id)
        if res.get("Type") == "AWS::IAM::Role" and attribute == "Arn":
            props = res.get("Properties") or {}
            name = self.physical_ids.get(resource_id) or (
                self.resolve(props["RoleName"]) if "RoleName" in props
                else f"{self.values['AWS::StackName']}-{resource_id}")
            return f"arn:aws:iam::{account}:role/{name}"
        return {"Fn::GetAtt": [resource_id, attribute]}


@dataclass(frozen=True)
class SqsEventSpec:
    """One SQS event source of a function, with the settings the event source mapping uses.

    Attributes:
        event_id: the event's name in the template.
        queue_resource_id: the queue's logical id (``None`` when given as a literal ARN).
        queue_name: the physical queue name.
        visibility_timeout_seconds: the queue's VisibilityTimeout (SQS default 30).
        max_receive_count: the queue's redrive maxReceiveCount, or ``None`` without a redrive policy.
        batch_size: BatchSize (default 10).
        batching_window_seconds: MaximumBatchingWindowInSeconds (default 0).
        report_batch_item_failures: FunctionResponseTypes contains ReportBatchItemFailures.
        maximum_concurrency: ScalingConfig.MaximumConcurrency, or ``None``.
        enabled: the mapping is enabled (default True).
    """

    event_id: str
    queue_resource_id: str | None
    queue_name: str
    visibility_timeout_seconds: int
    max_receive_count: int | None
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    """A function of a template that consumes SQS queues.

    Attributes:
        resource_id: the function's logical id.
        handler: Handler (``path/module.attribute``).
        timeout_seconds: Timeout (Globals, else Lambda's default 3 s).
        reserved_concurrency: ReservedConcurrentExecutions, or ``None``.
        environment: Environment.Variables, resolved.
        events: its SQS events.
        code_uri: CodeUri as written (a folder relative to the template, or an ``s3://`` URI once packaged).
        layers: logical ids of the template's layers the function uses (``Ref`` entries of Layers).
        memory_size_mb: MemorySize (Lambda's default 128).
        runtime: Runtime.
    """

    resource_id: str
    handler: str
    timeout_seconds: int
    reserved_concurrency: int | None
    environment: dict[str, str]
    events: list[SqsEventSpec] = field(default_factory=list)
    code_uri: str | None = None
    layers: list[str] = field(default_factory=list)
    memory_size_mb: int = 128
    runtime: str = ""


def sqs_functions(
    template: Mapping[str, Any],
    parameters: Mapping[str, str] | None = None,
    physical_ids: Mapping[str, str] | None = None,
) -> list[FunctionSpec]:
    """Every ``AWS::Serverless::Function`` with SQS events, its settings resolved with ``parameters`` (and a deployed
    stack's ``physical_ids``, see :class:`Resolver`).

    Raises:
        ConfigError: an SQS event's queue cannot be resolved to a queue name.
    """
    r = Resolver(template, parameters, physical_ids=physical_ids)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    out = []
    for rid, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **(res.get("Properties") or {})}
        events = []
        for eid, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            events.append(_sqs_event(r, rid, eid, event.get("Properties") or {}))
        if not events:
            continue
        env = r.resolve((props.get("Environment") or {}).get("Variables") or {})
        reserved = props.get("ReservedConcurrentExecutions")
        out.append(
            FunctionSpec(
                resource_id=rid,
                handler=str(props.get("Handler", "")),
                timeout_seconds=int(r.resolve(props.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_SECONDS))),
                reserved_concurrency=None if reserved is None else int(r.resolve(reserved)),
                environment={str(k): str(v) for k, v in env.items()},
                events=events,
                code_uri=None if props.get("CodeUri") is None else str(props["CodeUri"]),
                layers=[str(x["Ref"]) for x in props.get("Layers") or [] if isinstance(x, dict) and "Ref" in x],
                memory_size_mb=int(r.resolve(props.get("MemorySize", 128))),
                runtime=str(props.get("Runtime", "")),
            )
        )
    return out


def _sqs_event(r: Resolver, rid: str, eid: str, ep: Mapping[str, Any]) -> SqsEventSpec:
    """One SQS event of function ``rid``, its queue's name, visibility timeout and maxReceiveCount resolved.

    Raises:
        ConfigError: the event's queue resolves to no queue name.
    """
    queue = ep.get("Queue")
    queue_rid: str | None = None
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        att = queue["Fn::GetAtt"]
        queue_rid = att.split(".", 1)[0] if isinstance(att, str) else att[0]
    if queue_rid is not None and queue_rid in r.resources:
        qprops = r.resources[queue_rid].get("Properties") or {}
        queue_name = r.queue_name(queue_rid)
        vt = int(r.resolve(qprops.get("VisibilityTimeout", 30)))
        redrive = r.resolve(qprops.get("RedrivePolicy") or {})
        mrc = int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None
    else:
        arn = r.resolve(queue)
        if not isinstance(arn, str):
            raise ConfigError(f"function {rid} event {eid}: cannot resolve its Queue {queue!r}")
        queue_name, vt, mrc = arn.rsplit(":", 1)[1], 30, None
    types = r.resolve(ep.get("FunctionResponseTypes") or [])
    scaling = r.resolve(ep.get("ScalingConfig") or {})
    return SqsEventSpec(
        event_id=eid,
        queue_resource_id=queue_rid,
        queue_name=queue_name,
        visibility_timeout_seconds=vt,
        max_receive_count=mrc,
        batch_size=int(r.resolve(ep.get("BatchSize", 10))),
        batching_window_seconds=int(r.resolve(ep.get("MaximumBatchingWindowInSeconds", 0))),
        report_batch_item_failures="ReportBatchItemFailures" in types,
        maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        enabled=bool(r.resolve(ep.get("Enabled", True))),
    )
