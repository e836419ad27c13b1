"""What sqsq relies on from the results store: the in-memory twin and DynamoDB (moto server) behave alike."""

from __future__ import annotations

import time
from dataclasses import replace
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


def test_record_of_another_task_name_is_never_replaced_whatever_the_generation(results: ResultStore) -> None:
    # Issue 9: a message naming another task, with the victim's id and generation 1, replaced SUCCESS 3.
    assert results.put(_rec(Status.SUCCESS, attempts=1, result_json="3", sent_at=1764470000.25))
    forged = ResultRecord(task_id="t1", status=Status.SUCCESS, task_name="other", attempts=1, generation=1,
                          result_json='"FORGED"', sent_at=1764470000.25).stamped(3600)
    assert not results.put(forged)
    assert not results.put(replace(forged, status=Status.FAILURE, generation=7))
    got = results.get("t1")
    assert got is not None and got.task_name == "x" and got.result_json == "3"


def test_record_of_another_message_of_the_same_task_is_never_replaced(results: ResultStore) -> None:
    # Same task name, another sent_at: not a retry, redelivery or redrive of the message that wrote the record.
    assert results.put(_rec(Status.RETRY, attempts=1, sent_at=1764470000.25))
    assert not results.put(_rec(Status.SUCCESS, attempts=2, result_json="666", sent_at=1764470001.5))
    assert not results.put(_rec(Status.SUCCESS, attempts=1, generation=1, result_json="666", sent_at=1764470001.5))
    assert results.put(_rec(Status.SUCCESS, attempts=2, result_json="42", sent_at=1764470000.25))
    got = results.get("t1")
    assert got is not None and got.result_json == "42"


def test_same_message_keeps_its_sent_at_to_the_microsecond(results: ResultStore) -> None:
    sent_at = 1764470000.1234567  # stored rounded to microseconds; the next write of that message still matches
    assert results.put(_rec(Status.RETRY, attempts=1, sent_at=sent_at))
    assert results.put(_rec(Status.SUCCESS, attempts=2, result_json="1", sent_at=sent_at))


def test_claim_is_refused_by_a_record_of_another_task(results: ResultStore) -> None:
    assert results.put(_rec(Status.RETRY, attempts=1))
    foreign = ResultRecord(task_id="t1", status=Status.STARTED, task_name="other", attempts=2, generation=1,
                           lease_expires_at=time.time() + 60).stamped(3600)
    holder = results.claim(foreign)
    assert holder is not None and holder.task_name == "x" and holder.status is Status.RETRY


def test_record_without_sent_at_is_matched_only_by_writes_without_sent_at(results: ResultStore) -> None:
    # A body that gave no sent_at (a periodic firing) is recorded without one; its retries are the same message.
    assert results.put(_rec(Status.RETRY, attempts=1))
    assert not results.put(_rec(Status.SUCCESS, attempts=2, result_json="666", sent_at=1764470000.25))
    assert results.claim(_rec(Status.STARTED, attempts=2, generation=1, sent_at=1764470000.25,
                              lease_expires_at=time.time() + 60)) is not None
    assert results.put(_rec(Status.SUCCESS, attempts=2, result_json="1"))
    got = results.get("t1")
    assert got is not None and got.result_json == "1"


def test_a_write_without_sent_at_never_replaces_a_record_that_has_one(results: ResultStore) -> None:
    # Security fix F2: a forged body without sent_at (signing off) replaced a victim's FAILURE with its own value.
    assert results.put(_rec(Status.FAILURE, attempts=1, error_type="RuntimeError", sent_at=1764470000.25))
    assert not results.put(_rec(Status.SUCCESS, attempts=1, generation=1, result_json='"FORGED"'))
    assert results.claim(_rec(Status.STARTED, attempts=1, generation=1, lease_expires_at=time.time() + 60)) is not None
    got = results.get("t1")
    assert got is not None and got.status is Status.FAILURE and got.result_json is None


def test_a_final_outcome_replaces_a_non_final_record_of_a_later_attempt(results: ResultStore) -> None:
    # A rescued copy (sqsq.rescue) starts its receive count again: its SUCCESS at attempt 1 must replace the
    # ConsumerDied marker its original wrote at attempt 3, or the outcome would be lost.
    marker = ResultRecord("t-rescued", Status.STARTED, "t", attempts=3, error_type="ConsumerDied").stamped(3600)
    assert results.put(marker)
    assert not results.put(ResultRecord("t-rescued", Status.RETRY, "t", attempts=1).stamped(3600))
    assert results.put(ResultRecord("t-rescued", Status.SUCCESS, "t", result_json="1", attempts=1).stamped(3600))
    got = results.get("t-rescued")
    assert got is not None and got.status is Status.SUCCESS
