"""A redrive that sends a message twice under SQS faults still runs each task once (local AWS, real worker)."""

from __future__ import annotations

import signal
from collections import Counter
from typing import Any

import pytest

from sqsq.dlq import DeadLetterQueue, Selection
from sqsq.errors import AwsError
from sqsq.message import Envelope, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed, stop_process
from tests.integration.test_reliability_delivery import log_of, sink, spawn_logged

N_FAILED = 12
N_SUCCEEDED = 3


def _seed(shop: Deployed) -> tuple[list[str], list[str]]:
    """N_FAILED letters with a FAILURE record, N_SUCCEEDED older copies of tasks already SUCCESS."""
    app, dlq = shop.app, shop.app.settings.dlq_name("default")
    failed, succeeded, batch = [], [], []
    for i in range(N_FAILED + N_SUCCEEDED):
        env = Envelope(id=new_task_id(), task="tests.apps.shop.tally", args={"tag": f"t{i}"})
        if i < N_FAILED:
            failed.append(env.id)
            record = ResultRecord(env.id, Status.FAILURE, env.task, error_type="RuntimeError", error_message="down",
                                  attempts=3, sent_at=env.sent_at)  # the message's own record (same sent_at)
        else:
            succeeded.append(env.id)
            record = ResultRecord(env.id, Status.SUCCESS, env.task, result_json=f'"t{i}"', attempts=1,
                                  sent_at=env.sent_at)
        app.results.put(record.stamped(3600))
        batch.append(OutgoingMessage(str(len(batch)), env.to_body()))
        if len(batch) == 10:
            assert app.transport.send_batch(dlq, batch) == []
            batch = []
    if batch:
        assert app.transport.send_batch(dlq, batch) == []
    return failed, succeeded


def _redrive_until_empty(dlq: DeadLetterQueue) -> list[str]:
    """What an operator does under faults: redrive again until the DLQ is empty. Returns the task ids sent."""
    sent: list[str] = []
    for _ in range(30):
        try:
            report = dlq.redrive(Selection(everything=True))
        except AwsError:  # a receive from the DLQ failed for good: try again
            continue
        sent += report.moved + list(report.not_deleted)
        try:
            depth = dlq.transport.depth(dlq.dlq_name)
        except AwsError:
            continue
        if depth.visible + depth.in_flight + depth.delayed == 0:  # not just "nothing received": none in flight
            return sent
    raise AssertionError("the DLQ did not empty in 30 redrives")


@pytest.mark.timeout(300)
def test_redrive_sending_twice_under_sqs_faults_runs_each_task_once(shop: Deployed, monkeypatch: Any) -> None:
    failed, succeeded = _seed(shop)
    dlq = DeadLetterQueue(shop.app, "default", wait_seconds=1, visibility_timeout_seconds=2)
    real_delete = shop.app.transport.delete_batch

    def delete_lost(queue: str, handles: list[str]) -> Any:  # the DLQ delete after a send fails for good
        if queue == dlq.dlq_name:
            raise AwsError("InternalError: the DLQ delete failed (test)", code="InternalError")
        return real_delete(queue, handles)

    shop.server.set_faults(rate=0.6, services=["sqs"], kinds=["throttle", "500", "drop"], seed=9)
    try:
        monkeypatch.setattr(shop.app.transport, "delete_batch", delete_lost)
        first: list[str] = []
        while len(set(first)) < N_FAILED + N_SUCCEEDED:  # every letter sent once, and still in the DLQ
            try:
                report = dlq.redrive(Selection(everything=True))
            except AwsError:
                continue
            first += list(report.not_deleted)
        monkeypatch.setattr(shop.app.transport, "delete_batch", real_delete)
        second = _redrive_until_empty(dlq)
        copies = len(first) + len(second)
        assert copies >= 2 * (N_FAILED + N_SUCCEEDED)

        faults = shop.server.clear_faults()
        # The worker runs under faults too (fewer, so that its start-up calls, which are not retried, get through).
        shop.server.set_faults(rate=0.3, services=["sqs"], kinds=["throttle", "500", "drop"], seed=10)
        worker = spawn_logged(shop, "worker", "tests.apps.shop:app", "-Q", "default", "--burst",
                              "--wait-time-seconds", "1", "--concurrency", "4", name="redriven")
        try:
            assert worker.wait(timeout=240) == 0, log_of(worker)[-3000:]
        finally:
            stop_process(worker, signal.SIGKILL, timeout_seconds=5)
        faults = Counter(faults) + Counter(shop.server.clear_faults())
    finally:
        shop.server.clear_faults()

    runs = Counter(line.split()[1] for line in sink(shop) if line.startswith("tally "))
    print(f"\nredrive under 60 % SQS faults (worker under 30 %): letters {N_FAILED + N_SUCCEEDED}, copies sent {copies}, "
          f"faults injected {sum(faults.values())}, runs {sum(runs.values())}")
    assert runs == Counter({f"t{i}": 1 for i in range(N_FAILED)})  # the SUCCESS ones never ran again
    for task_id in failed + succeeded:
        record = shop.app.results.get(task_id)
        assert record is not None and record.status is Status.SUCCESS
    for task_id in succeeded:
        record = shop.app.results.get(task_id)
        assert record is not None and record.generation == 0  # not regressed, not rewritten
    for queue in (shop.queue(), dlq.dlq_name):
        depth = shop.app.transport.depth(queue)
        assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0), queue
