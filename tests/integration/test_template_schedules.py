"""The template's periodic tasks (issue 12): schedule group, least-privilege scheduler role, one schedule each;
cfn-lint and ``sam validate --lint`` pass on a rendered app with several."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqsq
from sqsq.template import TemplateOptions
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


def test_the_scheduler_role_may_only_send_to_the_periodic_tasks_queues_and_their_dlqs() -> None:
    role = _resources()["SchedulerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sqs:SendMessage"
    assert sorted(r["Fn::GetAtt"][0] for r in statement["Resource"]) == [
        "DefaultDeadLetterQueue", "DefaultQueue", "ReportsDeadLetterQueue", "ReportsQueue"]


def test_an_app_without_periodic_tasks_renders_no_scheduler_resources() -> None:
    app = sqsq.App("plain")

    @app.task(name="plain.t")
    def t() -> None: ...

    types = {r["Type"] for r in render_template(app, TemplateOptions())["Resources"].values()}
    assert not any(kind.startswith("AWS::Scheduler::") for kind in types)


def test_cfn_lint_and_sam_validate_pass_on_an_app_with_periodic_tasks(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(dump_template(render_template(_app(), TemplateOptions())))
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert SAM.exists(), f"{SAM} is missing: `make .venv-sam/.installed` installs the SAM CLI"
    sam = subprocess.run([str(SAM), "validate", "--lint", "-t", str(path)], capture_output=True, text=True,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1",
                                            "HOME": str(tmp_path), "SAM_CLI_TELEMETRY": "0"})
    assert sam.returncode == 0 and "valid SAM Template" in sam.stdout + sam.stderr, sam.stdout + sam.stderr
