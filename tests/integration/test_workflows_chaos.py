"""A 1,000-member chord while poller workers are SIGKILLed at random moments (issue 13): every member counted once,
the callback triggered exactly once with the ordered list."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.results.chords import ChordStore
from sqsq.workflows.ids import counter_id, shard_counter_id
from tests.apps import flows
from tests.conftest import deploy, stop_process
from tests.integration.test_reliability_delivery import log_of, spawn_logged, wait_for

WORKER = ("worker", "tests.apps.flows:app", "--wait-time-seconds", "1", "--concurrency", "8")
MEMBERS = 1000


def test_chord_callback_is_triggered_exactly_once_while_workers_are_sigkilled(
    local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    d = deploy(flows.app, local_aws, tmp_path, max_receive_count=10)
    d.env["FLOW_TEST_SINK"] = str(tmp_path / "sink.txt")
    sink = tmp_path / "sink.txt"
    store: ChordStore = d.app.results  # type: ignore[assignment]
    try:
        handle = sqsq.chord([flows.slow_square.s(n) for n in range(MEMBERS)], flows.total.s()).delay()
        rng = random.Random(13)
        kills = 0

        def done() -> int:
            state = store.chord_state(shard_counter_id(handle.id, 0))  # 1,000 members: one shard
            return 0 if state is None else state.done

        for round_ in range(4):
            victim = spawn_logged(d, *WORKER, name=f"victim{round_}")
            # A random moment measured in progress (members counted), not in seconds, so kills land mid-chord however
            # fast the machine is: at most 4 x 150 of the 1,000 members are counted before the last kill.
            target = done() + rng.randint(20, 150)
            wait_for(lambda v=victim, t=target: done() >= t or v.poll() is not None, 60, "members to finish")
            if victim.poll() is not None or done() >= MEMBERS:
                stop_process(victim)
                break
            stop_process(victim, signal.SIGKILL)  # mid-batch: members in flight, counted or not
            kills += 1
        final = spawn_logged(d, *WORKER, name="final")
        try:
            assert handle.get(timeout_seconds=120) == sum(n * n for n in range(MEMBERS)), log_of(final)[-3000:]
        finally:
            stop_process(final)
        state = store.chord_state(counter_id(handle.id))
        runs = [line for line in sink.read_text().splitlines() if line.startswith("total")]
        print(f"\nchord chaos: members {MEMBERS}, kills {kills}, callback runs {len(runs)}, counted {state}")
        assert kills >= 2
        assert runs == [f"total {MEMBERS}"]
        assert state is not None and (state.done, state.fired, state.failed) == (1, True, False)  # 1 full shard
        assert done() == MEMBERS
    finally:
        d.close()
