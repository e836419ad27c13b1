"""DLQ listing, redrive and purge over the in-memory transport and results twins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from sqsq.app import App
from sqsq.config import Settings
from sqsq.dlq import (
    UNDECODABLE,
    DeadLetterQueue,
    DlqEntry,
    PurgeLedger,
    Selection,
    format_age,
    resolve_source_queue,
)
from sqsq.errors import AwsError, ConfigError, PurgeInProgress
from sqsq.message import Envelope, new_task_id, undecodable_id
from sqsq.results import ResultRecord, Status
from sqsq.results.memory import MemoryResults
from sqsq.transport import BatchFailure, OutgoingMessage, ReceivedMessage, split_batches
from sqsq.transport.memory import MemoryTransport

KIB = 1024


def make_app(transport: MemoryTransport | None = None, max_message_size_bytes: int = 256 * KIB) -> App:
    t = transport or MemoryTransport()
    t.create_queue("u-default-dlq", max_message_size_bytes=max_message_size_bytes)
    t.create_queue(
        "u-default", max_message_size_bytes=max_message_size_bytes, dlq_name="u-default-dlq", max_receive_count=3
    )
    return App("u", settings=Settings(app_name="u"), transport=t, results=MemoryResults())


def dead(
    app: App,
    task: str = "boom",
    error_type: str = "RuntimeError",
    args: dict[str, object] | None = None,
    generation: int = 0,
    record: bool = True,
) -> str:
    """Put one failed task in the DLQ (and its FAILURE record); returns the task id."""
    env = Envelope(id=new_task_id(), task=task, args=args or {"message": "no"}, generation=generation)
    assert app.transport.send_batch("u-default-dlq", [OutgoingMessage("0", env.to_body())]) == []
    if record:
        app.results.put(
            ResultRecord(
                task_id=env.id, status=Status.FAILURE, task_name=task, error_type=error_type,
                error_message="it broke", attempts=3, generation=generation,
            ).stamped(3600)
        )
    return env.id


def bodies(app: App, queue: str) -> list[str]:
    got: list[ReceivedMessage] = []
    while batch := app.transport.receive(queue, 10, 0, visibility_timeout_seconds=600):
        got.extend(batch)
    return [m.body for m in got]


def task_ids(app: App, queue: str) -> list[str]:
    return sorted(Envelope.from_body(b).id for b in bodies(app, queue))


def test_listing_shows_recorded_failure_and_consumes_nothing() -> None:
    app = make_app()
    ids = sorted(dead(app) for _ in range(13))
    dlq = DeadLetterQueue(app, "default", wait_seconds=0)
    entries = dlq.entries()
    assert sorted(e.task_id for e in entries) == ids
    e = entries[0]
    assert (e.task_name, e.error_type, e.error_message, e.attempts) == ("boom", "RuntimeError", "it broke", 3)
    assert e.to_json()["status"] == "FAILURE"
    depth = app.transport.depth("u-default-dlq")
    assert (depth.visible, depth.in_flight) == (13, 0)


def test_undecodable_body_is_listed_under_its_body_derived_id_with_its_decode_error() -> None:
    app = make_app()
    app.transport.send_batch("u-default-dlq", [OutgoingMessage("0", "not json at all")])
    (entry,) = DeadLetterQueue(app, "default", wait_seconds=0).entries()
    assert entry.task_name == UNDECODABLE
    assert entry.task_id == undecodable_id("not json at all")
    assert entry.error_type == "MessageDecodeError"
    assert "not JSON" in (entry.error_message or "")


def test_filters_select_by_task_and_error_type() -> None:
    app = make_app()
    boom = dead(app, "boom", "RuntimeError")
    other = dead(app, "resize", "KeyError")
    dlq = DeadLetterQueue(app, "default", wait_seconds=0)
    assert [e.task_id for e in dlq.entries(Selection(task_names=frozenset({"boom"})))] == [boom]
    assert [e.task_id for e in dlq.entries(Selection(error_types=frozenset({"KeyError"})))] == [other]
    assert dlq.entries(Selection(task_names=frozenset({"boom"}), error_types=frozenset({"KeyError"}))) == []


def test_redrive_moves_only_the_selected_with_the_next_generation() -> None:
    app = make_app()
    keep = [dead(app, "resize", "KeyError") for _ in range(3)]
    move = [dead(app, "boom", "RuntimeError") for _ in range(12)]
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(task_names=frozenset({"boom"})))
    assert report.ok and sorted(report.moved) == sorted(move)
    moved = [Envelope.from_body(b) for b in bodies(app, "u-default")]
    assert sorted(e.id for e in moved) == sorted(move)
    assert {e.generation for e in moved} == {1}
    assert task_ids(app, "u-default-dlq") == sorted(keep)


def test_redrive_by_task_id_and_dry_run() -> None:
    app = make_app()
    ids = [dead(app) for _ in range(5)]
    dlq = DeadLetterQueue(app, "default", wait_seconds=0)
    dry = dlq.redrive(Selection(task_ids=frozenset(ids[:2])), dry_run=True)
    assert sorted(e.task_id for e in dry.selected) == sorted(ids[:2]) and dry.moved == []
    assert task_ids(app, "u-default") == []
    assert app.transport.depth("u-default-dlq").visible == 5  # the dry run made everything visible again
    report = dlq.redrive(Selection(task_ids=frozenset(ids[:2])))
    assert sorted(report.moved) == sorted(ids[:2])
    assert task_ids(app, "u-default") == sorted(ids[:2])
    assert task_ids(app, "u-default-dlq") == sorted(ids[2:])


def test_redrive_reports_requested_task_ids_that_are_not_in_the_dlq() -> None:
    app = make_app()
    present = dead(app)
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(
        Selection(task_ids=frozenset({present, "no-such-task"})), dry_run=True
    )
    assert [e.task_id for e in report.selected] == [present]
    assert report.not_found == ["no-such-task"]
    assert report.to_json()["not_found"] == ["no-such-task"]


def test_generation_advances_past_the_recorded_one() -> None:
    app = make_app()
    tid = dead(app, generation=0, record=False)
    app.results.put(ResultRecord(tid, Status.FAILURE, "boom", generation=4, attempts=1).stamped(3600))
    DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(everything=True))
    (body,) = bodies(app, "u-default")
    assert Envelope.from_body(body).generation == 5


def test_undecodable_body_is_redriven_unchanged() -> None:
    app = make_app()
    app.transport.send_batch("u-default-dlq", [OutgoingMessage("0", "{broken")])
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(task_names=frozenset({UNDECODABLE})))
    assert len(report.moved) == 1
    assert bodies(app, "u-default") == ["{broken"]


def test_redrive_of_ten_100_kib_messages_fits_the_batch_size_limit() -> None:
    # B09: the memory twin refuses a SendMessageBatch over MaximumMessageSize in total, like SQS.
    app = make_app(max_message_size_bytes=256 * KIB)
    ids = [dead(app, args={"message": "x" * (100 * KIB)}) for _ in range(10)]
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(everything=True))
    assert report.ok and sorted(report.moved) == sorted(ids)
    assert task_ids(app, "u-default") == sorted(ids)
    assert task_ids(app, "u-default-dlq") == []


def test_batches_split_by_count_and_by_total_bytes() -> None:
    def item(size: int) -> tuple[DlqEntry, OutgoingMessage, int]:
        return (None, OutgoingMessage("", ""), size)  # type: ignore[return-value]

    sizes = [len(c) for c in split_batches([item(1) for _ in range(25)], lambda i: i[2], 1000)]
    assert sizes == [10, 10, 5]
    chunks = list(split_batches([item(100) for _ in range(10)], lambda i: i[2], 250))
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 2]
    assert all(sum(i[2] for i in c) <= 250 for c in chunks)


class FlakySends(MemoryTransport):
    """Rejects chosen entries of the next send: ``fail`` maps an entry position to its sender fault."""

    def __init__(self, fail: dict[int, bool]):
        super().__init__()
        self.fail = fail

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        if queue_name == "u-default" and self.fail:
            fail, self.fail = self.fail, {}
            bad = {messages[i].id: f for i, f in fail.items()}
            ok = [m for m in messages if m.id not in bad]
            assert super().send_batch(queue_name, ok) == []
            return [BatchFailure(i, "Boom" if f else "Throttled", "injected", f) for i, f in bad.items()]
        return super().send_batch(queue_name, messages)


def test_rejected_send_leaves_the_message_in_the_dlq_and_transient_one_is_retried() -> None:
    t = FlakySends({1: True, 2: False})
    app = make_app(t)
    ids = [dead(app) for _ in range(4)]
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(everything=True))
    assert not report.ok
    (failed,) = report.failed
    assert "Boom" in report.failed[failed]
    assert sorted(report.moved) == sorted(set(ids) - {failed})
    assert task_ids(app, "u-default-dlq") == [failed]
    assert task_ids(app, "u-default") == sorted(set(ids) - {failed})  # the transient one was sent exactly once


class NoMoveTask(MemoryTransport):
    def start_message_move_task(
        self, source_queue_name: str, destination_queue_name: str, max_per_second: int | None = None
    ) -> str:
        raise AwsError("not implemented here", code="500")


def test_native_redrive_falls_back_to_client_side_when_unsupported() -> None:
    app = make_app(NoMoveTask())
    ids = [dead(app) for _ in range(3)]
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(everything=True), native=True)
    assert report.native_task_handle is None and "not implemented" in (report.native_fallback_reason or "")
    assert sorted(report.moved) == sorted(ids)
    assert {Envelope.from_body(b).generation for b in bodies(app, "u-default")} == {1}


def test_native_redrive_moves_everything_server_side_where_supported() -> None:
    app = make_app()
    ids = [dead(app) for _ in range(3)]
    report = DeadLetterQueue(app, "default", wait_seconds=0).redrive(Selection(everything=True), native=True)
    assert report.native_task_handle
    assert task_ids(app, "u-default") == sorted(ids)


def test_native_redrive_refuses_filters() -> None:
    app = make_app()
    with pytest.raises(ConfigError):
        DeadLetterQueue(app, "default").redrive(Selection(task_names=frozenset({"x"}), everything=True), native=True)


def test_second_purge_within_60_seconds_is_refused_with_retry_hint(tmp_path: Path) -> None:
    app = make_app()
    dead(app)
    ledger = PurgeLedger(tmp_path / "purges.json")
    dlq = DeadLetterQueue(app, "default")
    dlq.purge(ledger)
    assert dlq.depth() == 0
    with pytest.raises(PurgeInProgress) as info:
        dlq.purge(ledger)
    assert 1 <= info.value.retry_after_seconds <= 60
    assert str(info.value).startswith("purge already in progress; retry after ~")


def test_purge_ledger_ignores_an_unreadable_file_and_forgets_old_purges(tmp_path: Path) -> None:
    path = tmp_path / "purges.json"
    path.write_text("{not json")
    ledger = PurgeLedger(path)
    assert ledger.last_purge_at("q") is None
    ledger.record("old", 1000.0)
    ledger.record("q", 2000.0)
    assert json.loads(path.read_text()) == {"q": 2000.0}


def test_queue_argument_may_be_logical_or_physical() -> None:
    app = make_app()
    assert resolve_source_queue(app, "default") == "u-default"
    assert resolve_source_queue(app, "u-default") == "u-default"
    assert DeadLetterQueue(app, "u-default").dlq_name == "u-default-dlq"


def test_queue_without_redrive_policy_has_no_dlq() -> None:
    t = MemoryTransport()
    t.create_queue("u-plain")
    app = App("u", settings=Settings(app_name="u"), transport=t, results=MemoryResults())
    with pytest.raises(ConfigError, match="no redrive policy"):
        DeadLetterQueue(app, "plain")


def test_age_is_shown_in_the_largest_whole_unit() -> None:
    assert [format_age(s) for s in (5, 125, 7300, 200_000)] == ["5s", "2m", "2h", "2d"]


@pytest.mark.parametrize("seconds", [float("inf"), float("-inf"), float("nan"), 1e300, -1e300, None])
def test_age_that_is_no_real_duration_is_shown_as_unknown(seconds: float | None) -> None:
    assert format_age(seconds) == "?"


def test_negative_age_from_clock_skew_is_shown_as_zero() -> None:
    assert format_age(-3.0) == "0s"


def _entry_sent_at(sent_at: float) -> DlqEntry:
    # model_construct: whatever a producer wrote, even where Envelope's own validation would refuse it.
    env = Envelope.model_construct(id="t1", task="boom", args={"x": 1}, sent_at=sent_at, generation=0)
    message = ReceivedMessage("u-default-dlq", "m1", "rh", env.to_body(), 1, 0.0)
    return DlqEntry(message=message, envelope=env, decode_error=None, record=None)


@pytest.mark.parametrize("sent_at", [float("inf"), float("-inf"), float("nan"), 1e300])
def test_entry_whose_sent_at_is_not_a_real_time_has_no_age_and_null_times_in_json(sent_at: float) -> None:
    entry = _entry_sent_at(sent_at)
    assert entry.age_seconds(now=1_700_000_000.0) is None
    row = entry.to_json(now=1_700_000_000.0)
    assert row["age_seconds"] is None
    assert row["sent_at"] == (None if sent_at != 1e300 else 1e300)
    json.dumps(row, allow_nan=False)  # valid JSON: no NaN / Infinity


def test_deeply_nested_json_body_is_listed_as_undecodable() -> None:
    app = make_app()
    deep = "[" * 100_000 + "]" * 100_000
    app.transport.send_batch("u-default-dlq", [OutgoingMessage("0", deep)])
    (entry,) = DeadLetterQueue(app, "default", wait_seconds=0).entries()
    assert entry.task_name == UNDECODABLE and entry.task_id == undecodable_id(deep)
    assert entry.error_type == "MessageDecodeError" and "not JSON" in (entry.error_message or "")
    assert len(entry.args_summary()) <= 60
