"""Delivery semantics with real worker processes against moto server over HTTP: retries at their backoff
intervals ending in the DLQ, the visibility heartbeat under two workers, graceful shutdown under load, and claims
racing on two workers.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope
from sqsq.results import Status
from sqsq.transport import OutgoingMessage
from tests.apps import shop as shop_app
from tests.conftest import ROOT, Deployed, deploy, stop_process

WORKER = ("worker", "tests.apps.shop:app", "--wait-time-seconds", "1")


def spawn_logged(d: Deployed, *args: str, name: str = "worker") -> subprocess.Popen[bytes]:
    """Start ``python -m sqsq.cli ARGS`` with its output in a file (a pipe nobody reads could block it)."""
    log_path = d.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
    out = open(log_path, "wb")  # the child keeps its own copy of the descriptor
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqsq.cli", *args], cwd=ROOT, env=d.env, stdout=out, stderr=out, start_new_session=True
    )
    out.close()
    proc.log_path = log_path  # type: ignore[attr-defined]
    d.procs.append(proc)
    return proc


def log_of(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def sink(d: Deployed) -> list[str]:
    path = d.tmp / "sink.txt"
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate: object, timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def make_shop(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[object]:
    """Deploy ``tests.apps.shop:app`` with chosen queue settings; every process started is stopped afterwards."""
    from tests.apps.shop import app

    made: list[Deployed] = []

    def make(**settings: object) -> Deployed:
        d = deploy(app, local_aws, tmp_path, **settings)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def test_always_failing_task_runs_max_retries_plus_one_times_at_its_backoff_then_reaches_the_dlq(
    make_shop: object,
) -> None:
    d: Deployed = make_shop(max_receive_count=6)  # type: ignore[operator]
    h = sqsq.send(shop_app.always_fails, {"tag": "t1"})
    proc = spawn_logged(d, *WORKER, "--burst")
    assert proc.wait(timeout=60) == 0, log_of(proc)[-3000:]

    times = [float(line.split()[2]) for line in sink(d) if line.startswith("always_fails t1 ")]
    assert len(times) == 3 + 1  # max_retries=3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, delay in zip(gaps, [1, 2, 4], strict=True):  # Backoff(base 1 s, factor 2, no jitter)
        assert 0.8 * delay <= gap <= delay + 3, (gaps, "should follow the backoff")
    with pytest.raises(sqsq.TaskFailed) as err:
        h.get(timeout_seconds=5)
    assert err.value.error_type == "RuntimeError" and "always fails (t1)" in err.value.error_message
    record = h.record()
    assert record is not None and record.status is Status.FAILURE and record.attempts == 4
    assert record.task_name == shop_app.always_fails.name and record.updated_at > times[-1] - 1

    dlq = d.app.settings.dlq_name("default")
    got = d.app.transport.receive(dlq, 10, 1)
    assert [json.loads(m.body)["id"] for m in got] == [h.id]
    depth = d.app.transport.depth(d.queue())
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)  # retried in place, never re-sent
    print(f"\nalways_fails: runs at +{[round(t - times[0], 2) for t in times]} s, gaps {[round(g, 2) for g in gaps]} s")


def test_task_three_times_the_visibility_timeout_runs_once_with_two_workers_polling(make_shop: object) -> None:
    d: Deployed = make_shop()  # type: ignore[operator]  # VisibilityTimeout 2 s
    workers = [spawn_logged(d, *WORKER, "--concurrency", "2", name=f"w{i}") for i in range(2)]
    time.sleep(1.0)
    h = sqsq.send(shop_app.long_running, {"seconds": 6.0, "tag": "long"})
    assert h.get(timeout_seconds=40) == "long"
    time.sleep(3.0)  # a lapsed visibility would show up as a second start by now
    starts = [line for line in sink(d) if line.startswith("start long ")]
    assert len(starts) == 1, starts
    record = h.record()
    assert record is not None and record.attempts == 1  # received exactly once
    depth = d.app.transport.depth(d.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)
    for w in workers:
        assert stop_process(w) == 0, log_of(w)[-3000:]


def test_sigterm_under_load_releases_unstarted_messages_at_once_and_every_task_runs_exactly_once(
    make_shop: object,
) -> None:
    d: Deployed = make_shop(visibility_timeout_seconds=60)  # type: ignore[operator]
    n = 200
    handles = sqsq.send_many(shop_app.mark, [{"tag": f"m{i}", "seconds": 0.2} for i in range(n)])
    first = spawn_logged(d, *WORKER, "--concurrency", "2", "--prefetch", "10", name="first")
    # SIGTERM early in a received batch of 10 (2 run at a time), so several are held but not started
    wait_for(lambda: sum(line.startswith("mark ") for line in sink(d)) >= 33, 60, "33 tasks done")
    terminated_at = time.monotonic()
    assert stop_process(first, signal.SIGTERM, timeout_seconds=30) == 0, log_of(first)[-3000:]
    first_log = log_of(first)
    assert "worker stopped" in first_log
    done_by_first = sum(line.startswith("mark ") for line in sink(d))
    stopped = re.search(r"worker stopped: (\d+) received, (\d+) succeeded.*?, (\d+) released", first_log)
    assert stopped is not None, first_log[-3000:]
    received, succeeded, released = (int(g) for g in stopped.groups())
    assert released > 0 and received == succeeded + released, first_log[-2000:]
    assert done_by_first < n

    second = spawn_logged(d, *WORKER, "--burst", "--concurrency", "8", name="second")
    assert second.wait(timeout=120) == 0, log_of(second)[-3000:]
    drained_seconds = time.monotonic() - terminated_at
    # Released messages were visible at once: had any been left in flight, the second worker (burst mode waits
    # for in-flight messages) could not have finished before the 60 s visibility timeout.
    assert drained_seconds < 45, f"second worker needed {drained_seconds:.1f} s: some messages were not released"

    counts = Counter(line.split()[1] for line in sink(d) if line.startswith("mark "))
    assert set(counts) == {f"m{i}" for i in range(n)}, "lost tasks"
    assert max(counts.values()) == 1, [t for t, c in counts.items() if c > 1]
    depth = d.app.transport.depth(d.queue())
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)
    assert handles[-1].get(timeout_seconds=5) == f"m{n - 1}"
    print(f"\nSIGTERM under load: {n} tasks, {done_by_first} done by the first worker before it stopped, "
          f"{released} released at SIGTERM, the rest drained {drained_seconds:.1f} s after SIGTERM (queue VT 60 s), "
          "each ran once")


def test_two_deliveries_of_a_claimed_task_racing_on_two_workers_run_it_once(make_shop: object) -> None:
    d: Deployed = make_shop(max_receive_count=5)  # type: ignore[operator]
    task_id = str(uuid.uuid4())
    body = Envelope(id=task_id, task=shop_app.claimed.name, args={"seconds": 2.0, "tag": "race"}).to_body()
    d.app.transport.send_batch(d.queue(), [OutgoingMessage("a", body), OutgoingMessage("b", body)])
    workers = [spawn_logged(d, *WORKER, "--concurrency", "1", "--prefetch", "0", name=f"w{i}") for i in range(2)]
    h = sqsq.AsyncResult(task_id, app=d.app, task=shop_app.claimed)
    assert h.get(timeout_seconds=30) == "race"
    # visible too: a deferred duplicate whose delay ran out is visible (not in flight) until a worker takes it again
    wait_for(lambda: (lambda q: q.visible + q.in_flight)(d.app.transport.depth(d.queue())) == 0, 60,
             "the deferred duplicate to be acknowledged")
    assert [line for line in sink(d) if line.startswith("claimed race")].__len__() == 1
    logs = "".join(log_of(w) for w in workers)
    assert "another delivery holds its claim" in logs or "duplicate delivery acknowledged" in logs
    assert "duplicate delivery acknowledged" in logs
    for w in workers:
        assert stop_process(w) == 0
    depth = d.app.transport.depth(d.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)
    assert d.app.transport.depth(d.app.settings.dlq_name("default")).visible == 0


def test_second_signal_exits_at_once_and_leaves_the_running_task_in_the_queue(make_shop: object) -> None:
    d: Deployed = make_shop()  # type: ignore[operator]
    h = sqsq.send(shop_app.long_running, {"seconds": 20.0, "tag": "cut"})
    proc = spawn_logged(d, *WORKER, "--shutdown-grace-seconds", "60")
    wait_for(lambda: any(line.startswith("start cut ") for line in sink(d)), 30, "the task to start")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) != 0  # at once, not after the task or the 60 s grace
    assert "second signal: exiting now" in log_of(proc)
    assert h.record() is None  # nothing recorded, nothing deleted: the message comes back
    got = d.app.transport.receive(d.queue(), 1, 5)
    assert [json.loads(m.body)["id"] for m in got] == [h.id]
