"""FIFO queue declarations, their template, and the group rules of a send (no AWS; issue 14)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import sqsq
from sqsq.errors import ConfigError, LimitExceeded, SendOptionError, ValidationError
from sqsq.executor import Ack, DeadLetter, Outcome, RetryAfter
from sqsq.grouping import GroupOptions, check_id, message_ids
from sqsq.template import TemplateOptions, render_template
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.transport.copies import copy_of
from sqsq.worker.groups import GroupGate
from sqsq.worker.slots import Held


def _app() -> sqsq.App:
    app = sqsq.App("shop")
    app.declare_queue("orders", fifo=True, deduplication_scope="messageGroup", fifo_throughput_limit="perMessageGroupId")
    app.declare_queue("ledger", fifo=True, consumer="worker")

    @app.task(name="pay", queue="orders", group_key=lambda args: args.customer)
    def pay(customer: str, cents: int) -> None: ...

    @app.task(name="post", queue="ledger")
    def post(entry: str) -> None: ...

    return app


def _props(template: dict[str, Any], resource: str) -> dict[str, Any]:
    props = template["Resources"][resource]["Properties"]
    assert isinstance(props, dict)
    return props


def test_a_fifo_queue_and_its_dlq_are_templated_as_fifo_with_the_declared_throughput_settings() -> None:
    template = render_template(_app(), TemplateOptions(app_spec="shop:app"))
    queue, dlq = _props(template, "OrdersQueue"), _props(template, "OrdersDeadLetterQueue")
    assert queue["QueueName"] == {"Fn::Sub": "shop-${Stage}-orders.fifo"}
    assert (queue["FifoQueue"], queue["ContentBasedDeduplication"]) == (True, False)
    assert (queue["DeduplicationScope"], queue["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert dlq["QueueName"] == {"Fn::Sub": "shop-${Stage}-orders-dlq.fifo"}
    assert (dlq["FifoQueue"], dlq["ContentBasedDeduplication"]) == (True, False)
    default = _props(template, "DefaultQueue")
    assert "FifoQueue" not in default and default["QueueName"] == {"Fn::Sub": "shop-${Stage}-default"}


def test_a_fifo_queue_function_has_no_batching_window() -> None:
    template = render_template(_app(), TemplateOptions(app_spec="shop:app", batching_window_seconds=5))
    event = _props(template, "OrdersFunction")["Events"]["OrdersMessages"]["Properties"]
    assert "MaximumBatchingWindowInSeconds" not in event
    default = _props(template, "DefaultFunction")["Events"]["DefaultMessages"]["Properties"]
    assert default["MaximumBatchingWindowInSeconds"] == 5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"deduplication_scope": "messageGroup"}, "apply to FIFO queues only"),
        ({"fifo": True, "fifo_throughput_limit": "perMessageGroupId"}, "needs deduplication_scope='messageGroup'"),
        ({"fifo": True, "batching_window_seconds": 5}, "no batching window on a FIFO queue"),
        ({"fifo": True, "deduplication_scope": "group"}, "must be 'queue' or 'messageGroup'"),
    ],
)
def test_fifo_settings_sqs_refuses_are_refused_at_declaration(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sqsq.App("shop").declare_queue("orders", **settings)


def test_the_fifo_suffix_counts_toward_the_queue_name_limit() -> None:
    app = sqsq.App("a" * 30)
    app.declare_queue("q" * 40, fifo=True)  # 30 + 1 + 40 + 4 + 5 = 80 without a Stage
    with pytest.raises(ConfigError, match="characters"):
        render_template(app, TemplateOptions(app_spec="a:app"))


def test_group_rules_of_a_send() -> None:
    app = _app()
    pay = app.get_task("pay")
    model = pay.validate_args({"customer": "c-1", "cents": 5})
    fifo, std = "shop-orders.fifo", "shop-default"
    ids = message_ids(pay, model, "tid", GroupOptions(), queue_name=fifo, delay_seconds=0)
    assert (ids.group_id, ids.deduplication_id) == ("c-1", "tid")
    ids = message_ids(pay, model, "tid", GroupOptions(group_id="g", deduplication_id="d"), queue_name=fifo,
                      delay_seconds=0)
    assert (ids.group_id, ids.deduplication_id) == ("g", "d")
    assert message_ids(pay, model, "tid", GroupOptions(tenant="acme"), queue_name=std, delay_seconds=30).group_id == "acme"
    assert message_ids(pay, model, "tid", GroupOptions(), queue_name=std, delay_seconds=0).group_id is None
    with pytest.raises(LimitExceeded, match="no per-message delay"):
        message_ids(pay, model, "tid", GroupOptions(), queue_name=fifo, delay_seconds=1)
    with pytest.raises(ValidationError, match="apply to FIFO queues"):
        message_ids(pay, model, "tid", GroupOptions(deduplication_id="d"), queue_name=std, delay_seconds=0)


@pytest.mark.parametrize("value", ["", "has space", "é", "x" * 129, 5])
def test_ids_sqs_refuses_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        check_id("t", "group_id", value)


def test_a_group_key_that_raises_or_returns_no_str_is_a_clear_error() -> None:
    app = sqsq.App("shop")
    app.declare_queue("orders", fifo=True)

    @app.task(name="bad", queue="orders", group_key=lambda args: args.n)
    def bad(n: int) -> None: ...

    model = bad.validate_args({"n": 1})
    with pytest.raises(SendOptionError, match=r"^invalid send options: group_key of task 'bad' returned int"):
        message_ids(bad, model, "tid", GroupOptions(), queue_name="shop-orders.fifo", delay_seconds=0)


def _received(queue: str, message_id: str, group: str | None) -> ReceivedMessage:
    attrs = {"MessageGroupId": group} if group else {}
    return ReceivedMessage(queue, message_id, f"rh-{message_id}", "{}", 1, 0.0, attributes=attrs)


def test_a_copy_keeps_the_group_and_gets_a_dedup_id_only_for_a_fifo_target() -> None:
    m = _received("q.fifo", "m1", "g")
    fifo_copy, std_copy = copy_of(m, "q-dlq.fifo", "dlq"), copy_of(m, "q-dlq", "dlq")
    assert (fifo_copy.group_id, fifo_copy.deduplication_id) == ("g", "dlq-m1")
    assert (std_copy.group_id, std_copy.deduplication_id) == ("g", None)


def _held(queue: str, message_id: str, group: str | None) -> Held:
    info = QueueInfo("u", "a", 1024, 30, 5, None)
    return Held(_received(queue, message_id, group), info, f"rh-{message_id}", received_at=0.0, visible_until=30.0)


def _gate() -> tuple[GroupGate, list[str], list[list[str]]]:
    submitted: list[str] = []
    released: list[list[str]] = []
    gate = GroupGate(lambda h: submitted.append(h.message.message_id),
                     lambda hs: released.append([h.message.message_id for h in hs]))
    return gate, submitted, released


def _finish(gate: GroupGate, held: Held, outcome: Outcome) -> None:
    gate.finished(held, outcome)
    for t in threading.enumerate():  # the gate releases on a thread of its own
        if t.name == "sqsq-group-release":
            t.join(5)


def test_the_gate_runs_one_message_per_fifo_group_in_order_and_passes_standard_queues_through() -> None:
    gate, submitted, _ = _gate()
    a1, a2, b1 = _held("q.fifo", "a1", "A"), _held("q.fifo", "a2", "A"), _held("q.fifo", "b1", "B")
    s1, s2 = _held("std", "s1", "A"), _held("std", "s2", "A")
    for h in (a1, a2, b1, s1, s2):
        gate.dispatch(h)
    assert submitted == ["a1", "b1", "s1", "s2"]
    _finish(gate, a1, Ack())
    assert submitted[-1] == "a2"


def test_the_gate_gives_back_a_groups_waiting_messages_when_one_fails_and_moves_on_after_a_dead_letter() -> None:
    gate, submitted, released = _gate()
    a = [_held("q.fifo", f"a{i}", "A") for i in range(4)]
    for h in a:
        gate.dispatch(h)
    _finish(gate, a[0], DeadLetter("ValueError", "bad"))
    assert submitted == ["a0"]  # not before its copy is in the DLQ (security fix F4)
    gate.moved(a[0], True)
    assert submitted == ["a0", "a1"]
    _finish(gate, a[1], RetryAfter(0, "again"))
    assert submitted == ["a0", "a1"] and released == [["a2", "a3"]]
    assert a[2].released and a[3].released and gate.waiting() == 0


def test_the_eager_and_in_memory_test_modes_run_a_fifo_app() -> None:
    from sqsq.testing import eager, in_memory

    app = sqsq.App("fifotest")
    app.declare_queue("orders", fifo=True)
    ran: list[int] = []

    @app.task(name="ordered", queue="orders", group_key=lambda args: "one")
    def ordered(n: int) -> int:
        ran.append(n)
        return n

    with eager(app):
        assert ordered.delay(n=1).get(timeout_seconds=1) == 1
    with in_memory(app) as env:
        handles = [ordered.delay(n=i) for i in range(2, 5)]
        env.drain()
        assert [h.get(timeout_seconds=1) for h in handles] == [2, 3, 4]
    assert ran == [1, 2, 3, 4]


def test_the_schema_marks_tasks_on_a_fifo_queue() -> None:
    from sqsq.schema import task_schema

    app = _app()
    app.task(name="plain")(lambda: None)
    assert task_schema(app, app.get_task("pay"))["fifo"] is True
    assert task_schema(app, app.get_task("pay"))["queue_name"] == "shop-orders.fifo"
    assert "fifo" not in task_schema(app, app.get_task("plain"))
