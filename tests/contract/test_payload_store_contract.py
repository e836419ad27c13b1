"""The payload store contract (sqsq.transport.payloads): the in-memory twin and S3 on moto server behave alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sqsq.config import load_settings
from sqsq.errors import PayloadMissing
from sqsq.local.server import LocalAwsServer
from sqsq.payloads import PayloadPointer, expiry_days
from sqsq.transport.admin import ensure_payload_bucket
from sqsq.transport.aws import AwsClients
from sqsq.transport.payloads import MemoryPayloadStore, PayloadStore, S3PayloadStore


@pytest.fixture(params=["memory", "moto"])
def store(request: pytest.FixtureRequest) -> Iterator[PayloadStore]:
    bucket = f"c{uuid.uuid4().hex[:12]}-payloads"
    if request.param == "memory":
        yield MemoryPayloadStore(bucket)
        return
    server: LocalAwsServer = request.getfixturevalue("local_aws")
    clients = AwsClients(load_settings({}, endpoint_url=server.endpoint_url))
    ensure_payload_bucket(clients, bucket, expiry_days(86_400, 86_400))
    yield S3PayloadStore(clients, bucket)


def test_put_returns_a_pointer_into_the_stores_bucket_and_get_reads_the_bytes_back(store: PayloadStore) -> None:
    data = "é".encode() * 70_000 + b"\x00\xff"
    pointer = store.put("sqsq/messages/t1", data)
    assert pointer == PayloadPointer(store.bucket, "sqsq/messages/t1")
    assert store.get(pointer) == data


def test_put_under_the_same_key_replaces_the_object(store: PayloadStore) -> None:
    store.put("k", b"first")
    assert store.get(store.put("k", b"second")) == b"second"


def test_a_deleted_or_never_written_object_is_payload_missing_and_deleting_again_is_fine(store: PayloadStore) -> None:
    pointer = store.put("k", b"x")
    store.delete(pointer)
    store.delete(pointer)
    with pytest.raises(PayloadMissing) as err:
        store.get(pointer)
    assert err.value.where == f"s3://{store.bucket}/k"
    with pytest.raises(PayloadMissing):
        store.get(PayloadPointer(store.bucket, "never-written"))
