"""The local AWS's DynamoDB over HTTP: conditional writes stay atomic without one global lock, tables don't wait
on each other."""

from __future__ import annotations

import random
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sqsq.local.server import LocalAwsServer

pytestmark = pytest.mark.timeout(120)

REGION = "us-east-1"
ONE_TRY = Config(retries={"total_max_attempts": 1}, read_timeout=20, connect_timeout=5)


def client(endpoint_url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=ONE_TRY)


def new_table(dynamodb: Any) -> str:
    table = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    return table


def _advance(own: Any, table: str, pk: str, version: int, writer: str, use_put: bool) -> bool:
    """One attempt to move the item from ``version`` to ``version + 1``; True when it won."""
    try:
        if use_put:
            own.put_item(TableName=table, Item={"pk": {"S": pk}, "v": {"N": str(version + 1)}, "by": {"S": writer}},
                         ConditionExpression="v = :v", ExpressionAttributeValues={":v": {"N": str(version)}})
        else:
            own.update_item(TableName=table, Key={"pk": {"S": pk}}, UpdateExpression="SET v = :n, #by = :w",
                            ConditionExpression="v = :v", ExpressionAttributeNames={"#by": "by"},
                            ExpressionAttributeValues={":v": {"N": str(version)}, ":n": {"N": str(version + 1)},
                                                       ":w": {"S": writer}})
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
        return False
    return True


@pytest.fixture(scope="module")
def in_process_dynamodb() -> Iterator[str]:
    """moto's DynamoDB, patched by the local AWS's DynamoDB service, served on a thread of this process.

    In-process so the test can hold the service's locks itself; only DynamoDB is patched here.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from sqsq.local.middleware import AwsRequestMiddleware
    from sqsq.local.services import DynamoDbService, apply_patches

    services = [DynamoDbService()]
    apply_patches(services)
    app = AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app), services)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="in-process-dynamodb", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_table_held_by_one_request_does_not_stop_writes_to_another_table(in_process_dynamodb: str) -> None:
    from sqsq.local.services.dynamodb import LOCKS

    dynamodb = client(in_process_dynamodb)
    busy, free = new_table(dynamodb), new_table(dynamodb)
    busy_done = threading.Event()
    busy_errors: list[BaseException] = []

    def write_busy() -> None:
        try:
            client(in_process_dynamodb).put_item(TableName=busy, Item={"pk": {"S": "a"}})
            busy_done.set()
        except BaseException as exc:
            busy_errors.append(exc)

    with LOCKS.table(busy).exclusive():  # as a Scan of `busy` would hold it
        writer = threading.Thread(target=write_busy)
        writer.start()
        # `free` answers while `busy` is held (with one global lock this call would wait and time out)
        dynamodb.put_item(TableName=free, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
        assert dynamodb.get_item(TableName=free, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        assert not busy_done.is_set()  # the write to `busy` cannot have run: its table is held
    writer.join(timeout=30)
    assert busy_errors == [] and busy_done.is_set()
    assert dynamodb.get_item(TableName=busy, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


@pytest.mark.parametrize("where", ["child process", "in process, thread switches every 10 us"])
def test_contested_conditional_put_and_update_on_one_item_each_have_exactly_one_winner(
    where: str, local_aws: LocalAwsServer, in_process_dynamodb: str
) -> None:
    endpoint_url = local_aws.endpoint_url if where == "child process" else in_process_dynamodb
    previous_switch_seconds = sys.getswitchinterval()
    if where != "child process":
        # the server's threads switch far more often than CPython's 5 ms default: without the item's lock, another
        # write lands between a condition check and its write (this is how the test can fail)
        sys.setswitchinterval(1e-5)
    try:
        _contend(endpoint_url)
    finally:
        sys.setswitchinterval(previous_switch_seconds)


def _contend(endpoint_url: str) -> None:
    dynamodb = client(endpoint_url)
    table = new_table(dynamodb)
    pks = ["hot", "warm"]  # two items at once, so the per-item locks are exercised side by side
    for pk in pks:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "v": {"N": "0"}})
    attempts_per_writer, writers = 40, 6
    wins: dict[str, Counter[int]] = {pk: Counter() for pk in pks}
    guard = threading.Lock()
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        own, rng = client(endpoint_url), random.Random(writer)
        try:
            for attempt in range(attempts_per_writer):
                pk = pks[attempt % 2]
                seen = int(own.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]["v"]["N"])
                if _advance(own, table, pk, seen, f"w{writer}", use_put=rng.random() < 0.5):
                    with guard:
                        wins[pk][seen] += 1
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert errors == []
    for pk in pks:
        final = int(dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}})["Item"]["v"]["N"])
        # every transition v -> v+1 was won exactly once, and nothing else moved the item
        assert wins[pk] == Counter(range(final)), pk
        assert final > attempts_per_writer // 2  # the writers did contend and advance it
