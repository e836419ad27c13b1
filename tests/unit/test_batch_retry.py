"""The one batch-retry helper (sqsq.transport.batch_retry): which entries are tried again, and that it never sleeps
unless asked to."""

from __future__ import annotations

import time

import pytest

from sqsq.errors import AwsError
from sqsq.retry import Backoff
from sqsq.transport import BatchFailure
from sqsq.transport.batch_retry import BatchRetry


def test_only_entries_failed_without_a_sender_fault_are_tried_again_and_accepted_ones_never() -> None:
    calls: list[list[str]] = []
    script = [
        [BatchFailure("1", "InternalError", "x", False), BatchFailure("2", "InvalidParameterValue", "y", True)],
        [],
    ]

    def call(entries: list[str]) -> list[BatchFailure]:
        calls.append(entries)
        return script.pop(0)

    batch = BatchRetry(["a", "b", "c"], attempts=3, backoff=Backoff(base_seconds=0.0))
    batch.run(call)
    assert calls == [["a", "b", "c"], ["b"]]
    assert batch.failed == [("c", "InvalidParameterValue: y")]


def test_attempt_makes_one_call_and_sets_a_jittered_due_time_instead_of_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: pytest.fail("attempt() slept"))
    batch = BatchRetry(["a"], attempts=3, backoff=Backoff(base_seconds=60.0))
    before = time.monotonic()
    batch.attempt(lambda entries: [BatchFailure("0", "ThrottlingException", "slow down", False)])
    assert batch.pending == ["a"] and not batch.done
    assert before <= batch.due_at <= time.monotonic() + 60.0  # full jitter: anywhere up to the bound


def test_entries_still_failing_after_the_last_attempt_are_reported_with_their_error() -> None:
    batch = BatchRetry(["a"], attempts=2, backoff=Backoff(base_seconds=0.0))
    batch.run(lambda entries: [BatchFailure("0", "InternalError", "boom", False)])
    assert batch.failed == [("a", "InternalError: boom")] and batch.done


def test_a_raising_call_is_retried_or_ends_the_retries_as_asked() -> None:
    error = AwsError("down", code="ServiceUnavailable")

    def call(entries: list[str]) -> list[BatchFailure]:
        raise error

    retried = BatchRetry(["a"], attempts=3, backoff=Backoff(base_seconds=0.0))
    sleeps: list[float] = []
    retried.run(call, sleep=sleeps.append)
    assert retried.failed == [("a", "ServiceUnavailable: down")] and retried.error is None
    stopped = BatchRetry(["a"], attempts=3, backoff=Backoff(base_seconds=0.0), retry_errors=False)
    stopped.attempt(call)
    assert stopped.done and stopped.error is error
