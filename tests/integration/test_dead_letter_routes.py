"""Routes to the DLQ over the moto server, each ending with the reason recorded: a process-pool run stopped at its
time limit, and a task that kills its pool process on every attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sqsq
from sqsq.dlq import DeadLetterQueue
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from tests.apps import chaos
from tests.conftest import Deployed, deploy
from tests.integration.test_reliability_delivery import log_of, sink, spawn_logged

WORKER = ("worker", "tests.apps.chaos:app", "--pool", "process", "-c", "2", "--wait-time-seconds", "1", "--burst",
          "--dlq-sweep-interval-seconds", "0")


@pytest.fixture
def chaos_app(local_aws: LocalAwsServer, tmp_path: Path) -> Any:
    d = deploy(chaos.app, local_aws, tmp_path, visibility_timeout_seconds=5, max_receive_count=3)
    yield d
    d.close()


def test_a_process_pool_run_past_its_time_limit_is_stopped_and_dead_lettered_with_time_limit_exceeded(
    chaos_app: Deployed,
) -> None:
    h = sqsq.send(chaos.hang, {"tag": "h1"})
    done = sqsq.send(chaos.mark, {"tag": "m1"})
    worker = spawn_logged(chaos_app, *WORKER, name="hang")
    assert worker.wait(timeout=120) == 0, log_of(worker)[-3000:]
    record = h.record()
    assert record is not None and (record.status, record.error_type) == (Status.FAILURE, "TimeLimitExceeded")
    assert "its pool process was stopped" in (record.error_message or "")
    assert done.get(timeout_seconds=5) == "m1"  # the other child's run was not disturbed
    (letter,) = DeadLetterQueue(chaos_app.app, "default").entries()
    assert (letter.task_id, letter.error_type) == (h.id, "TimeLimitExceeded")


def test_a_task_that_kills_its_pool_process_every_time_ends_failure_child_process_died(chaos_app: Deployed) -> None:
    h = sqsq.send(chaos.poison, {"tag": "p1"})  # max_retries=0, but a lost attempt is retried: 3 receives
    worker = spawn_logged(chaos_app, *WORKER, name="poison")
    assert worker.wait(timeout=120) == 0, log_of(worker)[-3000:]
    record = h.record()
    assert record is not None and (record.status, record.error_type) == (Status.FAILURE, "ChildProcessDied")
    assert "exit code 13" in (record.error_message or "")
    assert sum(1 for line in sink(chaos_app) if line.startswith("poison p1")) == 3  # every receive ran it
    (letter,) = DeadLetterQueue(chaos_app.app, "default").entries()
    assert letter.error_type == "ChildProcessDied"
