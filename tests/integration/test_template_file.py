"""template.yaml: rendered from the demo app's code, lint-clean, checked (B12/B14/B15), deployed into the local AWS."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

import sqsq
from sqsq.cli import EXIT_CONFIG, main
from sqsq.errors import ConfigError
from sqsq.local.cloudformation import deploy_template, settings_exports, translate_sam
from sqsq.local.server import LocalAwsServer
from sqsq.template import (
    TemplateOptions,
    check_template,
    load_template,
    render_template,
    render_template_yaml,
    required_visibility_timeout_seconds,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DEMO_SPEC = "sqsq.demo.app:app"
DEMO_OPTIONS = TemplateOptions(app_spec=DEMO_SPEC, code_uri="lambdas", layer_uri="infra/lambda-layer")
"""As `make template` renders it: the demo app ships inside sqsq (in the layer); lambdas/ is its CodeUri."""


def _demo_app() -> sqsq.App:
    from sqsq.demo.app import app

    return app


# -- the committed file and the code ------------------------------------------------------------------------


def test_committed_template_is_the_rendering_of_the_demo_app() -> None:
    rendered = render_template_yaml(_demo_app(), DEMO_OPTIONS)
    assert TEMPLATE.read_text(encoding="utf-8") == rendered, (
        "template.yaml differs from the demo app's tasks; regenerate it with `make template`"
    )


def test_rendering_is_deterministic() -> None:
    assert render_template_yaml(_demo_app()) == render_template_yaml(_demo_app())


def test_committed_template_is_cfn_lint_clean() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint is a dev dependency"
    done = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_committed_template_passes_the_lambda_checks() -> None:
    assert check_template(load_template(TEMPLATE)) == []


def test_template_uses_the_names_the_runtime_computes() -> None:
    from sqsq.template import Resolver

    app = _demo_app()
    template = load_template(TEMPLATE)
    stage = "qa"
    runtime = sqsq.config.load_settings(
        environ={}, app_name=app.name, queue_prefix=f"{app.name}-{stage}-", results_table=f"{app.name}-{stage}-results"
    )
    exports = settings_exports(
        type("Stack", (), {"template": template, "parameters": {"Stage": stage},  # type: ignore[arg-type]
                           "physical_ids": {"SchedulerRole": "census-qa-SchedulerRole-X1"}})()
    )
    assert exports == {
        "SQSQ_APP": DEMO_SPEC,
        "SQSQ_APP_NAME": app.name,
        "SQSQ_QUEUE_PREFIX": runtime.queue_prefix,
        "SQSQ_RESULTS_TABLE": runtime.table_name,
        # CloudFormation names the bucket on AWS; off AWS (and on the local AWS's CloudFormation) this name:
        "SQSQ_PAYLOAD_BUCKET": Resolver(template, {"Stage": stage}).offline_bucket_name("PayloadBucket"),
        # issue 12: sends due past 900 s; the schedule group is the runtime's default (the queue prefix without '-')
        "SQSQ_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/census-qa-SchedulerRole-X1",
    }
    group = template["Resources"]["SchedulesGroup"]["Properties"]["Name"]
    assert Resolver(template, {"Stage": stage}).resolve(group) == runtime.schedule_group_name == "census-qa"
    r = Resolver(template, {"Stage": stage})
    assert r.queue_name("FilesQueue") == runtime.physical_queue_name("files")
    assert r.queue_name("FilesDeadLetterQueue") == runtime.dlq_name("files")


# -- rendering rules ------------------------------------------------------------------------------------------


def _app_with_time_limit(seconds: float | None) -> sqsq.App:
    app = sqsq.App("limits")

    @app.task(name="t", queue="work", time_limit_seconds=seconds)
    def t() -> None: ...

    return app


def test_function_timeout_and_visibility_follow_the_longest_time_limit() -> None:
    template = render_template(_app_with_time_limit(100), TemplateOptions(batching_window_seconds=5, batch_size=10))
    fn = template["Resources"]["WorkFunction"]["Properties"]
    assert fn["Timeout"] == 110
    assert template["Resources"]["WorkQueue"]["Properties"]["VisibilityTimeout"] == 6 * 110 + 5


def test_function_timeout_defaults_to_60_seconds_without_time_limits() -> None:
    template = render_template(_app_with_time_limit(None))
    assert template["Resources"]["WorkFunction"]["Properties"]["Timeout"] == 60
    assert template["Resources"]["WorkQueue"]["Properties"]["VisibilityTimeout"] == 360


def test_time_limit_beyond_lambdas_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="900 s"):
        render_template(_app_with_time_limit(895))


def test_required_visibility_is_capped_at_twelve_hours() -> None:
    assert required_visibility_timeout_seconds(900, 300) == 5_700
    assert required_visibility_timeout_seconds(10_000, 0) == 43_200


# -- the check (B12, B14, B15) --------------------------------------------------------------------------------


def _broken(edit: Any) -> dict[str, Any]:
    template = copy.deepcopy(load_template(TEMPLATE))
    edit(template["Resources"])
    return template


def test_check_reports_visibility_below_six_times_timeout_with_both_numbers_and_the_minimum() -> None:
    def edit(res: dict[str, Any]) -> None:
        res["FilesQueue"]["Properties"]["VisibilityTimeout"] = 300
        res["FilesFunction"]["Properties"]["Timeout"] = 300
        res["FilesFunction"]["Properties"]["Events"]["FilesMessages"]["Properties"][
            "MaximumBatchingWindowInSeconds"] = 10

    findings = [f for f in check_template(_broken(edit)) if f.resource == "FilesFunction/FilesMessages"]
    assert [f.code for f in findings] == ["B14"]
    assert "VisibilityTimeout 300 s" in findings[0].message
    assert "timeout 300 s" in findings[0].message and "window 10 s" in findings[0].message
    assert "at least 1810 s" in findings[0].message


def test_check_reports_missing_report_batch_item_failures() -> None:
    def edit(res: dict[str, Any]) -> None:
        del res["FilesFunction"]["Properties"]["Events"]["FilesMessages"]["Properties"]["FunctionResponseTypes"]

    assert [(f.code, f.resource) for f in check_template(_broken(edit))] == [("B12", "FilesFunction/FilesMessages")]


def test_check_reports_low_max_receive_count_under_limited_concurrency_without_maximum_concurrency() -> None:
    def edit(res: dict[str, Any]) -> None:
        res["FilesFunction"]["Properties"]["ReservedConcurrentExecutions"] = 2
        del res["FilesFunction"]["Properties"]["Events"]["FilesMessages"]["Properties"]["ScalingConfig"]

    template = _broken(edit)
    assert check_template(template) == []  # maxReceiveCount 5 (the default)
    findings = check_template(template, {"MaxReceiveCount": "1"})
    assert [(f.code, f.resource) for f in findings] == [("B15", "FilesFunction/FilesMessages")]
    assert "maxReceiveCount 1 < 5" in findings[0].message


def test_cli_check_exits_with_config_error_and_names_the_minimum(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEMPLATE.read_text().replace("VisibilityTimeout: 360", "VisibilityTimeout: 60"))
    result = CliRunner().invoke(main, ["template", DEMO_SPEC, "--check", str(bad)])
    assert result.exit_code == EXIT_CONFIG
    assert "VisibilityTimeout 60 s" in result.output and "at least 360 s" in result.output
    ok = CliRunner().invoke(main, ["template", DEMO_SPEC, "--check", str(TEMPLATE)])
    assert ok.exit_code == 0, ok.output


def test_cli_template_writes_the_committed_template_and_the_layer_requirements(tmp_path: Path) -> None:
    out = tmp_path / "template.yaml"
    result = CliRunner().invoke(main, ["template", DEMO_SPEC, "-o", str(out), "--code-uri", "lambdas",
                                       "--layer-dir", "infra/lambda-layer", "--no-samconfig"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == TEMPLATE.read_text(encoding="utf-8")
    requirements = (tmp_path / "infra/lambda-layer/requirements.txt").read_text(encoding="utf-8")
    assert requirements == (ROOT / "infra/lambda-layer/requirements.txt").read_text(encoding="utf-8")
    wheel = requirements.splitlines()[2]  # after the two comment lines: sqsq built from this source tree
    assert (tmp_path / wheel).is_file() and wheel.startswith(".sqsq/wheels/sqsq-")
    assert not (tmp_path / "samconfig.toml").exists()


# -- offline translation and local deploy ---------------------------------------------------------------------


def test_sam_translation_runs_offline_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    cfn = translate_sam(load_template(TEMPLATE), {"Stage": "dev"})
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert "AWS::Lambda::Function" in types and "AWS::Lambda::EventSourceMapping" in types
    assert not any(t.startswith("AWS::Serverless") for t in types)


@pytest.fixture(scope="module")
def deployed(local_aws: LocalAwsServer) -> Any:
    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = deploy_template(TEMPLATE, local_aws.endpoint_url, parameters={"Stage": stage})
    return stack, stage


def _client(service: str, local_aws: LocalAwsServer) -> Any:
    return boto3.client(service, endpoint_url=local_aws.endpoint_url, region_name="us-east-1")


def test_deployed_queues_have_redrive_sse_and_visibility_of_six_times_the_timeout(
    deployed: Any, local_aws: LocalAwsServer
) -> None:
    stack, stage = deployed
    sqs, lam = _client("sqs", local_aws), _client("lambda", local_aws)
    for logical in ("files", "default"):
        timeout = lam.get_function(FunctionName=f"census-{stage}-{logical}")["Configuration"]["Timeout"]
        url = sqs.get_queue_url(QueueName=f"census-{stage}-{logical}")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":census-{stage}-{logical}-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
        assert int(attrs["VisibilityTimeout"]) >= 6 * timeout
        assert attrs["SqsManagedSseEnabled"] == "true"
        dlq_url = sqs.get_queue_url(QueueName=f"census-{stage}-{logical}-dlq")["QueueUrl"]
        dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert dlq_attrs["MessageRetentionPeriod"] == "1209600"
    assert stack.outputs["FilesQueueUrl"].endswith(f"/census-{stage}-files")


def test_deployed_table_has_ttl_and_point_in_time_recovery(deployed: Any, local_aws: LocalAwsServer) -> None:
    stack, stage = deployed
    ddb = _client("dynamodb", local_aws)
    table = f"census-{stage}-results"
    assert stack.outputs["ResultsTableName"] == table
    assert ddb.describe_table(TableName=table)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_deployed_function_reports_batch_item_failures_with_maximum_concurrency(
    deployed: Any, local_aws: LocalAwsServer
) -> None:
    _, stage = deployed
    lam = _client("lambda", local_aws)
    for logical in ("files", "default"):
        fn = lam.get_function(FunctionName=f"census-{stage}-{logical}")["Configuration"]
        assert fn["Handler"] == "sqsq.lambda_entry.handler"
        assert fn["Environment"]["Variables"]["SQSQ_APP"] == DEMO_SPEC
        assert fn["Environment"]["Variables"]["SQSQ_QUEUE_PREFIX"] == f"census-{stage}-"
        assert fn["Environment"]["Variables"]["SQSQ_RESULTS_TABLE"] == f"census-{stage}-results"
        mappings = lam.list_event_source_mappings(FunctionName=f"census-{stage}-{logical}")["EventSourceMappings"]
        assert [m["EventSourceArn"].rsplit(":", 1)[1] for m in mappings] == [f"census-{stage}-{logical}"]
        m = mappings[0]
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert m["ScalingConfig"]["MaximumConcurrency"] == 10
        assert m["BatchSize"] == 10
        assert m["State"] == "Disabled"  # moto would invoke it inside SendMessage; sqsq lambda-local polls instead


def _document(doc: Any) -> list[dict[str, Any]]:
    """moto 5.2.5 returns an inline policy created by CloudFormation as the Python repr of the dict."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = ast.literal_eval(doc)
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def test_deployed_role_allows_only_the_actions_sqsq_uses_on_its_own_resources(
    deployed: Any, local_aws: LocalAwsServer
) -> None:
    stack, stage = deployed
    iam = _client("iam", local_aws)
    role = stack.physical_ids["ConsumerRole"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    statements = [
        s for n in names for s in _document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
    ]
    by_sid = {s["Sid"]: s for s in statements}
    arn = f"arn:aws:sqs:us-east-1:123456789012:census-{stage}"
    queue_actions = [
        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
        "sqs:ReceiveMessage", "sqs:SendMessage",  # SendMessage: rescued copies (queues), dead-lettering (DLQs)
    ]
    assert sorted(by_sid["ConsumeQueues"]["Action"]) == queue_actions
    assert sorted(by_sid["ConsumeQueues"]["Resource"]) == [f"{arn}-default", f"{arn}-files"]
    assert sorted(by_sid["DeadLetterQueues"]["Action"]) == queue_actions  # + the DLQ sweep's reads and deletes
    assert sorted(by_sid["DeadLetterQueues"]["Resource"]) == [f"{arn}-default-dlq", f"{arn}-files-dlq"]
    assert sorted(by_sid["RecordResults"]["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert by_sid["RecordResults"]["Resource"].endswith(f":table/census-{stage}-results")
    assert all("*" not in json.dumps(s["Action"]) and s["Resource"] != "*" for s in statements)


def test_deployed_functions_may_create_schedules_in_their_group_and_pass_only_the_scheduler_role(
    deployed: Any, local_aws: LocalAwsServer
) -> None:
    """Issue 12: a send due past 900 s (or a retry past 12 h) inside a function creates a one-time schedule."""
    stack, stage = deployed
    iam, lam = _client("iam", local_aws), _client("lambda", local_aws)
    role = stack.physical_ids["ConsumerRole"]
    statements = [s for n in iam.list_role_policies(RoleName=role)["PolicyNames"]
                  for s in _document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])]
    by_sid = {s["Sid"]: s for s in statements}
    assert sorted(by_sid["ScheduleLongDelays"]["Action"]) == [
        "scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"]
    assert by_sid["ScheduleLongDelays"]["Resource"] == (
        f"arn:aws:scheduler:us-east-1:123456789012:schedule/census-{stage}/*")
    scheduler_role = iam.get_role(RoleName=stack.physical_ids["SchedulerRole"])["Role"]
    assert by_sid["PassSchedulerRole"]["Action"] == "iam:PassRole"
    assert by_sid["PassSchedulerRole"]["Resource"] == scheduler_role["Arn"]
    assert by_sid["PassSchedulerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    for logical in ("files", "default"):
        variables = lam.get_function(FunctionName=f"census-{stage}-{logical}")["Configuration"]["Environment"]
        assert variables["Variables"]["SQSQ_SCHEDULER_ROLE_ARN"] == scheduler_role["Arn"]
    assert settings_exports(stack)["SQSQ_SCHEDULER_ROLE_ARN"] == scheduler_role["Arn"]
    assert stack.outputs["SchedulerRoleArn"] == scheduler_role["Arn"]


def test_deployed_dead_letter_queues_have_an_alarm(deployed: Any, local_aws: LocalAwsServer) -> None:
    _, stage = deployed
    every = _client("cloudwatch", local_aws).describe_alarms(AlarmNamePrefix=f"census-{stage}-")["MetricAlarms"]
    # issue 15 added an oldest-message-age alarm per queue; the DLQ alarms are the rest
    alarms = [a for a in every if a["MetricName"] != "ApproximateAgeOfOldestMessage"]
    by_queue = {a["Dimensions"][0]["Value"]: a for a in alarms}
    assert set(by_queue) == {f"census-{stage}-files-dlq", f"census-{stage}-default-dlq"}
    for a in alarms:
        assert (a["MetricName"], a["ComparisonOperator"], a["Threshold"]) == (
            "ApproximateNumberOfMessagesVisible", "GreaterThanThreshold", 0.0)
    oldest = {a["Dimensions"][0]["Value"]: a["Threshold"] for a in every if a not in alarms}
    assert oldest == {f"census-{stage}-files": 900.0, f"census-{stage}-default": 900.0}


def test_deployed_functions_each_sweep_their_dead_letter_queue_every_minute(
    deployed: Any, local_aws: LocalAwsServer
) -> None:
    _, stage = deployed
    scheduler = _client("scheduler", local_aws)
    inputs = []
    for logical in ("files", "default"):
        schedule = scheduler.get_schedule(Name=f"census-{stage}-{logical}-dlq-sweep")
        assert schedule["Target"]["Arn"].endswith(f":function:census-{stage}-{logical}")
        assert schedule["ScheduleExpression"] == "rate(1 minute)"
        inputs.append(json.loads(schedule["Target"]["Input"]))
    assert inputs == [{"sqsq": "sweep", "queues": ["files"]}, {"sqsq": "sweep", "queues": ["default"]}]
