"""Property: whatever lands in a queue (any body, any message attributes, any unicode), the worker survives and
every message ends acknowledged with a recorded outcome or in the dead-letter queue. Checked on the in-memory
twins (many examples) and against moto server over HTTP (a few).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqsq.app import App
from sqsq.errors import MessageDecodeError
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope
from sqsq.results import ResultStore, Status
from sqsq.results.memory import MemoryResults
from sqsq.transport import OutgoingMessage, Transport
from sqsq.transport.memory import MemoryTransport
from sqsq.worker import Worker
from tests.conftest import Deployed, deploy

TASK_NAMES = ["p.add", "p.fail", "p.echo"]


def _register(app: App) -> None:
    @app.task(name="p.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="p.fail", max_retries=0)
    def fail(message: str) -> None:
        raise ValueError(message)

    @app.task(name="p.echo")
    def echo(text: str) -> str:
        return text


# SQS accepts #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF in bodies and attribute values.
sqs_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from(["\t", "\n", "\r"]), max_size=60
).filter(lambda s: "\ufffe" not in s and "\uffff" not in s)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | sqs_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(sqs_text, inner, max_size=3),
    max_leaves=6,
)
envelopes = st.fixed_dictionaries({
    "v": st.sampled_from([1, 1, 1, 2, "1", None]),
    "id": st.uuids().map(str) | sqs_text | st.text(min_size=129, max_size=140, alphabet="ab"),
    "task": st.sampled_from([*TASK_NAMES, "no.such.task"]) | sqs_text,
    "args": st.dictionaries(st.sampled_from(["x", "y", "message", "text", "extra"]), json_values, max_size=3)
    | json_values,
}).map(lambda d: json.dumps(d, ensure_ascii=False))
bodies = st.one_of(st.builds(str, sqs_text).filter(bool), envelopes, st.just("{}"), st.just("[1, 2]"), st.just("null"))
attribute_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(
    lambda n: ".." not in n and not n.endswith(".") and not n.lower().startswith(("aws.", "amazon."))
)
attribute_values = st.one_of(
    st.builds(lambda v: {"DataType": "String", "StringValue": v}, sqs_text.filter(bool)),
    st.builds(lambda v: {"DataType": "Number", "StringValue": str(v)}, st.integers(-(10**9), 10**9)),
    st.builds(lambda v: {"DataType": "Binary", "BinaryValue": v}, st.binary(min_size=1, max_size=20)),
)
messages = st.lists(
    st.tuples(bodies, st.dictionaries(attribute_names, attribute_values, max_size=4)), min_size=1, max_size=6
)


class _Errors(logging.Handler):
    """Collects log records of unexpected errors (a bug in the worker, not a failing task)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "unexpected" in record.getMessage() or record.exc_info:
            self.records.append(record)


@pytest.fixture
def unexpected_errors() -> Iterator[_Errors]:
    handler = _Errors()
    logging.getLogger("sqsq").addHandler(handler)
    yield handler
    logging.getLogger("sqsq").removeHandler(handler)


def _drain(transport: Transport, queue_name: str, wait_seconds: int) -> list[str]:
    out: list[str] = []
    empty = 0
    while empty < 2:
        got = transport.receive(queue_name, 10, wait_seconds)
        empty = 0 if got else empty + 1
        out += [m.body for m in got]
        if got:
            transport.delete_batch(queue_name, [m.receipt_handle for m in got])
    return out


def _check_every_message_ended_well(
    sent: list[str], transport: Transport, results: ResultStore, queue: str, dlq: str, wait_seconds: int
) -> None:
    depth = transport.depth(queue)
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0), "a message was left in the queue"
    dead = _drain(transport, dlq, wait_seconds)
    for body in sent:
        if body in dead:
            continue
        # Not dead-lettered: it must be a decodable envelope of a task that succeeded (or already has a record).
        try:
            envelope = Envelope.from_body(body)
        except MessageDecodeError:
            pytest.fail(f"undecodable body neither dead-lettered nor recorded: {body!r}")
        record = results.get(envelope.id)
        assert record is not None and record.status is Status.SUCCESS, (body, record)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=messages)
def test_worker_survives_any_message_and_each_ends_recorded_or_dead_lettered_in_memory(
    batch: list[tuple[str, dict[str, Any]]], unexpected_errors: _Errors
) -> None:
    transport = MemoryTransport()
    results = MemoryResults()
    transport.create_queue("p-default-dlq")
    transport.create_queue("p-default", visibility_timeout_seconds=5, dlq_name="p-default-dlq", max_receive_count=3)
    app = App("p", transport=transport, results=results, endpoint_url="http://unused.invalid")
    _register(app)
    sent = [body for body, _ in batch]
    for i in range(0, len(batch), 10):
        failures = transport.send_batch("p-default", [
            OutgoingMessage(str(j), body, message_attributes=attrs) for j, (body, attrs) in enumerate(batch[i : i + 10])
        ])
        assert failures == []
    worker = Worker(app, ["default"], concurrency=2, prefetch=2, wait_time_seconds=0, burst=True)
    assert worker.run() == 0
    assert unexpected_errors.records == []
    _check_every_message_ended_well(sent, transport, results, "p-default", "p-default-dlq", 0)


@pytest.fixture
def prop_app(local_aws: LocalAwsServer, tmp_path: Path) -> Deployed:
    app = App("prop")
    _register(app)
    return deploy(app, local_aws, tmp_path, visibility_timeout_seconds=5, max_receive_count=3)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=messages)
def test_worker_survives_any_message_and_each_ends_recorded_or_dead_lettered_on_moto(
    batch: list[tuple[str, dict[str, Any]]], prop_app: Deployed, unexpected_errors: _Errors
) -> None:
    app = prop_app.app
    queue, dlq = app.queue_name("default"), app.settings.dlq_name("default")
    sent = [body for body, _ in batch]
    failures = app.transport.send_batch(queue, [
        OutgoingMessage(str(j), body, message_attributes=attrs) for j, (body, attrs) in enumerate(batch)
    ])
    assert failures == []
    worker = Worker(app, ["default"], concurrency=2, prefetch=2, wait_time_seconds=0, burst=True)
    assert worker.run() == 0
    assert unexpected_errors.records == []
    _check_every_message_ended_well(sent, app.transport, app.results, queue, dlq, 0)
