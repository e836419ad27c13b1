"""Redriven copies run once: a message with ``generation > 0`` reads its record and claims its task id first."""

from __future__ import annotations

from typing import Any

import pytest

import sqsq
from sqsq.dlq import DeadLetterQueue, Selection
from sqsq.errors import AwsError
from sqsq.executor import Ack, DeadLetter, Executor, Prepared, Release
from sqsq.message import Envelope, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage, ReceivedMessage
from tests.unit.conftest import MemoryApp

DLQ = "unit-default-dlq"


def _register(mem: MemoryApp, runs: list[int]) -> Any:
    @mem.app.task(name="unit.count")
    def count(n: int) -> int:
        runs.append(n)
        return n * 2

    return count


def _message(envelope: Envelope, receive_count: int = 1) -> ReceivedMessage:
    return ReceivedMessage("unit-default", new_task_id(), "rh", envelope.to_body(), receive_count, 0.0)


def _failed_record(env: Envelope, generation: int = 0) -> ResultRecord:
    # as the executor records it: with the message's sent_at (a record matches only writes of the same sent_at)
    return ResultRecord(env.id, Status.FAILURE, "unit.count", error_type="RuntimeError", error_message="down",
                        attempts=3, generation=generation, sent_at=env.sent_at).stamped(3600)


def test_second_redriven_copy_is_acknowledged_without_running(mem: MemoryApp) -> None:
    runs: list[int] = []
    _register(mem, runs)
    env = Envelope(id=new_task_id(), task="unit.count", args={"n": 21}, generation=1)
    mem.results.put(_failed_record(env))
    executor = Executor(mem.app)
    assert executor.execute(_message(env), 3) == Ack()
    assert executor.execute(_message(env), 3) == Ack(duplicate=True)  # the same copy again, receive count 1
    assert runs == [21]
    record = mem.results.get(env.id)
    assert record is not None and (record.status, record.generation, record.result_json) == (Status.SUCCESS, 1, "42")


def test_two_redriven_copies_received_at_once_run_once(mem: MemoryApp) -> None:
    runs: list[int] = []
    _register(mem, runs)
    env = Envelope(id=new_task_id(), task="unit.count", args={"n": 5}, generation=1)
    mem.results.put(_failed_record(env))
    executor = Executor(mem.app)
    first = executor.prepare(_message(env), 3)
    second = executor.prepare(_message(env), 3)  # before the first has finished: it finds the claim
    assert isinstance(first, Prepared)
    assert isinstance(second, Release) and second.deferred
    assert executor.finish(first, result_json="10") == Ack()
    assert executor.execute(_message(env, receive_count=2), 3) == Ack(duplicate=True)  # the deferred copy, back


def test_redriven_older_copy_of_a_successful_task_does_not_regress_its_record(mem: MemoryApp) -> None:
    runs: list[int] = []
    _register(mem, runs)
    task_id = new_task_id()
    # The DLQ holds an older copy (generation 0), e.g. moved by SQS's redrive policy while another copy succeeded.
    stale = Envelope(id=task_id, task="unit.count", args={"n": 3})
    success = ResultRecord(task_id, Status.SUCCESS, "unit.count", result_json="6", attempts=1,
                           sent_at=stale.sent_at).stamped(3600)
    mem.results.put(success)
    assert mem.transport.send_batch(DLQ, [OutgoingMessage("0", stale.to_body())]) == []
    report = DeadLetterQueue(mem.app, "default", wait_seconds=0).redrive(Selection(everything=True))
    assert report.moved == [task_id]
    (copy,) = mem.transport.receive("unit-default", 10, 0)
    assert Envelope.from_body(copy.body).generation == 1
    assert Executor(mem.app).execute(copy, 3) == Ack(duplicate=True)
    assert runs == []
    assert mem.results.get(task_id) == success


def test_stale_redriven_copy_of_a_later_failure_is_not_run(mem: MemoryApp) -> None:
    runs: list[int] = []
    _register(mem, runs)
    env = Envelope(id=new_task_id(), task="unit.count", args={"n": 1}, generation=1)
    mem.results.put(_failed_record(env, generation=2))
    assert isinstance(Executor(mem.app).execute(_message(env), 3), DeadLetter)
    assert runs == []


def test_redrive_that_sent_twice_runs_each_task_once(mem: MemoryApp, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []
    _register(mem, runs)
    ids = []
    for n in range(7):
        env = Envelope(id=new_task_id(), task="unit.count", args={"n": n})
        ids.append(env.id)
        assert mem.transport.send_batch(DLQ, [OutgoingMessage("0", env.to_body())]) == []
        mem.results.put(_failed_record(env))
    dlq = DeadLetterQueue(mem.app, "default", wait_seconds=0, visibility_timeout_seconds=1)
    real_delete = mem.transport.delete_batch

    def delete_fails(queue: str, handles: list[str]) -> Any:
        if queue == DLQ:
            raise AwsError("InternalError: injected", code="InternalError")
        return real_delete(queue, handles)

    monkeypatch.setattr(mem.transport, "delete_batch", delete_fails)
    first = dlq.redrive(Selection(everything=True))
    assert sorted(first.not_deleted) == sorted(ids)  # sent, still in the DLQ: the operator redrives again
    monkeypatch.setattr(mem.transport, "delete_batch", real_delete)
    assert sorted(dlq.redrive(Selection(everything=True)).moved) == sorted(ids)

    executor, outcomes = Executor(mem.app), []
    while batch := mem.transport.receive("unit-default", 10, 0):
        for m in batch:
            outcomes.append(executor.execute(m, 3))
            mem.transport.delete_batch("unit-default", [m.receipt_handle])
    assert len(outcomes) == 14
    assert sorted(runs) == list(range(7))
    assert outcomes.count(Ack(duplicate=True)) == 7


def test_first_delivery_of_a_fresh_send_reads_no_record(mem: MemoryApp, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []
    count = _register(mem, runs)
    reads: list[str] = []
    real_get = mem.results.get
    monkeypatch.setattr(mem.results, "get", lambda task_id: reads.append(task_id) or real_get(task_id))
    sqsq.send(count, {"n": 4})
    (m,) = mem.transport.receive("unit-default", 1, 0)
    assert Executor(mem.app).execute(m, 3) == Ack()
    assert reads == [] and runs == [4]
