"""The same workflows through the local event source mapping (Lambda) and through a poller worker (issue 13): the
one executor continues them alike, so the records of every step and of the workflows are the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqsq
from sqsq.app import App
from sqsq.local.server import LocalAwsServer
from sqsq.worker import Worker
from tests.apps import lambda_app
from tests.conftest import deploy
from tests.integration.test_lambda_local import MAX_RECEIVE_COUNT, _deploy


def _workflows(app: App) -> dict[str, sqsq.WorkflowResult[Any]]:
    return {
        "chain": sqsq.chain(lambda_app.add.s(1, 2), lambda_app.double.s(), lambda_app.add.s(y=5).pass_as("x")).delay(),
        "chord": sqsq.chord([lambda_app.add.s(i, i) for i in range(15)], lambda_app.total.s()).delay(),
        "group": sqsq.group([lambda_app.double.s(i) for i in range(5)]).delay(),
    }


def _records(handles: dict[str, sqsq.WorkflowResult[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, h in handles.items():
        out[name] = (h.get(timeout_seconds=10), h.state,
                     [(s.id.removeprefix(h.id), s.task, s.status, s.error) for s in h.steps()])
        for step in h.steps():
            record = h.app.results.get(step.id)
            if record is not None:
                out[f"{name}{step.id.removeprefix(h.id)}"] = (record.status, record.result_json, record.attempts)
    return out


def test_workflows_leave_the_same_records_through_lambda_and_through_a_poller(
    local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    stack = _deploy(local_aws)
    lambda_handles = _workflows(stack.app)
    stack.run()
    via_lambda = _records(lambda_handles)

    deployed = deploy(lambda_app.app, local_aws, tmp_path, max_receive_count=MAX_RECEIVE_COUNT)
    poller_handles = _workflows(deployed.app)
    Worker(deployed.app, concurrency=4, wait_time_seconds=1, burst=True).run()
    via_poller = _records(poller_handles)

    assert via_lambda == via_poller
    assert via_lambda["chain"][0] == (1 + 2) * 2 + 5
    assert via_lambda["chord"][0] == sum(2 * i for i in range(15))
    assert via_lambda["group"][0] == [2 * i for i in range(5)]
