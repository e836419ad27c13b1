"""The same contract suites run over the in-memory twins and over moto server (boto3, real HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from sqsq.config import load_settings
from sqsq.local.server import LocalAwsServer
from sqsq.results import ResultStore
from sqsq.results.dynamodb import DynamoResults
from sqsq.results.memory import MemoryResults
from sqsq.transport import QueueInfo, Transport
from sqsq.transport.admin import QueueSpec, ensure_queue, ensure_results_table
from sqsq.transport.aws import AwsClients
from sqsq.transport.memory import MemoryTransport


@dataclass
class QueueFactory:
    """A transport plus a way to create fresh queues on it."""

    transport: Transport
    create: Callable[..., QueueInfo]


@pytest.fixture(params=["memory", "moto"])
def queues(request: pytest.FixtureRequest) -> Iterator[QueueFactory]:
    if request.param == "memory":
        t = MemoryTransport()

        def create_memory(vt: int = 30, mrc: int | None = None, max_size: int = 262_144) -> QueueInfo:
            name = f"q{uuid.uuid4().hex[:8]}"
            dlq = None
            if mrc is not None:
                dlq = f"{name}-dlq"
                t.create_queue(dlq)
            t.create_queue(name, visibility_timeout_seconds=vt, max_message_size_bytes=max_size,
                           dlq_name=dlq, max_receive_count=mrc)
            return t.queue_info(name)

        yield QueueFactory(t, create_memory)
        return
    server: LocalAwsServer = request.getfixturevalue("local_aws")
    from sqsq.transport.sqs import SqsTransport

    clients = AwsClients(load_settings({}, endpoint_url=server.endpoint_url))
    st = SqsTransport(clients)

    def create_moto(vt: int = 30, mrc: int | None = None, max_size: int = 262_144) -> QueueInfo:
        name = f"q{uuid.uuid4().hex[:8]}"
        if mrc is None:
            clients.sqs.create_queue(
                QueueName=name, Attributes={"VisibilityTimeout": str(vt), "MaximumMessageSize": str(max_size)}
            )
        else:
            ensure_queue(clients, QueueSpec(name, f"{name}-dlq", mrc, vt, max_size))
        return st.queue_info(name)

    yield QueueFactory(st, create_moto)


@pytest.fixture(params=["memory", "moto"])
def results(request: pytest.FixtureRequest) -> ResultStore:
    if request.param == "memory":
        return MemoryResults()
    server: LocalAwsServer = request.getfixturevalue("local_aws")
    clients = AwsClients(load_settings({}, endpoint_url=server.endpoint_url))
    table = f"r{uuid.uuid4().hex[:8]}"
    ensure_results_table(clients, table)
    return DynamoResults(clients, table)


def name_of(info: QueueInfo) -> str:
    return info.arn.rsplit(":", 1)[1]
