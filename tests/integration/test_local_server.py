"""The embedded local AWS (patched moto server) over HTTP: concurrency, redrive, long polling, counters, faults."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from sqsq.local.server import LocalAwsServer

pytestmark = pytest.mark.timeout(120)

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAwsServer]:
    server = LocalAwsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(aws: LocalAwsServer, service: str, config: Config | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def new_queue(sqs: Any, **attributes: str) -> str:
    url: str = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}", Attributes=attributes)["QueueUrl"]
    return url


def new_table(dynamodb: Any) -> str:
    """A fresh on-demand table keyed by ``pk`` (S); returns its name."""
    table = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def queue_depths(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_concurrent_receivers_get_each_message_once_and_every_delete_sticks(aws: LocalAwsServer) -> None:
    total, receivers = 3000, 4
    sqs = client(aws, "sqs")
    url = new_queue(sqs, VisibilityTimeout="300")  # longer than the test: any repeat is a duplicate delivery
    started = time.perf_counter()
    for start in range(0, total, 10):
        response = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        )
        assert not response.get("Failed")
    send_seconds = time.perf_counter() - started

    received: Counter[str] = Counter()
    failed_deletes: list[Any] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume() -> None:
        own = client(aws, "sqs")  # one client per thread, as separate workers would have
        try:
            while True:
                messages = own.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
                if not messages:
                    with lock:
                        if sum(received.values()) >= total:
                            return
                    continue
                with lock:
                    received.update(m["MessageId"] for m in messages)
                response = own.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
                with lock:
                    failed_deletes.extend(response.get("Failed", []))
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=consume) for _ in range(receivers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    consume_seconds = time.perf_counter() - started

    duplicates = {message_id: n for message_id, n in received.items() if n > 1}
    print(
        f"\n{total} messages, {receivers} receivers: sent in {send_seconds:.1f} s, received+deleted in "
        f"{consume_seconds:.1f} s; distinct {len(received)}, duplicates {len(duplicates)}, "
        f"failed deletes {len(failed_deletes)}"
    )
    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert duplicates == {}
    assert failed_deletes == []
    assert len(received) == total
    assert queue_depths(sqs, url) == (0, 0)


def test_message_moves_to_dlq_on_the_receive_after_max_receive_count(aws: LocalAwsServer) -> None:
    sqs = client(aws, "sqs")
    dlq_url = new_queue(sqs)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = new_queue(sqs, RedrivePolicy=f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}')
    message_id = sqs.send_message(QueueUrl=url, MessageBody="poison")["MessageId"]

    counts = []
    for _ in range(2):
        messages = sqs.receive_message(
            QueueUrl=url, VisibilityTimeout=0, MessageSystemAttributeNames=["ApproximateReceiveCount"]
        )["Messages"]
        assert [m["MessageId"] for m in messages] == [message_id]
        counts.append(messages[0]["Attributes"]["ApproximateReceiveCount"])
    assert counts == ["1", "2"]

    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in moved] == [(message_id, "poison")]
    assert queue_depths(sqs, url) == (0, 0)


def test_long_poll_returns_when_a_message_arrives(aws: LocalAwsServer) -> None:
    poller, sender = client(aws, "sqs"), client(aws, "sqs")
    url = new_queue(poller)
    result: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        result["messages"] = poller.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    sender.send_message(QueueUrl=url, MessageBody="wake up")
    thread.join(timeout=15)
    print(f"\nlong poll woke after {result['seconds']:.2f} s (message sent at 0.5 s, WaitTimeSeconds=10)")
    assert [m["Body"] for m in result["messages"]] == ["wake up"]
    assert result["seconds"] < 9  # woke on the send, not at the end of the wait


def test_long_poll_on_empty_queue_returns_empty_after_wait_time(aws: LocalAwsServer) -> None:
    sqs = client(aws, "sqs")
    url = new_queue(sqs)
    started = time.monotonic()
    response = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    elapsed = time.monotonic() - started
    assert response.get("Messages", []) == []
    assert elapsed >= 0.9


def test_long_poll_does_not_block_other_clients_on_the_same_queue(aws: LocalAwsServer) -> None:
    poller, other = client(aws, "sqs"), client(aws, "sqs")
    url = new_queue(poller)
    # long-polling an empty queue must not hold the queue's lock while it waits
    thread = threading.Thread(target=lambda: poller.receive_message(QueueUrl=url, WaitTimeSeconds=2))
    thread.start()
    time.sleep(0.3)
    durations = {}
    for name, call in {
        "ReceiveMessage": lambda: other.receive_message(QueueUrl=url, WaitTimeSeconds=0),
        "GetQueueAttributes": lambda: other.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
    }.items():
        started = time.monotonic()
        call()
        durations[name] = time.monotonic() - started
    poll_still_waiting = thread.is_alive()
    thread.join(timeout=10)
    print(f"\nwhile another client long-polled: {({k: round(v, 3) for k, v in durations.items()})} s")
    assert poll_still_waiting
    assert all(seconds < 1.5 for seconds in durations.values()), durations


def test_concurrent_conditional_writes_to_dynamodb_let_exactly_one_win(aws: LocalAwsServer) -> None:
    dynamodb = client(aws, "dynamodb")
    table = new_table(dynamodb)
    rounds, writers = 20, 4
    winners: Counter[str] = Counter()
    lock = threading.Lock()

    def write(writer: int) -> None:
        own = client(aws, "dynamodb")
        for key in range(rounds):
            try:
                own.put_item(
                    TableName=table,
                    Item={"pk": {"S": f"k{key}"}, "writer": {"N": str(writer)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            else:
                with lock:
                    winners[f"k{key}"] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert winners == {f"k{key}": 1 for key in range(rounds)}


def test_request_counter_counts_by_service_and_action_and_resets(aws: LocalAwsServer) -> None:
    sqs, dynamodb = client(aws, "sqs"), client(aws, "dynamodb")
    url = new_queue(sqs)
    aws.reset_request_counts()
    assert aws.request_counts() == {}

    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "two"}])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    dynamodb.list_tables()

    assert aws.request_counts() == {
        "sqs:SendMessage": 1,
        "sqs:SendMessageBatch": 1,
        "sqs:ReceiveMessage": 2,
        "dynamodb:ListTables": 1,
    }
    aws.reset_request_counts()
    assert aws.request_counts() == {}


def test_injected_throttles_and_500s_reach_botocore_and_clearing_restores_service(aws: LocalAwsServer) -> None:
    sqs, dynamodb = client(aws, "sqs", NO_RETRIES), client(aws, "dynamodb", NO_RETRIES)
    url = new_queue(sqs)
    table = new_table(dynamodb)

    try:
        aws.set_faults(rate=1.0, services=["sqs", "dynamodb"], kinds=["throttle"], seed=1)
        with pytest.raises(ClientError) as sqs_throttle:
            sqs.send_message(QueueUrl=url, MessageBody="x")
        with pytest.raises(ClientError) as dynamodb_throttle:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": "x"}})
        assert sqs_throttle.value.response["Error"]["Code"] == "RequestThrottled"
        assert sqs_throttle.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert dynamodb_throttle.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert aws.fault_counts() == {"throttle": 2}

        aws.set_faults(rate=1.0, services=["sqs", "dynamodb"], kinds=["500"])
        with pytest.raises(ClientError) as sqs_500:
            sqs.receive_message(QueueUrl=url)
        with pytest.raises(ClientError) as dynamodb_500:
            dynamodb.get_item(TableName=table, Key={"pk": {"S": "x"}})
        assert sqs_500.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert sqs_500.value.response["Error"]["Code"] == "InternalError"
        assert dynamodb_500.value.response["Error"]["Code"] == "InternalServerError"

        aws.set_faults(rate=1.0, services=["dynamodb"], kinds=["throttle"])
        sqs.send_message(QueueUrl=url, MessageBody="sqs is not in the fault's services")
    finally:
        counts = aws.clear_faults()
    assert counts == {}  # no dynamodb call was made under the last plan, and sqs calls did not match it

    sqs.send_message(QueueUrl=url, MessageBody="after")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "after"}})


def test_dropped_connection_is_a_retryable_connection_error_for_botocore(aws: LocalAwsServer) -> None:
    url = new_queue(client(aws, "sqs"))
    three_attempts = client(aws, "sqs", Config(retries={"total_max_attempts": 3, "mode": "standard"}))
    aws.set_faults(rate=1.0, services=["sqs"], kinds=["drop"])
    try:
        with pytest.raises(ConnectionClosedError):
            three_attempts.send_message(QueueUrl=url, MessageBody="x")
    finally:
        counts = aws.clear_faults()
    assert counts == {"drop": 3}  # botocore retried twice
    three_attempts.send_message(QueueUrl=url, MessageBody="x")


def test_partial_fault_rate_is_absorbed_by_botocore_retries(aws: LocalAwsServer) -> None:
    sqs = client(aws, "sqs", Config(retries={"total_max_attempts": 5, "mode": "standard"}))
    url = new_queue(sqs)
    # seed 51 at rate 0.3 fails 3 of the first 9 requests, one of each kind, never twice in a row
    aws.set_faults(rate=0.3, services=["sqs"], kinds=["throttle", "500", "drop"], seed=51)
    try:
        for i in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=str(i))
    finally:
        counts = aws.clear_faults()
    print(f"\nfaults injected while sending 6 messages at rate 0.3: {counts}")
    assert counts == {"throttle": 1, "500": 1, "drop": 1}
    assert queue_depths(sqs, url) == (6, 0)


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of LISTEN sockets on ``port``, from /proc/net/tcp{,6} (hex, as the kernel writes them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = TCP_LISTEN
                found.append(address)
    return found


def test_server_binds_loopback_only(aws: LocalAwsServer) -> None:
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    port = int(aws.endpoint_url.rsplit(":", 1)[1])
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp")
    assert _listening_addresses(port) == ["0100007F"]  # 127.0.0.1, little-endian hex; no 0.0.0.0, no ::


def test_stop_leaves_no_process_behind() -> None:
    server = LocalAwsServer()
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    server.stop()  # a second stop is harmless


def test_server_exits_cleanly_on_sigterm() -> None:
    server = LocalAwsServer()
    server.start()
    process = server._process
    assert process is not None
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    server.stop()


@pytest.mark.parametrize("action", ["delete_message_batch", "change_message_visibility_batch"])
def test_a_batch_of_more_than_ten_entries_is_refused_as_sqs_refuses_it(aws: LocalAwsServer, action: str) -> None:
    sqs = client(aws, "sqs")
    url = new_queue(sqs)
    for i in range(0, 11, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(i, min(i + 10, 11))])
    handles: list[str] = []
    while len(handles) < 11:
        handles += [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    entries: list[dict[str, Any]] = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(handles)]
    if action == "change_message_visibility_batch":
        entries = [{**e, "VisibilityTimeout": 0} for e in entries]
    with pytest.raises(ClientError) as refused:
        getattr(sqs, action)(QueueUrl=url, Entries=entries)
    assert refused.value.response["Error"]["Code"] in ("TooManyEntriesInBatchRequest",
                                                       "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    assert not getattr(sqs, action)(QueueUrl=url, Entries=entries[:10]).get("Failed")  # ten are taken
    assert queue_depths(sqs, url) == ((0 if action == "delete_message_batch" else 10), 1)  # (visible, in flight)
