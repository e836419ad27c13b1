"""Retry defaults (issue 10): an exception fails the task at once unless the task opts into retries, as in Celery.

Redeliveries the task did not ask for (a worker or pool process died, a Lambda timed out) stay bounded by the
queue's redrive policy, as before.
"""

from __future__ import annotations

import sqsq
from sqsq.executor import DeadLetter, Executor, RetryAfter
from sqsq.results import Status
from tests.unit.conftest import MemoryApp
from tests.unit.test_executor import _as_attempt, _receive


def test_an_exception_fails_the_task_at_once_by_default(mem: MemoryApp) -> None:
    @mem.app.task()
    def boom() -> None:
        raise ConnectionError("reset")

    assert boom.retry_on == () and boom.max_retries is None
    h = boom.delay()
    outcome = Executor(mem.app).execute(_as_attempt(_receive(mem), 1), 3)
    assert isinstance(outcome, DeadLetter)
    assert h.state == Status.FAILURE and h.result is not None and "ConnectionError" in str(h.result)


def test_retry_on_opts_into_retries_up_to_the_redrive_policy(mem: MemoryApp) -> None:
    @mem.app.task(retry_on=(ConnectionError,))
    def flaky() -> None:
        raise ConnectionError("reset")

    sqsq.send(flaky, {})
    m = _receive(mem)
    outcomes = [Executor(mem.app).execute(_as_attempt(m, n), 3) for n in (1, 2, 3)]
    assert [type(o) for o in outcomes] == [RetryAfter, RetryAfter, DeadLetter]


def test_raising_retry_retries_without_retry_on(mem: MemoryApp) -> None:
    @mem.app.task()
    def later() -> None:
        raise sqsq.Retry(delay_seconds=5)

    later.delay()
    outcome = Executor(mem.app).execute(_as_attempt(_receive(mem), 1), 3)
    assert isinstance(outcome, RetryAfter) and outcome.delay_seconds == 5
