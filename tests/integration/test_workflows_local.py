"""Workflows (issue 13) on the local AWS: chain, group, chord, map/chunks through a poller worker, DynamoDB chord
counting under duplicate delivery, failure and on_error, and a DLQ redrive resuming a chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqsq
from sqsq.cli import EXIT_TASK_FAILED
from sqsq.dlq import DeadLetterQueue, Selection
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from sqsq.results.chords import ChordStore
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from sqsq.workflows.ids import counter_id, shard_counter_id
from tests.apps import flows
from tests.conftest import Deployed, deploy

LOOPBACK = "http://127.0.0.1:8642"  # the dashboard serves loopback Host names only (DNS rebinding)


@pytest.fixture
def flow_app(local_aws: LocalAwsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("FLOW_TEST_SINK", str(tmp_path / "sink.txt"))
    monkeypatch.delenv("FLOW_FAIL_FIXED", raising=False)
    deployed = deploy(flows.app, local_aws, tmp_path)
    try:
        yield deployed
    finally:
        deployed.close()


def _work(d: Deployed) -> None:
    Worker(d.app, concurrency=4, wait_time_seconds=1, burst=True).run()


def _sink(d: Deployed) -> list[str]:
    path = d.tmp / "sink.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_chain_passes_each_result_to_the_next_step_and_records_every_step(flow_app: Deployed) -> None:
    handle = sqsq.chain(flows.add.s(1, 2), flows.double.s(), flows.add.s(y=10).pass_as("x"), flows.quiet.s()).delay()
    _work(flow_app)
    assert handle.get(timeout_seconds=10) == ((1 + 2) * 2 + 10) + 100
    assert [(s.task, s.status) for s in handle.steps()] == [
        ("flows.add", Status.SUCCESS), ("flows.double", Status.SUCCESS), ("flows.add", Status.SUCCESS),
        ("flows.quiet", Status.SUCCESS),
    ]
    assert handle.state == "SUCCESS"


def test_group_results_come_back_in_the_groups_order(flow_app: Deployed) -> None:
    handle = sqsq.send(sqsq.group([flows.square.s(n) for n in range(23)]))
    _work(flow_app)
    assert handle.get(timeout_seconds=10) == [n * n for n in range(23)]


def test_chord_callback_runs_once_with_the_ordered_list_when_every_member_message_is_delivered_twice(
    flow_app: Deployed,
) -> None:
    app = flow_app.app
    handle = sqsq.chord([flows.square.s(n) for n in range(30)], flows.total.s()).delay()
    queue = app.queue_name(None)
    bodies = []
    while len(bodies) < 30:  # take every member's message and put it back twice
        got = app.transport.receive(queue, 10, 1)
        bodies += [m.body for m in got]
        app.transport.delete_batch(queue, [m.receipt_handle for m in got])
    for copy in range(2):
        for start in range(0, 30, 10):
            app.transport.send_batch(queue, [OutgoingMessage(f"m{copy}-{i}", b, 0)
                                             for i, b in enumerate(bodies[start:start + 10], start)])
    _work(flow_app)
    assert handle.get(timeout_seconds=10) == sum(n * n for n in range(30))
    assert _sink(flow_app).count("total 30") == 1
    store: ChordStore = app.results  # type: ignore[assignment]
    top, shard = store.chord_state(counter_id(handle.id)), store.chord_state(shard_counter_id(handle.id, 0))
    assert top is not None and (top.done, top.fired, top.failed) == (1, True, False)  # one full shard
    assert shard is not None and shard.done == 30  # each member counted once, though delivered twice


def test_chord_with_a_failed_member_runs_on_error_once_and_never_the_callback(flow_app: Deployed) -> None:
    handle = sqsq.chord([flows.fail_member.s(n) for n in range(8)], flows.total.s(), on_error=flows.on_error.s()).delay()
    _work(flow_app)
    with pytest.raises(sqsq.TaskFailed, match="member 3 fails"):
        handle.get(timeout_seconds=10)
    sink = _sink(flow_app)
    assert [line for line in sink if line.startswith("on_error")] == [f"on_error {handle.id}-3"]
    assert not any(line.startswith("total") for line in sink)
    roles = {s.role: s.status for s in handle.steps()}
    assert roles["callback"] is Status.PENDING and roles["on_error"] is Status.SUCCESS


def test_failed_step_stops_the_chain_and_a_dlq_redrive_resumes_it(
    flow_app: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = flow_app.app
    handle = sqsq.chain(flows.add.s(1, 2), flows.fail.s(), flows.double.s()).delay()
    _work(flow_app)
    with pytest.raises(sqsq.TaskFailed, match=r"flows\.fail\) failed: no good: 3"):
        handle.get(timeout_seconds=10)
    assert [s.status for s in handle.steps()] == [Status.SUCCESS, Status.FAILURE, Status.PENDING]

    monkeypatch.setenv("FLOW_FAIL_FIXED", "1")  # the bug is fixed; redrive the failed step (restored after the test)
    report = DeadLetterQueue(app, "default").redrive(Selection(everything=True))
    assert report.ok and len(report.moved) == 1
    _work(flow_app)
    assert handle.get(timeout_seconds=10) == 6
    assert [s.status for s in handle.steps()] == [Status.SUCCESS] * 3


def test_map_sends_one_task_per_item_and_chunks_one_per_size_items(flow_app: Deployed) -> None:
    app = flow_app.app
    queue = app.queue_name(None)
    mapped = flows.square.map(range(10)).delay()
    assert app.transport.depth(queue).visible == 10
    _work(flow_app)
    chunked = flows.square.chunks(range(10), 4).delay()
    assert app.transport.depth(queue).visible == 3
    _work(flow_app)
    assert mapped.get(timeout_seconds=10) == [n * n for n in range(10)]
    assert chunked.get(timeout_seconds=10) == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]]


def test_sqsq_result_shows_the_workflow_tree_with_each_steps_state(flow_app: Deployed) -> None:
    handle = sqsq.chain(flows.add.s(1, 2), flows.fail.partial(), flows.double.partial()).delay()
    _work(flow_app)
    text = flow_app.cli("result", handle.id, "--app", "tests.apps.flows:app")
    assert text.returncode == EXIT_TASK_FAILED, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{handle.id} chain FAILURE ValueError: step {handle.id}-1 (flows.fail) failed")
    assert [line.split()[1:5] for line in lines[1:]] == [
        ["0", "step", "flows.add", "SUCCESS"], ["1", "step", "flows.fail", "FAILURE"],
        ["2", "step", "flows.double", "not"],  # "not run": the chain failed before it
    ]
    shown = flow_app.cli("result", handle.id, "--app", "tests.apps.flows:app", "--json")
    tree = json.loads(shown.stdout)
    assert (tree["kind"], tree["status"]) == ("chain", "FAILURE")
    assert [(s["task"], s["status"]) for s in tree["steps"]] == [
        ("flows.add", "SUCCESS"), ("flows.fail", "FAILURE"), ("flows.double", "PENDING")]
    assert tree["steps"][-1]["not_run"] is True


def test_a_dlq_redrive_of_the_failed_member_resumes_the_chord(
    flow_app: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = sqsq.chord([flows.fail_member.s(n) for n in range(6)], flows.total.partial()).delay()
    _work(flow_app)
    with pytest.raises(sqsq.TaskFailed, match="member 3 fails"):
        handle.get(timeout_seconds=10)

    monkeypatch.setenv("FLOW_FAIL_FIXED", "1")  # restored after the test
    report = DeadLetterQueue(flow_app.app, "default").redrive(Selection(everything=True))
    assert report.ok and report.moved == [f"{handle.id}-3"]
    _work(flow_app)
    assert handle.get(timeout_seconds=10) == sum(range(6))
    assert _sink(flow_app).count("total 6") == 1


def test_the_dashboards_workflows_page_lists_workflows_and_shows_each_ones_tree(flow_app: Deployed) -> None:
    from fastapi.testclient import TestClient

    from sqsq.dashboard import create_app
    from sqsq.monitoring import Monitor

    failed = sqsq.chain(flows.add.s(1, 2), flows.fail.partial(), flows.double.partial()).delay()
    grouped = sqsq.group(flows.square.s(n) for n in range(3)).delay()
    _work(flow_app)
    with TestClient(create_app(Monitor(flow_app.app, read_oldest_age=False)), base_url=LOOPBACK) as client:
        listed = {w["workflow_id"]: w["status"] for w in client.get("/api/workflows").json()["workflows"]}
        assert listed == {failed.id: "FAILURE", grouped.id: None}
        detail = client.get(f"/api/workflows/{failed.id}").json()
        assert (detail["kind"], detail["status"]) == ("chain", "FAILURE")
        assert [s["shown"] for s in detail["steps"]] == ["SUCCESS", "FAILURE", "not run"]
        assert client.get(f"/api/workflows/{grouped.id}").json()["result"] == [0, 1, 4]
        assert "not run" in client.get(f"/workflows/{failed.id}").text and failed.id in client.get("/workflows").text
        assert client.get("/api/workflows/nope").status_code == 404
        tasks = {t["task_id"] for t in client.get("/api/tasks").json()["tasks"]}
        assert failed.id not in tasks and f"{failed.id}-tree" not in tasks and f"{failed.id}-0" in tasks
