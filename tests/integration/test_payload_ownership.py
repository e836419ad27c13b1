"""Security fix F1: sqsq reads pointers only into its payload bucket (objects up to a size cap) and deletes only its
own object for each message, whatever a hostile queue writer's pointer names. Local AWS, an in-process worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqsq.dlq import DeadLetterQueue, Selection
from sqsq.dlq.purge import PurgeLedger
from sqsq.errors import PayloadMissing
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope, undecodable_id
from sqsq.payloads import MESSAGE_PREFIX, POINTER_CLASS, RESULT_PREFIX
from sqsq.results import Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed
from tests.integration.test_large_payloads import MIB, _deploy, drain, keys, s3


@pytest.fixture
def big(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    yield from _deploy(local_aws, tmp_path)


def send_pointer(d: Deployed, bucket: str, key: str) -> str:
    """What anyone with sqs:SendMessage can send: a bare pointer body. Returns the body."""
    body = json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])
    assert d.app.transport.send_batch(d.queue(), [OutgoingMessage("0", body, 0, {})]) == []
    return body


def purge(d: Deployed, tmp_path: Path) -> None:
    DeadLetterQueue(d.app, "default").purge(PurgeLedger(tmp_path / "purges.json"))


def test_a_pointer_to_another_bucket_is_dead_lettered_unread_and_purging_it_leaves_that_object(
    big: Deployed, tmp_path: Path
) -> None:
    client = s3(big)
    other = f"victim{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=other)
    client.put_object(Bucket=other, Key="backups/db.dump", Body=b"precious")
    body = send_pointer(big, other, "backups/db.dump")
    drain(big)
    record = big.app.results.get(undecodable_id(body))
    assert record is not None and record.status is Status.FAILURE
    assert "only into its payload bucket" in (record.error_message or "")
    purge(big, tmp_path)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=other).get("Contents", [])] == ["backups/db.dump"]


def test_purging_a_pointer_to_another_tasks_offloaded_result_leaves_the_result(big: Deployed, tmp_path: Path) -> None:
    made = big.app.send("big.make", {"n": 2_000_000})  # result past DynamoDB's item: sqsq/results/<id>/...
    drain(big)
    [result_key] = keys(big, RESULT_PREFIX)
    send_pointer(big, str(big.app.settings.payload_bucket), result_key)  # not an envelope: dead-lettered
    drain(big)
    purge(big, tmp_path)
    assert keys(big, RESULT_PREFIX) == [result_key]
    assert made.get(timeout_seconds=5) == "r" * 2_000_000


def test_purging_a_replayed_pointer_deletes_only_objects_named_after_their_own_envelope(
    big: Deployed, tmp_path: Path
) -> None:
    victim = big.app.send("big.second_time", {"data": "z" * (2 * MIB)})  # fails at generation 0: the DLQ
    drain(big)
    # the victim's envelope copied under another key of our bucket (as an extended client would store it)
    stored = s3(big).get_object(Bucket=big.app.settings.payload_bucket, Key=f"{MESSAGE_PREFIX}{victim.id}")
    s3(big).put_object(Bucket=big.app.settings.payload_bucket, Key=f"{MESSAGE_PREFIX}copy", Body=stored["Body"].read())
    send_pointer(big, str(big.app.settings.payload_bucket), f"{MESSAGE_PREFIX}copy")
    drain(big)  # replays the victim's envelope: it fails again, to the DLQ
    purge(big, tmp_path)
    assert keys(big, MESSAGE_PREFIX) == [f"{MESSAGE_PREFIX}copy"]  # the victim's own object went with its letter


def test_after_a_success_the_worker_leaves_an_object_it_did_not_write_for_that_message(big: Deployed) -> None:
    bucket = str(big.app.settings.payload_bucket)
    envelope = Envelope(id=str(uuid.uuid4()), task="big.size", args={"data": "abc"})
    s3(big).put_object(Bucket=bucket, Key="uploads/random-key", Body=envelope.to_body().encode())
    send_pointer(big, bucket, "uploads/random-key")
    drain(big)
    assert big.app.results.get(envelope.id) is not None
    assert big.app.results.get(envelope.id).status is Status.SUCCESS  # type: ignore[union-attr]
    listed = s3(big).list_objects_v2(Bucket=bucket, Prefix="uploads/").get("Contents", [])
    assert [o["Key"] for o in listed] == ["uploads/random-key"]


def test_an_object_over_the_read_cap_is_dead_lettered_with_the_reason(local_aws: LocalAwsServer, tmp_path: Path) -> None:
    gen = _deploy(local_aws, tmp_path, payload_max_read_mb=1)
    d = next(gen)
    try:
        handle = d.app.send("big.size", {"data": "x" * (2 * MIB)})
        body = d.app.transport.receive(d.queue(), 1, 1, visibility_timeout_seconds=0)[0].body
        drain(d)
        record = d.app.results.get(undecodable_id(body))
        assert record is not None and record.status is Status.FAILURE
        assert "read cap" in (record.error_message or "")
        assert d.app.results.get(handle.id) is None
    finally:
        gen.close()


def test_a_result_whose_object_is_gone_says_the_result_is_lost_not_that_a_message_cannot_run(big: Deployed) -> None:
    made = big.app.send("big.make", {"n": 2_000_000})
    drain(big)
    [result_key] = keys(big, RESULT_PREFIX)
    s3(big).delete_object(Bucket=big.app.settings.payload_bucket, Key=result_key)
    with pytest.raises(PayloadMissing) as err:
        made.get(timeout_seconds=5)
    assert "of this result" in str(err.value) and "cannot be run" not in str(err.value)


def test_a_replayed_pointer_to_a_dead_letters_object_leaves_it_for_the_letters_redrive(big: Deployed) -> None:
    victim = big.app.send("big.second_time", {"data": "z" * (2 * MIB)})  # fails at generation 0: the DLQ
    drain(big)
    send_pointer(big, str(big.app.settings.payload_bucket), f"{MESSAGE_PREFIX}{victim.id}")
    drain(big)  # the replay fails too (to the DLQ): nothing of the victim's is deleted
    assert keys(big, MESSAGE_PREFIX) == [f"{MESSAGE_PREFIX}{victim.id}"]
    report = DeadLetterQueue(big.app, "default").redrive(Selection(task_ids=frozenset([victim.id])))
    assert report.moved == [victim.id, victim.id]  # the letter and its replay
    drain(big)
    record = big.app.results.get(victim.id)
    assert record is not None and record.status is Status.SUCCESS
