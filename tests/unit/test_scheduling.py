"""Issue 12 on the in-memory twins: long delays become one-time schedules with a SCHEDULED record; cancel deletes
the schedule (REVOKED); a revoked queued task is deleted unrun by a consumer that checks revocations; a message that
arrives before its due time is put back unrun."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import sqsq
from sqsq.app import App
from sqsq.errors import ConfigError, LimitExceeded, TaskRevoked, ValidationError
from sqsq.executor import Ack, Executor, Release
from sqsq.message import Envelope, new_task_id
from sqsq.results import Status
from sqsq.results.memory import MemoryResults
from sqsq.scheduling.cancel import UNNAMED, cancel_explained, is_task_id
from sqsq.scheduling.guard import early_by_seconds
from sqsq.scheduling.one_time import schedule_name
from sqsq.scheduling.revocation import RevocationCheck
from sqsq.transport import OutgoingMessage, ReceivedMessage
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.schedules import UNIVERSAL_SEND_MESSAGE_ARN, MemoryScheduler

HOUR = 3600


@pytest.fixture(autouse=True)
def _no_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Env(endpoint_url=None) means AWS: a session fixture's AWS_ENDPOINT_URL (tests/conftest.py) must not leak in.
    for name in ("AWS_ENDPOINT_URL", "SQSQ_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


class Env:
    def __init__(self, **settings: Any) -> None:
        self.transport, self.results, self.scheduler = MemoryTransport(), MemoryResults(), MemoryScheduler()
        self.transport.create_queue("s-default-dlq")
        self.transport.create_queue("s-default", visibility_timeout_seconds=1, dlq_name="s-default-dlq",
                                    max_receive_count=3)
        settings.setdefault("endpoint_url", "http://unused.invalid")
        self.app = App("s", transport=self.transport, results=self.results, scheduler=self.scheduler, **settings)
        self.ran: list[int] = []

        @self.app.task(name="s.add")
        def add(x: int, y: int) -> int:
            self.ran.append(x)
            return x + y

        self.add = add

    def receive(self) -> ReceivedMessage:
        (message,) = self.transport.receive("s-default", max_messages=1, wait_seconds=0)
        return message


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def test_a_delay_within_900_s_is_sqs_delay_seconds_and_makes_no_schedule(env: Env) -> None:
    env.add.options(delay_seconds=900).delay(x=1, y=2)
    assert env.scheduler.schedules == {} and env.transport.depth("s-default").delayed == 1


def test_a_longer_delay_is_a_one_time_schedule_with_the_envelope_and_a_scheduled_record(env: Env) -> None:
    before = datetime.now(UTC).timestamp()
    h = env.add.options(delay_seconds=3 * HOUR).delay(x=1, y=2)
    assert env.transport.depth("s-default").delayed == 0  # nothing in the queue yet
    spec = env.scheduler.schedules[("s", schedule_name(h.id))]
    request = spec.request()
    assert request["FlexibleTimeWindow"] == {"Mode": "OFF"} and request["ActionAfterCompletion"] == "DELETE"
    assert request["Target"]["Arn"] == UNIVERSAL_SEND_MESSAGE_ARN
    assert request["Target"]["DeadLetterConfig"]["Arn"].endswith("s-default-dlq")
    assert request["Target"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    sent = json.loads(request["Target"]["Input"])
    envelope = Envelope.from_body(sent["MessageBody"])
    assert envelope.id == h.id and envelope.args == {"x": 1, "y": 2}
    assert envelope.due_at is not None and envelope.due_at >= before + 3 * HOUR
    assert sent["QueueUrl"] == env.transport.queue_info("s-default").url and 0 <= sent["DelaySeconds"] < 60
    record = env.results.get(h.id)
    assert record is not None and record.status is Status.SCHEDULED and record.due_at == envelope.due_at
    assert h.state == "SCHEDULED" and not h.ready()


def test_a_naive_eta_is_refused_and_a_past_eta_sends_now(env: Env) -> None:
    with pytest.raises(ValidationError, match="naive"):
        env.add.options(eta=datetime.now() + timedelta(hours=2)).delay(x=1, y=2)
    sqsq.send(env.add, {"x": 1, "y": 2}, eta=datetime.now(UTC) - timedelta(days=3))
    assert env.transport.depth("s-default").visible == 1 and env.scheduler.schedules == {}


def test_an_eta_and_a_delay_together_are_refused(env: Env) -> None:
    with pytest.raises(ValidationError, match="not both"):
        env.app.send(env.add, {"x": 1, "y": 2}, delay_seconds=5, eta=datetime.now(UTC))


def test_send_many_with_a_long_delay_makes_one_schedule_per_task(env: Env) -> None:
    handles = sqsq.send_many(env.add, [{"x": i, "y": 0} for i in range(3)], delay_seconds=2 * HOUR)
    assert {n for _, n in env.scheduler.schedules} == {schedule_name(h.id) for h in handles}


def test_a_retried_create_of_the_same_schedule_counts_as_done(env: Env) -> None:
    h = env.add.options(delay_seconds=2 * HOUR).delay(x=1, y=2)
    spec = env.scheduler.schedules[("s", schedule_name(h.id))]
    assert env.scheduler.create(spec) is False  # ConflictException: the send's own schedule


def test_cancel_before_the_schedule_fires_deletes_it_and_records_revoked(env: Env) -> None:
    h = env.add.options(delay_seconds=2 * HOUR).delay(x=1, y=2)
    assert h.cancel() == "cancelled"
    assert env.scheduler.schedules == {} and h.state == "REVOKED" and h.ready()
    with pytest.raises(TaskRevoked):
        h.get(timeout_seconds=0)
    assert h.cancel() == "finished"


def test_cancel_after_success_changes_nothing(env: Env) -> None:
    h = env.add.delay(x=1, y=2)
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)
    assert h.cancel() == "finished" and h.get(timeout_seconds=0) == 3


def test_a_revoked_queued_task_is_deleted_unrun_by_a_consumer_that_checks_revocations() -> None:
    env = Env(revocation_check_seconds=5)
    h = env.add.delay(x=1, y=2)
    assert h.cancel() == "revoked" and h.state == "REVOKED"
    outcome = Executor(env.app).execute(env.receive(), 3)
    assert isinstance(outcome, Ack) and env.ran == [] and h.state == "REVOKED"


def test_with_default_settings_a_revoked_queued_task_is_deleted_unrun() -> None:
    env = Env()  # revocation_check_seconds at its default
    assert env.app.settings.revocation_check_seconds == 5
    h = env.add.delay(x=1, y=2)
    assert h.cancel() == "revoked"
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)
    assert env.ran == [] and h.state == "REVOKED"


def test_without_revocation_checks_a_revoked_queued_task_runs_but_its_record_stays_revoked() -> None:
    env = Env(revocation_check_seconds=0)  # 0 = off
    h = env.add.delay(x=1, y=2)
    assert h.cancel() == "revoked"
    Executor(env.app).execute(env.receive(), 3)
    assert env.ran == [1] and h.state == "REVOKED"  # the documented race: checks off, or revoked while running


def test_a_task_revoked_by_id_only_is_recorded_revoked_by_the_consumer_that_skips_it() -> None:
    env = Env(revocation_check_seconds=5)
    h = env.add.delay(x=1, y=2)
    assert sqsq.AsyncResult(h.id, app=env.app).cancel() == "revoked"  # no record, no task name
    assert h.state == "REVOKED"  # recorded at once, under the placeholder name
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)
    assert env.ran == [] and h.state == "REVOKED"


def test_cancel_by_id_alone_of_a_queued_task_says_there_was_no_record_and_records_revoked(env: Env) -> None:
    h = env.add.options(delay_seconds=600).delay(x=1, y=2)
    result, note = cancel_explained(env.app, h.id)
    assert result == "revoked" and note is not None and note.startswith("no record yet")
    record = h.record()
    assert record is not None and record.status is Status.REVOKED and record.task_name == UNNAMED
    assert env.results.revocations("sqsq-revocations:s") == {h.id}


def test_without_revocation_checks_a_task_revoked_by_id_alone_runs_and_is_acknowledged_not_called_foreign() -> None:
    env = Env(revocation_check_seconds=0)  # checks off (the default reads the marker every 5 s)
    h = env.add.delay(x=1, y=2)
    assert cancel_explained(env.app, h.id)[0] == "revoked"
    outcome = Executor(env.app).execute(env.receive(), 3)
    assert isinstance(outcome, Ack) and env.ran == [1] and h.state == "REVOKED"  # no TaskIdConflict dead letter


def test_a_claimed_task_revoked_by_id_alone_is_acknowledged_unrun_even_without_revocation_checks() -> None:
    env = Env(revocation_check_seconds=0)
    @env.app.task(name="s.claimed", claim=True)
    def claimed(x: int) -> int:
        env.ran.append(x)
        return x

    h = claimed.delay(x=7)
    assert cancel_explained(env.app, h.id)[0] == "revoked"
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)
    assert env.ran == [] and h.state == "REVOKED"


@pytest.mark.parametrize("task_id", ["not-an-id", "1b4e28ba-2fa1-41d2-883f", "1B4E28BA-2FA1-41D2-883F-0016D3CCA427 "])
def test_cancel_refuses_an_id_that_is_not_a_task_id_and_writes_nothing(env: Env, task_id: str) -> None:
    with pytest.raises(ValueError, match="is not a task id"):
        cancel_explained(env.app, task_id)
    assert env.results.get(task_id) is None and env.results.revocations("sqsq-revocations:s") == frozenset()


def test_task_ids_sqsq_gives_have_the_task_id_shape() -> None:
    root = new_task_id()
    for task_id in (root, f"{root}-0", f"{root}-12", f"{root}-cb", f"{root}-err", "s-nightly:2026-12-03T17:00:00Z"):
        assert is_task_id(task_id), task_id
    assert not is_task_id(f"{root}-tree") and not is_task_id(root.upper())


def test_the_revocation_marker_is_read_at_most_once_per_interval() -> None:
    results, now = MemoryResults(), [0.0]
    check = RevocationCheck(lambda: results, "s", 5.0, clock=lambda: now[0])
    assert not check.is_revoked("a") and check.reads == 1
    results.add_revocation("sqsq-revocations:s", "a", 3600)
    now[0] = 4.9
    assert not check.is_revoked("a") and check.reads == 1  # the answer read at 0 s is still used
    now[0] = 5.0
    assert check.is_revoked("a") and check.reads == 2


def test_the_revocation_check_reads_the_store_the_app_has_now_not_the_one_it_had_when_built() -> None:
    """A Lambda handler is built at import, before ``app.configure(...)`` may point the app at another table."""
    before, after = MemoryResults(), MemoryResults()
    after.add_revocation("sqsq-revocations:s", "a", 3600)
    current = [before]
    check = RevocationCheck(lambda: current[0], "s", 5.0, clock=lambda: 0.0)
    current[0] = after
    assert check.is_revoked("a") and check.reads == 1


def test_revocation_checks_off_build_no_store_and_read_nothing() -> None:
    def store() -> MemoryResults:
        raise AssertionError("built")

    check = RevocationCheck(store, "s", 0.0)
    assert not check.enabled and not check.is_revoked("a")


def test_a_message_that_arrives_before_its_due_time_is_put_back_unrun() -> None:
    env = Env(early_guard=True)
    early = Envelope(id="e1", task="s.add", args={"x": 1, "y": 2}, due_at=datetime.now(UTC).timestamp() + 600)
    env.transport.send_batch("s-default", [OutgoingMessage("e1", early.to_body(), 0)])
    outcome = Executor(env.app).execute(env.receive(), 3)
    assert isinstance(outcome, Release) and outcome.deferred and 598 <= outcome.delay_seconds <= 600
    assert env.ran == [] and env.results.get("e1") is None


def test_the_early_guard_is_off_by_default_against_a_local_endpoint(env: Env) -> None:
    early = Envelope(id="e2", task="s.add", args={"x": 1, "y": 2}, due_at=datetime.now(UTC).timestamp() + 600)
    env.transport.send_batch("s-default", [OutgoingMessage("e2", early.to_body(), 0)])
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack) and env.ran == [1]
    assert Env(endpoint_url=None).app.settings.early_guard_on


def test_a_message_due_now_runs(env: Env) -> None:
    due = Envelope(id="d1", task="s.add", args={"x": 1, "y": 2}, due_at=datetime.now(UTC).timestamp())
    env.transport.send_batch("s-default", [OutgoingMessage("d1", due.to_body(), 0)])
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack) and env.ran == [1]


def test_a_long_delay_on_aws_without_a_scheduler_role_is_a_clear_config_error() -> None:
    env = Env(endpoint_url=None)
    with pytest.raises(ConfigError, match="SQSQ_SCHEDULER_ROLE_ARN"):
        env.add.options(delay_seconds=2 * HOUR).delay(x=1, y=2)


def test_the_schedule_group_follows_the_queue_prefix() -> None:
    assert Env(queue_prefix="shop-prod-").app.settings.schedule_group_name == "shop-prod"
    assert Env(schedule_group="mine").app.settings.schedule_group_name == "mine"


def test_schedule_names_are_valid_for_any_task_id() -> None:
    assert schedule_name("0b1c-uuid") == "sqsq-0b1c-uuid"
    odd = schedule_name("x" * 100 + "/é")
    assert len(odd) <= 64 and odd.startswith("sqsq-h")


def test_the_early_guard_trusts_a_message_sqs_received_within_a_minute_of_its_due_time() -> None:
    envelope = Envelope(id="g", task="s.add", args={}, due_at=10_000.0)
    assert early_by_seconds(envelope, now=9_000.0, sent_at_seconds=9_950.0) is None  # consumer clock lags SQS's
    assert early_by_seconds(envelope, now=9_000.0, sent_at_seconds=9_000.0) == 1_000  # re-sent without its delay
    assert early_by_seconds(envelope, now=9_000.0, sent_at_seconds=None) == 1_000
    assert early_by_seconds(envelope, now=9_999.5, sent_at_seconds=9_000.0) is None  # within the tolerance
    far = Envelope(id="g", task="s.add", args={}, due_at=10_000.0 + 86_400)
    assert early_by_seconds(far, now=10_000.0, sent_at_seconds=10_000.0) == 43_200  # SQS's visibility ceiling


class CountingResults(MemoryResults):
    def __init__(self) -> None:
        super().__init__()
        self.marker_reads = 0

    def revocations(self, key: str) -> frozenset[str]:
        self.marker_reads += 1
        return super().revocations(key)


def test_the_lambda_handler_skips_revoked_records_with_at_most_one_marker_read_per_batch() -> None:
    from sqsq.lambda_handler import lambda_handler
    from sqsq.local.esm import lambda_record

    results = CountingResults()
    env = Env(revocation_check_seconds=60)
    env.app = App("s", transport=env.transport, results=results, scheduler=env.scheduler,
                  endpoint_url="http://unused.invalid", revocation_check_seconds=60)
    env.app.task(name="s.add")(env.add.fn)
    handler = lambda_handler(env.app, emit_metrics=False)
    arn = env.transport.queue_info("s-default").arn

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    handles = [env.app.send("s.add", {"x": i, "y": 0}) for i in range(8)]
    assert handles[1].cancel() == "revoked" and handles[6].cancel() == "revoked"
    for _ in range(2):  # two invocations (batches of 4) of one execution environment
        messages = env.transport.receive("s-default", 4, 0)
        response = handler({"Records": [lambda_record(m, arn, "us-east-1") for m in messages]}, Context())
        assert response == {"batchItemFailures": []}  # every record deleted by the mapping, revoked ones too
    assert sorted(env.ran) == [0, 2, 3, 4, 5, 7]  # the revoked ones did not run
    assert [h.state for h in handles].count("REVOKED") == 2
    assert results.marker_reads == 1  # one read served both batches (within revocation_check_seconds)


def test_a_retry_past_12_hours_is_a_scheduled_copy_that_continues_the_attempt_count(env: Env) -> None:
    calls: list[int] = []

    @env.app.task(name="s.later", max_retries=3)
    def later(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise sqsq.Retry(delay_seconds=2 * 86_400, reason="come back in two days")
        return x

    h = later.delay(x=5)
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)  # the message is deleted...
    ((_, name), spec), = env.scheduler.schedules.items()
    assert name == schedule_name(h.id, 1)  # ... and a copy is scheduled, named after the attempts made
    copy = Envelope.from_body(json.loads(spec.target_input())["MessageBody"])
    assert copy.id == h.id and copy.prior_attempts == 1 and copy.due_at is not None
    assert copy.due_at >= datetime.now(UTC).timestamp() + 2 * 86_400 - 60
    record = env.results.get(h.id)
    assert record is not None and record.status is Status.SCHEDULED and record.attempts == 1
    env.transport.send_batch("s-default", [OutgoingMessage(h.id, copy.to_body(), 0)])  # the schedule fires
    assert isinstance(Executor(env.app).execute(env.receive(), 3), Ack)
    done = env.results.get(h.id)
    assert done is not None and done.status is Status.SUCCESS and done.attempts == 2 and calls == [5, 5]


def test_a_scheduled_retry_can_be_cancelled(env: Env) -> None:
    @env.app.task(name="s.again")
    def again() -> None:
        raise sqsq.Retry(delay_seconds=13 * HOUR)

    h = again.delay()
    Executor(env.app).execute(env.receive(), 3)
    assert len(env.scheduler.schedules) == 1
    assert h.cancel() == "cancelled" and env.scheduler.schedules == {} and h.state == "REVOKED"


def test_a_retry_within_12_hours_stays_a_visibility_change(env: Env) -> None:
    @env.app.task(name="s.soon")
    def soon() -> None:
        raise sqsq.Retry(delay_seconds=12 * HOUR)

    soon.delay()
    outcome = Executor(env.app).execute(env.receive(), 3)
    assert outcome.__class__.__name__ == "RetryAfter" and env.scheduler.schedules == {}


def test_retry_delays_are_limited_to_365_days() -> None:
    with pytest.raises(ValueError, match="365 days"):
        sqsq.Retry(delay_seconds=366 * 86_400)
    assert sqsq.Backoff(max_seconds=30 * 86_400).max_seconds == 30 * 86_400


def test_a_send_due_past_900_s_to_a_fifo_queue_is_refused_before_any_request() -> None:
    """README "Scheduling", Limits: SQS takes no per-message delay on a FIFO queue and one-time schedules carry no
    message group, so a long delay or ETA to a FIFO queue is refused naming the queue and the way out."""
    env = Env()
    env.transport.create_queue("s-orders.fifo")
    env.app.declare_queue("orders", fifo=True)

    @env.app.task(name="s.order", queue="orders", group_key=lambda args: "g")
    def order(n: int) -> int:
        return n

    for options in ({"delay_seconds": 2 * HOUR}, {"eta": datetime.now(UTC) + timedelta(days=3)}):
        with pytest.raises(LimitExceeded, match=r"cannot go to FIFO queue s-orders\.fifo.*standard queue"):
            env.app.send(order, {"n": 1}, **options)  # type: ignore[arg-type]
    depth = env.transport.depth("s-orders.fifo")
    assert env.scheduler.schedules == {} and (depth.visible, depth.delayed) == (0, 0)
