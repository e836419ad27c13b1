"""The local event source mapping against the local AWS: a template deployed with CloudFormation, its function
(``tests/apps/lambda_app.handler``) run in-process the way Lambda runs it."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sqsq.app import App
from sqsq.local.cloudformation import deploy_template, settings_exports
from sqsq.local.esm import EsmStats, run_local_esm
from sqsq.local.server import LocalAwsServer
from sqsq.results import ResultRecord, Status
from sqsq.template import TemplateOptions, render_template
from sqsq.worker import Worker
from tests.apps import lambda_app
from tests.conftest import deploy

ROOT = Path(__file__).resolve().parents[2]
MAX_RECEIVE_COUNT = 3
FUNCTION_TIMEOUT_SECONDS = 2
VISIBILITY_TIMEOUT_SECONDS = 5
"""Short for the tests (AWS's guidance, 6 x timeout, is what `sqsq template` renders; here we want quick returns)."""


@dataclass
class Stack:
    app: App
    template: dict[str, Any]
    parameters: dict[str, str]
    endpoint_url: str

    def run(self, **kwargs: Any) -> EsmStats:
        kwargs.setdefault("stop_when_empty", True)
        kwargs.setdefault("timeout_seconds", 30)
        return run_local_esm(self.template, self.endpoint_url, root=ROOT, parameters=self.parameters, **kwargs)

    @property
    def queue(self) -> str:
        return self.app.queue_name(None)

    @property
    def dlq(self) -> str:
        return self.app.settings.dlq_name(self.app.settings.default_queue)


def _template(report_batch_item_failures: bool = True) -> dict[str, Any]:
    template = render_template(lambda_app.app, TemplateOptions(handler="tests/apps/lambda_app.handler"))
    res = template["Resources"]
    functions = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Serverless::Function"]
    for fn in functions:
        fn["Timeout"] = FUNCTION_TIMEOUT_SECONDS
    for r in res.values():
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]:
            r["Properties"]["VisibilityTimeout"] = VISIBILITY_TIMEOUT_SECONDS
    if not report_batch_item_failures:
        for fn in functions:
            for event in fn["Events"].values():
                if event["Type"] == "SQS":  # (the other event is the DLQ sweep's schedule)
                    del event["Properties"]["FunctionResponseTypes"]
    return copy.deepcopy(template)


def _deploy(server: LocalAwsServer, report_batch_item_failures: bool = True) -> Stack:
    template = _template(report_batch_item_failures)
    parameters = {"Stage": f"t{uuid.uuid4().hex[:8]}", "MaxReceiveCount": str(MAX_RECEIVE_COUNT)}
    stack = deploy_template(template, server.endpoint_url, parameters=parameters)
    env = settings_exports(stack)
    app = lambda_app.app
    app.configure(
        endpoint_url=server.endpoint_url,
        queue_prefix=env["SQSQ_QUEUE_PREFIX"],
        results_table=env["SQSQ_RESULTS_TABLE"],
    )
    return Stack(app, template, parameters, server.endpoint_url)


@pytest.fixture
def stack(local_aws: LocalAwsServer) -> Iterator[Stack]:
    yield _deploy(local_aws)


def _record(app: App, task_id: str) -> ResultRecord | None:
    return app.results.get(task_id)


def test_successes_are_deleted_exactly_once(stack: Stack) -> None:
    handles = stack.app.send_many("lam.add", [{"x": i, "y": i} for i in range(12)])

    stats = stack.run()

    assert (stats.records_received, stats.records_deleted, stats.records_failed) == (12, 12, 0)
    assert stats.deletes_failed == 0
    depth = stack.app.transport.depth(stack.queue)
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)
    assert [h.get(timeout_seconds=5) for h in handles] == [2 * i for i in range(12)]


def test_poison_task_reaches_the_dlq_after_max_receive_count_invocations(stack: Stack) -> None:
    handle = stack.app.send("lam.poison", {"key": "p"})

    stats = stack.run()

    assert stats.records_received == MAX_RECEIVE_COUNT
    assert stats.records_deleted == 1  # the last attempt: copied to the DLQ, then deleted by "Lambda"
    assert stack.app.transport.depth(stack.dlq).visible == 1
    record = _record(stack.app, handle.id)
    assert record is not None and record.status is Status.FAILURE and record.attempts == MAX_RECEIVE_COUNT


def test_handler_exception_returns_the_whole_batch(stack: Stack) -> None:
    ok = stack.app.send("lam.add", {"x": 1, "y": 2})
    stack.app.send("lam.crash", {"key": "c"})

    stats = stack.run(stop_when_empty=False, timeout_seconds=1.5)

    assert stats.batch_errors >= 1
    assert stats.records_deleted == 0
    depth = stack.app.transport.depth(stack.queue)
    assert depth.visible + depth.in_flight == 2  # both come back after the visibility timeout
    record = _record(stack.app, ok.id)
    assert record is not None and record.status is Status.SUCCESS  # what ran stays done; the delete did not happen


def test_handler_timeout_returns_the_whole_batch(stack: Stack) -> None:
    stack.app.send("lam.sleep", {"seconds": FUNCTION_TIMEOUT_SECONDS + 1.0})

    stats = stack.run(stop_when_empty=False, timeout_seconds=FUNCTION_TIMEOUT_SECONDS + 0.5)

    assert stats.batch_timeouts == 1
    assert stats.records_deleted == 0
    depth = stack.app.transport.depth(stack.queue)
    assert depth.visible + depth.in_flight == 1  # still there: returns after its visibility timeout


def test_reported_failure_stays_in_the_queue_with_report_batch_item_failures(stack: Stack) -> None:
    with stack.app.batch():
        stack.app.send("lam.add", {"x": 1, "y": 1})
        failing = stack.app.send("lam.flaky", {"key": "f"})
        stack.app.send("lam.add", {"x": 2, "y": 2})

    stats = stack.run(stop_when_empty=False, timeout_seconds=1.5)

    assert (stats.records_deleted, stats.records_failed) == (2, 1)
    assert stack.app.transport.depth(stack.queue).in_flight == 1  # held back by its 7 s backoff, to run again
    record = _record(stack.app, failing.id)
    assert record is not None and record.status is Status.RETRY


def test_without_report_batch_item_failures_a_normal_return_deletes_the_failed_record_too(
    local_aws: LocalAwsServer,
) -> None:
    stack = _deploy(local_aws, report_batch_item_failures=False)
    with stack.app.batch():
        stack.app.send("lam.add", {"x": 1, "y": 1})
        failing = stack.app.send("lam.flaky", {"key": "f"})
        stack.app.send("lam.add", {"x": 2, "y": 2})

    stats = stack.run()

    # B12 as Lambda does it: the handler reported the failure, nobody read it, the record is gone.
    assert (stats.records_received, stats.records_deleted) == (3, 3)
    assert stack.app.transport.depth(stack.dlq).visible == 0
    record = _record(stack.app, failing.id)
    assert record is not None and record.status is Status.RETRY and record.attempts == 1


def _outcomes(app: App, handles: dict[str, str]) -> dict[str, tuple[Any, ...]]:
    out = {}
    for key, task_id in handles.items():
        r = app.results.get(task_id)
        assert r is not None, key
        out[key] = (r.status, r.result_json, r.error_type, r.attempts)
    return out


def _workload(app: App) -> dict[str, str]:
    handles = {f"add {i}": app.send("lam.add", {"x": i, "y": 10}).id for i in range(6)}
    handles["poison"] = app.send("lam.poison", {"key": "p"}).id
    return handles


def test_results_match_the_poller_path_for_the_same_workload(local_aws: LocalAwsServer, tmp_path: Path) -> None:
    stack = _deploy(local_aws)
    lambda_handles = _workload(stack.app)
    stack.run()
    via_lambda = _outcomes(stack.app, lambda_handles)
    lambda_dlq = stack.app.transport.depth(stack.dlq).visible

    deployed = deploy(lambda_app.app, local_aws, tmp_path, max_receive_count=MAX_RECEIVE_COUNT)
    poller_handles = _workload(deployed.app)
    Worker(deployed.app, concurrency=4, wait_time_seconds=1, burst=True).run()
    via_poller = _outcomes(deployed.app, poller_handles)
    poller_dlq = deployed.app.transport.depth(deployed.app.settings.dlq_name("default")).visible

    assert via_lambda == via_poller
    assert via_lambda["poison"][0] is Status.FAILURE
    assert lambda_dlq == poller_dlq == 1


def test_cli_lambda_local_runs_the_demo_template_until_its_queues_are_empty(local_aws: LocalAwsServer) -> None:
    from sqsq.demo.app import app as demo

    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = deploy_template(ROOT / "template.yaml", local_aws.endpoint_url, parameters={"Stage": stage})
    env = settings_exports(stack)
    demo.configure(
        endpoint_url=local_aws.endpoint_url,
        queue_prefix=env["SQSQ_QUEUE_PREFIX"],
        results_table=env["SQSQ_RESULTS_TABLE"],
    )
    good = demo.send("census.parse_file", {"relative_path": "json/__init__.py"})
    bad = demo.send("census.parse_file", {"relative_path": "../outside.py"})

    done = subprocess.run(
        [sys.executable, "-m", "sqsq.cli", "--log-level", "WARNING", "lambda-local", "--template", "template.yaml",
         "--stage", stage, "--stop-when-empty", "--timeout-seconds", "60", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
        env={**os.environ, "AWS_ENDPOINT_URL": local_aws.endpoint_url},
    )

    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert (stats["records_received"], stats["records_deleted"]) == (2, 2)
    assert good.get(timeout_seconds=5).relative_path == "json/__init__.py"
    record = demo.results.get(bad.id)
    assert record is not None and record.status is Status.FAILURE and record.error_type == "PermissionError"
    assert demo.transport.depth(demo.settings.dlq_name("files")).visible == 1


def test_run_local_esm_on_an_app_consumes_its_provisioned_queues(local_aws: LocalAwsServer, tmp_path: Path) -> None:
    deployed = deploy(lambda_app.app, local_aws, tmp_path, max_receive_count=MAX_RECEIVE_COUNT)
    handles = deployed.app.send_many("lam.add", [{"x": i, "y": 1} for i in range(5)])
    deployed.app.send("lam.poison", {"key": "p"})

    stats = run_local_esm(deployed.app, local_aws.endpoint_url, stop_when_empty=True, timeout_seconds=30)

    assert stats.records_deleted == 6  # 5 successes + the poison, copied to the DLQ on its last attempt
    assert [h.get(timeout_seconds=5) for h in handles] == [i + 1 for i in range(5)]
    assert deployed.app.transport.depth(deployed.app.settings.dlq_name("default")).visible == 1
