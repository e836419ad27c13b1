"""Requests per task, pinned: the AWS bill of sending, draining and idling, counted by the local AWS server.

Nothing here is timed. Counts come from the server (``LocalAwsServer.request_counts()``), which sees every request of
every process. Each test first warms the queue URL and attribute lookup (GetQueueUrl + GetQueueAttributes, made once
per process and queue) so that the counted window holds only the requests under test.

The throughput side of the same figures is ``bench/run.py`` (not part of this suite).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.worker import Worker
from tests.apps import shop as shop_app
from tests.conftest import Deployed, deploy, stop_process

DEFAULT_WAIT_TIME_SECONDS = 20
"""sqsq's default ReceiveMessage WaitTimeSeconds (Settings.wait_time_seconds)."""

_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

# An app of its own for the results-off case: the shop app has no ignore_result task. Its worker runs in a thread
# of the test process (the app is not importable by a worker subprocess), which counts the same on the server.
quiet = sqsq.App("quiet")


@quiet.task(name="tests.quiet.noop", ignore_result=True)
def quiet_noop(i: int) -> int:
    return i


def _warm(shop: Deployed) -> None:
    shop.app.transport.queue_info(shop.queue())


def _writes(counts: dict[str, int]) -> int:
    return sum(counts.get(f"dynamodb:{a}", 0) for a in _DYNAMODB_WRITES)


def _stop_twice(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGTERM again after 1 s: the second one ends the worker's wait for its long poll in flight
    (up to WaitTimeSeconds), which the server has already counted. Nothing is held by then."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            stop_process(proc, signal.SIGTERM, timeout_seconds=30)


def _wait_for_lines(path: Path, n: int, timeout_seconds: float) -> float:
    """Wait until ``path`` has ``n`` lines. Returns the monotonic time they were seen."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return time.monotonic()
        time.sleep(0.05)
    got = len(path.read_text().splitlines()) if path.exists() else 0
    raise AssertionError(f"only {got}/{n} tasks ran within {timeout_seconds} s")


def test_send_many_of_1000_makes_exactly_100_send_message_batch_requests(shop: Deployed) -> None:
    _warm(shop)
    shop.server.reset_request_counts()
    sqsq.send_many(shop_app.add, [{"x": i, "y": 0} for i in range(1000)])
    assert shop.server.request_counts() == {"sqs:SendMessageBatch": 100}


def test_1000_single_sends_inside_app_batch_make_exactly_100_send_message_batch_requests(shop: Deployed) -> None:
    _warm(shop)
    shop.server.reset_request_counts()
    with shop.app.batch():
        for i in range(1000):
            sqsq.send(shop_app.add, {"x": i, "y": 0})
    assert shop.server.request_counts() == {"sqs:SendMessageBatch": 100}


def test_single_sends_outside_a_batch_make_one_request_each(shop: Deployed) -> None:
    _warm(shop)
    shop.server.reset_request_counts()
    for i in range(20):
        sqsq.send(shop_app.add, {"x": i, "y": 0})
    assert shop.server.request_counts() == {"sqs:SendMessageBatch": 20}


def test_worker_draining_1000_tasks_makes_about_100_receives_100_deletes_and_one_write_per_task(
    local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    """A full queue drained by one worker: ~0.1 ReceiveMessage + 0.1 DeleteMessageBatch + 1 PutItem per task.

    How the empty receives are counted: the worker runs in normal (not burst) mode with the default long poll
    (WaitTimeSeconds 20) and is stopped with SIGTERM once every result is recorded and the queue is empty. Counts
    cover the whole process life, nothing subtracted: 2 start-up lookups, 100 full receives, and the long polls
    that came back empty after the queue drained: the one in flight at SIGTERM (one queue is consumed, `-Q default`:
    each queue has its own receiver and long poll), plus one per further 20 s the
    test took to notice (normally none). Burst mode is not used because its exit path adds GetQueueAttributes
    calls and short polls that measure the exit rule, not the steady cost. The queue's VisibilityTimeout is 30 s
    (not the fixtures' 2 s) so that no heartbeat is due while a message waits its turn on a slow machine.
    """
    shop = deploy(shop_app.app, local_aws, tmp_path, visibility_timeout_seconds=30)
    handles = sqsq.send_many(shop_app.add, [{"x": i, "y": 0} for i in range(1000)])
    shop.server.reset_request_counts()
    # One queue: one long poll. --loglevel WARNING: stderr is a pipe nobody reads until the end, and 1,000 tasks'
    # INFO lines (one per finished task) would fill it and block the worker.
    # --registry-interval-seconds 0: the worker registry's own PutItem per interval is pinned in test_task_index.py.
    # SQSQ_REVOCATION_CHECK_SECONDS=0: the revocation marker's read (one GetItem per 5 s by default while messages
    # arrive, not per task) is pinned in test_revocation_checks_* below; off here so the count below stays exact.
    proc = shop.spawn("worker", "tests.apps.shop:app", "-Q", "default", "--concurrency", "8", "--loglevel", "WARNING",
                      "--registry-interval-seconds", "0", extra_env={"SQSQ_REVOCATION_CHECK_SECONDS": "0"})
    try:
        last_task = _wait_for_lines(shop.tmp / "sink.txt", 1000, timeout_seconds=180)
        deadline = time.monotonic() + 60
        while True:  # results are written before the delete, so an empty queue means all are recorded
            depth = shop.app.transport.depth(shop.queue())
            if depth.visible == depth.in_flight == depth.delayed == 0:
                break
            assert time.monotonic() < deadline, f"queue not empty: {depth}"
            time.sleep(0.1)
        idle_seconds = time.monotonic() - last_task
    finally:
        _stop_twice(proc)
    counts = shop.server.request_counts()
    print("worker requests for 1,000 tasks:", counts)
    empty_polls_allowed = 1 + math.floor(idle_seconds / DEFAULT_WAIT_TIME_SECONDS)
    assert counts.get("sqs:ReceiveMessage", 0) <= 100 + empty_polls_allowed
    assert counts.get("sqs:DeleteMessageBatch", 0) <= 101
    assert counts.get("sqs:DeleteMessage", 0) == 0
    assert counts.get("sqs:ChangeMessageVisibilityBatch", 0) == 0  # nothing released or retried
    assert counts.get("dynamodb:PutItem", 0) == 1000
    assert _writes(counts) == 1000
    assert counts.get("dynamodb:GetItem", 0) == 0  # first deliveries never read the results table
    assert handles[-1].get(timeout_seconds=5) == 999


def test_ignore_result_tasks_make_no_dynamodb_writes(local_aws: LocalAwsServer, tmp_path: Path) -> None:
    # revocation checks off: their one GetItem per interval is pinned in test_revocation_checks_* below
    deployed = deploy(quiet, local_aws, tmp_path, revocation_check_seconds=0)
    queue = deployed.queue()
    quiet.transport.queue_info(queue)
    sqsq.send_many(quiet_noop, [{"i": i} for i in range(100)])
    local_aws.reset_request_counts()
    worker = Worker(quiet, concurrency=4, wait_time_seconds=1, burst=True)
    thread = threading.Thread(target=worker.run, name="quiet-worker", daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "burst worker did not finish"
    counts = local_aws.request_counts()
    print("worker requests for 100 ignore_result tasks:", counts)
    assert worker.stats.succeeded == 100
    assert _writes(counts) == 0
    assert counts.get("dynamodb:GetItem", 0) == 0
    assert counts.get("sqs:DeleteMessageBatch", 0) <= 11


def test_revocation_checks_read_the_marker_once_per_interval_per_consumer_never_per_task(
    local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    """200 tasks drained by one worker within one interval (an hour here, so the bound is exact): one GetItem,
    the revocation marker's read; plain first deliveries read nothing else."""
    shop = deploy(shop_app.app, local_aws, tmp_path, visibility_timeout_seconds=30, revocation_check_seconds=3600)
    sqsq.send_many(shop_app.add, [{"x": i, "y": 0} for i in range(200)])
    _warm(shop)
    shop.server.reset_request_counts()
    done = shop.cli("worker", "tests.apps.shop:app", "-Q", "default", "--burst", "--concurrency", "8",
                    "--loglevel", "WARNING", "--registry-interval-seconds", "0")
    assert done.returncode == 0, done.stderr
    counts = shop.server.request_counts()
    print("worker requests for 200 tasks with revocation checks:", counts)
    assert len((shop.tmp / "sink.txt").read_text().splitlines()) == 200
    assert counts.get("dynamodb:GetItem", 0) == 1
    assert counts.get("dynamodb:PutItem", 0) == 200


def test_with_default_settings_a_revoked_queued_task_is_not_run_for_at_most_one_read_per_5_seconds(
    shop: Deployed,
) -> None:
    """The default (revocation_check_seconds 5): cancel() of a queued task stops it; the worker reads the marker at
    most once per 5 s while it handles messages (bounded by the time it ran, so no timing can make this fail)."""
    assert "SQSQ_REVOCATION_CHECK_SECONDS" not in shop.env
    handles = sqsq.send_many(shop_app.add, [{"x": i, "y": 0} for i in range(30)])
    assert handles[7].cancel() == "revoked"
    _warm(shop)
    shop.server.reset_request_counts()
    started = time.monotonic()
    done = shop.cli("worker", "tests.apps.shop:app", "-Q", "default", "--burst", "--loglevel", "WARNING",
                    "--registry-interval-seconds", "0")
    elapsed = time.monotonic() - started
    counts = shop.server.request_counts()  # before this process reads any record below
    assert done.returncode == 0, done.stderr
    ran = sorted(int(line.split()[1]) for line in (shop.tmp / "sink.txt").read_text().splitlines())
    assert ran == [i for i in range(30) if i != 7]
    assert handles[7].state == "REVOKED" and handles[8].get(timeout_seconds=5) == 8
    print("worker requests for 30 tasks, one revoked, in", round(elapsed, 1), "s:", counts)
    assert 1 <= counts.get("dynamodb:GetItem", 0) <= 1 + math.floor(elapsed / 5)


@pytest.mark.slow
def test_idle_worker_makes_at_most_one_receive_per_20_seconds(shop: Deployed) -> None:
    """Default long poll (WaitTimeSeconds 20) on an empty queue: over 25 s, at most 2 ReceiveMessage calls."""
    _warm(shop)
    before = shop.server.request_counts().get("sqs:ReceiveMessage", 0)
    proc = shop.spawn("worker", "tests.apps.shop:app", "-Q", "default", "--registry-interval-seconds", "0")
    deadline = time.monotonic() + 60
    while shop.server.request_counts().get("sqs:ReceiveMessage", 0) == before:  # its first long poll has begun
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "worker exited"
        assert time.monotonic() < deadline, "the worker made no ReceiveMessage within 60 s"
        time.sleep(0.05)
    shop.server.reset_request_counts()
    time.sleep(25)
    counts = shop.server.request_counts()
    # Stopping is not under test here (a graceful stop waits for the long poll in flight): kill it.
    stop_process(proc, signal.SIGKILL, timeout_seconds=10)
    print("idle worker requests over 25 s:", counts)
    assert counts.get("sqs:ReceiveMessage", 0) <= 2
    assert set(counts) <= {"sqs:ReceiveMessage"}
