"""What sqsq relies on from the results store: the in-memory twin and DynamoDB (moto server) behave alike."""

from __future__ import annotations

import time
from decimal import Decimal

from sqsq.results import ResultRecord, ResultStore, Status


def _rec(status: Status, attempts: int = 1, generation: int = 0, **kw: object) -> ResultRecord:
    return ResultRecord(task_id="t1", status=status, task_name="x", attempts=attempts, generation=generation,
                        **kw).stamped(3600)  # type: ignore[arg-type]


def test_missing_record_reads_as_none(results: ResultStore) -> None:
    assert results.get("nope") is None


def test_record_round_trips_every_field(results: ResultStore) -> None:
    rec = _rec(Status.FAILURE, attempts=3, error_type="ValueError", error_message="bad é", traceback="tb",
               sent_at=1764470000.25)
    assert results.put(rec)
    got = results.get("t1")
    assert got is not None
    assert got.status is Status.FAILURE and got.attempts == 3 and got.error_message == "bad é"
    assert got.sent_at == 1764470000.25 and got.expires_at == rec.expires_at


def test_result_json_keeps_exact_digits(results: ResultStore) -> None:
    text = '{"f":0.1,"d":"0.10","big":1208925819614629174706176}'
    assert results.put(_rec(Status.SUCCESS, result_json=text))
    got = results.get("t1")
    assert got is not None and got.result_json == text
    assert Decimal("0.10") == Decimal("0.10")


def test_finished_task_is_never_moved_back_by_a_late_writer(results: ResultStore) -> None:
    assert results.put(_rec(Status.SUCCESS, attempts=2, result_json="1"))
    assert not results.put(_rec(Status.RETRY, attempts=1))
    assert not results.put(_rec(Status.RETRY, attempts=3))
    assert not results.put(_rec(Status.FAILURE, attempts=3))
    got = results.get("t1")
    assert got is not None and got.status is Status.SUCCESS


def test_earlier_attempt_cannot_overwrite_a_later_one(results: ResultStore) -> None:
    assert results.put(_rec(Status.RETRY, attempts=2))
    assert not results.put(_rec(Status.RETRY, attempts=1))
    assert results.put(_rec(Status.SUCCESS, attempts=3, result_json="1"))


def test_redrive_generation_replaces_a_failure(results: ResultStore) -> None:
    assert results.put(_rec(Status.FAILURE, attempts=3))
    assert results.put(_rec(Status.SUCCESS, attempts=1, generation=1, result_json="1"))
    assert not results.put(_rec(Status.FAILURE, attempts=3, generation=0))
    got = results.get("t1")
    assert got is not None and got.status is Status.SUCCESS and got.generation == 1


def test_expired_record_reads_as_absent(results: ResultStore) -> None:
    old = ResultRecord(task_id="t1", status=Status.SUCCESS, task_name="x", attempts=1).stamped(60, now=time.time() - 120)
    assert results.put(old)
    assert results.get("t1") is None
    assert results.put(_rec(Status.RETRY, attempts=1))  # an expired record does not block a new one


def _claim(attempts: int = 1, lease_seconds: float = 60, generation: int = 0) -> ResultRecord:
    return _rec(Status.STARTED, attempts=attempts, generation=generation, lease_expires_at=time.time() + lease_seconds)


def test_claim_is_taken_once_while_its_lease_lives(results: ResultStore) -> None:
    first = _claim()
    assert results.claim(first) is None
    holder = results.claim(_claim(attempts=2))
    assert holder is not None and holder.status is Status.STARTED and holder.attempts == 1
    assert holder.lease_expires_at is not None and abs(holder.lease_expires_at - (first.lease_expires_at or 0)) < 1e-3


def test_claim_whose_lease_ran_out_can_be_taken_over(results: ResultStore) -> None:
    assert results.claim(_claim(attempts=2, lease_seconds=-1)) is None
    assert results.claim(_claim(attempts=1)) is None  # any delivery may take over an expired lease
    got = results.get("t1")
    assert got is not None and got.attempts == 1 and (got.lease_expires_at or 0) > time.time()


def test_claim_is_refused_by_a_final_record_and_allowed_over_a_retry(results: ResultStore) -> None:
    assert results.put(_rec(Status.RETRY, attempts=1))
    assert results.claim(_claim(attempts=2)) is None
    assert results.put(_rec(Status.SUCCESS, attempts=2, result_json="1"))  # the claimer records its result
    holder = results.claim(_claim(attempts=3))
    assert holder is not None and holder.status is Status.SUCCESS and holder.lease_expires_at is None
    assert results.claim(_claim(attempts=1, generation=1)) is None  # a redrive starts a new generation


def test_text_with_lone_surrogates_is_stored_not_refused(results: ResultStore) -> None:
    # e.g. an exception about a surrogateescape'd file name; DynamoDB refuses such strings, so they are escaped.
    assert results.put(_rec(Status.FAILURE, attempts=1, error_type="OSError", error_message="bad name a\udcff b"))
    got = results.get("t1")
    assert got is not None and got.status is Status.FAILURE
    assert (got.error_message or "").startswith("bad name a") and (got.error_message or "").endswith(" b")
