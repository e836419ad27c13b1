"""1,000-task runs under abuse: workers SIGKILLed at random moments, and 20 % of SQS and DynamoDB requests failing
(throttled, HTTP 500, connection dropped). Nothing may be lost; the figures are printed (run with ``-s``).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from typing import Any

import pytest

import sqsq
from sqsq.errors import AwsError
from sqsq.results import Status
from tests.apps import shop as shop_app
from tests.conftest import Deployed, stop_process
from tests.integration.test_reliability_delivery import log_of, make_shop, sink, spawn_logged, wait_for

__all__ = ["make_shop"]  # the fixture, re-used from the delivery tests

WORKER = ("worker", "tests.apps.shop:app", "--wait-time-seconds", "1", "--concurrency", "8")
N_TASKS = 1000


def _statuses(d: Deployed) -> Counter[str]:
    """Status of every record in the results table (one Scan, paginated), by task id -> counted by status."""
    client: Any = d.app._aws().dynamodb
    statuses: Counter[str] = Counter()
    kwargs: dict[str, Any] = {"TableName": d.app.settings.table_name, "ProjectionExpression": "#s",
                              "ExpressionAttributeNames": {"#s": "status"}}
    while True:
        page = client.scan(**kwargs)
        # Task records only: the table also holds sqsq's own items (the worker registry, revocation marker...).
        statuses.update(item["status"]["S"] for item in page.get("Items", []) if "status" in item)
        if "LastEvaluatedKey" not in page:
            return statuses
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _executions(d: Deployed) -> Counter[str]:
    return Counter(line.split()[1] for line in sink(d) if line.startswith("mark "))


def _queue_empty(d: Deployed) -> bool:
    try:
        depth = d.app.transport.depth(d.queue())
    except AwsError:  # the test's own look at the queue can hit an injected fault too: look again
        return False
    return (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)


@pytest.mark.slow
def test_workers_sigkilled_at_random_moments_lose_no_task(make_shop: Any) -> None:
    d: Deployed = make_shop(max_receive_count=10)
    handles = sqsq.send_many(shop_app.mark, [{"tag": f"k{i}"} for i in range(N_TASKS)])
    rng = random.Random(4)
    kills = 0
    for _ in range(4):
        victim = spawn_logged(d, *WORKER, name=f"victim{kills}")
        # A random moment measured in progress, not in seconds: how fast 1,000 tasks run depends on the machine (on
        # CI's, a random 0.3-2 s left time for only 2 kills), and at most 4 x 200 of them pass before the last kill.
        target = len(_executions(d)) + rng.randint(20, 200)
        wait_for(lambda v=victim, t=target: len(_executions(d)) >= t or v.poll() is not None, 60, "tasks to run")
        if victim.poll() is not None or len(_executions(d)) >= N_TASKS:
            break
        stop_process(victim, signal.SIGKILL)
        kills += 1
    final = spawn_logged(d, *WORKER, "--burst", name="final")
    assert final.wait(timeout=120) == 0, log_of(final)[-3000:]

    executions = _executions(d)
    statuses = _statuses(d)
    lost = [h.id for h, i in zip(handles, range(N_TASKS), strict=True) if f"k{i}" not in executions]
    duplicates = sum(executions.values()) - len(executions)
    print(f"\nSIGKILL run: tasks {N_TASKS}, kills {kills}, lost {len(lost)}, duplicate executions {duplicates}, "
          f"SUCCESS records {statuses[Status.SUCCESS.value]}")
    assert kills >= 3
    assert lost == []
    assert statuses == Counter({Status.SUCCESS.value: N_TASKS})
    assert _queue_empty(d)
    assert d.app.transport.depth(d.app.settings.dlq_name("default")).visible == 0


@pytest.mark.slow
def test_one_in_five_aws_requests_failing_loses_no_task_and_runs_each_once(make_shop: Any) -> None:
    d: Deployed = make_shop(max_receive_count=10)
    handles = sqsq.send_many(shop_app.mark, [{"tag": f"f{i}"} for i in range(N_TASKS)])
    d.server.set_faults(rate=0.2, services=["sqs", "dynamodb"], kinds=["throttle", "500", "drop"], seed=1234)
    try:
        worker = spawn_logged(d, *WORKER, name="faulted")
        deadline = time.monotonic() + 90
        while len(_executions(d)) < N_TASKS and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker died:\n" + log_of(worker)[-3000:]
            time.sleep(0.5)
        wait_for(lambda: _queue_empty(d), max(5.0, deadline - time.monotonic()), "the queue to empty")
        assert worker.poll() is None, "the worker died:\n" + log_of(worker)[-3000:]
    finally:
        faults = d.server.clear_faults()
    assert stop_process(worker) == 0
    worker_log = log_of(worker)

    executions = _executions(d)
    statuses = _statuses(d)
    lost = [h.id for h, i in zip(handles, range(N_TASKS), strict=True) if f"f{i}" not in executions]
    duplicates = sum(executions.values()) - len(executions)
    # The one INFO line per finished task (sqsq.task) is by design; the rest must not grow with the messages.
    log_lines = len([line for line in worker_log.splitlines() if " sqsq.task: " not in line])
    print(f"\nfault-injection run: tasks {N_TASKS}, faults injected {dict(faults)} (total {sum(faults.values())}), "
          f"lost {len(lost)}, duplicate executions {duplicates}, SUCCESS records {statuses[Status.SUCCESS.value]}, "
          f"worker log lines {log_lines}")
    assert sum(faults.values()) > 100
    assert lost == []
    assert statuses == Counter({Status.SUCCESS.value: N_TASKS})  # one SUCCESS record per task id
    assert _queue_empty(d)
    assert log_lines < 200, "failures must be logged once per interval, not once per message"
