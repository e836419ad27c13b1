"""Issue 9's chaos run: 1,000 tasks through thread-pool and process-pool workers that are SIGKILLed at random, with
40 % of DynamoDB and 20 % of SQS requests failing, poison tasks that kill their process and tasks that hang past their
time limit. Every task must end SUCCESS, or FAILURE with its reason and its message in the DLQ: none lost, no dead
letter without a record, no innocent task dead-lettered. The figures are printed (run with ``-s``).

The test plays EventBridge Scheduler's part for the DLQ sweep (a sweep every few seconds, one rescue per generation
so the run stays short); the workers' own sweep is off.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import sqsq
from sqsq.dlq import DeadLetterQueue
from sqsq.errors import SqsqError
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from sqsq.sweep import sweep_dead_letters
from tests.apps import chaos
from tests.conftest import Deployed, deploy, stop_process
from tests.integration.test_reliability_delivery import log_of, sink, spawn_logged

N_INNOCENT, N_POISON, N_HANG = 970, 10, 20
THREAD_WORKER = ("worker", "tests.apps.chaos:app", "--wait-time-seconds", "1", "-c", "8", "--prefetch", "4",
                 "--dlq-sweep-interval-seconds", "0", "--shutdown-grace-seconds", "1")
PROCESS_WORKER = (*THREAD_WORKER, "--pool", "process")
RUN_SECONDS = 90
"""Chaos (faults and SIGKILLs) lasts this long at most; then the workers go on without either until every task is
final (up to FINISH_SECONDS), as a deployment recovers after an incident."""
FINISH_SECONDS = 300
"""Poison tasks on the thread pool kill the worker holding the others, so their receives are spent together,
round after round, and the sweep gives a spent letter up to ``MAX_SPENT_RESCUES`` (10) rounds of ~10-15 s each;
150 s was short of that bound once in 9 runs (3 poison tasks not yet final). The phase ends as soon as all are."""
SWEEP_EVERY_SECONDS = 3.0
KILL_EVERY_SECONDS = 2.0
KILL_EVERY_RUNS = 100
"""While chaos lasts, a SIGKILL every KILL_EVERY_SECONDS and also after every KILL_EVERY_RUNS task runs. The chaos
phase ends as soon as every task is final, and how fast 1,000 tasks finish depends on the machine (under 10 s on
CI's): a clock alone gave 2 kills there, so the run no longer showed that tasks survive several. Kills tied to
progress land while work is in flight however fast the machine is (the test asks for at least 5)."""


def _final(d: Deployed, ids: list[str]) -> dict[str, Any]:
    records = {}
    for task_id in ids:
        try:
            records[task_id] = d.app.results.get(task_id)
        except SqsqError:
            return {}
    return records


@pytest.fixture
def chaos_app(local_aws: LocalAwsServer, tmp_path: Path) -> Any:
    d = deploy(chaos.app, local_aws, tmp_path, visibility_timeout_seconds=3, max_receive_count=3)
    yield d
    local_aws.clear_faults()
    d.close()


@pytest.mark.slow
def test_chaos_every_task_ends_success_or_failure_with_reason_and_no_innocent_is_dead_lettered(chaos_app: Any) -> None:
    d: Deployed = chaos_app
    kinds = ["mark"] * N_INNOCENT + ["poison"] * N_POISON + ["hang"] * N_HANG
    random.Random(9).shuffle(kinds)
    tasks = {"mark": chaos.mark, "poison": chaos.poison, "hang": chaos.hang}
    handles = [sqsq.send(tasks[k], {"tag": f"{k}{i}"}) for i, k in enumerate(kinds)]
    kind_of = {h.id: k for h, k in zip(handles, kinds, strict=True)}
    ids = list(kind_of)

    rng = random.Random(7)
    d.server.set_faults(rate={"dynamodb": 0.4, "sqs": 0.2}, services=[], kinds=["throttle", "500", "drop"], seed=11)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    counts = {"starts": 0, "kills": 0}
    faults: dict[str, int] = {}
    sweeps: list[str] = []  # what each sweep of the finish phase did or raised: the evidence if a task is lost

    def supervise(seconds: float, chaos_on: bool) -> bool:
        """Keep a thread-pool and a process-pool worker running, SIGKILL one now and then (chaos_on), play the
        sweep's schedule; True once every task is final."""
        started = time.monotonic()
        next_kill, next_sweep = started + KILL_EVERY_SECONDS, started
        next_kill_runs = len(sink(d)) + KILL_EVERY_RUNS
        while time.monotonic() - started < seconds:
            for name, args in (("thread", THREAD_WORKER), ("process", PROCESS_WORKER)):
                if name not in workers or workers[name].poll() is not None:
                    workers[name] = spawn_logged(d, *args, name=f"{name}{counts['starts']}")
                    counts["starts"] += 1
            now = time.monotonic()
            runs_so_far = len(sink(d)) if chaos_on else 0
            if chaos_on and (now >= next_kill or runs_so_far >= next_kill_runs):
                stop_process(workers[rng.choice(["thread", "process"])], signal.SIGKILL)
                counts["kills"] += 1
                next_kill, next_kill_runs = now + KILL_EVERY_SECONDS, runs_so_far + KILL_EVERY_RUNS
            if now >= next_sweep:
                try:
                    report = sweep_dead_letters(d.app, "default", max_rescues=1)
                    if not chaos_on and (report.scanned or report.failed):
                        sweeps.append(f"scanned {report.scanned} rescued {len(report.rescued)} recorded "
                                      f"{report.recorded} failed {report.failed}")
                except SqsqError as exc:
                    if not chaos_on:  # in the chaos phase, faults: the next sweep tries again
                        sweeps.append(f"raised {type(exc).__name__}: {exc}")
                next_sweep = now + SWEEP_EVERY_SECONDS
                records = _final(d, ids)
                if records and all(r is not None and r.status.is_final for r in records.values()):
                    return True
            time.sleep(0.2)
        return False

    try:
        supervise(RUN_SECONDS, chaos_on=True)
    finally:
        faults = d.server.clear_faults()
    try:
        supervise(FINISH_SECONDS, chaos_on=False)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                stop_process(proc, signal.SIGKILL)
    starts, kills = counts["starts"], counts["kills"]

    records = _final(d, ids)
    runs = Counter(line.split()[1] for line in sink(d))
    letters = DeadLetterQueue(d.app, "default").entries()
    lost = [i for i, r in records.items() if r is None or not r.status.is_final]
    without_record = [e.task_id for e in letters if e.record is None or e.record.status is not Status.FAILURE]
    innocents_failed = [i for i, r in records.items() if kind_of[i] == "mark" and r and r.status is Status.FAILURE]
    innocents_in_dlq = [e.task_id for e in letters if kind_of.get(e.task_id) == "mark"]
    reasons = Counter(r.error_type for r in records.values() if r is not None and r.status is Status.FAILURE)
    statuses = Counter(r.status.value for r in records.values() if r is not None)
    reruns = sum(1 for tag, n in runs.items() if tag.startswith("mark") and n > 1)
    print(f"\nchaos run: tasks {len(ids)} (innocent {N_INNOCENT}, poison {N_POISON}, hanging {N_HANG}); worker starts "
          f"{starts}, SIGKILLs {kills}; faults injected {dict(faults)}; statuses {dict(statuses)}; FAILURE reasons "
          f"{dict(reasons)}; DLQ letters {len(letters)}; lost {len(lost)}; dead letters without a record "
          f"{len(without_record)}; innocents failed {len(innocents_failed)}, innocents in the DLQ "
          f"{len(innocents_in_dlq)}; innocent tasks run more than once {reruns}")
    in_dlq = {e.task_id: e.envelope and e.envelope.rescues for e in letters}
    assert lost == [], (
        [(kind_of[i], records[i] and (records[i].status.value, records[i].error_type, records[i].attempts),
          f"in the DLQ with rescues {in_dlq[i]}" if i in in_dlq else "not in the DLQ") for i in lost[:5]],
        d.app.transport.depth(d.app.queue_name("default")),
        sweeps[-10:],
    )
    assert without_record == []
    assert innocents_failed == [] and innocents_in_dlq == []
    assert statuses == Counter({Status.SUCCESS.value: N_INNOCENT, Status.FAILURE.value: N_POISON + N_HANG})
    assert {e.task_id for e in letters} == {i for i, k in kind_of.items() if k != "mark"}
    assert set(reasons) <= {"ConsumerDied", "ChildProcessDied", "TimeLimitExceeded", "ReceivesExhausted"}
    assert kills >= 5 and sum(faults.values()) > 100
    assert any(log_of(p) for p in d.procs)
