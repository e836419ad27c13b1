"""The Lambda handler with real-shaped SQS events, on the in-memory transport and results store."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.lambda_handler import SqsLambdaHandler, lambda_handler
from sqsq.local.esm import lambda_record, settle
from sqsq.message import Envelope, undecodable_id
from sqsq.results import ResultRecord, Status
from sqsq.results.memory import MemoryResults
from sqsq.transport import BatchFailure, OutgoingMessage
from sqsq.transport.memory import MemoryTransport
from tests.apps import lambda_app

REGION = "us-east-1"
MAX_RECEIVE_COUNT = 3


class SpyTransport(MemoryTransport):
    """The memory transport, recording visibility changes and able to refuse sends to the DLQ."""

    def __init__(self) -> None:
        super().__init__()
        self.visibility_calls: list[tuple[str, list[tuple[str, int]]]] = []
        self.refuse_sends_to: set[str] = set()

    def change_visibility_batch(self, queue_name: str, changes: Sequence[tuple[str, int]]) -> list[BatchFailure]:
        self.visibility_calls.append((queue_name, list(changes)))
        return super().change_visibility_batch(queue_name, changes)

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        if queue_name in self.refuse_sends_to:
            raise AwsError("injected: SendMessageBatch throttled", code="ThrottlingException")
        return super().send_batch(queue_name, messages)


@dataclass
class FakeContext:
    """A Lambda context with a fixed remaining time."""

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Rig:
    app: App
    transport: SpyTransport
    results: MemoryResults
    handler: SqsLambdaHandler
    queue: str
    dlq: str
    sent: list[str] = field(default_factory=list)

    def send(self, task: str, args: dict[str, Any]) -> str:
        return self.app.send(task, args).id

    def send_raw(self, body: str) -> None:
        assert not self.transport.send_batch(self.queue, [OutgoingMessage(id="0", body=body)])

    def event(
        self, groups: Sequence[str] | None = None, receive_count: int | None = None, fifo: bool = False
    ) -> dict[str, Any]:
        """Receive everything sent so far and build the event Lambda would deliver (``fifo``: as from a ``.fifo``
        queue's ARN; ``groups`` without it: a fair queue's tenants)."""
        messages = []
        while True:
            got = self.transport.receive(self.queue, 10, 0)
            if not got:
                break
            messages.extend(got)
        arn = self.transport.queue_info(self.queue).arn
        if fifo:  # the same messages, as if received from the FIFO twin of the queue (its ARN decides the processor)
            twin = self.transport.create_queue(
                self.queue + ".fifo", dlq_name=self.dlq, max_receive_count=MAX_RECEIVE_COUNT
            )
            arn = twin.arn
        records = [lambda_record(m, arn, REGION) for m in messages]
        for i, r in enumerate(records):
            if groups is not None:
                r["attributes"]["MessageGroupId"] = groups[i]
            if receive_count is not None:
                r["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return {"Records": records}


def _task_id(record: dict[str, Any]) -> str:
    return Envelope.from_body(record["body"]).id


@pytest.fixture
def rig() -> Rig:
    name = f"u{uuid.uuid4().hex[:8]}"
    transport = SpyTransport()
    results = MemoryResults()
    app = App(name, transport=transport, results=results, endpoint_url="http://unused.invalid")
    for task in lambda_app.app.tasks.values():
        app.task(
            name=task.name,
            backoff=task.backoff,
            max_retries=task.max_retries,
            retry_on=task.retry_on,
            time_limit_seconds=task.time_limit_seconds,
        )(task.fn)

    @app.task(name="lam.plain_fail", retry_on=(RuntimeError,))
    def plain_fail(key: str) -> None:
        raise RuntimeError(key)

    queue = app.queue_name(None)
    dlq = app.settings.dlq_name(app.settings.default_queue)
    transport.create_queue(dlq)
    transport.create_queue(queue, dlq_name=dlq, max_receive_count=MAX_RECEIVE_COUNT)
    handler = lambda_handler(app, safety_margin_seconds=0.5, emit_metrics=False)
    return Rig(app, transport, results, handler, queue, dlq)


def _failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def _status(rig: Rig, task_id: str) -> Status | None:
    record = rig.results.get(task_id)
    return None if record is None else record.status


def test_partial_failure_reports_exactly_the_failed_ids(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 2})
    rig.send("lam.flaky", {"key": "a"})
    rig.send("lam.add", {"x": 3, "y": 4})
    event = rig.event()
    records = event["Records"]

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [records[1]["messageId"]]
    assert _status(rig, _task_id(records[0])) is Status.SUCCESS
    assert _status(rig, _task_id(records[1])) is Status.RETRY
    assert _status(rig, _task_id(records[2])) is Status.SUCCESS


def test_retry_backoff_becomes_a_visibility_change_on_that_record_only(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 2})
    rig.send("lam.flaky", {"key": "a"})
    event = rig.event()

    rig.handler(event, FakeContext())

    assert rig.transport.visibility_calls == [(rig.queue, [(event["Records"][1]["receiptHandle"], 7)])]


def test_retry_without_backoff_is_reported_failed_and_keeps_the_visibility_timeout(rig: Rig) -> None:
    rig.send("lam.plain_fail", {"key": "a"})
    event = rig.event()

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [event["Records"][0]["messageId"]]
    assert rig.transport.visibility_calls == []


def test_dead_letter_sends_a_copy_to_the_dlq_and_reports_success(rig: Rig) -> None:
    rig.send("lam.poison", {"key": "p"})
    event = rig.event(receive_count=MAX_RECEIVE_COUNT)

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == []
    copies = rig.transport.receive(rig.dlq, 10, 0)
    assert [m.body for m in copies] == [event["Records"][0]["body"]]
    record = rig.results.get(_task_id(event["Records"][0]))
    assert record is not None and record.status is Status.FAILURE and record.attempts == MAX_RECEIVE_COUNT


def test_dead_letter_whose_dlq_send_fails_is_reported_failed(rig: Rig) -> None:
    rig.send("lam.poison", {"key": "p"})
    event = rig.event(receive_count=MAX_RECEIVE_COUNT)
    rig.transport.refuse_sends_to.add(rig.dlq)

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [event["Records"][0]["messageId"]]


def test_fifo_failure_holds_back_later_records_of_its_group_only(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.flaky", {"key": "g1"})
    rig.send("lam.add", {"x": 2, "y": 2})
    rig.send("lam.add", {"x": 3, "y": 3})
    event = rig.event(groups=["g1", "g1", "g1", "g2"], fifo=True)
    r = event["Records"]

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r[1]["messageId"], r[2]["messageId"]]
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS
    assert _status(rig, _task_id(r[2])) is None  # never started
    assert _status(rig, _task_id(r[3])) is Status.SUCCESS


def test_fair_queue_tenant_failure_does_not_hold_back_the_tenants_later_records(rig: Rig) -> None:
    # A fair queue is a standard queue whose records carry a MessageGroupId (the tenant): no order is promised, so
    # a failed record of a tenant must not cost that tenant's later records a visibility timeout each.
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.flaky", {"key": "t1"})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event(groups=["t1", "t1", "t1"])
    r = event["Records"]

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r[1]["messageId"]]
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS
    assert _status(rig, _task_id(r[2])) is Status.SUCCESS


def test_record_is_not_started_when_its_time_limit_does_not_fit_the_remaining_time(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.slow", {"seconds": 0.0})  # time_limit_seconds=30
    event = rig.event()
    r = event["Records"]

    response = rig.handler(event, FakeContext(remaining_ms=10_000))

    assert _failed_ids(response) == [r[1]["messageId"]]
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS
    assert _status(rig, _task_id(r[1])) is None
    # released at once for another invocation rather than waiting out the visibility timeout
    assert rig.transport.visibility_calls == [(rig.queue, [(r[1]["receiptHandle"], 0)])]


def test_batch_with_no_time_left_returns_every_id_without_raising(rig: Rig) -> None:
    for i in range(3):
        rig.send("lam.add", {"x": i, "y": i})
    event = rig.event()

    response = rig.handler(event, FakeContext(remaining_ms=0))

    assert _failed_ids(response) == [r["messageId"] for r in event["Records"]]
    assert all(_status(rig, _task_id(r)) is None for r in event["Records"])


def test_all_failed_batch_returns_every_id(rig: Rig) -> None:
    rig.send("lam.flaky", {"key": "a"})
    rig.send("lam.plain_fail", {"key": "b"})
    event = rig.event()

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r["messageId"] for r in event["Records"]]


def test_malformed_and_unknown_task_records_are_recorded_failures_that_spare_their_neighbours(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send_raw("this is not a sqsq envelope")
    rig.send_raw(Envelope(id="unknown-1", task="lam.nope", args={}).to_body())
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]

    response = rig.handler(event, FakeContext())

    # Both fail for good: FAILURE recorded with the reason, a copy in the DLQ, the original deleted by Lambda.
    assert _failed_ids(response) == []
    garbage = rig.results.get(undecodable_id(r[1]["body"]))
    assert garbage is not None and garbage.status is Status.FAILURE and garbage.error_type == "MessageDecodeError"
    unknown = rig.results.get("unknown-1")
    assert unknown is not None and unknown.status is Status.FAILURE and unknown.error_type == "TaskNotRegistered"
    assert len(rig.transport.receive(rig.dlq, 10, 0)) == 2
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS
    assert _status(rig, _task_id(r[3])) is Status.SUCCESS


def test_structurally_broken_record_is_reported_failed_and_spares_its_neighbours(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    del event["Records"][0]["receiptHandle"]

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [event["Records"][0]["messageId"]]
    assert _status(rig, _task_id(event["Records"][1])) is Status.SUCCESS


def test_duplicate_delivery_of_a_succeeded_task_is_acknowledged_without_running(rig: Rig) -> None:
    task_id = rig.send("lam.add", {"x": 1, "y": 1})
    first = rig.event()
    rig.handler(first, FakeContext())
    rig.transport.change_visibility_batch(rig.queue, [(first["Records"][0]["receiptHandle"], 0)])
    again = rig.event(receive_count=2)

    response = rig.handler(again, FakeContext())

    assert _failed_ids(response) == []
    assert _status(rig, task_id) is Status.SUCCESS


def test_task_killed_mid_invocation_completes_on_redelivery_without_an_in_progress_lock(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # B25: the first invocation writes STARTED and dies before recording the outcome (Lambda's timeout kill,
    # simulated by a KeyboardInterrupt, the one exception the handler lets through, raised once the task body has
    # run); the redelivery must run the task and end SUCCESS, not wait for any "in progress" lock.
    runs: list[int] = []

    @rig.app.task(name="lam.dies_once", track_started=True)
    def dies_once(n: int) -> int:
        runs.append(n)
        return n

    finish = rig.handler.executor.finish

    def killed_once(*args: Any, **kwargs: Any) -> Any:
        if len(runs) == 1:
            raise KeyboardInterrupt("killed")
        return finish(*args, **kwargs)

    monkeypatch.setattr(rig.handler.executor, "finish", killed_once)
    task_id = rig.send("lam.dies_once", {"n": 5})
    first = rig.event()
    with pytest.raises(KeyboardInterrupt):
        rig.handler(first, FakeContext())
    started = rig.results.get(task_id)
    assert started is not None and started.status is Status.STARTED
    rig.transport.change_visibility_batch(rig.queue, [(first["Records"][0]["receiptHandle"], 0)])

    response = rig.handler(rig.event(receive_count=2), FakeContext())

    assert _failed_ids(response) == []
    assert _status(rig, task_id) is Status.SUCCESS and runs == [5, 5]


def test_record_seen_with_zero_time_left_writes_nothing_and_runs_on_redelivery(rig: Rig) -> None:
    task_id = rig.send("lam.add", {"x": 2, "y": 3})
    first = rig.event()
    assert _failed_ids(rig.handler(first, FakeContext(remaining_ms=0))) == [first["Records"][0]["messageId"]]
    assert rig.results.get(task_id) is None  # no marker that could block the next delivery

    response = rig.handler(rig.event(receive_count=2), FakeContext())

    assert _failed_ids(response) == []
    assert _status(rig, task_id) is Status.SUCCESS


def test_deeply_nested_json_body_is_dead_lettered_and_spares_its_neighbours(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    deep = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on this
    rig.send_raw(deep)
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]

    response = rig.handler(event, FakeContext())  # must not raise: one record never fails the batch

    assert _failed_ids(response) == []
    record = rig.results.get(undecodable_id(deep))
    assert record is not None and record.status is Status.FAILURE and record.error_type == "MessageDecodeError"
    assert [m.body for m in rig.transport.receive(rig.dlq, 10, 0)] == [deep]
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS and _status(rig, _task_id(r[2])) is Status.SUCCESS


class _Stop(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


@pytest.mark.parametrize("raised", [SystemExit(1), KeyboardInterrupt(), _Stop("stop")])
def test_task_raising_a_base_exception_fails_only_its_own_record(rig: Rig, raised: BaseException) -> None:
    @rig.app.task(name="lam.exits", max_retries=0)
    def exits(key: str) -> None:
        raise raised

    rig.send("lam.add", {"x": 1, "y": 1})
    exiting = rig.send("lam.exits", {"key": "k"})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == []  # max_retries=0: failed for good, copied to the DLQ
    record = rig.results.get(exiting)
    assert record is not None and record.status is Status.FAILURE and record.error_type == type(raised).__name__
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS and _status(rig, _task_id(r[2])) is Status.SUCCESS


@pytest.mark.parametrize("raised", [SystemExit(3), _Stop("stop"), RuntimeError("bug")])
def test_base_exception_from_sqsq_code_fails_only_that_record_and_releases_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, raised: BaseException
) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    victim = rig.send("lam.add", {"x": 2, "y": 2})
    rig.send("lam.add", {"x": 3, "y": 3})
    event = rig.event()
    r = event["Records"]
    execute = rig.handler.executor.execute

    def broken_for_one(message: Any, *args: Any, **kwargs: Any) -> Any:
        if Envelope.from_body(message.body).id == victim:
            raise raised
        return execute(message, *args, **kwargs)

    monkeypatch.setattr(rig.handler.executor, "execute", broken_for_one)

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r[1]["messageId"]]
    assert rig.transport.visibility_calls == [(rig.queue, [(r[1]["receiptHandle"], 10)])]
    assert _status(rig, _task_id(r[0])) is Status.SUCCESS and _status(rig, _task_id(r[2])) is Status.SUCCESS


def test_base_exception_while_checking_a_record_fails_only_that_record(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]
    needed = rig.handler._needed_seconds

    def broken_for_first(inv: Any, body: str) -> float:
        if body == r[0]["body"]:
            raise SystemExit(2)
        return needed(inv, body)

    monkeypatch.setattr(rig.handler, "_needed_seconds", broken_for_first)

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r[0]["messageId"]]
    assert _status(rig, _task_id(r[0])) is None and _status(rig, _task_id(r[1])) is Status.SUCCESS


def test_keyboard_interrupt_outside_a_task_is_fatal_and_re_raised(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(rig.handler.executor, "execute", interrupted)

    with pytest.raises(KeyboardInterrupt):
        rig.handler(rig.event(), FakeContext())


class _NoRemainingTime:
    """A context object without get_remaining_time_in_millis."""


@dataclass
class _OddContext:
    value: Any

    def get_remaining_time_in_millis(self) -> Any:
        return self.value


@pytest.mark.parametrize("context", [_NoRemainingTime(), _OddContext(None), _OddContext("soon"), _OddContext(float("nan"))])
def test_context_that_cannot_tell_the_remaining_time_runs_every_record_and_logs_once(
    rig: Rig, context: Any
) -> None:
    stream = io.StringIO()
    handler = lambda_handler(rig.app, emit_metrics=False, logger=Logger(service=f"{rig.app.name}-ctx", stream=stream))
    for i in range(3):
        rig.send("lam.add", {"x": i, "y": i})
    event = rig.event()

    response = handler(event, context)

    assert _failed_ids(response) == []
    assert all(_status(rig, _task_id(r)) is Status.SUCCESS for r in event["Records"])
    warnings = [line for line in stream.getvalue().splitlines() if "remaining time" in line]
    assert len(warnings) == 1 and type(context).__name__ in warnings[0]


def _sqs_record(message_id: str = "m1") -> dict[str, Any]:
    return {
        "messageId": message_id, "receiptHandle": "rh", "body": "{}", "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
    }


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({}, "no Records key"),
        ({"Records": None}, "Records is a NoneType"),
        ({"Records": "abc"}, "Records is a str"),
        ("not even a dict", "got a str"),
        ({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}}}]}, "eventSource 'aws:s3'"),
        ({"Records": ["hello", _sqs_record()]}, "Records[0] is a str"),
        ({"Records": [_sqs_record(), {k: v for k, v in _sqs_record("m2").items() if k != "messageId"}]},
         "Records[1] has no messageId"),
    ],
)
def test_event_that_is_not_an_sqs_event_raises_value_error_saying_what_was_expected(
    rig: Rig, event: Any, says: str
) -> None:
    with pytest.raises(ValueError, match="expected an SQS event") as raised:
        rig.handler(event, FakeContext())
    assert says in str(raised.value)


def test_empty_sqs_event_is_a_batch_with_no_failures(rig: Rig) -> None:
    assert rig.handler({"Records": []}, FakeContext()) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("field_name", "value", "says"),
    [
        ("attributes", [1, 2], "attributes is a list, expected an object"),
        ("messageAttributes", ["a"], "messageAttributes is a list"),
        ("body", {"v": 1}, "body is a dict, expected a string"),
        ("body", None, "body is missing"),
    ],
)
def test_record_with_a_message_id_but_malformed_fields_is_reported_failed_alone(
    rig: Rig, field_name: str, value: Any, says: str
) -> None:
    stream = io.StringIO()
    handler = lambda_handler(rig.app, emit_metrics=False, logger=Logger(service=f"{rig.app.name}-bad", stream=stream))
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]
    good_body = r[1]["body"]
    if value is None:
        del r[0][field_name]
    else:
        r[0][field_name] = value

    response = handler(event, FakeContext())

    assert _failed_ids(response) == [r[0]["messageId"]]
    assert says in stream.getvalue()
    assert _status(rig, Envelope.from_body(good_body).id) is Status.SUCCESS


def test_message_attribute_that_is_not_an_object_fails_only_its_record(rig: Rig) -> None:
    rig.send("lam.add", {"x": 1, "y": 1})
    rig.send("lam.add", {"x": 2, "y": 2})
    event = rig.event()
    r = event["Records"]
    r[0]["messageAttributes"] = {"a": "not-an-object"}

    response = rig.handler(event, FakeContext())

    assert _failed_ids(response) == [r[0]["messageId"]]
    assert _status(rig, _task_id(r[1])) is Status.SUCCESS


def test_log_lines_carry_task_id_and_name_and_metrics_are_emitted(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    logger = Logger(service=f"{rig.app.name}-logs", stream=stream)
    handler = lambda_handler(rig.app, emit_metrics=True, logger=logger)
    task_id = rig.send("lam.flaky", {"key": "a"})
    event = rig.event()

    handler(event, FakeContext())

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    record_lines = [x for x in lines if x.get("message") != "batch done"]
    assert record_lines and all(x["task_id"] == task_id and x["task_name"] == "lam.flaky" for x in record_lines)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[0]["RecordsFailed"] == [1.0] and emf[0]["RecordsRetried"] == [1.0]


def test_importing_sqsq_does_not_import_powertools() -> None:
    code = "import sys, sqsq; assert 'aws_lambda_powertools' not in sys.modules; sqsq.lambda_handler"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- what Lambda deletes after the response (the local event source mapping's rules) ---------------------------


def test_lambda_deletes_the_records_not_reported_failed() -> None:
    result = settle(["a", "b", "c"], {"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert result.delete_ids == ["a", "c"]


def test_lambda_without_report_batch_item_failures_deletes_the_whole_batch() -> None:
    result = settle(["a", "b", "c"], {"batchItemFailures": [{"itemIdentifier": "b"}]},
                    report_batch_item_failures=False)
    assert result.delete_ids == ["a", "b", "c"]  # B12: record b is lost


@pytest.mark.parametrize(
    ("kwargs", "response"),
    [
        ({"raised": True}, None),
        ({"timed_out": True}, None),
        ({}, {"batchItemFailures": [{"itemIdentifier": ""}]}),
        ({}, {"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
        ({}, {"batchItemFailures": [{"id": "a"}]}),
        ({}, "not a response"),
    ],
)
def test_lambda_deletes_nothing_after_an_error_timeout_or_invalid_response(kwargs: dict[str, bool], response: Any) -> None:
    assert settle(["a", "b"], response, **kwargs).delete_ids == []


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_lambda_treats_an_empty_response_as_complete_success(response: Any) -> None:
    assert settle(["a", "b"], response).delete_ids == ["a", "b"]


def test_claimed_task_lease_ends_with_the_invocation(rig: Rig) -> None:
    # B25: the lease of a claimed task is bounded by the invocation's remaining time (here 20 s, where a task
    # without a time limit would hold 900 s), so a run that Lambda kills is taken over soon after the invocation.
    leases: list[float] = []

    @rig.app.task(name="lam.claimed", claim=True)
    def claimed(key: str) -> str:
        record = rig.results.get(task_id)
        assert record is not None and record.lease_expires_at is not None
        leases.append(record.lease_expires_at - time.time())
        return key

    task_id = rig.send("lam.claimed", {"key": "k"})
    response = rig.handler(rig.event(), FakeContext(remaining_ms=20_000))
    assert _failed_ids(response) == []
    assert len(leases) == 1 and 15 <= leases[0] <= 20.5


def test_a_record_given_back_on_its_last_receive_is_rescued_and_acknowledged(rig: Rig) -> None:
    task_id = rig.send("lam.add", {"x": 1, "y": 2})
    original_put = rig.results.put

    def store_down(record: ResultRecord) -> bool:
        raise AwsError("DynamoDB unavailable", code="InternalServerError")

    rig.results.put = store_down  # type: ignore[method-assign]
    response = rig.handler(rig.event(receive_count=MAX_RECEIVE_COUNT), FakeContext())
    assert response == {"batchItemFailures": []}  # Lambda deletes the original: the rescued copy is in the queue
    rig.results.put = original_put  # type: ignore[method-assign]
    (copy,) = rig.transport.receive(rig.queue, 10, 0)
    envelope = Envelope.from_body(copy.body)
    assert (envelope.id, envelope.rescues, copy.receive_count) == (task_id, 1, 1)
    assert rig.transport.depth(rig.dlq).visible == 0


def test_a_sweep_event_rescues_what_sqs_moved_to_the_dlq_without_an_outcome(rig: Rig) -> None:
    task_id = rig.send("lam.add", {"x": 1, "y": 2})
    for _ in range(MAX_RECEIVE_COUNT + 1):  # spend every receive: SQS's redrive moves it
        got = rig.transport.receive(rig.queue, 10, 0)
        if got:
            rig.transport.change_visibility_batch(rig.queue, [(m.receipt_handle, 0) for m in got])
    assert rig.transport.depth(rig.dlq).visible == 1
    out = rig.handler({"sqsq": "sweep", "queues": ["default"]}, FakeContext())
    assert out["swept"]["default"]["rescued"] == [task_id]
    assert rig.transport.depth(rig.dlq).visible == 0 and rig.transport.depth(rig.queue).visible == 1
