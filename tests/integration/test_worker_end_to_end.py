"""Delivery, retries, dead letters and crashes: a real worker process against moto server over HTTP.

Queues here have VisibilityTimeout 2 s and a redrive policy with maxReceiveCount 3 (see tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from decimal import Decimal

import pytest

import sqsq
from sqsq.message import undecodable_id
from sqsq.results import Status
from sqsq.transport import OutgoingMessage
from tests.apps import shop as shop_app
from tests.conftest import Deployed, deploy, stop_process

WORKER = ("worker", "tests.apps.shop:app", "--wait-time-seconds", "1")


def _burst(shop: Deployed, *extra: str, timeout_seconds: float = 90) -> str:
    proc = shop.spawn(*WORKER, "--burst", *extra)
    _, err = proc.communicate(timeout=timeout_seconds)
    assert proc.returncode == 0, err.decode()[-3000:]
    return err.decode()


def _sink(shop: Deployed) -> list[str]:
    path = shop.tmp / "sink.txt"
    return path.read_text().splitlines() if path.exists() else []


def _dlq_bodies(shop: Deployed, logical: str = "default") -> list[str]:
    dlq = shop.app.settings.dlq_name(logical)
    bodies = []
    for _ in range(3):
        got = shop.app.transport.receive(dlq, 10, 1)
        bodies += [m.body for m in got]
        if got:
            shop.app.transport.change_visibility_batch(dlq, [(m.receipt_handle, 0) for m in got])
            break
    return bodies


def test_sent_tasks_run_and_their_results_are_read_back(shop: Deployed) -> None:
    adds = sqsq.send_many(shop_app.add, [{"x": i, "y": 1} for i in range(25)])
    resized = sqsq.send(shop_app.resize, shop_app.Resize(key="a.png"))
    _burst(shop)
    assert [h.get(timeout_seconds=5) for h in adds] == [i + 1 for i in range(25)]
    assert resized.get(timeout_seconds=5) == {"key": "a.png", "width": 256}
    assert sqsq.AsyncResult(adds[0].id, app=shop.app).status is Status.SUCCESS
    depth = shop.app.transport.depth(shop.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)


def test_non_json_native_arguments_and_exact_results_round_trip(shop: Deployed) -> None:
    order = shop_app.Order(
        when=dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        order_id=uuid.uuid4(),
        amount=Decimal("0.10"),
        tags={"gift", "express"},
        colour=shop_app.Colour.BLUE,
    )
    echoed = sqsq.send(shop_app.echo_order, order)
    precise = sqsq.send(shop_app.precise, {})
    _burst(shop)
    assert echoed.get(timeout_seconds=5) == order
    value = precise.get(timeout_seconds=5)
    assert value["float"] == 0.1 and value["big"] == 2**80
    record = precise.record()
    assert record is not None and json.loads(record.result_json or "")["decimal"] == "0.10"


def test_failing_task_shows_retry_then_failure_and_its_message_reaches_the_dlq(shop: Deployed) -> None:
    h = sqsq.send(shop_app.boom, {"message": "disk full"})
    proc = shop.spawn(*WORKER, "--burst")
    seen: set[Status] = set()
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        record = h.record()
        if record is not None:
            seen.add(record.status)
            if record.status is Status.RETRY:
                assert record.error_type == "RuntimeError" and record.error_message == "disk full"
        time.sleep(0.1)
    assert proc.wait(timeout=60) == 0
    assert Status.RETRY in seen
    with pytest.raises(sqsq.TaskFailed) as err:
        h.get(timeout_seconds=1)
    assert (err.value.error_type, err.value.error_message) == ("RuntimeError", "disk full")
    record = h.record()
    assert record is not None and record.attempts == 3  # maxReceiveCount of the queue
    assert _sink(shop).count("boom disk full") == 3
    assert [json.loads(b)["id"] for b in _dlq_bodies(shop)] == [h.id]
    assert shop.app.transport.depth(shop.queue()).visible == 0


def test_worker_that_dies_mid_task_loses_nothing(shop: Deployed) -> None:
    marker = shop.tmp / "crashed-once"
    h = sqsq.send(shop_app.crash_once, {"marker": str(marker)})
    first = shop.spawn(*WORKER)
    assert first.wait(timeout=60) == 137  # died like SIGKILL/OOM inside the task, before any delete
    assert marker.exists()
    _burst(shop)  # the message came back after its visibility timeout
    assert h.get(timeout_seconds=5) == "recovered"
    record = h.record()
    assert record is not None and record.attempts == 2


def test_sigkill_during_a_task_reruns_it_after_the_visibility_timeout(shop: Deployed) -> None:
    h = sqsq.send(shop_app.sleepy, {"seconds": 1.5, "tag": "slow"})
    victim = shop.spawn(*WORKER)
    deadline = time.monotonic() + 30
    while not any(line.startswith("start slow") for line in _sink(shop)):
        assert time.monotonic() < deadline, "task never started"
        time.sleep(0.05)
    stop_process(victim, signal.SIGKILL)
    assert h.record() is None  # nothing recorded, nothing deleted
    _burst(shop)
    assert h.get(timeout_seconds=5) == "slow"
    assert sum(line.startswith("start slow") for line in _sink(shop)) == 2


def test_unknown_task_and_malformed_body_are_recorded_and_the_worker_keeps_running(shop: Deployed) -> None:
    queue = shop.queue()
    unknown_id = str(uuid.uuid4())
    shop.app.transport.send_batch(queue, [
        OutgoingMessage("a", json.dumps({"v": 1, "id": unknown_id, "task": "no.such.task", "args": {}})),
        OutgoingMessage("b", "this is not json"),
        OutgoingMessage("c", json.dumps({"v": 1, "id": "bad-args", "task": "tests.add", "args": {"x": "y"}})),
    ])
    good = sqsq.send(shop_app.add, {"x": 40, "y": 2})
    _burst(shop)
    assert good.get(timeout_seconds=5) == 42
    unknown = sqsq.AsyncResult(unknown_id, app=shop.app).record()
    assert unknown is not None and unknown.status is Status.FAILURE and unknown.error_type == "TaskNotRegistered"
    bad_args = sqsq.AsyncResult("bad-args", app=shop.app).record()
    assert bad_args is not None and bad_args.error_type == "ValidationError"
    bodies = _dlq_bodies(shop)
    assert "this is not json" in bodies and len(bodies) == 3
    garbage = sqsq.AsyncResult(undecodable_id("this is not json"), app=shop.app).record()
    assert garbage is not None and garbage.status is Status.FAILURE and garbage.error_type == "MessageDecodeError"


def test_message_caught_by_a_long_poll_in_flight_at_sigterm_is_released_not_stranded(shop: Deployed) -> None:
    # A worker stopping while its long poll is in flight waits for the poll (within the grace period) and releases
    # what it returns, instead of stranding that message for a whole visibility timeout and spending a receive.
    deploy_vt = 60
    shop = deploy(shop_app.app, shop.server, shop.tmp, visibility_timeout_seconds=deploy_vt)
    proc = shop.spawn("worker", "tests.apps.shop:app", "-Q", "default", "--wait-time-seconds", "5")
    try:
        time.sleep(2)  # started and inside a long poll on the empty queue
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(1.5)  # no task runs, yet the worker must still be there, waiting for its poll
        h = sqsq.send(shop_app.add, {"x": 1, "y": 1})  # arrives while that poll is still waiting
        assert proc.wait(timeout=30) == 0
        depth = shop.app.transport.depth(shop.queue())
        assert (depth.visible, depth.in_flight) == (1, 0)  # released at once, not invisible for 60 s
        assert h.record() is None  # not run by the stopping worker
    finally:
        stop_process(proc)
    _burst(shop)
    assert h.get(timeout_seconds=5) == 2


def test_burst_worker_exits_once_its_queues_are_empty(shop: Deployed) -> None:
    h = sqsq.send(shop_app.add, {"x": 1, "y": 1})
    started = time.monotonic()
    proc = shop.spawn("worker", "tests.apps.shop:app", "--burst")  # WaitTimeSeconds 20
    assert proc.wait(timeout=60) == 0
    assert h.get(timeout_seconds=5) == 2
    assert time.monotonic() - started < 18  # no second 20 s long poll after the queues were found empty
