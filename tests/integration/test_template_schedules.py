"""The template's scheduling (issue 12): schedule group, least-privilege scheduler role, one schedule per periodic
task, and every function and worker service allowed to create one-time schedules (sends due past 900 s) with that
role; cfn-lint and ``sam validate --lint`` pass on a rendered app with several periodic tasks and on one with none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sqsq
from sqsq.template import TemplateOptions
from sqsq.template.fargate import FargateOptions
from sqsq.template.render import dump_template, render_template

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def _app() -> sqsq.App:
    app = sqsq.App("almanac")

    @app.task(name="almanac.report", queue="reports")
    def report(day: str) -> str:
        return day

    @app.task(name="almanac.ping")
    def ping() -> None: ...

    @app.task(name="almanac.unscheduled", queue="other")
    def unscheduled() -> None: ...

    app.schedule(report, sqsq.cron("0 3 * * *", timezone="Europe/Berlin"), args={"day": "today"}, name="nightly",
                 flexible_window_minutes=15)
    app.schedule(ping, sqsq.every(seconds=300), name="heartbeat")
    return app


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = render_template(_app(), TemplateOptions())["Resources"]
    return resources


def test_one_schedule_per_periodic_task_in_the_apps_group_with_retry_dlq_window_and_time_zone() -> None:
    resources = _resources()
    assert resources["SchedulesGroup"] == {"Type": "AWS::Scheduler::ScheduleGroup",
                                           "Properties": {"Name": {"Fn::Sub": "almanac-${Stage}"}}}
    nightly = resources["NightlySchedule"]["Properties"]
    assert nightly["GroupName"] == {"Fn::Sub": "almanac-${Stage}"}
    assert (nightly["ScheduleExpression"], nightly["ScheduleExpressionTimezone"]) == ("cron(0 3 * * ? *)",
                                                                                      "Europe/Berlin")
    assert nightly["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    target = nightly["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["ReportsQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ReportsDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert json.loads(target["Input"])["id"] == "periodic.nightly:<aws.scheduler.scheduled-time>"
    heartbeat = resources["HeartbeatSchedule"]["Properties"]
    assert heartbeat["ScheduleExpression"] == "rate(5 minutes)"
    assert heartbeat["FlexibleTimeWindow"] == {"Mode": "OFF"}


def test_the_scheduler_role_may_only_send_to_the_apps_queues_and_their_dlqs_for_this_account() -> None:
    role = _resources()["SchedulerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sqs:SendMessage"
    # every queue: any task may be sent with a long delay, not only the periodic ones
    assert sorted(r["Fn::GetAtt"][0] for r in statement["Resource"]) == [
        "DefaultDeadLetterQueue", "DefaultQueue", "OtherDeadLetterQueue", "OtherQueue", "ReportsDeadLetterQueue",
        "ReportsQueue"]


def _plain_app() -> sqsq.App:
    app = sqsq.App("plain")

    @app.task(name="plain.t")
    def t() -> None: ...

    @app.task(name="plain.w", queue="pollers")
    def w() -> None: ...

    app.declare_queue("pollers", consumer="worker")
    return app


def _sender_grants(statements: list[dict[str, Any]]) -> dict[str, Any]:
    by_sid = {s.get("Sid"): s for s in statements}
    return {sid: by_sid.get(sid) for sid in ("ScheduleLongDelays", "PassSchedulerRole")}


def test_an_app_without_periodic_tasks_still_gets_its_group_and_role_for_long_delays() -> None:
    resources = render_template(_plain_app(), TemplateOptions())["Resources"]
    assert resources["SchedulesGroup"]["Properties"] == {"Name": {"Fn::Sub": "plain-${Stage}"}}
    assert resources["SchedulerRole"]["Type"] == "AWS::IAM::Role"
    assert not any(r["Type"] == "AWS::Scheduler::Schedule" for r in resources.values())


def test_functions_and_worker_services_may_create_schedules_in_the_group_and_pass_only_the_scheduler_role() -> None:
    options = TemplateOptions(app_spec="tests.apps.shop:app", fargate=FargateOptions())
    template = render_template(_plain_app(), options)
    resources = template["Resources"]
    role_arn = {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    expected = {
        "ScheduleLongDelays": {
            "Sid": "ScheduleLongDelays", "Effect": "Allow",
            "Action": ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/"
                                    "plain-${Stage}/*"}},
        "PassSchedulerRole": {
            "Sid": "PassSchedulerRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}},
    }
    for role in ("ConsumerRole", "WorkerTaskRole"):
        [policy] = resources[role]["Properties"]["Policies"]
        assert _sender_grants(policy["PolicyDocument"]["Statement"]) == expected, role
    function_env = resources["DefaultFunction"]["Properties"]["Environment"]["Variables"]
    assert function_env["SQSQ_SCHEDULER_ROLE_ARN"] == role_arn
    [container] = resources["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"]
    worker_env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert worker_env["SQSQ_SCHEDULER_ROLE_ARN"] == role_arn
    assert template["Outputs"]["SchedulerRoleArn"]["Value"] == role_arn


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "no-periodic"])
def test_cfn_lint_and_sam_validate_pass_with_and_without_periodic_tasks(tmp_path: Path, periodic: bool) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(dump_template(render_template(_app() if periodic else _plain_app(), TemplateOptions())))
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert SAM.exists(), f"{SAM} is missing: `make .venv-sam/.installed` installs the SAM CLI"
    sam = subprocess.run([str(SAM), "validate", "--lint", "-t", str(path)], capture_output=True, text=True,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1",
                                            "HOME": str(tmp_path), "SAM_CLI_TELEMETRY": "0"})
    assert sam.returncode == 0 and "valid SAM Template" in sam.stdout + sam.stderr, sam.stdout + sam.stderr
