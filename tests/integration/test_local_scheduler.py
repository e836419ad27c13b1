"""The local EventBridge Scheduler and the controllable clock (issue 12): nothing here waits real minutes.

Each test reads the clock, creates schedules and advances the clock past their due times; the advance answers
once due schedules have fired (``LocalAwsServer.advance_clock``). The module has its own server, so its clock
jumps do not reach other test modules.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from sqsq.errors import LocalServerError
from sqsq.local.process import LocalAwsServer
from sqsq.local.scheduler.engine import MAX_CATCH_UP_FIRINGS
from tests.conftest import deploy

ROLE = "arn:aws:iam::123456789012:role/scheduler"


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAwsServer]:
    server = LocalAwsServer(port=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(aws: LocalAwsServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=aws.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def sqs(aws: LocalAwsServer) -> Any:
    return _client(aws, "sqs")


@pytest.fixture
def scheduler(aws: LocalAwsServer) -> Iterator[Any]:
    client = _client(aws, "scheduler")
    group = f"g{uuid.uuid4().hex[:8]}"
    client.create_schedule_group(Name=group)
    client.group = group  # the test's own group
    try:
        yield client
    finally:
        for item in client.list_schedules(GroupName=group).get("Schedules", []):
            client.delete_schedule(Name=item["Name"], GroupName=group)


def _queue(sqs: Any, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"q{uuid.uuid4().hex[:10]}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain(sqs: Any, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs).get("Messages", [])
        if not batch:
            return out
        out.extend(batch)
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _create(scheduler: Any, name: str, expression: str, target: dict[str, Any], **extra: Any) -> None:
    scheduler.create_schedule(Name=name, GroupName=scheduler.group, ScheduleExpression=expression,
                              FlexibleTimeWindow={"Mode": "OFF"}, Target={"RoleArn": ROLE, **target}, **extra)


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(epoch_seconds: float) -> str:
    return "at(" + datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ")"


# -- the clock ------------------------------------------------------------------------------------------------------


def test_clock_advances_only_forward_and_reports_its_offset(aws: LocalAwsServer) -> None:
    before = aws.clock()
    offset = aws.advance_clock(120)
    after = aws.clock()
    assert offset == pytest.approx(before["offset_seconds"] + 120)
    assert after["now"] >= before["now"] + 120
    with pytest.raises(LocalServerError, match="advance_seconds"):
        aws.advance_clock(-1)


def test_delay_seconds_obey_the_moved_clock_and_are_never_early(aws: LocalAwsServer, sqs: Any) -> None:
    url, _ = _queue(sqs)
    slow_url, _ = _queue(sqs, DelaySeconds="900")
    sqs.send_message(QueueUrl=url, MessageBody="in ten minutes", DelaySeconds=600)
    sqs.send_message(QueueUrl=slow_url, MessageBody="queue delay")
    aws.advance_clock(595)
    assert _drain(sqs, url) == []
    assert _drain(sqs, slow_url) == []
    aws.advance_clock(6)
    assert [m["Body"] for m in _drain(sqs, url)] == ["in ten minutes"]
    assert _drain(sqs, slow_url) == []
    aws.advance_clock(300)
    assert [m["Body"] for m in _drain(sqs, slow_url)] == ["queue delay"]


def test_visibility_timeouts_keep_real_time(aws: LocalAwsServer, sqs: Any) -> None:
    url, _ = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="held")
    assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]) == 1
    aws.advance_clock(3600)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


# -- firing -------------------------------------------------------------------------------------------------------


def test_one_time_schedule_fires_once_when_due_and_is_deleted_after_completion(
    aws: LocalAwsServer, sqs: Any, scheduler: Any
) -> None:
    url, arn = _queue(sqs)
    due = math.floor(aws.clock()["now"]) + 600
    _create(scheduler, "once", _at(due), {"Arn": arn, "Input": "go"}, ActionAfterCompletion="DELETE")
    _create(scheduler, "kept", _at(due), {"Arn": arn, "Input": "kept"})
    aws.advance_clock(due - aws.clock()["now"] - 5)
    assert _drain(sqs, url) == []
    aws.advance_clock(10)
    assert sorted(m["Body"] for m in _drain(sqs, url)) == ["go", "kept"]
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=scheduler.group)["Schedules"]]
    assert names == ["kept"]
    aws.advance_clock(3600)
    assert _drain(sqs, url) == []


def test_rate_schedule_fires_at_creation_then_every_period(aws: LocalAwsServer, sqs: Any, scheduler: Any) -> None:
    url, arn = _queue(sqs)
    _create(scheduler, "rate", "rate(5 minutes)", {"Arn": arn, "Input": "<aws.scheduler.scheduled-time>"})
    aws.advance_clock(16 * 60)
    times = sorted(datetime.fromisoformat(m["Body"].replace("Z", "+00:00")).timestamp() for m in _drain(sqs, url))
    assert len(times) == 4
    assert [b - a for a, b in itertools.pairwise(times)] == [300.0, 300.0, 300.0]


def test_rate_schedule_with_a_start_date_first_fires_then_and_a_flexible_window_fires_at_its_start(
    aws: LocalAwsServer, sqs: Any, scheduler: Any
) -> None:
    url, arn = _queue(sqs)
    start = math.floor(aws.clock()["now"] / 60) * 60 + 3600
    _create(scheduler, "later", "rate(10 minutes)", {"Arn": arn, "Input": "<aws.scheduler.scheduled-time>"},
            StartDate=datetime.fromtimestamp(start, UTC))
    scheduler.create_schedule(Name="flex", GroupName=scheduler.group, ScheduleExpression=_at(start + 60),
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                              Target={"RoleArn": ROLE, "Arn": arn, "Input": "flex"})
    aws.advance_clock(start - aws.clock()["now"] - 1)
    assert _drain(sqs, url) == []
    aws.advance_clock(61)
    assert sorted(m["Body"] for m in _drain(sqs, url)) == [_iso(start), "flex"]


def test_cron_schedule_fires_at_the_wall_time_of_its_time_zone(aws: LocalAwsServer, sqs: Any, scheduler: Any) -> None:
    from zoneinfo import ZoneInfo

    from sqsq.scheduling.expressions import parse

    url, arn = _queue(sqs)
    _create(scheduler, "berlin", "cron(0 3 * * ? *)", {"Arn": arn, "Input": "<aws.scheduler.scheduled-time>"},
            ScheduleExpressionTimezone="Europe/Berlin")
    now = aws.clock()["now"]
    due = parse("cron(0 3 * * ? *)", "Europe/Berlin").next_after(now)
    assert due is not None
    assert datetime.fromtimestamp(due, ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "03:00"
    aws.advance_clock(due - now - 30)
    assert _drain(sqs, url) == []
    aws.advance_clock(60)
    assert [m["Body"] for m in _drain(sqs, url)] == [_iso(due)]


def test_context_attributes_are_substituted_in_the_input(aws: LocalAwsServer, sqs: Any, scheduler: Any) -> None:
    url, arn = _queue(sqs)
    template = {k: f"<aws.scheduler.{k}>" for k in ("schedule-arn", "scheduled-time", "execution-id", "attempt-number")}
    due = math.floor(aws.clock()["now"]) + 120
    _create(scheduler, "ctx", _at(due), {"Arn": arn, "Input": json.dumps(template)})
    aws.advance_clock(180)
    [message] = _drain(sqs, url)
    body = json.loads(message["Body"])
    schedule_arn = scheduler.get_schedule(Name="ctx", GroupName=scheduler.group)["Arn"]
    assert body["schedule-arn"] == schedule_arn
    assert body["scheduled-time"] == _iso(due)
    assert body["attempt-number"] == "1"
    assert body["execution-id"] and "<" not in body["execution-id"]


def test_failed_target_is_retried_then_dead_lettered_with_the_scheduler_attributes(
    aws: LocalAwsServer, sqs: Any, scheduler: Any
) -> None:
    dlq_url, dlq_arn = _queue(sqs)
    missing = "arn:aws:sqs:us-east-1:123456789012:no-such-queue"
    due = math.floor(aws.clock()["now"]) + 60
    _create(scheduler, "broken", _at(due), {
        "Arn": missing, "Input": "attempt <aws.scheduler.attempt-number>",
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": dlq_arn},
    })
    aws.advance_clock(120)
    [event] = _drain(sqs, dlq_url, MessageAttributeNames=["All"])
    attributes = {k: v["StringValue"] for k, v in event["MessageAttributes"].items()}
    assert event["Body"] == "attempt 3"
    assert attributes["X-Amz-Scheduler-Attempt"] == "3"
    assert attributes["X-Amz-Scheduler-Target-Arn"] == missing
    assert attributes["X-Amz-Scheduler-Group"] == scheduler.group
    assert attributes["X-Amz-Scheduler-Schedule-Arn"].endswith(f"schedule/{scheduler.group}/broken")
    assert "NonExistentQueue" in attributes["X-Amz-Scheduler-Error-Code"]


def test_universal_send_message_target_carries_delay_seconds_on_the_moved_clock(
    aws: LocalAwsServer, sqs: Any, scheduler: Any
) -> None:
    url, _ = _queue(sqs)
    due = math.floor(aws.clock()["now"]) + 60
    request = {"QueueUrl": url, "MessageBody": "late", "DelaySeconds": 300,
               "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "eta"}}}
    _create(scheduler, "universal", _at(due),
            {"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "Input": json.dumps(request)})
    aws.advance_clock(120)
    assert _drain(sqs, url) == []  # fired, but its DelaySeconds still runs
    aws.advance_clock(240)
    assert _drain(sqs, url) == []
    aws.advance_clock(61)
    [message] = _drain(sqs, url, MessageAttributeNames=["All"])
    assert message["Body"] == "late"
    assert message["MessageAttributes"]["kind"]["StringValue"] == "eta"


def test_disabled_schedules_and_schedules_past_their_end_date_do_not_fire(
    aws: LocalAwsServer, sqs: Any, scheduler: Any
) -> None:
    url, arn = _queue(sqs)
    now = aws.clock()["now"]
    _create(scheduler, "off", "rate(1 minute)", {"Arn": arn, "Input": "off"}, State="DISABLED")
    _create(scheduler, "ended", "cron(* * * * ? *)", {"Arn": arn, "Input": "ended"},
            EndDate=datetime.fromtimestamp(now + 150, UTC))
    aws.advance_clock(600)
    bodies = [m["Body"] for m in _drain(sqs, url)]
    assert "off" not in bodies
    assert 1 <= bodies.count("ended") <= 3  # the minutes before EndDate only


def test_a_big_clock_jump_fires_missed_times_up_to_the_cap(aws: LocalAwsServer, sqs: Any, scheduler: Any) -> None:
    url, arn = _queue(sqs)
    _create(scheduler, "busy", "rate(1 minute)", {"Arn": arn, "Input": "<aws.scheduler.scheduled-time>"})
    aws.advance_clock(30 * 24 * 3600)  # 30 days: 43,200 missed minutes
    first = {m["Body"] for m in _drain(sqs, url)}
    assert len(first) == 1 + MAX_CATCH_UP_FIRINGS  # at creation, then the cap
    aws.advance_clock(60)
    assert len(_drain(sqs, url)) == 1  # then on schedule again


def test_scheduler_api_calls_are_counted_by_action(aws: LocalAwsServer, sqs: Any, scheduler: Any) -> None:
    _, arn = _queue(sqs)
    aws.reset_request_counts()
    _create(scheduler, "counted", "rate(1 hour)", {"Arn": arn, "Input": "x"})
    scheduler.get_schedule(Name="counted", GroupName=scheduler.group)
    scheduler.list_schedules(GroupName=scheduler.group)
    counts = aws.request_counts()
    assert counts["scheduler:CreateSchedule"] == 1
    assert counts["scheduler:GetSchedule"] == 1
    assert counts["scheduler:ListSchedules"] == 1
    assert not any(k.startswith("sqs:SendMessage") for k in counts)  # the firing itself is no request


# -- periodic tasks -------------------------------------------------------------------------------------------------


SIGNING_KEYS = "k1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # 32 bytes, test only


@pytest.mark.parametrize("signing", [False, True], ids=["unsigned", "signed"])
def test_each_firing_of_a_periodic_task_runs_with_its_own_id_and_record(
    aws: LocalAwsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signing: bool
) -> None:
    from sqsq.app import AsyncResult
    from sqsq.results import Status
    from tests.apps.clockwork import app

    for key, value in aws.client_environment().items():
        monkeypatch.setenv(key, value)
    keys = {"signing_keys": SIGNING_KEYS} if signing else {}
    deployed = deploy(app, aws, tmp_path, **keys)  # provisioning creates the group and the schedule
    try:
        from sqsq.scheduling.periodic import schedule_group

        schedule = _client(aws, "scheduler").get_schedule(Name="every-ten", GroupName=schedule_group(app.settings))
        assert ('"sig":' in schedule["Target"]["Input"]) is signing
        now = aws.clock()["now"]
        first = math.floor(now / 600) * 600 + 600
        aws.advance_clock(first + 600 - now + 1)  # two firings: first and first + 10 min
        done = deployed.cli("worker", "tests.apps.clockwork:app", "--burst", timeout_seconds=120)
        assert done.returncode == 0, done.stderr
        ids = [f"periodic.every-ten:{_iso(t)}" for t in (first, first + 600)]
        for task_id in ids:
            record = AsyncResult(task_id, app=app).record()
            assert record is not None and record.status is Status.SUCCESS
            assert record.result_json == '"tick"'
        listing = deployed.cli("schedules", "tests.apps.clockwork:app", "--json")
        assert listing.returncode == 0, listing.stderr
        [recurring] = json.loads(listing.stdout)["recurring"]
        assert recurring["name"] == "every-ten" and recurring["expression"] == "cron(*/10 * * * ? *)"
        assert recurring["task"] == "clockwork.stamp" and len(recurring["next_firings"]) == 3
        # counted from the local AWS's moved clock, not from real time (which is 20 minutes behind it)
        assert recurring["next_firings"] == [first + 1200, first + 1800, first + 2400]
    finally:
        deployed.close()


def test_the_demo_templates_periodic_schedule_is_created_by_the_local_deploy_and_fires(
    aws: LocalAwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqsq.local.cloudformation import deploy_template
    from sqsq.scheduling.expressions import parse
    from tests.integration.test_template_file import TEMPLATE

    for key, value in aws.client_environment().items():
        monkeypatch.setenv(key, value)
    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = deploy_template(TEMPLATE, aws.endpoint_url, parameters={"Stage": stage})
    scheduler = _client(aws, "scheduler")
    schedule = scheduler.get_schedule(Name="census-nightly-count", GroupName=f"census-{stage}")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 3 * * ? *)", "Europe/Berlin")
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(f"census-{stage}-files-dlq")
    now = aws.clock()["now"]
    due = parse("cron(0 3 * * ? *)", "Europe/Berlin").next_after(now)
    assert due is not None
    aws.advance_clock(due - now + 1)
    sqs = _client(aws, "sqs")
    bodies = [json.loads(m["Body"]) for m in _drain(sqs, stack.physical_ids["FilesQueue"])]
    assert [(b["task"], b["id"], b["args"]) for b in bodies] == [
        ("census.count_files", f"periodic.census-nightly-count:{_iso(due)}", {"top_level_only": True})]


def test_a_send_due_in_two_hours_with_the_templates_settings_creates_its_schedule_and_runs_when_due(
    aws: LocalAwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed template's function environment (role ARN, queue prefix) is enough for a long delay: the send
    creates a one-time schedule in the template's group with the template's role; the moved clock fires it."""
    import os
    import subprocess
    import sys

    import sqsq
    from sqsq.config import load_settings
    from sqsq.local.cloudformation import deploy_template, settings_exports
    from sqsq.scheduling.one_time import schedule_name
    from tests.integration.test_template_file import TEMPLATE

    for key, value in aws.client_environment().items():
        monkeypatch.setenv(key, value)
    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = deploy_template(TEMPLATE, aws.endpoint_url, parameters={"Stage": stage})
    exports = settings_exports(stack)
    role_arn = _client(aws, "iam").get_role(RoleName=stack.physical_ids["SchedulerRole"])["Role"]["Arn"]
    assert exports["SQSQ_SCHEDULER_ROLE_ARN"] == role_arn
    env = {**exports, **aws.client_environment()}
    producer = sqsq.App("census", settings=load_settings(environ=env))  # the demo's own App stays unconfigured

    @producer.task(name="census.count_files", queue="files")
    def count_files(top_level_only: bool = False) -> int:
        raise AssertionError("the worker process runs it")

    due = aws.clock()["now"] + 2 * 3600
    handle = producer.send(count_files, {"top_level_only": True}, eta=datetime.fromtimestamp(due, UTC))
    assert handle.state == "SCHEDULED"
    schedule = _client(aws, "scheduler").get_schedule(Name=schedule_name(handle.id), GroupName=f"census-{stage}")
    assert schedule["Target"]["RoleArn"] == role_arn
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(f"census-{stage}-files-dlq")
    depth = producer.transport.depth(producer.queue_name("files"))
    assert (depth.visible, depth.delayed) == (0, 0)  # nothing reaches the queue before its schedule fires
    aws.advance_clock(due - aws.clock()["now"] + 1)
    worker_env = {**{k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}, **env,
                  "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "sqsq.cli", "worker", "sqsq.demo.app:app", "-Q", "files", "--burst"],
                          env=worker_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert isinstance(handle.get(timeout_seconds=5), int) and handle.state == "SUCCESS"


def test_read_server_now_is_the_moved_clock_locally_and_none_where_no_local_aws_answers(aws: LocalAwsServer) -> None:
    from sqsq.local.services.clock import read_server_now

    aws.advance_clock(60)
    before = aws.clock()["now"]
    local = read_server_now(aws.endpoint_url)
    assert local is not None and before <= local <= aws.clock()["now"]
    assert read_server_now("http://127.0.0.1:9") is None  # nothing listens there (the discard port)
